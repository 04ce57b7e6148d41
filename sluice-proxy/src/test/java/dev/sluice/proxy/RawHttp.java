package dev.sluice.proxy;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A plain socket speaking HTTP/1.1 as written, for what a real client will not send (hop-by-hop
 * headers, pipelining) and to see a response's headers exactly as they came.
 */
final class RawHttp implements AutoCloseable {
  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  RawHttp(InetSocketAddress address) throws IOException {
    socket = new Socket();
    socket.connect(address, 5_000);
    socket.setSoTimeout(20_000);
    socket.setTcpNoDelay(true);
    in = new BufferedInputStream(socket.getInputStream());
    out = socket.getOutputStream();
  }

  /** A response as read from the wire; header names in lower case, every value kept. */
  record Response(int status, Map<String, List<String>> headers, byte[] body, boolean chunked) {
    String header(String name) {
      List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
      return v == null ? null : v.get(0);
    }

    List<String> all(String name) {
      return headers.getOrDefault(name.toLowerCase(Locale.ROOT), List.of());
    }

    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
      return status + " " + headers + " " + text();
    }
  }

  Socket socket() {
    return socket;
  }

  RawHttp send(String text) throws IOException {
    return send(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  RawHttp send(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
    return this;
  }

  Response read() throws IOException {
    return read(false);
  }

  /** Reads one response: Content-Length, chunked, or (without either) none. */
  Response read(boolean headRequest) throws IOException {
    String statusLine = line();
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
      throw new IOException("not an HTTP status line: " + statusLine);
    }
    Map<String, List<String>> headers = headers();
    int status = Integer.parseInt(parts[1]);
    boolean chunked = headers.getOrDefault("transfer-encoding", List.of()).stream()
        .anyMatch(v -> v.toLowerCase(Locale.ROOT).contains("chunked"));
    byte[] body;
    if (headRequest || status < 200 || status == 204 || status == 304) {
      body = new byte[0];
    } else if (chunked) {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      while (true) {
        String size = line();
        int semi = size.indexOf(';');
        int n = Integer.parseInt((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
        if (n == 0) {
          headers.putAll(headers()); // trailers, if any
          break;
        }
        b.write(exactly(n));
        line();
      }
      body = b.toByteArray();
    } else if (headers.containsKey("content-length")) {
      body = exactly(Integer.parseInt(headers.get("content-length").get(0)));
    } else {
      body = new byte[0];
    }
    return new Response(status, headers, body, chunked);
  }

  /** Reads a response's head only; the body is left to read from {@link #input()}. */
  Response readHead() throws IOException {
    String statusLine = line();
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
      throw new IOException("not an HTTP status line: " + statusLine);
    }
    return new Response(Integer.parseInt(parts[1]), headers(), new byte[0], false);
  }

  InputStream input() {
    return in;
  }

  /** True when the peer closed the connection (the next read ends the stream). */
  boolean closed() throws IOException {
    try {
      return in.read() < 0;
    } catch (java.net.SocketException e) {
      return true;
    }
  }

  private Map<String, List<String>> headers() throws IOException {
    Map<String, List<String>> headers = new LinkedHashMap<>();
    String line;
    while (!(line = line()).isEmpty()) {
      int colon = line.indexOf(':');
      headers.computeIfAbsent(line.substring(0, colon).trim().toLowerCase(Locale.ROOT),
          k -> new ArrayList<>()).add(line.substring(colon + 1).trim());
    }
    return headers;
  }

  private byte[] exactly(int n) throws IOException {
    byte[] b = in.readNBytes(n);
    if (b.length < n) {
      throw new EOFException("body ended after " + b.length + " of " + n + " bytes");
    }
    return b;
  }

  private String line() throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) != '\n') {
      if (b < 0) {
        throw new EOFException("connection closed after \"" + line + "\"");
      }
      if (b != '\r') {
        line.write(b);
      }
    }
    return line.toString(StandardCharsets.ISO_8859_1);
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
