package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A streamed exchange in raw mode, for the tests: writes a request framed by hand, reads the
 * response bytes, finds its end by Content-Length and ends the exchange with {@code completeRaw},
 * reusable when the response ended exactly at the bytes read and did not ask for a close.
 */
class RawCall implements UpstreamStreamHandler {
  /** The response as read: status, head text, body bytes, and whether the connection was reused. */
  record Result(int status, String head, byte[] body, boolean reused) {
    String bodyText() {
      return new String(body, StandardCharsets.ISO_8859_1);
    }
  }

  final CompletableFuture<Result> result = new CompletableFuture<>();
  /** Exceptions thrown at the caller by the stream, in order. */
  final List<Throwable> thrown = new CopyOnWriteArrayList<>();
  final ByteArrayOutputStream received = new ByteArrayOutputStream();
  volatile boolean wasRaw;
  /** completeRaw's reusable argument; false forces a close. */
  volatile boolean keepAlive = true;
  UpstreamStream stream;
  private final String request;

  RawCall(String request) {
    this.request = request;
  }

  static String get(String path) {
    return "GET " + path + " HTTP/1.1\r\nHost: raw.example\r\n\r\n";
  }

  static String post(String path, String body) {
    return "POST " + path + " HTTP/1.1\r\nHost: raw.example\r\nContent-Type: text/plain\r\n"
        + "Content-Length: " + body.length() + "\r\n\r\n" + body;
  }

  static ByteBuf bytes(String text) {
    ByteBuf b = PooledByteBufAllocator.DEFAULT.buffer(text.length());
    b.writeCharSequence(text, StandardCharsets.ISO_8859_1);
    return b;
  }

  @Override
  public void onOpen(UpstreamStream stream) {
    this.stream = stream;
    try {
      wasRaw = stream.rawBytes();
      if (!wasRaw) {
        stream.abort(false);
        result.completeExceptionally(new IllegalStateException("raw mode refused"));
        return;
      }
      writeRequest(stream);
    } catch (RuntimeException e) {
      thrown.add(e);
      stream.abort(false);
      result.completeExceptionally(e);
    }
  }

  /** Writes the request in pieces of at most 7 bytes: the framing is the caller's, not ours. */
  void writeRequest(UpstreamStream stream) {
    for (int i = 0; i < request.length(); i += 7) {
      stream.writeBytes(bytes(request.substring(i, Math.min(request.length(), i + 7))));
    }
    stream.flush();
  }

  @Override
  public void onOpenFailed(UpstreamException cause) {
    result.completeExceptionally(cause);
  }

  @Override
  public void onResponse(Object msg) {
    ByteBuf buf = (ByteBuf) msg; // ours: released here
    try {
      byte[] chunk = new byte[buf.readableBytes()];
      buf.readBytes(chunk);
      received.write(chunk, 0, chunk.length);
    } finally {
      buf.release();
    }
    onBytes();
  }

  /** Looks for the end of the response in what was read so far. */
  void onBytes() {
    byte[] all = received.toByteArray();
    String text = new String(all, StandardCharsets.ISO_8859_1);
    int headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) {
      return;
    }
    String head = text.substring(0, headEnd);
    int status = Integer.parseInt(head.substring(9, 12));
    long length = 0;
    boolean close = false;
    for (String line : head.split("\r\n")) {
      String lower = line.toLowerCase(Locale.ROOT);
      if (lower.startsWith("content-length:")) {
        length = Long.parseLong(lower.substring(15).trim());
      } else if (lower.startsWith("connection:") && lower.contains("close")) {
        close = true;
      }
    }
    int bodyStart = headEnd + 4;
    if (all.length < bodyStart + length) {
      return;
    }
    boolean exact = all.length == bodyStart + length;
    byte[] body = java.util.Arrays.copyOfRange(all, bodyStart, (int) (bodyStart + length));
    stream.completeRaw(status, exact && !close && keepAlive);
    result.complete(new Result(status, head, body, stream.reused()));
  }

  @Override
  public void onFailure(UpstreamException cause) {
    result.completeExceptionally(cause);
  }

  /** Waits for the response (10 s at most). */
  Result await() {
    try {
      return result.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new AssertionError("expected a response, got " + e.getCause(), e.getCause());
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError("no response within 10 s", e);
    }
  }

  /** Waits for the failure (10 s at most). */
  Throwable awaitFailure() {
    try {
      Result r = result.get(10, TimeUnit.SECONDS);
      throw new AssertionError("expected a failure, got status " + r.status());
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError("no outcome within 10 s", e);
    }
  }
}
