package dev.sluice.http.server;

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
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The application under the engine in these tests: answers each request with one text line
 * {@code METHOD URI VERSION h2=<stream?> bytes=<body length>}, counting the body itself.
 *
 * <p>Like a real application it understands only the HTTP objects of its contract; anything else
 * it receives is released and recorded in {@link #unexpected()}, which tests assert to be empty.
 *
 * <ul>
 *   <li>{@code /hold...}: the answer waits until {@link #release()} (for graceful close);
 *       {@link #held()} counts requests waiting.
 *   <li>{@code /early...}: answers as soon as the head is read, then drops the body as it comes
 *       (like a 401 or 413 sent before the body).
 *   <li>{@code Expect: 100-continue}: writes a 100 Continue first, as the OTLP receiver does.
 * </ul>
 */
final class EchoHandlerFactory implements RequestHandlerFactory {
  private final List<String> unexpected = new CopyOnWriteArrayList<>();
  private final AtomicInteger held = new AtomicInteger();
  private final AtomicInteger answered = new AtomicInteger();
  private final CompletableFuture<Void> hold = new CompletableFuture<>();

  @Override
  public ChannelHandler newHandler(boolean http2) {
    return new Echo(http2);
  }

  /** Messages of other types than the HTTP objects of the contract, by class name. */
  List<String> unexpected() {
    return unexpected;
  }

  /** Requests to {@code /hold} waiting for {@link #release()}. */
  int held() {
    return held.get();
  }

  /** Responses written (final ones, not 100 Continue). */
  int answered() {
    return answered.get();
  }

  /** Lets every held request, now and later, be answered. */
  void release() {
    hold.complete(null);
  }

  static String line(String method, String uri, String version, boolean http2, long bytes) {
    return method + " " + uri + " " + version + " h2=" + http2 + " bytes=" + bytes;
  }

  private final class Echo extends ChannelInboundHandlerAdapter {
    private final boolean http2;
    private HttpRequest request;
    private long bytes;
    private boolean answeredEarly;

    Echo(boolean http2) {
      this.http2 = http2;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (!(msg instanceof HttpRequest) && !(msg instanceof HttpContent)) {
          unexpected.add(msg.getClass().getName());
          return;
        }
        if (msg instanceof HttpRequest) {
          request = (HttpRequest) msg;
          bytes = 0;
          answeredEarly = false;
          if (request.uri().startsWith("/early")) {
            answeredEarly = true;
            answer(ctx, "early");
          } else if (HttpUtil.is100ContinueExpected(request)) {
            ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.CONTINUE));
          }
        }
        if (msg instanceof HttpContent) {
          bytes += ((HttpContent) msg).content().readableBytes();
        }
        if (msg instanceof LastHttpContent && request != null && !answeredEarly) {
          HttpRequest req = request;
          String text = line(req.method().name(), req.uri(), req.protocolVersion().text(), http2,
              bytes);
          if (req.uri().startsWith("/hold")) {
            held.incrementAndGet();
            hold.thenRun(() -> ctx.executor().execute(() -> {
              held.decrementAndGet();
              answer(ctx, text);
            }));
          } else {
            answer(ctx, text);
          }
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    private void answer(ChannelHandlerContext ctx, String text) {
      FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
          ByteBufUtil.writeUtf8(ctx.alloc(), text + "\n"));
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
      r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
      answered.incrementAndGet();
      ctx.writeAndFlush(r);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
