package dev.sluice.http.server;

import dev.sluice.http.net.CidrSet;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The listener's access list: closes a connection at once unless its client address is allowed
 * and not denied, and counts the denials. As a handler it checks the remote address when the
 * connection becomes active and removes itself; with the PROXY protocol, {@link
 * ProxyProtocolHandler} calls {@link #admit} with the address the header gave.
 */
@ChannelHandler.Sharable
final class ConnectionAcl extends ChannelInboundHandlerAdapter {
  private final CidrSet allow;
  private final CidrSet deny;
  private final AtomicInteger denied = new AtomicInteger();

  ConnectionAcl(CidrSet allow, CidrSet deny) {
    this.allow = allow;
    this.deny = deny;
  }

  boolean active() {
    return !allow.isEmpty() || !deny.isEmpty();
  }

  int denied() {
    return denied.get();
  }

  /** True when the client may stay; otherwise closes the connection and counts it. */
  boolean admit(ChannelHandlerContext ctx, InetSocketAddress client) {
    boolean ok = client != null
        && (allow.isEmpty() || allow.contains(client.getAddress()))
        && !deny.contains(client.getAddress());
    if (!ok && active()) {
      denied.incrementAndGet();
      ctx.close();
      return false;
    }
    return true;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    if (admit(ctx, ClientAddress.of(ctx.channel()))) {
      ctx.pipeline().remove(this);
      ctx.fireChannelActive();
    }
  }
}
