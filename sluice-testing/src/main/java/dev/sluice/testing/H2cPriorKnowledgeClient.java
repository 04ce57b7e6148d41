package dev.sluice.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP/2 client with prior knowledge (no upgrade, no TLS), built on Netty's own HTTP/2 codec
 * since {@code java.net.http.HttpClient} cannot do prior knowledge. Every request goes on a new
 * stream of the one connection, so an answer arriving at all proves it came over HTTP/2.
 */
public final class H2cPriorKnowledgeClient implements AutoCloseable {
  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Channel channel;
  private final String authority;

  /** A response copied out of Netty's buffers. */
  public static final class Response {
    private final int status;
    private final Map<String, String> headers;
    private final String body;
    private final int streamId;

    Response(int status, Map<String, String> headers, String body, int streamId) {
      this.status = status;
      this.headers = headers;
      this.body = body;
      this.streamId = streamId;
    }

    public int status() {
      return status;
    }

    /** Response headers, names case-insensitive; HTTP/2 has no Connection header. */
    public Map<String, String> headers() {
      return headers;
    }

    /** The body as UTF-8 text. */
    public String body() {
      return body;
    }

    /** The HTTP/2 stream that carried the response. */
    public int streamId() {
      return streamId;
    }
  }

  /** Connects; the HTTP/2 preface goes out at once. */
  public H2cPriorKnowledgeClient(InetSocketAddress address) {
    authority = address.getHostString() + ":" + address.getPort();
    Bootstrap b = new Bootstrap()
        .group(group)
        .channel(NioSocketChannel.class)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            // A client that ignores the server's header list size, to test the server's limit.
            ch.pipeline().addLast(Http2FrameCodecBuilder.forClient()
                .encoderIgnoreMaxHeaderListSize(true).build());
            ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter() {
              @Override
              public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg); // streams pushed by the server: none expected
              }
            }));
          }
        });
    try {
      channel = b.connect(address).sync().channel();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw new IllegalStateException(e);
    } catch (RuntimeException e) {
      group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw e;
    }
  }

  /** The connection, to check whether the server closed it. */
  public Channel channel() {
    return channel;
  }

  public CompletableFuture<Response> get(String path) {
    return send(HttpMethod.GET, path, null);
  }

  public CompletableFuture<Response> post(String path, String body) {
    return send(HttpMethod.POST, path, body.getBytes(StandardCharsets.UTF_8));
  }

  /** Sends one request on a new stream; the future completes with the whole response. */
  public CompletableFuture<Response> send(HttpMethod method, String path, byte[] body) {
    HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, method, path);
    head.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body == null ? 0 : body.length);
    return send(head, body, true);
  }

  /**
   * Sends a request head and {@code body} on a new stream, ending the stream only when {@code
   * finish} (so that the server waits for more of the body).
   */
  public CompletableFuture<Response> send(HttpRequest head, byte[] body, boolean finish) {
    CompletableFuture<Response> result = new CompletableFuture<>();
    Http2StreamChannelBootstrap sb = new Http2StreamChannelBootstrap(channel)
        .handler(new ChannelInitializer<Http2StreamChannel>() {
          @Override
          protected void initChannel(Http2StreamChannel ch) {
            ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false));
            ch.pipeline().addLast(new HttpObjectAggregator(1 << 20));
            ch.pipeline().addLast(new SimpleChannelInboundHandler<FullHttpResponse>() {
              @Override
              protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
                r.headers().forEach(e -> headers.put(e.getKey(), e.getValue()));
                result.complete(new Response(r.status().code(), headers,
                    r.content().toString(StandardCharsets.UTF_8),
                    ((Http2StreamChannel) ctx.channel()).stream().id()));
              }

              @Override
              public void channelInactive(ChannelHandlerContext ctx) {
                result.completeExceptionally(new IllegalStateException(
                    "stream closed without a response"));
                ctx.fireChannelInactive();
              }

              @Override
              public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                result.completeExceptionally(cause);
                ctx.close();
              }
            });
          }
        });
    sb.open().addListener(f -> {
      if (!f.isSuccess()) {
        result.completeExceptionally(f.cause());
        return;
      }
      Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
      head.headers().set(HttpHeaderNames.HOST, authority);
      ByteBuf content = body == null ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body);
      stream.write(head);
      stream.writeAndFlush(finish ? new DefaultLastHttpContent(content)
          : new DefaultHttpContent(content)).addListener(w -> {
            if (!w.isSuccess()) {
              result.completeExceptionally(w.cause());
            }
          });
    });
    return result;
  }

  @Override
  public void close() {
    channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
  }
}
