package dev.sluice.proxy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

/**
 * A real HTTP server for proxy tests, on Netty, speaking HTTP/1.1 (or HTTP/2 with prior knowledge).
 * Every response names the backend ({@code x-backend}) and echoes the request: its first line,
 * its headers (one {@code name: value} line each, names lowercased), then the body's size and
 * CRC32. Paths: {@code /status/N} answers N; {@code /delay/MS} answers after MS milliseconds;
 * {@code /bytes/N} streams N bytes as fast as the client takes them; {@code /drop} closes the
 * connection without an answer; {@code /ws} is a WebSocket echo ("bye" makes it close with 1000);
 * {@code /hop} answers chunked with hop-by-hop headers that must not pass a proxy; {@code /health}
 * answers {@link #healthStatus}.
 */
final class TestBackend implements AutoCloseable {
  private static final int CHUNK = 16 * 1024;
  /** The bytes of {@code /bytes/N} bodies, from any offset modulo 251; never written to. */
  private static final byte[] PATTERN = new byte[CHUNK + 251];

  static {
    for (int i = 0; i < PATTERN.length; i++) {
      PATTERN[i] = (byte) (i % 251);
    }
  }

  final String name;
  final AtomicInteger connections = new AtomicInteger();
  final AtomicInteger requests = new AtomicInteger();
  final Map<String, AtomicInteger> perPath = new ConcurrentHashMap<>();
  /** Bytes of {@code /bytes/N} bodies the backend's connections took so far. */
  final AtomicLong streamed = new AtomicLong();
  /** Added to every answer's wait, to make this backend the slow one. */
  volatile long delayMillis;
  /** What {@code /health} answers. */
  volatile int healthStatus = 200;
  private final EventLoopGroup group;
  private final Channel server;

  private TestBackend(String name, boolean http2, int port) {
    this.name = name;
    this.group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    this.server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            connections.incrementAndGet();
            if (http2) {
              ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build());
              ch.pipeline().addLast(new Http2MultiplexHandler(
                  new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel s) {
                      s.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true));
                      s.pipeline().addLast(new Echo(true));
                    }
                  }));
            } else {
              ch.pipeline().addLast("codec", new HttpServerCodec());
              ch.pipeline().addLast("echo", new Echo(false));
            }
          }
        })
        .bind(new InetSocketAddress("127.0.0.1", port)).syncUninterruptibly().channel();
  }

  static TestBackend start(String name) {
    return new TestBackend(name, false, 0);
  }

  /** On a given port, e.g. the one of a backend closed earlier, to bring it "back up". */
  static TestBackend start(String name, int port) {
    return new TestBackend(name, false, port);
  }

  static TestBackend startHttp2(String name) {
    return new TestBackend(name, true, 0);
  }

  int port() {
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  String url() {
    return "http://127.0.0.1:" + port();
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** Echoes each request once its body is in; one instance per connection or stream. */
  private final class Echo extends ChannelInboundHandlerAdapter {
    private final boolean http2;
    private HttpRequest request;
    private long bodyBytes;
    private final CRC32 crc = new CRC32();

    Echo(boolean http2) {
      this.http2 = http2;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpRequest) {
        request = (HttpRequest) msg;
        bodyBytes = 0;
        crc.reset();
        requests.incrementAndGet();
        perPath.computeIfAbsent(request.uri(), k -> new AtomicInteger()).incrementAndGet();
        if (request.uri().equals("/ws") && !http2) {
          ChannelPipeline p = ctx.pipeline();
          p.addAfter("codec", "agg", new HttpObjectAggregator(65536));
          p.addAfter("agg", "ws", new WebSocketServerProtocolHandler("/ws"));
          p.addAfter("ws", "ws-agg", new WebSocketFrameAggregator(1 << 20));
          p.addAfter("ws-agg", "ws-echo", new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext c, Object m) {
              if (m instanceof TextWebSocketFrame) {
                String text = ((TextWebSocketFrame) m).text();
                ReferenceCountUtil.release(m);
                if (text.equals("bye")) {
                  c.writeAndFlush(new CloseWebSocketFrame(1000, "bye"))
                      .addListener(ChannelFutureListener.CLOSE);
                  return;
                }
                c.writeAndFlush(new TextWebSocketFrame(name + ": " + text));
              } else {
                c.fireChannelRead(m);
              }
            }
          });
          p.remove(this);
          p.fireChannelRead(msg); // the handshake request goes through the aggregator
          return;
        }
        if (request.uri().equals("/drop")) {
          ReferenceCountUtil.release(msg);
          ctx.close();
          return;
        }
      }
      if (msg instanceof HttpContent) {
        ByteBuf b = ((HttpContent) msg).content();
        bodyBytes += b.readableBytes();
        if (b.hasArray()) {
          crc.update(b.array(), b.arrayOffset() + b.readerIndex(), b.readableBytes());
        } else {
          byte[] copy = new byte[b.readableBytes()];
          b.getBytes(b.readerIndex(), copy);
          crc.update(copy);
        }
      }
      boolean last = msg instanceof LastHttpContent;
      ReferenceCountUtil.release(msg);
      if (last && request != null) {
        respond(ctx, request);
      }
    }

    private void respond(ChannelHandlerContext ctx, HttpRequest req) {
      long delay = delayMillis;
      if (delay > 0) {
        ctx.executor().schedule(() -> answer(ctx, req), delay, TimeUnit.MILLISECONDS);
        return;
      }
      answer(ctx, req);
    }

    private void answer(ChannelHandlerContext ctx, HttpRequest req) {
      String uri = req.uri();
      if (uri.startsWith("/delay/")) {
        long ms = Long.parseLong(uri.substring(7).split("\\?")[0]);
        ctx.executor().schedule(() -> echo(ctx, req, HttpResponseStatus.OK), ms,
            TimeUnit.MILLISECONDS);
        return;
      }
      if (uri.startsWith("/bytes/")) {
        stream(ctx, req, Long.parseLong(uri.substring(7)));
        return;
      }
      if (uri.equals("/hop")) {
        hop(ctx);
        return;
      }
      if (uri.equals("/health")) {
        echo(ctx, req, HttpResponseStatus.valueOf(healthStatus));
        return;
      }
      if (uri.startsWith("/status/")) {
        echo(ctx, req, HttpResponseStatus.valueOf(Integer.parseInt(uri.substring(8, 11))));
        return;
      }
      echo(ctx, req, HttpResponseStatus.OK);
    }

    private void echo(ChannelHandlerContext ctx, HttpRequest req, HttpResponseStatus status) {
      StringBuilder sb = new StringBuilder();
      sb.append(req.method()).append(' ').append(req.uri()).append('\n');
      for (Map.Entry<String, String> h : req.headers()) {
        sb.append(h.getKey().toLowerCase()).append(": ").append(h.getValue()).append('\n');
      }
      sb.append('\n').append("body-bytes: ").append(bodyBytes).append('\n');
      sb.append("body-crc: ").append(crc.getValue()).append('\n');
      byte[] body = sb.toString().getBytes(StandardCharsets.UTF_8);
      FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          Unpooled.wrappedBuffer(body));
      r.headers().set("x-backend", name).setInt(HttpHeaderNames.CONTENT_LENGTH, body.length)
          .set(HttpHeaderNames.CONTENT_TYPE, "text/plain")
          .set("connection", "x-hop-response").set("x-hop-response", "must-not-pass")
          .set("keep-alive", "timeout=5");
      boolean keepAlive = http2 || HttpUtil.isKeepAlive(req);
      if (!http2 && !keepAlive) {
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      }
      var f = ctx.writeAndFlush(r);
      if (!keepAlive) {
        f.addListener(ChannelFutureListener.CLOSE);
      }
    }

    /** A chunked answer with every kind of hop-by-hop header. */
    private void hop(ChannelHandlerContext ctx) {
      HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      head.headers().set("x-backend", name)
          .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED)
          .set(HttpHeaderNames.CONNECTION, "keep-alive, x-named-hop")
          .set("x-named-hop", "must-not-pass")
          .set(HttpHeaderNames.KEEP_ALIVE, "timeout=5")
          .set(HttpHeaderNames.TE, "trailers")
          .set(HttpHeaderNames.TRAILER, "x-trailer")
          .set(HttpHeaderNames.UPGRADE, "foo/1")
          .set("proxy-connection", "keep-alive")
          .set("x-end-to-end", "passes");
      ctx.write(head);
      ctx.write(new DefaultHttpContent(Unpooled.copiedBuffer("hop ", StandardCharsets.UTF_8)));
      ctx.writeAndFlush(new DefaultLastHttpContent(
          Unpooled.copiedBuffer("by hop", StandardCharsets.UTF_8)));
    }

    /** N bytes in 16 KiB chunks, each written when the last one left: bounded memory. */
    private void stream(ChannelHandlerContext ctx, HttpRequest req, long total) {
      HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      head.headers().set("x-backend", name).set(HttpHeaderNames.CONTENT_LENGTH, total);
      ctx.write(head);
      writeChunk(ctx, total, 0);
    }

    private void writeChunk(ChannelHandlerContext ctx, long total, long sent) {
      if (!ctx.channel().isActive()) {
        return;
      }
      if (sent >= total) {
        ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        return;
      }
      int n = (int) Math.min(CHUNK, total - sent);
      // a window on the shared pattern: byte i of the body is i % 251
      ByteBuf chunk = Unpooled.wrappedBuffer(PATTERN, (int) (sent % 251), n);
      ctx.writeAndFlush(new DefaultHttpContent(chunk)).addListener(f -> {
        if (f.isSuccess()) {
          streamed.addAndGet(n);
          writeChunk(ctx, total, sent + n);
        }
      });
    }
  }
}
