package dev.sluice.bench;

import dev.sluice.http.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The sink of {@link ExporterCpuBenchmark}: an OTLP/HTTP endpoint that reads each request body and
 * answers {@code 200} with an empty protobuf {@code Export*ServiceResponse} at once, keeping the
 * connection. It runs in a process of its own, so that its CPU time is not the exporters'; it
 * prints {@code PORT <n>} when it listens, and {@code REQUESTS <n> BYTES <n>} for each line read
 * on its standard input, and stops when that closes.
 */
public final class ExporterSink {
  private ExporterSink() {}

  public static void main(String[] args) throws Exception {
    Transport transport = Transport.best();
    EventLoopGroup group = transport.newGroup(1, "sink");
    AtomicLong requests = new AtomicLong();
    AtomicLong bytes = new AtomicLong();
    try {
      Channel server = new ServerBootstrap()
          .group(group)
          .channel(transport.serverChannel())
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
              ch.pipeline().addLast(new HttpServerCodec(), new Handler(requests, bytes));
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      System.out.println("PORT " + ((InetSocketAddress) server.localAddress()).getPort());
      System.out.flush();
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in,
          StandardCharsets.UTF_8));
      while (in.readLine() != null) {
        System.out.println("REQUESTS " + requests.get() + " BYTES " + bytes.get());
        System.out.flush();
      }
    } catch (IOException e) {
      // the benchmark went away
    } finally {
      group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  private static final class Handler extends SimpleChannelInboundHandler<HttpObject> {
    private final AtomicLong requests;
    private final AtomicLong bytes;

    Handler(AtomicLong requests, AtomicLong bytes) {
      this.requests = requests;
      this.bytes = bytes;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
      if (msg instanceof HttpContent c) {
        bytes.addAndGet(c.content().readableBytes());
      }
      if (msg instanceof LastHttpContent) {
        requests.incrementAndGet();
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
            HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/x-protobuf")
            .setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        ctx.writeAndFlush(response);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
