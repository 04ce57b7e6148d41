package dev.sluice.http.server;

import dev.sluice.http.net.CidrSet;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolException;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a PROXY protocol header (v1 text or v2 binary) from connections whose source is a trusted
 * proxy, stores the client address it names on the channel ({@link ClientAddress}), and then
 * applies the listener's access list to that address. A trusted proxy may also connect without a
 * header; the connection is then its own client. A header from any other source is refused by
 * closing the connection, since it would let a client claim any address.
 *
 * <p>Pipeline: {@code connection-limit -> proxy-protocol -> [HAProxyMessageDecoder ->
 * proxy-header] -> idle -> (ssl ->) HTTP}; the handlers remove themselves once the header is read
 * or known to be absent.
 */
final class ProxyProtocolHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(ProxyProtocolHandler.class);
  private static final byte[] V1 = "PROXY ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] V2 = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
  };

  private final CidrSet trusted;
  private final ConnectionAcl acl;
  private boolean fromTrusted;
  /** The first bytes, held until they show whether a header starts; owned by this handler. */
  private ByteBuf held;

  ProxyProtocolHandler(CidrSet trusted, ConnectionAcl acl) {
    this.trusted = trusted;
    this.acl = acl;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    fromTrusted = trusted.contains(ctx.channel().remoteAddress());
    // A trusted proxy's client is known only after the header; anyone else is checked now.
    if (fromTrusted || acl.admit(ctx, ClientAddress.of(ctx.channel()))) {
      ctx.fireChannelActive();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ByteBuf)) {
      ctx.fireChannelRead(msg);
      return;
    }
    ByteBuf in = (ByteBuf) msg;
    if (held == null) {
      held = in;
    } else {
      ByteBuf before = held;
      held = ctx.alloc().buffer(before.readableBytes() + in.readableBytes())
          .writeBytes(before).writeBytes(in);
      before.release();
      ReferenceCountUtil.release(msg);
    }
    int v1 = matches(held, V1);
    int v2 = matches(held, V2);
    if (v1 == 0 || v2 == 0) {
      return; // too few bytes to tell yet
    }
    ByteBuf bytes = held;
    held = null;
    boolean header = v1 > 0 || v2 > 0;
    if (header && !fromTrusted) {
      log.debug("PROXY protocol header from untrusted {}: closing", ctx.channel().remoteAddress());
      bytes.release();
      ctx.close();
      return;
    }
    if (header) {
      ctx.pipeline().addAfter(ctx.name(), "proxy-decoder", new HAProxyMessageDecoder());
      ctx.pipeline().addAfter("proxy-decoder", "proxy-header", new HeaderReader(acl));
    } else if (fromTrusted && !acl.admit(ctx, ClientAddress.of(ctx.channel()))) {
      bytes.release();
      return;
    }
    ctx.pipeline().remove(this);
    ctx.fireChannelRead(bytes);
  }

  /** 1 when the bytes begin with the signature, -1 when they cannot, 0 when too few to tell. */
  private static int matches(ByteBuf buf, byte[] signature) {
    int n = Math.min(buf.readableBytes(), signature.length);
    for (int i = 0; i < n; i++) {
      if (buf.getByte(buf.readerIndex() + i) != signature[i]) {
        return -1;
      }
    }
    return n == signature.length ? 1 : 0;
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    if (held != null) {
      held.release();
      held = null;
    }
  }

  /** Takes the decoded header, stores the client address and applies the access list. */
  private static final class HeaderReader extends ChannelInboundHandlerAdapter {
    private final ConnectionAcl acl;

    HeaderReader(ConnectionAcl acl) {
      this.acl = acl;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (!(msg instanceof HAProxyMessage)) {
        ctx.fireChannelRead(msg);
        return;
      }
      HAProxyMessage header = (HAProxyMessage) msg;
      try {
        InetSocketAddress client = source(header);
        if (client != null) {
          ctx.channel().attr(ClientAddress.PROXIED).set(client);
        }
      } finally {
        header.release();
      }
      if (acl.admit(ctx, ClientAddress.of(ctx.channel()))) {
        ctx.pipeline().remove(this);
      }
    }

    /** The client's address, or null for a LOCAL command or an UNKNOWN or UNIX source. */
    private static InetSocketAddress source(HAProxyMessage header) {
      if (header.command() != HAProxyCommand.PROXY) {
        return null; // the proxy's own connection, such as a health check
      }
      HAProxyProxiedProtocol p = header.proxiedProtocol();
      if (p.addressFamily() != HAProxyProxiedProtocol.AddressFamily.AF_IPv4
          && p.addressFamily() != HAProxyProxiedProtocol.AddressFamily.AF_IPv6) {
        return null;
      }
      byte[] ip = NetUtil.createByteArrayFromIpAddressString(header.sourceAddress());
      try {
        return ip == null ? null : new InetSocketAddress(InetAddress.getByAddress(ip),
            header.sourcePort());
      } catch (UnknownHostException e) {
        return null; // cannot happen with 4 or 16 bytes
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (cause instanceof HAProxyProtocolException
          || cause.getCause() instanceof HAProxyProtocolException) {
        log.debug("invalid PROXY protocol header from {}: {}", ctx.channel().remoteAddress(),
            cause.toString());
        ctx.close();
        return;
      }
      ctx.fireExceptionCaught(cause);
    }
  }
}
