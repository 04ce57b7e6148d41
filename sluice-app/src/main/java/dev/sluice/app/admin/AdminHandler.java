package dev.sluice.app.admin;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.function.BooleanSupplier;

/**
 * Serves the admin endpoints: {@code GET /metrics} in the Prometheus text format, {@code GET
 * /health/live} (the process runs) and {@code GET /health/ready} (the receiver listens and the
 * pipeline takes data).
 */
final class AdminHandler extends ChannelInboundHandlerAdapter {
  private final PrometheusMeterRegistry registry;
  private final BooleanSupplier ready;
  private HttpRequest request;

  AdminHandler(PrometheusMeterRegistry registry, BooleanSupplier ready) {
    this.registry = registry;
    this.ready = ready;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    try {
      if (msg instanceof HttpRequest) {
        request = (HttpRequest) msg;
      }
      if (msg instanceof LastHttpContent && request != null) {
        respond(ctx, request);
        request = null;
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void respond(ChannelHandlerContext ctx, HttpRequest req) {
    String path = req.uri();
    int q = path.indexOf('?');
    if (q >= 0) {
      path = path.substring(0, q);
    }
    FullHttpResponse r;
    if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.HEAD)) {
      r = text(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "use GET\n");
      r.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
    } else {
      switch (path) {
        case "/metrics":
          r = text(ctx, HttpResponseStatus.OK, registry.scrape());
          r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
          break;
        case "/health/live":
          r = text(ctx, HttpResponseStatus.OK, "live\n");
          break;
        case "/health/ready":
          r = ready.getAsBoolean()
              ? text(ctx, HttpResponseStatus.OK, "ready\n")
              : text(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready\n");
          break;
        default:
          r = text(ctx, HttpResponseStatus.NOT_FOUND,
              "no admin endpoint at " + path + "; try /metrics, /health/live, /health/ready\n");
      }
    }
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    HttpUtil.setKeepAlive(r, keepAlive);
    if (req.method().equals(HttpMethod.HEAD)) {
      r.content().clear();
    }
    var f = ctx.writeAndFlush(r);
    if (!keepAlive) {
      f.addListener(ChannelFutureListener.CLOSE);
    }
  }

  private static FullHttpResponse text(ChannelHandlerContext ctx, HttpResponseStatus status,
      String body) {
    ByteBuf buf = ByteBufUtil.writeUtf8(ctx.alloc(), body);
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, buf);
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, buf.readableBytes());
    return r;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
