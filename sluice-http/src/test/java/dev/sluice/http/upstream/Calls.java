package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Requests and answers for the upstream tests, copied out of Netty's buffers and released. */
final class Calls {
  private Calls() {}

  /** A response, copied: status, who answered, body text. */
  record Answer(int status, Endpoint endpoint, String body, HttpHeaders headers) {}

  static UpstreamRequest get(String path) {
    return new UpstreamRequest(HttpMethod.GET, path, null, Unpooled.EMPTY_BUFFER, null, null);
  }

  static UpstreamRequest keyed(String path, String key) {
    return new UpstreamRequest(HttpMethod.GET, path, null, Unpooled.EMPTY_BUFFER,
        key.getBytes(StandardCharsets.UTF_8), null);
  }

  static UpstreamRequest post(String path, String body) {
    return post(path, new DefaultHttpHeaders(), body);
  }

  static UpstreamRequest post(String path, HttpHeaders headers, String body) {
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer();
    buf.writeCharSequence(body, StandardCharsets.UTF_8);
    return UpstreamRequest.post(path, headers, buf);
  }

  static UpstreamRequest withTimeout(UpstreamRequest r, Duration timeout) {
    return new UpstreamRequest(r.method(), r.path(), r.headers(), r.body(), r.hashKey(), timeout);
  }

  /** Waits for the response (10 s at most), copies and releases it. */
  static Answer answer(CompletableFuture<UpstreamResponse> f) {
    UpstreamResponse r;
    try {
      r = f.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new AssertionError("expected a response, got " + e.getCause(), e.getCause());
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError("no response within 10 s", e);
    }
    try {
      assertThat(r.refCnt()).as("a fresh response").isEqualTo(1);
      return new Answer(r.status(), r.endpoint(), r.body().toString(StandardCharsets.UTF_8),
          r.headers());
    } finally {
      r.release();
    }
  }

  static Answer send(UpstreamGroup group, UpstreamRequest request) {
    return answer(group.send(request));
  }

  /** Waits for the failure (10 s at most). */
  static UpstreamException failure(CompletableFuture<UpstreamResponse> f) {
    try {
      UpstreamResponse r = f.get(10, TimeUnit.SECONDS);
      int status = r.status();
      r.release();
      return fail("expected a failure, got a response with status " + status);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(UpstreamException.class);
      return (UpstreamException) e.getCause();
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError("no outcome within 10 s", e);
    }
  }

  static EndpointStatus status(UpstreamGroup group, Endpoint endpoint) {
    for (EndpointStatus s : group.status()) {
      if (s.endpoint().equals(endpoint)) {
        return s;
      }
    }
    throw new AssertionError("no status for " + endpoint);
  }
}
