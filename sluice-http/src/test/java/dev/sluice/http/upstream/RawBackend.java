package dev.sluice.http.upstream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A byte-level backend on 127.0.0.1 for the cases a real server will not produce: for each
 * connection it reads the request head and then does what {@link Behaviour} says.
 */
final class RawBackend implements AutoCloseable {
  /** What to do with a connection once a request head is read; null: nothing, keep it open. */
  @FunctionalInterface
  interface Behaviour {
    void handle(Socket socket) throws IOException;
  }

  private final ServerSocket server;
  private final Behaviour behaviour;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  final AtomicInteger requests = new AtomicInteger();
  private final Thread acceptor;

  RawBackend(Behaviour behaviour) throws IOException {
    this.behaviour = behaviour;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.acceptor = new Thread(this::accept, "raw-backend");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  Endpoint endpoint() {
    return new Endpoint(URI.create("http://127.0.0.1:" + server.getLocalPort()), 1);
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        sockets.add(s);
        Thread t = new Thread(() -> serve(s), "raw-backend-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s) {
    try {
      readHead(s.getInputStream());
      requests.incrementAndGet();
      behaviour.handle(s);
    } catch (IOException e) {
      // the client went away
    }
  }

  /** Reads up to the blank line ending a request head. */
  static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    byte[] end = {'\r', '\n', '\r', '\n'};
    while (matched < 4) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before the end of the head");
      }
      head.write(b);
      matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
    }
    return head.toString(StandardCharsets.US_ASCII);
  }

  static void write(Socket s, String text) throws IOException {
    s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : sockets) {
      s.close();
    }
  }
}
