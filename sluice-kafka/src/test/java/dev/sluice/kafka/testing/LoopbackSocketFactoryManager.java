package dev.sluice.kafka.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.test.PreboundSocketFactoryManager;
import org.apache.kafka.server.ServerSocketFactory;

/**
 * Kafka's {@link PreboundSocketFactoryManager} with every socket bound to 127.0.0.1 instead of the
 * wildcard address. The test kit pre-binds one server socket per node and listener (so that the
 * controller quorum knows its ports before anything starts) with {@code new InetSocketAddress(0)},
 * which listens on all interfaces; {@link KafkaTestBroker} puts this class in its place.
 *
 * <p>It keeps the original's behaviour: a pre-bound socket is handed to the first server that asks
 * for its listener, and a server restarted after its socket was closed binds the same port again
 * (on loopback), so clients find a restarted broker where it was.
 */
final class LoopbackSocketFactoryManager extends PreboundSocketFactoryManager {
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  private final Map<Integer, ServerSocketFactory> factories = new HashMap<>();
  private final Map<Integer, Map<String, ServerSocketChannel>> sockets = new HashMap<>();
  private final Map<Integer, Set<String>> used = new HashMap<>();
  private final List<InetSocketAddress> bound = new ArrayList<>();
  private boolean closed;

  /** The local address of every server socket this manager opened, in order, restarts included. */
  synchronized List<InetSocketAddress> boundAddresses() {
    return List.copyOf(bound);
  }

  private synchronized ServerSocketChannel open(String listener, int port, int backlog,
      int recvBuffer) throws IOException {
    ServerSocketChannel socket = ServerSocketFactory.INSTANCE.openServerSocket(listener,
        new InetSocketAddress(LOOPBACK, port), backlog, recvBuffer);
    bound.add((InetSocketAddress) socket.getLocalAddress());
    return socket;
  }

  @Override
  public synchronized ServerSocketChannel getSocketForListenerAndMarkAsUsed(int nodeId,
      String listener) {
    Map<String, ServerSocketChannel> forNode = sockets.get(nodeId);
    ServerSocketChannel socket = forNode == null ? null : forNode.get(listener);
    if (socket != null) {
      used.computeIfAbsent(nodeId, k -> new HashSet<>()).add(listener);
    }
    return socket;
  }

  @Override
  public synchronized ServerSocketFactory getOrCreateSocketFactory(int nodeId) {
    return factories.computeIfAbsent(nodeId, id -> (listener, address, backlog, recvBuffer) -> {
      ServerSocketChannel prebound = getSocketForListenerAndMarkAsUsed(id, listener);
      if (prebound != null && prebound.isOpen()) {
        return prebound;
      }
      int port = prebound != null ? prebound.socket().getLocalPort() : address.getPort();
      return open(listener, port, backlog, recvBuffer);
    });
  }

  @Override
  public synchronized int getOrCreatePortForListener(int nodeId, String listener)
      throws IOException {
    Map<String, ServerSocketChannel> forNode = sockets.computeIfAbsent(nodeId,
        k -> new HashMap<>());
    ServerSocketChannel socket = forNode.get(listener);
    if (socket == null) {
      if (closed) {
        throw new IllegalStateException("cannot open a new socket: the manager is closed");
      }
      socket = open(listener, 0, -1, -1);
      forNode.put(listener, socket);
    }
    return ((InetSocketAddress) socket.getLocalAddress()).getPort();
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    // Sockets handed to a server are that server's to close.
    for (Map.Entry<Integer, Map<String, ServerSocketChannel>> node : sockets.entrySet()) {
      Set<String> handedOut = used.getOrDefault(node.getKey(), Set.of());
      for (Map.Entry<String, ServerSocketChannel> s : node.getValue().entrySet()) {
        if (!handedOut.contains(s.getKey())) {
          try {
            s.getValue().close();
          } catch (IOException ignored) {
            // closing an unused listening socket: nothing to do about a failure
          }
        }
      }
    }
  }
}
