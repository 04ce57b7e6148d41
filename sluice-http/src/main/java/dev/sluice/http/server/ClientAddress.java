package dev.sluice.http.server;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The address of the client behind a connection of an {@link HttpServer}: the source that a
 * trusted proxy gave in a PROXY protocol header, or else the connection's remote address.
 */
public final class ClientAddress {
  /** Set on the connection's channel when a trusted PROXY protocol header named the client. */
  static final AttributeKey<InetSocketAddress> PROXIED =
      AttributeKey.valueOf(ClientAddress.class, "proxied");

  private ClientAddress() {}

  /**
   * The client's address for a connection, or for an HTTP/2 stream (whose connection is its
   * parent); null when the channel has no IP address (not connected, or a local socket).
   */
  public static InetSocketAddress of(Channel channel) {
    Channel connection = connection(channel);
    if (connection.hasAttr(PROXIED)) {
      InetSocketAddress proxied = connection.attr(PROXIED).get();
      if (proxied != null) {
        return proxied;
      }
    }
    SocketAddress remote = connection.remoteAddress();
    return remote instanceof InetSocketAddress ? (InetSocketAddress) remote : null;
  }

  /** Whether {@link #of} gives an address from a PROXY protocol header. */
  public static boolean isProxied(Channel channel) {
    Channel connection = connection(channel);
    return connection.hasAttr(PROXIED) && connection.attr(PROXIED).get() != null;
  }

  private static Channel connection(Channel channel) {
    return channel instanceof Http2StreamChannel ? channel.parent() : channel;
  }
}
