package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelProgressiveFuture;
import io.netty.channel.ChannelProgressiveFutureListener;
import io.netty.channel.ChannelProgressivePromise;
import io.netty.channel.ChannelPromise;

/**
 * The first handler of a connection's pipeline (the last on the way out): counts the bytes that
 * actually left through the socket, partial writes included, so that a failed request can be
 * proven never to have reached the upstream (no byte written since it began). Event loop only.
 */
final class WireCounter extends ChannelOutboundHandlerAdapter {
  private long written;

  long written() {
    return written;
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (!(msg instanceof ByteBuf) || !((ByteBuf) msg).isReadable() || promise.isVoid()) {
      ctx.write(msg, promise);
      return;
    }
    ChannelProgressivePromise counted = ctx.newProgressivePromise();
    counted.addListener(new ChannelProgressiveFutureListener() {
      private long seen;

      @Override
      public void operationProgressed(ChannelProgressiveFuture future, long progress, long total) {
        // Cumulative progress of this buffer, reported as the transport writes it.
        written += progress - seen;
        seen = progress;
      }

      @Override
      public void operationComplete(ChannelProgressiveFuture future) {
        if (future.isSuccess()) {
          promise.trySuccess();
        } else {
          promise.tryFailure(future.cause());
        }
      }
    });
    ctx.write(msg, counted);
  }
}
