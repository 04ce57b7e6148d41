package dev.sluice.http.server;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;

/** Answers every request with the client address the server gives: {@code ip port proxied h2}. */
final class ClientAddressApp implements RequestHandlerFactory {
  @Override
  public ChannelHandler newHandler(boolean http2) {
    return new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
          if (msg instanceof LastHttpContent) {
            InetSocketAddress client = ClientAddress.of(ctx.channel());
            String text = client.getAddress().getHostAddress() + " " + client.getPort() + " "
                + ClientAddress.isProxied(ctx.channel()) + " " + http2 + "\n";
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.OK, ByteBufUtil.writeUtf8(ctx.alloc(), text));
            r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            ctx.writeAndFlush(r);
          }
        } finally {
          ReferenceCountUtil.release(msg);
        }
      }
    };
  }
}
