package dev.sluice.proxy.trace;

/**
 * One proxied request as a server span, handed to {@link SpanReporter#record}.
 *
 * @param traceIdHigh upper 64 bits of the trace id
 * @param traceIdLow lower 64 bits of the trace id
 * @param spanId this span's id, not 0
 * @param parentSpanId the caller's span id, 0 when the trace started here
 * @param startEpochNanos when the request arrived, nanoseconds since the epoch
 * @param endEpochNanos when the response ended, nanoseconds since the epoch
 * @param method the request method
 * @param host the {@code Host} or {@code :authority}, with the port if it had one; may be null
 * @param path the request path without the query
 * @param route the matched route's name; null when none matched
 * @param upstream the chosen endpoint's authority ({@code host:port}); null when none was chosen
 * @param status the response status sent to the client; 0 when none was sent
 * @param clientAddress the client's IP address
 * @param protocol {@code HTTP/1.1} or {@code HTTP/2}
 * @param error what went wrong, for the span's status message; null when nothing did
 */
public record ProxySpan(long traceIdHigh, long traceIdLow, long spanId, long parentSpanId,
    long startEpochNanos, long endEpochNanos, String method, String host, String path,
    String route, String upstream, int status, String clientAddress, String protocol,
    String error) {

  public ProxySpan {
    if (traceIdHigh == 0 && traceIdLow == 0) {
      throw new IllegalArgumentException("trace id must not be all zeros");
    }
    if (spanId == 0) {
      throw new IllegalArgumentException("span id must not be 0");
    }
  }

  /** A span of {@code context}'s trace with its span id and parent; the other fields as given. */
  public static ProxySpan of(TraceContext context, long startEpochNanos, long endEpochNanos,
      String method, String host, String path, String route, String upstream, int status,
      String clientAddress, String protocol, String error) {
    return new ProxySpan(context.traceIdHigh(), context.traceIdLow(), context.spanId(),
        context.parentSpanId(), startEpochNanos, endEpochNanos, method, host, path, route,
        upstream, status, clientAddress, protocol, error);
  }
}
