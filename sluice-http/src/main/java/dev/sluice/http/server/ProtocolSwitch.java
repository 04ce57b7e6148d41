package dev.sluice.http.server;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;

/**
 * Takes an HTTP/1.1 server connection out of HTTP after the application answered {@code 101
 * Switching Protocols} (a WebSocket, say): from then on the application's handler reads and writes
 * raw bytes. The connection's idle timeout stays; the request deadlines and limits go.
 */
public final class ProtocolSwitch {
  private ProtocolSwitch() {}

  /**
   * Removes the HTTP handlers from the pipeline of a connection served by {@link HttpServer}. Call
   * it on the channel's event loop once the 101 response is written; bytes the codec already
   * holds pass on to the application as {@code ByteBuf}s.
   */
  public static void toRawBytes(ChannelPipeline p) {
    toRawBytes(p, null);
  }

  /**
   * As {@link #toRawBytes(ChannelPipeline)}, and the connection's idle timeout becomes {@code
   * idle} of silence in both directions (a tunnel's reads and writes both count), or stays as it
   * is when {@code idle} is null.
   */
  public static void toRawBytes(ChannelPipeline p, java.time.Duration idle) {
    if (idle != null && p.get("idle") != null) {
      p.replace("idle", "idle", new io.netty.handler.timeout.IdleStateHandler(0, 0,
          idle.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS));
    }
    for (String name : new String[] {"raw-bytes", "keep-alive", "guard", "upgrade-watch"}) {
      if (p.get(name) != null) {
        p.remove(name);
      }
    }
    remove(p, HttpServerUpgradeHandler.class);
    remove(p, CleartextHttp2ServerUpgradeHandler.class);
    remove(p, HttpServerCodec.class);
  }

  private static void remove(ChannelPipeline p, Class<? extends ChannelHandler> type) {
    if (p.get(type) != null) {
      p.remove(type);
    }
  }
}
