package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A streamed exchange the ordinary way, for the tests: writes a request as HttpObjects, gathers the
 * response's objects and ends the exchange with {@code complete}.
 */
class ObjectCall implements UpstreamStreamHandler {
  /** The response as read: status, body text, whether raw mode was refused, connection reused. */
  record Result(int status, String body, boolean rawRefused, boolean reused) {}

  final CompletableFuture<Result> result = new CompletableFuture<>();
  private final String path;
  private final String body;
  /** Asks for raw mode first and expects a refusal (HTTP/2). */
  private final boolean tryRaw;
  private final StringBuilder received = new StringBuilder();
  private UpstreamStream stream;
  private boolean rawRefused;
  private int status;

  ObjectCall(String path, String body, boolean tryRaw) {
    this.path = path;
    this.body = body;
    this.tryRaw = tryRaw;
  }

  static FullHttpRequest request(ByteBuf content, String path) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path,
        content);
    r.headers().set(HttpHeaderNames.HOST, "objects.example");
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
    return r;
  }

  @Override
  public void onOpen(UpstreamStream stream) {
    this.stream = stream;
    try {
      if (tryRaw) {
        rawRefused = !stream.rawBytes();
      }
      stream.write(request(RawCall.bytes(body), path));
      stream.flush();
    } catch (RuntimeException e) {
      stream.abort(false);
      result.completeExceptionally(e);
    }
  }

  @Override
  public void onOpenFailed(UpstreamException cause) {
    result.completeExceptionally(cause);
  }

  @Override
  public void onResponse(Object msg) {
    try {
      if (msg instanceof HttpResponse) {
        status = ((HttpResponse) msg).status().code();
      }
      if (msg instanceof HttpContent) {
        received.append(((HttpContent) msg).content().toString(StandardCharsets.UTF_8));
      }
      if (msg instanceof LastHttpContent) {
        stream.complete(status);
        result.complete(new Result(status, received.toString(), rawRefused, stream.reused()));
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
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
}
