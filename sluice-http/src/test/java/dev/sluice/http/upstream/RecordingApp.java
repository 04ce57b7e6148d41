package dev.sluice.http.upstream;

import dev.sluice.http.server.RequestHandlerFactory;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The application behind the engine's own {@link dev.sluice.http.server.HttpServer} in these
 * tests: answers {@code h2=<stream?> host=<Host> bytes=<body length>} and records each request.
 * Requests to {@code /hold} are never answered.
 */
final class RecordingApp implements RequestHandlerFactory {
  /** One request as seen: over HTTP/2 or not, its Host header, its body length. */
  record Seen(boolean http2, String method, String uri, String host, long bytes) {}

  final List<Seen> seen = new CopyOnWriteArrayList<>();
  final AtomicInteger held = new AtomicInteger();

  @Override
  public ChannelHandler newHandler(boolean http2) {
    return new ChannelInboundHandlerAdapter() {
      private HttpRequest request;
      private long bytes;

      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
          if (msg instanceof HttpRequest) {
            request = (HttpRequest) msg;
            bytes = 0;
          }
          if (msg instanceof HttpContent) {
            bytes += ((HttpContent) msg).content().readableBytes();
          }
          if (msg instanceof LastHttpContent && request != null) {
            String host = request.headers().get(HttpHeaderNames.HOST);
            seen.add(new Seen(http2, request.method().name(), request.uri(), host, bytes));
            if (request.uri().startsWith("/hold")) {
              held.incrementAndGet();
              return;
            }
            String text = "h2=" + http2 + " host=" + host + " bytes=" + bytes;
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.OK, ByteBufUtil.writeUtf8(ctx.alloc(), text));
            r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            ctx.writeAndFlush(r);
          }
        } finally {
          ReferenceCountUtil.release(msg);
        }
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
      }
    };
  }
}
