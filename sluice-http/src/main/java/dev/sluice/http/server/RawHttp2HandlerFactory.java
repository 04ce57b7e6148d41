package dev.sluice.http.server;

import io.netty.channel.ChannelHandler;

/**
 * Makes the handler of an HTTP/2 connection that sees the connection's frames and stream events
 * between {@code Http2FrameCodec} and {@code Http2MultiplexHandler}, for speed: it may serve a
 * stream itself on the connection's channel, and passes every stream it does not take on to the
 * multiplexer untouched (its stream events, then its frames), whose stream channels run the
 * server's own handlers.
 *
 * <p>Such a handler must never pass on a frame or event of a stream it took, and must answer the
 * exceptions of such streams itself; the codec counts its streams as active, which keeps a graceful
 * close waiting for them.
 */
@FunctionalInterface
public interface RawHttp2HandlerFactory {
  /**
   * @param tls whether the connection came over TLS
   */
  ChannelHandler newHandler(boolean tls);
}
