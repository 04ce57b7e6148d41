package dev.sluice.http.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/** The socket transport: native epoll on Linux when it loads, Java NIO everywhere else. */
public enum Transport {
  EPOLL,
  NIO;

  /** Epoll when the native library is available and not disabled with {@code -Dsluice.nio=true}. */
  public static Transport best() {
    return !Boolean.getBoolean("sluice.nio") && Epoll.isAvailable() ? EPOLL : NIO;
  }

  /**
   * The transport whose channels can run on {@code group}: epoll for epoll event loops, NIO for
   * NIO ones.
   *
   * @throws IllegalArgumentException for event loops of another kind (io_uring, local, ...)
   */
  public static Transport of(EventLoopGroup group) {
    if (group instanceof IoEventLoopGroup) {
      IoEventLoopGroup io = (IoEventLoopGroup) group;
      if (io.isIoType(NioIoHandler.class)) {
        return NIO;
      }
      if (io.isIoType(EpollIoHandler.class)) {
        return EPOLL;
      }
    }
    throw new IllegalArgumentException("event loops of an unsupported kind: "
        + group.getClass().getName() + "; use Transport.newGroup");
  }

  public EventLoopGroup newGroup(int threads, String name) {
    IoHandlerFactory factory =
        this == EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
  }

  public Class<? extends ServerSocketChannel> serverChannel() {
    return this == EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
  }

  public Class<? extends SocketChannel> clientChannel() {
    return this == EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
  }

  @Override
  public String toString() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
