package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.time.Duration;
import java.util.Objects;

/**
 * A request to send to an upstream group. The body is owned by the request and released by the
 * group exactly once, when the request has been written or has failed.
 *
 * @param path appended to the chosen endpoint's base path, e.g. {@code /v1/traces}
 * @param hashKey the key for consistent hashing (a trace id, a client address), or null
 * @param timeout the whole exchange's deadline, or null for the group's request timeout
 */
public record UpstreamRequest(HttpMethod method, String path, HttpHeaders headers, ByteBuf body,
    byte[] hashKey, Duration timeout) {
  public UpstreamRequest {
    Objects.requireNonNull(method, "method");
    Objects.requireNonNull(path, "path");
    headers = headers == null ? new DefaultHttpHeaders() : headers;
    Objects.requireNonNull(body, "body");
  }

  /** A POST with the given body and headers, no hash key, the group's timeout. */
  public static UpstreamRequest post(String path, HttpHeaders headers, ByteBuf body) {
    return new UpstreamRequest(HttpMethod.POST, path, headers, body, null, null);
  }
}
