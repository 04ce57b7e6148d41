package dev.sluice.proxy;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * An HTTP/1.1 backend on plain sockets that answers each request with the bytes a script gives
 * for its request line, exactly as written: for responses a well-behaved server library would not
 * send (a body ended by the close, 103 Early Hints, bytes past the end, a malformed head).
 */
final class ScriptedBackend implements AutoCloseable {
  /** What to send for one request, and whether to close the connection after it. */
  record Reply(byte[] bytes, boolean close) {
    static Reply of(String text) {
      return new Reply(text.getBytes(StandardCharsets.ISO_8859_1), false);
    }

    static Reply closing(String text) {
      return new Reply(text.getBytes(StandardCharsets.ISO_8859_1), true);
    }
  }

  private final ServerSocket server;
  private final Function<String, Reply> script;
  private final AtomicInteger connections = new AtomicInteger();
  private final List<String> requestLines = new CopyOnWriteArrayList<>();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final Thread acceptor;

  private ScriptedBackend(Function<String, Reply> script) throws IOException {
    this.script = script;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.acceptor = new Thread(this::accept, "scripted-backend");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** Starts a backend whose replies {@code script} makes from each request line. */
  static ScriptedBackend start(Function<String, Reply> script) throws IOException {
    return new ScriptedBackend(script);
  }

  String url() {
    return "http://127.0.0.1:" + server.getLocalPort();
  }

  /** Connections accepted so far. */
  int connections() {
    return connections.get();
  }

  /** Request lines read so far, in order. */
  List<String> requestLines() {
    return requestLines;
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        connections.incrementAndGet();
        sockets.add(s);
        Thread t = new Thread(() -> serve(s), "scripted-backend-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      InputStream in = new BufferedInputStream(s.getInputStream());
      OutputStream out = s.getOutputStream();
      while (true) {
        String line = line(in);
        if (line == null) {
          return;
        }
        long length = 0;
        String h;
        while ((h = line(in)) != null && !h.isEmpty()) {
          String lower = h.toLowerCase(Locale.ROOT);
          if (lower.startsWith("content-length:")) {
            length = Long.parseLong(lower.substring(15).trim());
          }
        }
        in.skipNBytes(length);
        requestLines.add(line);
        Reply r = script.apply(line);
        out.write(r.bytes());
        out.flush();
        if (r.close()) {
          return;
        }
      }
    } catch (IOException e) {
      // the proxy went away
    }
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) != '\n') {
      if (c < 0) {
        return null;
      }
      if (c != '\r') {
        b.write(c);
      }
    }
    return b.toString(StandardCharsets.ISO_8859_1);
  }

  InetSocketAddress address() {
    return (InetSocketAddress) server.getLocalSocketAddress();
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : sockets) {
      s.close();
    }
  }
}
