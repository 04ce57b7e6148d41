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
  /** The next readable buffer written with a void promise is to be counted. */
  private boolean countNext;
  /** The listener of counted writes with a void promise, reused while none is in flight. */
  private final Progress progress = new Progress();

  long written() {
    return written;
  }

  /**
   * Has the next buffer written with a void promise counted too, its failure fired down the
   * pipeline as an exception. An exchange's first write goes so: it costs one promise instead of
   * three objects, and whatever follows it can only leave after it.
   */
  void countNextWrite() {
    countNext = true;
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (!(msg instanceof ByteBuf) || !((ByteBuf) msg).isReadable()) {
      ctx.write(msg, promise);
      return;
    }
    if (promise.isVoid()) {
      if (!countNext) {
        ctx.write(msg, promise);
        return;
      }
      countNext = false;
      Progress p = progress.busy ? new Progress() : progress;
      p.start(ctx);
      ChannelProgressivePromise counted = ctx.newProgressivePromise();
      counted.addListener(p);
      ctx.write(msg, counted);
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

  /** Counts one buffer's bytes as they leave; on failure, fires it as an exception. */
  private final class Progress implements ChannelProgressiveFutureListener {
    private long seen;
    private boolean busy;
    private ChannelHandlerContext ctx;

    void start(ChannelHandlerContext ctx) {
      this.ctx = ctx;
      seen = 0;
      busy = true;
    }

    @Override
    public void operationProgressed(ChannelProgressiveFuture future, long progress, long total) {
      written += progress - seen;
      seen = progress;
    }

    @Override
    public void operationComplete(ChannelProgressiveFuture future) {
      busy = false;
      if (!future.isSuccess()) {
        ctx.pipeline().fireExceptionCaught(future.cause());
      }
    }
  }
}
