package dev.sluice.receiver.otlp;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A hand-driven HTTP/1.1 connection over a plain {@link Socket}, for the byte-level cases an HTTP
 * client will not produce: pipelined requests, heads without their body, exact headers. Reads
 * answers framed by {@code Content-Length} (all the receiver sends) or by the connection closing.
 * Every read gives up after {@link #TIMEOUT_MILLIS}.
 */
public final class RawHttp implements AutoCloseable {
  public static final int TIMEOUT_MILLIS = 5000;

  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  /** One parsed answer; header names are lower-cased. */
  public record Response(int status, Map<String, List<String>> headers, byte[] body) {
    /** The first value of a header, or null. */
    public String header(String name) {
      List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
      return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** Every value of a header (one per header line), or an empty list. */
    public List<String> headers(String name) {
      return headers.getOrDefault(name.toLowerCase(Locale.ROOT), List.of());
    }
  }

  private RawHttp(Socket socket) throws IOException {
    this.socket = socket;
    this.in = new BufferedInputStream(socket.getInputStream());
    this.out = socket.getOutputStream();
  }

  public static RawHttp connect(InetSocketAddress address) throws IOException {
    Socket s = new Socket();
    s.connect(address, TIMEOUT_MILLIS);
    s.setSoTimeout(TIMEOUT_MILLIS);
    s.setTcpNoDelay(true);
    return new RawHttp(s);
  }

  /**
   * The bytes of a request: request line, {@code Host}, the given headers (name, value, name,
   * value, ...), {@code Content-Length} when {@code body} is not null, then the body.
   */
  public static byte[] request(String method, String path, byte[] body, String... headers) {
    StringBuilder head = new StringBuilder();
    head.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
    head.append("Host: 127.0.0.1\r\n");
    for (int i = 0; i < headers.length; i += 2) {
      head.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
    }
    if (body != null) {
      head.append("Content-Length: ").append(body.length).append("\r\n");
    }
    head.append("\r\n");
    byte[] h = head.toString().getBytes(StandardCharsets.ISO_8859_1);
    if (body == null) {
      return h;
    }
    byte[] all = new byte[h.length + body.length];
    System.arraycopy(h, 0, all, 0, h.length);
    System.arraycopy(body, 0, all, h.length, body.length);
    return all;
  }

  /** Concatenates byte arrays, e.g. two requests to write in one go. */
  public static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.writeBytes(p);
    }
    return b.toByteArray();
  }

  /** Writes and flushes, in one write call. */
  public RawHttp write(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
    return this;
  }

  public RawHttp write(String ascii) throws IOException {
    return write(ascii.getBytes(StandardCharsets.ISO_8859_1));
  }

  /** Reads one whole answer. */
  public Response read() throws IOException {
    String status = line();
    if (status == null) {
      throw new IOException("the connection closed before an answer");
    }
    String[] parts = status.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
      throw new IOException("not an HTTP/1.x status line: " + status);
    }
    int code = Integer.parseInt(parts[1]);
    Map<String, List<String>> headers = new LinkedHashMap<>();
    String h;
    while ((h = line()) != null && !h.isEmpty()) {
      int colon = h.indexOf(':');
      headers
          .computeIfAbsent(h.substring(0, colon).trim().toLowerCase(Locale.ROOT),
              k -> new ArrayList<>())
          .add(h.substring(colon + 1).trim());
    }
    List<String> length = headers.get("content-length");
    byte[] body;
    if (length != null) {
      body = in.readNBytes(Integer.parseInt(length.get(0)));
    } else if (code / 100 == 1 || code == 204 || code == 304) {
      body = new byte[0];
    } else {
      body = in.readAllBytes(); // framed by the close
    }
    return new Response(code, headers, body);
  }

  /**
   * True when the server closes the connection (end of stream or reset) within {@link
   * #TIMEOUT_MILLIS}; false when bytes arrive instead; fails when nothing happens.
   */
  public boolean awaitClosed() throws IOException {
    try {
      return in.read() < 0;
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the server neither answered nor closed the connection", e);
    } catch (IOException reset) {
      return true;
    }
  }

  private String line() throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) >= 0) {
      if (c == '\n') {
        byte[] bytes = b.toByteArray();
        int n = bytes.length;
        if (n > 0 && bytes[n - 1] == '\r') {
          n--;
        }
        return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
      }
      b.write(c);
    }
    return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
  }

  public Socket socket() {
    return socket;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
