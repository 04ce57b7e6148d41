package dev.sluice.http.server;

import io.netty.channel.ChannelHandler;

/**
 * Makes the application's handler for one HTTP/1.1 connection or one HTTP/2 stream.
 *
 * <p>The handler reads {@code HttpRequest}, {@code HttpContent} and {@code LastHttpContent}
 * objects, the same for both protocols, and writes an {@code HttpResponse}. The server has already
 * enforced the header limits and deadlines; requests that broke them never reach the handler.
 */
@FunctionalInterface
public interface RequestHandlerFactory {
  /**
   * @param http2 true for an HTTP/2 stream (closing the channel resets only the stream)
   */
  ChannelHandler newHandler(boolean http2);
}
