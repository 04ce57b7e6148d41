package dev.sluice.http.transport;

import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2RemoteFlowController;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.UniformStreamByteDistributor;

/**
 * Builders of Netty's HTTP/2 frame codec whose connection shares its send window among streams
 * with {@link UniformStreamByteDistributor} instead of Netty's default, the weighted fair queue of
 * the priority tree. RFC 9113 retired that tree (peers' priority signals are advisory and seldom
 * sent), and keeping it costs a priority-queue update on every stream's start, write and close:
 * about 4% of the CPU time of a short proxied HTTP/2 stream, by profile. Each builder makes one
 * codec, for one channel.
 */
public final class Http2FrameCodecs extends Http2FrameCodecBuilder {
  private final boolean server;

  private Http2FrameCodecs(boolean server) {
    this.server = server;
    gracefulShutdownTimeoutMillis(0); // as Netty's forServer() and forClient() have it
  }

  /** A builder of a server's codec. */
  public static Http2FrameCodecs forServer() {
    return new Http2FrameCodecs(true);
  }

  /** A builder of a client's codec. */
  public static Http2FrameCodecs forClient() {
    return new Http2FrameCodecs(false);
  }

  @Override
  public boolean isServer() {
    return server;
  }

  @Override
  public Http2FrameCodec build() {
    DefaultHttp2Connection connection = new DefaultHttp2Connection(server);
    connection.remote().flowController(new DefaultHttp2RemoteFlowController(connection,
        new UniformStreamByteDistributor(connection)));
    connection(connection);
    return super.build();
  }
}
