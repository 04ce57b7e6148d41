package dev.sluice.http.server;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Counts a server's open connections and closes a new one at once when the cap is reached, so a
 * flood of connections cannot exhaust memory or file descriptors. Shared by every connection of
 * one server; it removes itself from a refused connection's pipeline.
 */
@ChannelHandler.Sharable
final class ConnectionLimiter extends ChannelInboundHandlerAdapter {
  private final int max;
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();

  ConnectionLimiter(int max) {
    this.max = max;
  }

  int open() {
    return open.get();
  }

  int refused() {
    return refused.get();
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    if (open.incrementAndGet() > max) {
      open.decrementAndGet();
      refused.incrementAndGet();
      ctx.pipeline().remove(this); // so channelInactive does not count it down again
      ctx.close();
      return;
    }
    ctx.fireChannelActive();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    open.decrementAndGet();
    ctx.fireChannelInactive();
  }
}
