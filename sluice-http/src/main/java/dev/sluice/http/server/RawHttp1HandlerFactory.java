package dev.sluice.http.server;

import io.netty.channel.ChannelHandler;

/**
 * Makes the handler of an HTTP/1.1 connection that reads the connection's bytes itself, in place of
 * the server's decoder, for speed; the server's own HTTP/1.1 handlers take over the connection when
 * the handler hands it to them ({@link Http1Fallback#handOver}).
 *
 * <p>Such a handler sits last in the pipeline, after the connection limit, access list, idle
 * timer and TLS; it reads {@code ByteBuf}s and writes them. It implements {@link DrainAware} so
 * that a graceful close can tell whether a request is in progress.
 */
@FunctionalInterface
public interface RawHttp1HandlerFactory {
  /**
   * @param fallback what the handler may ask of the server for this connection
   * @param tls whether the connection came over TLS
   */
  ChannelHandler newHandler(Http1Fallback fallback, boolean tls);
}
