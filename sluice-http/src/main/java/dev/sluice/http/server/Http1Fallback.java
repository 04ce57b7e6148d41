package dev.sluice.http.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What a raw HTTP/1.1 handler ({@link RawHttp1HandlerFactory}) may ask of the server for its
 * connection: to give the connection to the server's own HTTP/1.1 handlers, which decode and
 * validate every request from then on (and switch to HTTP/2 on an h2c upgrade), or to refuse a
 * request with the server's error format.
 */
public final class Http1Fallback {
  private static final int CRLF = ('\r' << 8) | '\n';
  private final HttpServerSettings settings;
  private final ErrorResponder errors;
  private final Consumer<ChannelPipeline> standardHandlers;

  Http1Fallback(HttpServerSettings settings, ErrorResponder errors,
      Consumer<ChannelPipeline> standardHandlers) {
    this.settings = settings;
    this.errors = errors;
    this.standardHandlers = standardHandlers;
  }

  /** The settings of the server: limits, deadlines. */
  public HttpServerSettings settings() {
    return settings;
  }

  /**
   * Puts the server's HTTP/1.1 handlers in place of the raw handler of {@code ctx} and passes them
   * {@code unread}, the bytes read and not yet consumed, from which they read the next request as
   * if the connection had just begun. Call on the event loop, between requests: no request may be
   * in progress. Takes over the reference to {@code unread} (which may be null or empty).
   */
  public void handOver(ChannelHandlerContext ctx, ByteBuf unread) {
    ChannelPipeline p = ctx.pipeline();
    standardHandlers.accept(p);
    ctx.channel().config().setAutoRead(true);
    if (unread != null && unread.isReadable()) {
      ctx.fireChannelRead(unread);
      ctx.fireChannelReadComplete();
    } else if (unread != null) {
      unread.release();
    }
    if (!ctx.isRemoved()) {
      p.remove(ctx.handler());
    }
  }

  /**
   * Answers with the server's error response for {@code status}, {@code Connection: close}, and
   * closes the connection when it is written.
   */
  public void reject(ChannelHandlerContext ctx, HttpResponseStatus status, String message) {
    FullHttpResponse r = errors.render(ctx.alloc(), status, message, null);
    r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    // No encoder follows a raw handler: the response is written as bytes.
    ByteBuf bytes = ctx.alloc().buffer(256 + r.content().readableBytes());
    bytes.writeCharSequence("HTTP/1.1 " + r.status().code() + " " + r.status().reasonPhrase()
        + "\r\n", StandardCharsets.US_ASCII);
    for (Map.Entry<String, String> h : r.headers()) {
      bytes.writeCharSequence(h.getKey() + ": " + h.getValue() + "\r\n",
          StandardCharsets.ISO_8859_1);
    }
    bytes.writeShort(CRLF);
    bytes.writeBytes(r.content());
    r.release();
    ctx.writeAndFlush(bytes).addListener(ChannelFutureListener.CLOSE);
  }
}
