package dev.sluice.proxy.engine;

import dev.sluice.proxy.log.AccessLog;
import dev.sluice.proxy.log.AccessRecord;
import dev.sluice.proxy.metrics.ProxyMetrics;
import dev.sluice.proxy.trace.ProxySpan;
import dev.sluice.proxy.trace.SpanReporter;
import dev.sluice.proxy.trace.TraceContext;
import dev.sluice.http.server.Http1Fallback;
import dev.sluice.http.server.HttpServerSettings;
import io.netty.channel.ChannelHandler;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What every connection's {@link ProxyHandler} shares: the configuration generation in force, and
 * where access log lines and spans go.
 */
public final class ProxyEngine {
  private final AtomicReference<ProxyState> state;
  private final AccessLog accessLog;
  private final SpanReporter spans;
  private final ProxyMetrics metrics;

  /**
   * @param accessLog where request lines go, or null for none
   * @param spans where spans of proxied requests go, or null for none
   * @param metrics where the proxy's own counts go
   */
  public ProxyEngine(ProxyState initial, AccessLog accessLog, SpanReporter spans,
      ProxyMetrics metrics) {
    this.state = new AtomicReference<>(initial);
    this.accessLog = accessLog;
    this.spans = spans;
    this.metrics = metrics;
  }

  /** A connection left the fast path for the standard handlers. */
  void handedOver() {
    metrics.handedOver();
  }

  /** An HTTP/2 stream was left to the standard handlers. */
  void streamLeftToStandard() {
    metrics.streamLeftToStandard();
  }

  /** The generation new requests use. */
  public ProxyState state() {
    return state.get();
  }

  /** Puts a new generation in force; returns the one it replaces. */
  public ProxyState swap(ProxyState next) {
    return state.getAndSet(next);
  }

  /** The handler for one client connection (HTTP/1.1) or stream (HTTP/2) of a listener. */
  public ChannelHandler newHandler(String listener, boolean http2, boolean tls) {
    return new ProxyHandler(this, listener, http2, tls);
  }

  /**
   * The handler of an HTTP/1.1 connection of a listener that reads the bytes itself ({@link
   * RawHttp1Proxy}), handing the connection to {@link #newHandler}'s kind when a request needs it.
   */
  public ChannelHandler newRawHandler(String listener, Http1Fallback fallback, boolean tls) {
    return new RawHttp1Proxy(this, listener, fallback, tls);
  }

  /**
   * The handler of an HTTP/2 connection of a listener that serves the streams it can itself
   * ({@link RawHttp2Proxy}), between the HTTP/2 codec and the multiplexer whose stream channels run
   * {@link #newHandler}'s kind for the rest.
   */
  public ChannelHandler newRawHttp2Handler(String listener, HttpServerSettings server,
      boolean tls) {
    return new RawHttp2Proxy(this, listener, server, tls);
  }

  /** Whether access log lines are written now. */
  boolean logsAccess() {
    return accessLog != null && state().settings.accessLog();
  }

  void accessLog(String listener, String route, String method, String host, String uri,
      boolean http2, int status, long bytesIn, long bytesOut, long durationNanos,
      String upstream, int attempts, InetSocketAddress client, HttpHeaders headers,
      TraceContext trace, String error) {
    if (!logsAccess()) {
      return;
    }
    accessLog(listener, route, method, host, uri, http2, status, bytesIn, bytesOut,
        durationNanos, upstream, attempts, client, headers.get("x-forwarded-for"),
        headers.get(HttpHeaderNames.USER_AGENT), trace, error);
  }

  void accessLog(String listener, String route, String method, String host, String uri,
      boolean http2, int status, long bytesIn, long bytesOut, long durationNanos,
      String upstream, int attempts, InetSocketAddress client, String forwardedFor,
      String userAgent, TraceContext trace, String error) {
    if (!logsAccess()) {
      return;
    }
    accessLog.log(new AccessRecord(System.currentTimeMillis(), listener, route, method, host, uri,
        http2 ? "HTTP/2" : "HTTP/1.1", status, bytesIn, bytesOut,
        TimeUnit.NANOSECONDS.toMicros(durationNanos), upstream, upstream == null ? 0 : status,
        attempts, client == null ? null : client.getAddress().getHostAddress(),
        forwardedFor, userAgent, trace == null ? null : trace.traceIdHex(), error));
  }

  void span(TraceContext trace, long startNanos, long durationNanos, String method, String host,
      String path, String route, String upstream, int status, InetSocketAddress client,
      boolean http2, String error) {
    if (spans == null) {
      return;
    }
    long end = System.currentTimeMillis() * 1_000_000L;
    long start = end - durationNanos;
    spans.record(new ProxySpan(trace.traceIdHigh(), trace.traceIdLow(), trace.spanId(),
        trace.parentSpanId(), start, end, method, host, path, route, upstream, status,
        client == null ? null : client.getAddress().getHostAddress(),
        http2 ? "HTTP/2" : "HTTP/1.1", error));
  }
}
