package dev.sluice.http.server;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;

/**
 * Renders the responses the server itself sends (malformed requests, headers too large, timeouts),
 * so that an application can give them the same body format as its own errors.
 */
@FunctionalInterface
public interface ErrorResponder {
  /**
   * @param request the request head when there is one worth looking at, or null
   */
  FullHttpResponse render(
      ByteBufAllocator alloc, HttpResponseStatus status, String message, HttpRequest request);

  /** Plain text bodies. */
  ErrorResponder PLAIN_TEXT =
      (alloc, status, message, request) -> {
        FullHttpResponse r =
            new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1, status, ByteBufUtil.writeUtf8(alloc, message + "\n"));
        r.headers()
            .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN + "; charset=utf-8")
            .setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        return r;
      };
}
