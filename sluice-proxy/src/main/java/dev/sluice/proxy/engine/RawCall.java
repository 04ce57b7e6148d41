package dev.sluice.proxy.engine;

import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.UpstreamException;
import dev.sluice.proxy.metrics.RouteMeters;
import dev.sluice.proxy.route.Route;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.trace.TraceContext;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One request through a raw fast path ({@link RawHttp1Proxy}, {@link RawHttp2Proxy}), over one or
 * more attempts: what both protocols keep of it (retries, the body kept for a replay, timers'
 * decisions, the accounting at its end). Owns the request head for the upstream and the body
 * chunks it holds: {@link #pending} (read, not yet written anywhere) and {@link #replay} (written,
 * kept for a retry); all are released when the call ends. Touched on the client's event loop only.
 */
abstract class RawCall {
  final ProxyEngine engine;
  final String listener;
  final InetSocketAddress client;
  final boolean http2;
  final ProxyState state;
  final Route route;
  final UpstreamRuntime upstream;
  final RouteMeters meters;
  final HttpMethod method;
  final long start;
  final TraceContext trace;
  final String target;
  final String host;
  /** The request head for the upstream, or null for a call answered by the proxy itself. */
  final ByteBuf upstreamHead;
  final byte[] hashKey;
  final RouteSettings.Timeouts timeouts;
  final RouteSettings.Retry retry;
  final boolean headOnly;
  String forwardedFor;
  String userAgent;
  boolean requestDone;

  /** Made on first use: most requests have no body waiting for a connection. */
  private ArrayDeque<ByteBuf> pending;
  List<ByteBuf> replay;
  int replayBytes;
  boolean replayable = true;
  long bytesIn;
  long bytesOut;

  int attempts;
  /** The attempt in progress or last made, or null before the first. */
  RawAttempt<?> attempt;
  Endpoint firstTried;
  Set<Endpoint> tried;
  boolean retrying;
  boolean responseStarted;
  boolean responseHeadSeen;
  int status;
  boolean ended;
  String error;
  String upstreamAuthority;
  long deadline = Long.MAX_VALUE;
  long lastActivity;

  RawCall(ProxyEngine engine, String listener, InetSocketAddress client, boolean http2,
      ProxyState state, Route route, UpstreamRuntime upstream, RouteMeters meters,
      HttpMethod method, long start, TraceContext trace, String target, String host,
      ByteBuf upstreamHead, byte[] hashKey) {
    this.engine = engine;
    this.listener = listener;
    this.client = client;
    this.http2 = http2;
    this.state = state;
    this.route = route;
    this.upstream = upstream;
    this.meters = meters;
    this.method = method;
    this.start = start;
    this.trace = trace;
    this.target = target;
    this.host = host;
    this.upstreamHead = upstreamHead;
    this.hashKey = hashKey;
    this.timeouts = route.settings().timeouts();
    this.retry = route.settings().retry();
    this.headOnly = method.equals(HttpMethod.HEAD);
    state.inFlight.incrementAndGet();
    upstream.active.incrementAndGet();
  }

  /** Opens the next attempt; {@link #attempts} counts it. */
  abstract void startAttempt();

  /** Answers the client with an error of the proxy's own, or cuts a response started. */
  abstract void fail(HttpResponseStatus status, String reason);

  /** Sets {@link #deadline} {@code nanos} from now and makes sure a timer looks at it then. */
  abstract void armTimer(long nanos);

  /** Drops the attempt in progress, if it has a connection, for a timeout. */
  void abortAttempt(boolean failure) {
    RawAttempt<?> a = attempt;
    if (a != null && a.stream != null) {
      a.stale = true;
      a.abort(failure);
    }
  }

  /** The response stalled past the read timeout, after its head went out: the call ends. */
  abstract void responseStalled();

  /** The endpoints not to try again. */
  Set<Endpoint> exclude() {
    return tried != null ? Set.copyOf(tried) : firstTried != null ? Set.of(firstTried) : Set.of();
  }

  /** Whether another attempt may be made after one failed; takes a retry slot if so. */
  boolean mayRetry(boolean reached) {
    if (ended || responseStarted || attempts >= retry.attempts() || !replayable) {
      return false;
    }
    if (reached && !Calls.idempotent(method)) {
      return false;
    }
    if (retrying) {
      return true;
    }
    if (!upstream.tryStartRetry(retry.budgetPercent(), retry.minRetries())) {
      return false;
    }
    retrying = true;
    return true;
  }

  void retryNow() {
    meters.retried();
    deadline = Long.MAX_VALUE;
    startAttempt();
  }

  /** Notes an endpoint tried; a set only from the second on, which only retries need. */
  void tried(Endpoint e) {
    if (firstTried == null || firstTried.equals(e)) {
      firstTried = e;
      return;
    }
    if (tried == null) {
      tried = new HashSet<>(4);
      tried.add(firstTried);
    }
    tried.add(e);
  }

  /** Keeps a copy of a body chunk being written, for a retry, while the body is small enough. */
  void keepForReplay(ByteBuf data) {
    if (!replayable) {
      return;
    }
    if (replayBytes + data.readableBytes() <= Calls.MAX_REPLAY_BYTES) {
      if (data.isReadable()) {
        if (replay == null) {
          replay = new ArrayList<>(2);
        }
        replay.add(data.retainedDuplicate());
        replayBytes += data.readableBytes();
      }
    } else {
      replayable = false;
      if (replay != null) {
        for (ByteBuf b : replay) {
          b.release();
        }
        replay.clear();
      }
    }
  }

  /** Copies of the body kept, for the next attempt to send again, or null. */
  ByteBuf[] replayCopies() {
    if (replay == null || replay.isEmpty()) {
      return null;
    }
    ByteBuf[] again = new ByteBuf[replay.size()];
    for (int i = 0; i < again.length; i++) {
      again[i] = replay.get(i).retainedDuplicate();
    }
    return again;
  }

  Duration firstByteTimeout() {
    return retry.perTryTimeout() != null ? retry.perTryTimeout() : timeouts.firstByte();
  }

  /** No connection could be had for an attempt: another one, or a 502, 503 or 504. */
  void openFailed(UpstreamException cause) {
    if (cause.endpoint() != null) {
      tried(cause.endpoint());
    }
    boolean neverSent = cause.kind() == UpstreamException.Kind.CONNECT_FAILED
        || cause.kind() == UpstreamException.Kind.TIMEOUT;
    if (neverSent && mayRetry(false)) {
      retryNow();
      return;
    }
    meters.upstreamFailure();
    switch (cause.kind()) {
      case CONNECT_FAILED:
        fail(HttpResponseStatus.BAD_GATEWAY, cause.getMessage());
        return;
      case TIMEOUT:
        fail(HttpResponseStatus.GATEWAY_TIMEOUT, cause.getMessage());
        return;
      default:
        fail(HttpResponseStatus.SERVICE_UNAVAILABLE, cause.getMessage());
    }
  }

  /** An attempt's connection failed: another attempt while nothing went out, else a 502 or 504. */
  void attemptFailed(UpstreamException cause) {
    meters.upstreamFailure();
    if (!responseStarted && mayRetry(cause.reachedUpstream())) {
      retryNow();
      return;
    }
    fail(cause.kind() == UpstreamException.Kind.TIMEOUT
        ? HttpResponseStatus.GATEWAY_TIMEOUT : HttpResponseStatus.BAD_GATEWAY,
        cause.getMessage());
  }

  /** The call's timer fired at {@link #deadline}: which timeout, if any, ran out, and what then. */
  void timerFired() {
    deadline = Long.MAX_VALUE;
    if (ended) {
      return;
    }
    long now = System.nanoTime();
    if (!requestDone) {
      long idle = now - lastActivity;
      long limit = timeouts.write().toNanos();
      if (idle < limit) {
        armTimer(limit - idle);
        return;
      }
      abortAttempt(false);
      fail(HttpResponseStatus.REQUEST_TIMEOUT, "request body stalled for "
          + Calls.millis(timeouts.write()));
      return;
    }
    if (!responseHeadSeen) {
      abortAttempt(true);
      if (mayRetry(true)) {
        retryNow();
        return;
      }
      fail(HttpResponseStatus.GATEWAY_TIMEOUT, "upstream " + (upstreamAuthority == null
          ? upstream.settings.name() : upstreamAuthority) + " sent no response within "
          + Calls.millis(firstByteTimeout()));
      return;
    }
    long idle = now - lastActivity;
    long limit = timeouts.read().toNanos();
    if (idle >= limit) {
      abortAttempt(true);
      error = "upstream response stalled for " + Calls.millis(timeouts.read());
      responseStalled();
      return;
    }
    armTimer(limit - idle);
  }

  /**
   * Ends the call: releases what it holds, frees its retry slot, and counts, logs and traces it.
   * Returns false when it had ended already.
   */
  boolean close(int finalStatus) {
    if (ended) {
      return false;
    }
    ended = true;
    deadline = Long.MAX_VALUE;
    ByteBuf b;
    while ((b = nextPending()) != null) {
      b.release();
    }
    if (replay != null) {
      for (ByteBuf r : replay) {
        r.release();
      }
      replay.clear();
    }
    if (upstreamHead != null) {
      upstreamHead.release();
    }
    if (retrying) {
      upstream.retryEnded();
    }
    upstream.active.decrementAndGet();
    state.inFlight.decrementAndGet();
    long duration = System.nanoTime() - start;
    meters.request(finalStatus >= 100 && finalStatus < 600 ? finalStatus : 0, duration);
    engine.accessLog(listener, route.name(), method.name(), host, target, http2, finalStatus,
        bytesIn, bytesOut, duration, upstreamAuthority, attempts, client, forwardedFor,
        userAgent, trace, error);
    if (trace != null) {
      engine.span(trace, start, duration, method.name(), host, target, route.name(),
          upstreamAuthority, finalStatus, client, http2, error);
    }
    return true;
  }

  /** Keeps a body chunk read before the upstream connection was there; owns it. */
  void pend(ByteBuf chunk) {
    if (pending == null) {
      pending = new ArrayDeque<>(4);
    }
    pending.add(chunk);
  }

  /** The oldest chunk kept by {@link #pend}, handed over, or null. */
  ByteBuf nextPending() {
    return pending == null ? null : pending.poll();
  }
}
