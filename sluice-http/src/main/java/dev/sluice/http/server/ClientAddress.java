package dev.sluice.http.server;

import io.netty.channel.Channel;
import java.net.InetSocketAddress;

/** The address of the client of a server connection. */
public final class ClientAddress {
  private ClientAddress() {}

  public static InetSocketAddress of(Channel ch) {
    Channel c = ch.parent() instanceof io.netty.channel.socket.SocketChannel ? ch.parent() : ch;
    return (InetSocketAddress) c.remoteAddress();
  }
}
