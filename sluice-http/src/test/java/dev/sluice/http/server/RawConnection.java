package dev.sluice.http.server;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** A plain socket speaking HTTP/1.x byte by byte, for the cases a real client will not produce. */
final class RawConnection implements AutoCloseable {
  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  RawConnection(InetSocketAddress address) throws IOException {
    socket = new Socket();
    socket.connect(address, 5_000);
    socket.setSoTimeout(5_000);
    socket.setTcpNoDelay(true);
    in = new BufferedInputStream(socket.getInputStream());
    out = socket.getOutputStream();
  }

  /** An HTTP response as read from the wire. */
  static final class Response {
    private final String version;
    private final int status;
    private final Map<String, String> headers; // names in lower case
    private final String body;

    Response(String version, int status, Map<String, String> headers, String body) {
      this.version = version;
      this.status = status;
      this.headers = headers;
      this.body = body;
    }

    String version() {
      return version;
    }

    int status() {
      return status;
    }

    String body() {
      return body;
    }

    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }

    @Override
    public String toString() {
      return version + " " + status + " " + headers + " " + body;
    }
  }

  Socket socket() {
    return socket;
  }

  /** The same input, for reading binary frames after an upgrade. */
  java.io.DataInputStream dataInput() {
    return new java.io.DataInputStream(in);
  }

  RawConnection send(String text) throws IOException {
    return send(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  RawConnection send(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
    return this;
  }

  /** Reads one response with a Content-Length body (or none), waiting up to the socket timeout. */
  Response readResponse() throws IOException {
    String statusLine = readLine();
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
      throw new IOException("not an HTTP status line: " + statusLine);
    }
    Map<String, String> headers = new LinkedHashMap<>();
    String line;
    while (!(line = readLine()).isEmpty()) {
      int colon = line.indexOf(':');
      headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT),
          line.substring(colon + 1).trim());
    }
    int length = headers.containsKey("content-length")
        ? Integer.parseInt(headers.get("content-length")) : 0;
    byte[] body = in.readNBytes(length);
    if (body.length < length) {
      throw new EOFException("body ended after " + body.length + " of " + length + " bytes");
    }
    return new Response(parts[0], Integer.parseInt(parts[1]), headers,
        new String(body, StandardCharsets.UTF_8));
  }

  private String readLine() throws IOException {
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

  /**
   * Waits up to {@code within} for the server to close the connection: true when a read ends the
   * stream (or the connection is reset), false when the time ran out with the connection open.
   *
   * @throws AssertionError when bytes arrive instead
   */
  boolean closedWithin(Duration within) throws IOException {
    int saved = socket.getSoTimeout();
    socket.setSoTimeout((int) Math.max(1, within.toMillis()));
    try {
      int b = in.read();
      if (b < 0) {
        return true;
      }
      byte[] more = in.readNBytes(Math.min(in.available(), 200));
      throw new AssertionError("expected the connection to close but read \""
          + (char) b + new String(more, StandardCharsets.ISO_8859_1) + "\"");
    } catch (SocketTimeoutException e) {
      return false;
    } catch (SocketException e) {
      return true; // reset by the server
    } finally {
      if (!socket.isClosed()) {
        socket.setSoTimeout(saved);
      }
    }
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
