package dev.sluice.http.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay on 127.0.0.1 that writes a PROXY protocol header to the server before the bytes of
 * each connection, the way a load balancer does, so that any client can talk through it.
 */
final class ProxyProtocolRelay implements AutoCloseable {
  private final ServerSocket listener;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();

  ProxyProtocolRelay(InetSocketAddress server, byte[] header) throws IOException {
    listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread accept = new Thread(() -> {
      while (!listener.isClosed()) {
        try {
          Socket client = listener.accept();
          Socket upstream = new Socket();
          upstream.connect(server, 5_000);
          sockets.add(client);
          sockets.add(upstream);
          upstream.getOutputStream().write(header);
          pump(client, upstream);
          pump(upstream, client);
        } catch (IOException e) {
          return; // closed
        }
      }
    }, "proxy-relay-accept");
    accept.setDaemon(true);
    accept.start();
  }

  InetSocketAddress address() {
    return (InetSocketAddress) listener.getLocalSocketAddress();
  }

  private static void pump(Socket from, Socket to) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[8192];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        int n;
        while ((n = in.read(buf)) >= 0) {
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // one side closed: close both below
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    }, "proxy-relay-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    listener.close();
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }
}
