package dev.sluice.http.upstream;

import dev.sluice.http.transport.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.util.IllegalReferenceCountException;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A group of upstream HTTP servers that requests are balanced over: connection pools (HTTP/1.1
 * keep-alive, HTTP/2 multiplexed by ALPN or prior knowledge), TLS with verification, active health
 * checks, passive ejection of failing endpoints and a circuit breaker per endpoint. The reusable
 * client side of the engine: the OTLP exporter and the reverse proxy send through it.
 *
 * <pre>{@code
 * UpstreamGroup group = UpstreamGroup.builder()
 *     .name("otlp")
 *     .endpoints(List.of(Endpoint.of("https://collector:4318")))
 *     .loadBalancing(LoadBalancing.ROUND_ROBIN)
 *     .healthCheck(HealthCheck.of("/health"))
 *     .passiveEjection(PassiveEjection.defaults())
 *     .circuitBreaker(CircuitBreakerSettings.defaults())
 *     .build();
 * group.send(UpstreamRequest.post("/v1/traces", headers, body)).whenComplete(...);
 * }</pre>
 *
 * <p><b>Sending.</b> {@link #send} never throws; its future fails with an {@link
 * UpstreamException}. It picks one endpoint among those healthy, not ejected and whose circuit
 * allows a call, and never retries (callers know which requests may be retried, using {@link
 * UpstreamException#reachedUpstream()}). The one exception: a request written to a pooled
 * connection that turns out closed, when provably not a byte left the socket, is sent again once
 * on another connection. Responses are whole ({@code maxResponseBytes} at most, BAD_RESPONSE
 * beyond); a 5xx is a response, not an exception, but counts as a failure for ejection and the
 * circuit breaker.
 *
 * <p><b>Threading.</b> All of the group's state — balancer, endpoints' health, ejection, breakers
 * and counters, the pools and their queues, the exchanges in flight — belongs to one event loop of
 * the group's, the <em>control loop</em>, and is touched nowhere else, so none of it needs locks.
 * {@link #send}, {@link #status} and {@link #close} hop onto it. Connections are spread over all the
 * group's event loops; their handlers keep their own state on their loop and report to the control
 * loop by posting tasks. Futures complete on the control loop: callbacks must not block (use the
 * {@code *Async} variants for heavy work).
 *
 * <p><b>Buffers.</b> The group releases each request's body exactly once, when the exchange ends,
 * whatever the outcome; the caller owns (and releases) each {@link UpstreamResponse}. A response
 * that arrives for a request already timed out, cancelled or closed is released by the group.
 */
public final class UpstreamGroup implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(UpstreamGroup.class);

  final String name;
  final List<EndpointState> endpoints;
  private final Balancer balancer;
  final Duration connectTimeout;
  private final Duration requestTimeout;
  private final Duration idleTimeout;
  final int maxConnectionsPerEndpoint;
  final int maxPendingRequests;
  final int http2ConnectionsPerEndpoint;
  final int maxConcurrentStreams;
  final int maxResponseBytes;
  private final Boolean http2;
  private final boolean mayUseHttp2;
  final UpstreamTls tls;
  final SslContext sslContext;
  private final HealthCheck healthCheck;
  private final PassiveEjection ejection;
  final EventLoopGroup loops;
  private final boolean ownsLoops;
  final Transport transport;
  private final EventLoop control;
  private final AtomicBoolean closed = new AtomicBoolean();

  private final Set<io.netty.util.concurrent.EventExecutor> ownLoops =
      Collections.newSetFromMap(new IdentityHashMap<>());
  final int maxActiveRequests;

  // Control loop state; the two counters are read from other threads.
  int pendingTotal;
  int outstandingTotal;
  volatile long connectionsOpened;
  volatile long reusedExchanges;
  private boolean shutdown;
  /**
   * Exchanges in progress, failed at close: a list through the exchanges themselves, so that
   * adding and removing one (twice per request) costs no allocation and no hashing.
   */
  private final Exchange live = Exchange.listHead();
  private ScheduledFuture<?> sweeper;

  private UpstreamGroup(Builder b) {
    this.name = b.name;
    this.connectTimeout = b.connectTimeout;
    this.requestTimeout = b.requestTimeout;
    this.idleTimeout = b.idleTimeout;
    this.maxConnectionsPerEndpoint = b.maxConnectionsPerEndpoint;
    this.maxPendingRequests = b.maxPendingRequests;
    this.http2ConnectionsPerEndpoint = b.http2ConnectionsPerEndpoint;
    this.maxConcurrentStreams = b.maxConcurrentStreams;
    this.maxResponseBytes = b.maxResponseBytes;
    this.http2 = b.http2;
    this.healthCheck = b.healthCheck;
    this.ejection = b.passiveEjection;
    boolean anyTls = b.endpoints.stream().anyMatch(Endpoint::tls);
    this.tls = b.tls != null ? b.tls : UpstreamTls.defaults();
    this.sslContext = anyTls ? tls.clientContext(!Boolean.FALSE.equals(http2)) : null;
    List<EndpointState> states = new ArrayList<>();
    for (Endpoint e : b.endpoints) {
      states.add(new EndpointState(this, e, b.circuitBreaker, healthCheck != null));
    }
    this.endpoints = List.copyOf(states);
    this.mayUseHttp2 = endpoints.stream().anyMatch(e -> priorKnowledge(e) || offersHttp2(e));
    this.balancer = Balancer.of(b.loadBalancing, endpoints);
    if (b.eventLoopGroup != null) {
      this.loops = b.eventLoopGroup;
      this.transport = Transport.of(loops);
      this.ownsLoops = false;
    } else {
      this.transport = Transport.best();
      this.loops = transport.newGroup(b.ioThreads, "sluice-upstream-" + name);
      this.ownsLoops = true;
    }
    this.control = loops.next();
    for (var executor : loops) {
      ownLoops.add(executor);
    }
    this.maxActiveRequests = b.maxActiveRequests;
  }

  public static Builder builder() {
    return new Builder();
  }

  private void start() {
    control.execute(() -> {
      long period = Math.max(TimeUnit.MILLISECONDS.toNanos(50),
          Math.min(TimeUnit.SECONDS.toNanos(5), idleTimeout.toNanos() / 4));
      long idleNanos = idleTimeout.toNanos();
      sweeper = control.scheduleAtFixedRate(() -> {
        long now = System.nanoTime();
        for (EndpointState e : endpoints) {
          e.pool.sweep(now, idleNanos);
          if (e.healthPool != null) {
            e.healthPool.sweep(now, idleNanos);
          }
        }
      }, period, period, TimeUnit.NANOSECONDS);
      if (healthCheck != null) {
        for (EndpointState e : endpoints) {
          check(e);
        }
      }
    });
  }

  public String name() {
    return name;
  }

  public List<Endpoint> endpoints() {
    List<Endpoint> out = new ArrayList<>();
    for (EndpointState e : endpoints) {
      out.add(e.endpoint);
    }
    return out;
  }

  /**
   * Sends a request to one endpoint of the group. Never throws: the future fails with an {@link
   * UpstreamException} (or, for a null request or a body already released, with the programming
   * error). The request's body is released by the group exactly once. Cancelling the future
   * abandons the exchange (closing its HTTP/1.1 connection or resetting its HTTP/2 stream).
   */
  public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
    if (request == null) {
      return CompletableFuture.failedFuture(new NullPointerException("request"));
    }
    if (request.body().refCnt() == 0) {
      return CompletableFuture.failedFuture(
          new IllegalReferenceCountException("the request body is already released"));
    }
    Duration timeout = request.timeout() != null ? request.timeout() : requestTimeout;
    Exchange ex = new Exchange(request, false, System.nanoTime() + timeout.toNanos());
    if (closed.get()) {
      ex.releaseBody();
      ex.future.completeExceptionally(closedException(null, false));
      return ex.future;
    }
    try {
      control.execute(() -> dispatch(ex));
    } catch (RejectedExecutionException e) {
      ex.releaseBody();
      ex.future.completeExceptionally(closedException(null, false));
      return ex.future;
    }
    ex.future.whenComplete((r, t) -> {
      if (t instanceof CancellationException) {
        post(() -> cancelled(ex));
      }
    });
    return ex.future;
  }

  /**
   * Starts a streamed exchange: the group picks an endpoint as for {@link #send} and lends a
   * connection (HTTP/1.1) or opens a stream (HTTP/2), on which {@code handler} writes the request
   * and reads the response as they come, with no buffering by the group. Never throws: every
   * failure to get a connection reaches {@link UpstreamStreamHandler#onOpenFailed}.
   */
  public void open(StreamOptions options, UpstreamStreamHandler handler) {
    java.util.Objects.requireNonNull(options, "options");
    java.util.Objects.requireNonNull(handler, "handler");
    Duration wait = options.acquireTimeout() != null ? options.acquireTimeout() : connectTimeout;
    Exchange ex = new Exchange(null, false, System.nanoTime() + wait.toNanos());
    ex.streamHandler = handler;
    ex.hashKey = options.hashKey();
    ex.exclude = options.exclude();
    ex.preferredLoop = options.eventLoop() != null && ownLoops.contains(options.eventLoop())
        ? options.eventLoop() : null;
    if (closed.get()) {
      handler.onOpenFailed(closedException(null, false));
      return;
    }
    if (control.inEventLoop()) {
      dispatch(ex); // a caller on the control loop (the proxy on one loop) saves a task hop
      return;
    }
    try {
      control.execute(() -> dispatch(ex));
    } catch (RejectedExecutionException e) {
      handler.onOpenFailed(closedException(null, false));
    }
  }

  /** Runs {@code task} on the control loop: at once when already there. */
  void postOrRun(Runnable task) {
    if (control.inEventLoop()) {
      task.run();
    } else {
      post(task);
    }
  }

  /**
   * Whether a stream of this group may be HTTP/2 (prior knowledge on cleartext, or h2 offered by
   * ALPN on a TLS endpoint), i.e. {@link UpstreamStream#rawBytes()} may answer false.
   */
  public boolean mayUseHttp2() {
    return mayUseHttp2;
  }

  /** Connections opened to the endpoints since the start (health checks aside). */
  public long connectionsOpened() {
    return connectionsOpened;
  }

  /** Exchanges that went over a connection that had carried an earlier one. */
  public long exchangesOnReusedConnections() {
    return reusedExchanges;
  }

  /** Per endpoint, in the order given to the builder. */
  public List<EndpointStatus> status() {
    if (control.inEventLoop()) {
      return snapshot();
    }
    try {
      return control.submit(this::snapshot).get(5, TimeUnit.SECONDS);
    } catch (RejectedExecutionException e) {
      return snapshot(); // the control loop is gone: nothing changes the state any more
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("cannot read the status of upstream group " + name, e);
    }
  }

  private List<EndpointStatus> snapshot() {
    long now = System.nanoTime();
    List<EndpointStatus> out = new ArrayList<>(endpoints.size());
    for (EndpointState e : endpoints) {
      out.add(e.status(now));
    }
    return out;
  }

  /**
   * Fails every request waiting or in flight with CLOSED, closes every connection and, when the
   * group made its own event loops, stops them (waiting up to a few seconds unless called from one
   * of them). Idempotent.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    List<ChannelFuture> closing = new ArrayList<>();
    boolean onLoop = control.inEventLoop();
    if (onLoop) {
      shutDown(closing);
    } else {
      try {
        control.submit(() -> shutDown(closing)).awaitUninterruptibly(5, TimeUnit.SECONDS);
      } catch (RejectedExecutionException e) {
        // the caller's event loops are shutting down: the channels go with them
      }
    }
    if (!loopThread()) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      List<ChannelFuture> copy;
      synchronized (closing) {
        copy = new ArrayList<>(closing);
      }
      for (ChannelFuture f : copy) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        f.awaitUninterruptibly(TimeUnit.NANOSECONDS.toMillis(left) + 1);
      }
    }
    if (ownsLoops) {
      var terminated = loops.shutdownGracefully(0, 2, TimeUnit.SECONDS);
      if (!loopThread()) {
        terminated.awaitUninterruptibly(5, TimeUnit.SECONDS);
      }
    }
  }

  private boolean loopThread() {
    for (var executor : loops) {
      if (executor.inEventLoop()) {
        return true;
      }
    }
    return false;
  }

  private void shutDown(List<ChannelFuture> closing) {
    shutdown = true;
    if (sweeper != null) {
      sweeper.cancel(false);
    }
    List<ChannelFuture> futures = new ArrayList<>();
    for (EndpointState e : endpoints) {
      if (e.nextCheck != null) {
        e.nextCheck.cancel(false);
      }
      if (e.uneject != null) {
        e.uneject.cancel(false);
      }
      e.pool.shutdown(futures);
      if (e.healthPool != null) {
        e.healthPool.shutdown(futures);
      }
    }
    for (Exchange ex : live.listed()) {
      fail(ex, UpstreamException.Kind.CLOSED, "the upstream group is closed", null, ex.sent);
    }
    synchronized (closing) {
      closing.addAll(futures);
    }
    log.debug("upstream group {} closed", name);
  }

  boolean isShutdown() {
    return shutdown;
  }

  /** Runs {@code task} on the control loop; when that loop is gone, runs {@code orElse} instead. */
  void post(Runnable task, Runnable orElse) {
    try {
      control.execute(task);
    } catch (RejectedExecutionException e) {
      if (orElse != null) {
        orElse.run();
      }
    }
  }

  void post(Runnable task) {
    post(task, null);
  }

  boolean priorKnowledge(EndpointState e) {
    return !e.endpoint.tls() && Boolean.TRUE.equals(http2);
  }

  boolean offersHttp2(EndpointState e) {
    return e.endpoint.tls() && !Boolean.FALSE.equals(http2);
  }

  // ---- the exchange, on the control loop ----

  private void dispatch(Exchange ex) {
    if (shutdown) {
      refuse(ex, closedException(null, false));
      return;
    }
    if (ex.future.isDone()) {
      ex.releaseBody(); // cancelled before it got here
      return;
    }
    long now = System.nanoTime();
    Predicate<EndpointState> available =
        e -> e.inRotation() && (e.breaker == null || e.breaker.allows(now));
    EndpointState e = null;
    if (!ex.exclude.isEmpty()) {
      // A retry goes elsewhere if it can, and to an earlier endpoint only when nothing else is up.
      e = balancer.pick(ex.hashKey, s -> available.test(s) && !ex.exclude.contains(s.endpoint));
    }
    if (e == null) {
      e = balancer.pick(ex.hashKey, available);
    }
    if (e == null) {
      List<EndpointState> inRotation = new ArrayList<>();
      for (EndpointState s : endpoints) {
        if (s.inRotation()) {
          inRotation.add(s);
        }
      }
      if (inRotation.isEmpty()) {
        refuse(ex, new UpstreamException(
            UpstreamException.Kind.NO_HEALTHY_ENDPOINT, null, false,
            "upstream group " + name + ": no endpoint is healthy and not ejected", null));
      } else {
        refuse(ex, new UpstreamException(
            UpstreamException.Kind.CIRCUIT_OPEN,
            inRotation.size() == 1 ? inRotation.get(0).endpoint : null, false,
            "upstream group " + name + ": the circuit of every healthy endpoint is open", null));
      }
      return;
    }
    if (outstandingTotal >= maxActiveRequests) {
      refuse(ex, new UpstreamException(UpstreamException.Kind.OVERLOADED, null, false,
          "upstream group " + name + ": " + maxActiveRequests + " requests already in progress",
          null));
      return;
    }
    if (!e.pool.hasRoom()) {
      refuse(ex, new UpstreamException(UpstreamException.Kind.OVERLOADED,
          e.endpoint, false, "upstream group " + name + ": " + maxPendingRequests
              + " requests already wait for a connection", null));
      return;
    }
    ex.endpoint = e;
    outstandingTotal++;
    e.outstanding++;
    e.totalRequests++;
    if (e.breaker != null) {
      ex.breakerGeneration = e.breaker.admit(now);
    }
    live.link(ex);
    e.pool.submit(ex);
    // A streamed exchange lent a connection at once waits for nothing: it needs no timer.
    if (!ex.done && !(ex.streamHandler != null && ex.opened)) {
      ex.timeout = control.schedule(() -> timedOut(ex), Math.max(0, ex.deadlineNanos - now),
          TimeUnit.NANOSECONDS);
    }
  }

  /** Fails an exchange that was given no endpoint: nothing was sent, nothing is counted. */
  private void refuse(Exchange ex, UpstreamException error) {
    ex.releaseBody();
    ex.done = true;
    if (ex.streamHandler != null) {
      ex.streamHandler.onOpenFailed(error);
    } else {
      ex.future.completeExceptionally(error);
    }
  }

  /** A streamed exchange is handed to its caller: the wait for a connection is over. */
  void opened(Exchange ex, boolean reused) {
    ex.opened = true;
    if (ex.timeout != null) {
      ex.timeout.cancel(false);
      ex.timeout = null;
    }
    if (reused) {
      reusedExchanges++;
    }
  }

  void connectionOpened() {
    connectionsOpened++;
  }

  /**
   * A streamed exchange ended, by its caller or by a broken connection. {@code counted}: its outcome
   * says something of the endpoint's health, {@code failure} being that outcome.
   */
  void streamEnded(Exchange ex, boolean counted, boolean failure) {
    if (ex.done) {
      return;
    }
    retire(ex);
    account(ex, counted, failure);
  }

  /** Marks an exchange done and takes it out of the group's books: live set, timer, queue. */
  private void retire(Exchange ex) {
    ex.done = true;
    live.unlink(ex);
    if (ex.timeout != null) {
      ex.timeout.cancel(false);
    }
    if (ex.queuedIn != null) {
      ex.queuedIn.remove(ex);
    }
  }

  /** The HTTP/1.1 request for an exchange, holding a reference of its own to the body. */
  FullHttpRequest buildRequest(Exchange ex) {
    UpstreamRequest r = ex.request;
    EndpointState e = ex.endpoint;
    HttpHeaders headers = new DefaultHttpHeaders().set(r.headers());
    ByteBuf content = ex.body == null ? Unpooled.EMPTY_BUFFER : ex.body.retainedDuplicate();
    if (!headers.contains(HttpHeaderNames.HOST)) {
      headers.set(HttpHeaderNames.HOST, e.hostHeader);
    }
    headers.remove(HttpHeaderNames.TRANSFER_ENCODING);
    int length = content.readableBytes();
    if (length > 0 || !bodiless(r.method())) {
      headers.setInt(HttpHeaderNames.CONTENT_LENGTH, length);
    } else {
      headers.remove(HttpHeaderNames.CONTENT_LENGTH);
    }
    return new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, r.method(), e.target(r.path()),
        content, headers, EmptyHttpHeaders.INSTANCE);
  }

  /** Methods whose requests carry no content as a rule: no {@code Content-Length: 0} for them. */
  private static boolean bodiless(HttpMethod m) {
    return m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD) || m.equals(HttpMethod.DELETE)
        || m.equals(HttpMethod.OPTIONS) || m.equals(HttpMethod.TRACE);
  }

  private void timedOut(Exchange ex) {
    if (ex.done) {
      return;
    }
    abandon(ex);
    if (ex.streamHandler != null) {
      fail(ex, UpstreamException.Kind.TIMEOUT, "no connection to "
          + (ex.endpoint == null ? "upstream" : ex.endpoint.endpoint.authority())
          + " within the wait allowed", null, false);
      return;
    }
    Duration t = ex.request.timeout() != null ? ex.request.timeout() : requestTimeout;
    fail(ex, UpstreamException.Kind.TIMEOUT, "no response from "
        + (ex.endpoint == null ? "upstream" : ex.endpoint.endpoint.authority()) + " within "
        + t.toMillis() + " ms", null, ex.sent);
  }

  private void cancelled(Exchange ex) {
    if (ex.done) {
      return;
    }
    abandon(ex);
    finish(ex, null, null);
  }

  /** Stops the exchange's I/O: closes its HTTP/1.1 connection or resets its HTTP/2 stream. */
  private void abandon(Exchange ex) {
    Conn c = ex.conn;
    if (c == null) {
      return;
    }
    if (c.http2) {
      var stream = ex.stream;
      if (stream != null) {
        stream.close();
      }
    } else if (c.current == ex) {
      c.current = null;
      c.pool.close(c);
    }
  }

  void succeed(Exchange ex, UpstreamResponse response) {
    finish(ex, response, null);
  }

  void fail(Exchange ex, UpstreamException.Kind kind, String message, Throwable cause,
      boolean reached) {
    if (ex.done) {
      return;
    }
    finish(ex, null, new UpstreamException(kind, ex.endpoint == null ? null : ex.endpoint.endpoint,
        reached, message, cause));
  }

  private static boolean isFailure(UpstreamException.Kind kind) {
    switch (kind) {
      case CONNECT_FAILED:
      case TIMEOUT:
      case CONNECTION_LOST:
      case BAD_RESPONSE:
        return true;
      default:
        return false;
    }
  }

  /**
   * Ends an exchange once: releases its body, updates the endpoint's counters, breaker and
   * ejection, then completes the future. {@code response} and {@code error} both null: cancelled.
   */
  private void finish(Exchange ex, UpstreamResponse response, UpstreamException error) {
    if (ex.done) {
      if (response != null) {
        response.release();
      }
      return;
    }
    retire(ex);
    ex.releaseBody();
    boolean counted = response != null || (error != null && isFailure(error.kind()));
    account(ex, counted, response == null || response.status() >= 500);
    if (ex.streamHandler != null) {
      if (!ex.opened && error != null) {
        ex.streamHandler.onOpenFailed(error);
      }
      return; // an opened stream's caller hears of a failure from its connection
    }
    if (response != null) {
      if (!ex.future.complete(response)) {
        response.release(); // cancelled meanwhile
      }
    } else if (error != null) {
      ex.future.completeExceptionally(error);
    }
  }

  /** Updates the endpoint's counters, breaker and ejection for an exchange that ended. */
  private void account(Exchange ex, boolean counted, boolean failure) {
    EndpointState e = ex.endpoint;
    if (e == null || ex.healthCheck) {
      return;
    }
    e.outstanding--;
    outstandingTotal--;
    long now = System.nanoTime();
    if (counted) {
      if (failure) {
        e.totalFailures++;
      }
      if (e.breaker != null && ex.breakerGeneration >= 0) {
        e.breaker.record(ex.breakerGeneration, failure, now);
      }
      if (ejection != null && !shutdown) {
        passive(e, failure, now);
      }
    } else if (e.breaker != null && ex.breakerGeneration >= 0) {
      e.breaker.abandon(ex.breakerGeneration);
    }
  }

  private static UpstreamException closedException(Endpoint e, boolean reached) {
    return new UpstreamException(UpstreamException.Kind.CLOSED, e, reached,
        "the upstream group is closed", null);
  }

  // ---- passive ejection ----

  private void passive(EndpointState e, boolean failure, long now) {
    if (!failure) {
      e.consecutiveFailures = 0;
      return;
    }
    e.consecutiveFailures++;
    if (e.ejected || e.consecutiveFailures < ejection.consecutiveFailures()) {
      return;
    }
    int ejected = 0;
    for (EndpointState s : endpoints) {
      if (s.ejected) {
        ejected++;
      }
    }
    int max = endpoints.size() * ejection.maxEjectionPercent() / 100;
    if (ejected >= max) {
      log.debug("upstream {}: {} failed {} times in a row but {} of {} endpoints are ejected"
              + " already", name, e.endpoint.authority(), e.consecutiveFailures, ejected,
          endpoints.size());
      return;
    }
    long base = ejection.baseEjectionTime().toNanos();
    if (e.ejectionMultiplier > 0) {
      long decay = (now - e.unejectedAt) / base;
      e.ejectionMultiplier = (int) Math.max(0, e.ejectionMultiplier - decay);
    }
    e.ejectionMultiplier++;
    long nanos = Math.min(ejection.maxEjectionTime().toNanos(), base * e.ejectionMultiplier);
    e.ejected = true;
    e.ejections++;
    log.warn("upstream {}: ejecting {} for {} ms after {} consecutive failures", name,
        e.endpoint.authority(), TimeUnit.NANOSECONDS.toMillis(nanos), e.consecutiveFailures);
    e.consecutiveFailures = 0;
    e.uneject = control.schedule(() -> {
      e.ejected = false;
      e.consecutiveFailures = 0;
      e.unejectedAt = System.nanoTime();
      e.uneject = null;
      log.info("upstream {}: {} back in rotation", name, e.endpoint.authority());
    }, nanos, TimeUnit.NANOSECONDS);
  }

  // ---- active health checks ----

  private void check(EndpointState e) {
    if (shutdown) {
      return;
    }
    if (healthCheck.isTcp()) {
      probe(e);
      return;
    }
    HttpHeaders headers = new DefaultHttpHeaders()
        .set(HttpHeaderNames.USER_AGENT, "sluice-health-check");
    UpstreamRequest req = new UpstreamRequest(HttpMethod.GET, healthCheck.path(), headers,
        Unpooled.EMPTY_BUFFER, null, healthCheck.timeout());
    long now = System.nanoTime();
    Exchange ex = new Exchange(req, true, now + healthCheck.timeout().toNanos());
    ex.endpoint = e;
    live.link(ex);
    ex.timeout = control.schedule(() -> timedOut(ex), healthCheck.timeout().toNanos(),
        TimeUnit.NANOSECONDS);
    // Completed by finish(), on this loop.
    ex.future.whenComplete((r, t) -> {
      int status = r == null ? -1 : r.status();
      if (r != null) {
        r.release();
      }
      checked(e, r != null && healthCheck.expected(status), status, t);
      if (!shutdown) {
        e.nextCheck = control.schedule(() -> check(e), healthCheck.interval().toNanos(),
            TimeUnit.NANOSECONDS);
      }
    });
    e.healthPool.submit(ex);
  }

  /** A TCP check: a connection (and TLS handshake) within the timeout, closed at once. */
  private void probe(EndpointState e) {
    io.netty.bootstrap.Bootstrap b = new io.netty.bootstrap.Bootstrap()
        .group(control)
        .channel(transport.clientChannel())
        .option(io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS,
            (int) Math.max(1, Math.min(Integer.MAX_VALUE, healthCheck.timeout().toMillis())))
        .handler(new io.netty.channel.ChannelInitializer<io.netty.channel.Channel>() {
          @Override
          protected void initChannel(io.netty.channel.Channel ch) {
            if (e.endpoint.tls()) {
              String peer = tls.serverName() != null ? tls.serverName() : e.host;
              var ssl = sslContext.newHandler(ch.alloc(), peer, e.endpoint.port());
              ssl.setHandshakeTimeoutMillis(Math.max(1, healthCheck.timeout().toMillis()));
              ch.pipeline().addLast(ssl);
            }
          }
        });
    b.connect(java.net.InetSocketAddress.createUnresolved(e.host, e.endpoint.port()))
        .addListener((io.netty.channel.ChannelFutureListener) f -> {
          if (!f.isSuccess()) {
            probed(e, false, f.cause());
            return;
          }
          var ssl = f.channel().pipeline().get(io.netty.handler.ssl.SslHandler.class);
          if (ssl == null) {
            f.channel().close();
            probed(e, true, null);
            return;
          }
          ssl.handshakeFuture().addListener(h -> {
            f.channel().close();
            probed(e, h.isSuccess(), h.cause());
          });
        });
  }

  private void probed(EndpointState e, boolean ok, Throwable error) {
    checked(e, ok, -1, error);
    if (!shutdown) {
      e.nextCheck = control.schedule(() -> check(e), healthCheck.interval().toNanos(),
          TimeUnit.NANOSECONDS);
    }
  }

  private void checked(EndpointState e, boolean ok, int status, Throwable error) {
    if (ok) {
      e.checkFailures = 0;
      e.checkSuccesses++;
      if (!e.healthy && e.checkSuccesses >= healthCheck.healthyThreshold()) {
        e.healthy = true;
        log.info("upstream {}: {} is healthy again", name, e.endpoint.authority());
      }
    } else {
      e.checkSuccesses = 0;
      e.checkFailures++;
      if (e.healthy && e.checkFailures >= healthCheck.unhealthyThreshold()) {
        e.healthy = false;
        log.warn("upstream {}: {} is unhealthy after {} failed checks (last: {})", name,
            e.endpoint.authority(), e.checkFailures,
            error != null ? error.getMessage() : "status " + status);
      }
    }
  }

  @Override
  public String toString() {
    return "UpstreamGroup(" + name + ", " + endpoints() + ")";
  }

  /** Builds an {@link UpstreamGroup}, checking each value as it is set. */
  public static final class Builder {
    private String name = "upstream";
    private List<Endpoint> endpoints = List.of();
    private LoadBalancing loadBalancing = LoadBalancing.ROUND_ROBIN;
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration requestTimeout = Duration.ofSeconds(30);
    private Duration idleTimeout = Duration.ofSeconds(60);
    private int maxConnectionsPerEndpoint = 16;
    private int maxPendingRequests = 1024;
    private int maxActiveRequests = Integer.MAX_VALUE;
    private int http2ConnectionsPerEndpoint = 1;
    private int maxConcurrentStreams = 100;
    private int maxResponseBytes = 4 << 20;
    private Boolean http2;
    private UpstreamTls tls;
    private HealthCheck healthCheck;
    private PassiveEjection passiveEjection;
    private CircuitBreakerSettings circuitBreaker;
    private EventLoopGroup eventLoopGroup;
    private int ioThreads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));

    private Builder() {}

    /** For logs and metric labels. */
    public Builder name(String name) {
      this.name = Objects.requireNonNull(name, "name");
      return this;
    }

    /** At least one; no two with the same URI. */
    public Builder endpoints(List<Endpoint> endpoints) {
      Objects.requireNonNull(endpoints, "endpoints");
      if (endpoints.isEmpty()) {
        throw new IllegalArgumentException("an upstream group needs at least one endpoint");
      }
      Set<java.net.URI> seen = new LinkedHashSet<>();
      for (Endpoint e : endpoints) {
        if (!seen.add(Objects.requireNonNull(e, "endpoint").uri())) {
          throw new IllegalArgumentException("endpoint " + e.uri() + " is listed twice");
        }
      }
      this.endpoints = List.copyOf(endpoints);
      return this;
    }

    public Builder loadBalancing(LoadBalancing loadBalancing) {
      this.loadBalancing = Objects.requireNonNull(loadBalancing, "load balancing");
      return this;
    }

    /** TCP connect and TLS handshake, each; default 5 s. */
    public Builder connectTimeout(Duration d) {
      this.connectTimeout = positive(d, "connect timeout");
      return this;
    }

    /**
     * The whole exchange, from {@link #send} to the last byte of the response, waiting for a
     * connection included; default 30 s. {@link UpstreamRequest#timeout()} overrides it.
     */
    public Builder requestTimeout(Duration d) {
      this.requestTimeout = positive(d, "request timeout");
      return this;
    }

    /** How long an unused connection is kept; default 60 s. */
    public Builder idleTimeout(Duration d) {
      this.idleTimeout = positive(d, "idle timeout");
      return this;
    }

    /** HTTP/1.1 connections per endpoint; default 16. */
    public Builder maxConnectionsPerEndpoint(int n) {
      this.maxConnectionsPerEndpoint = positive(n, "max connections per endpoint");
      return this;
    }

    /**
     * Requests waiting for a connection or stream, over all endpoints; default 1024. Beyond it
     * {@link #send} fails at once with OVERLOADED.
     */
    /**
     * Requests in progress at once across the group (Envoy's max_requests); beyond it a request
     * fails at once as OVERLOADED. Unlimited by default.
     */
    public Builder maxActiveRequests(int n) {
      this.maxActiveRequests = positive(n, "max active requests");
      return this;
    }

    public Builder maxPendingRequests(int n) {
      if (n < 0) {
        throw new IllegalArgumentException("max pending requests must not be negative: " + n);
      }
      this.maxPendingRequests = n;
      return this;
    }

    /** HTTP/2 connections per endpoint; default 1 (a second opens only when the first is full). */
    public Builder http2ConnectionsPerEndpoint(int n) {
      this.http2ConnectionsPerEndpoint = positive(n, "HTTP/2 connections per endpoint");
      return this;
    }

    /** Streams per HTTP/2 connection at most (the server's own limit applies too); default 100. */
    public Builder maxConcurrentStreams(int n) {
      this.maxConcurrentStreams = positive(n, "max concurrent streams");
      return this;
    }

    /** Largest response body; default 4 MiB. Larger ones fail with BAD_RESPONSE. */
    public Builder maxResponseBytes(int n) {
      this.maxResponseBytes = positive(n, "max response bytes");
      return this;
    }

    /**
     * HTTP/2: true for prior-knowledge h2c on {@code http://} endpoints and h2 offered by ALPN on
     * {@code https://} ones; false for HTTP/1.1 everywhere. Unset (the default): HTTP/1.1 on
     * {@code http://}, h2 by ALPN on {@code https://}.
     */
    public Builder http2(boolean http2) {
      this.http2 = http2;
      return this;
    }

    /** TLS for {@code https://} endpoints; default {@link UpstreamTls#defaults()}. */
    public Builder tls(UpstreamTls tls) {
      this.tls = tls;
      return this;
    }

    /** An active health check; none by default. */
    public Builder healthCheck(HealthCheck healthCheck) {
      this.healthCheck = healthCheck;
      return this;
    }

    /** Passive outlier ejection; off by default ({@link PassiveEjection#defaults()} for Envoy's). */
    public Builder passiveEjection(PassiveEjection ejection) {
      this.passiveEjection = ejection;
      return this;
    }

    public Builder passiveEjection(int consecutiveFailures, Duration baseEjectionTime,
        int maxEjectionPercent) {
      return passiveEjection(new PassiveEjection(consecutiveFailures, baseEjectionTime,
          maxEjectionPercent));
    }

    /** A circuit breaker per endpoint; off by default. */
    public Builder circuitBreaker(CircuitBreakerSettings settings) {
      this.circuitBreaker = settings;
      return this;
    }

    /**
     * @param failureRateThreshold percent, e.g. 50
     */
    public Builder circuitBreaker(double failureRateThreshold, int minimumCalls, Duration window,
        Duration openDuration, int halfOpenCalls) {
      return circuitBreaker(new CircuitBreakerSettings(failureRateThreshold, minimumCalls, window,
          openDuration, halfOpenCalls));
    }

    /**
     * Event loops to share (the caller shuts them down; epoll or NIO). Without, the group makes
     * its own daemon threads and stops them on {@link UpstreamGroup#close()}.
     */
    public Builder eventLoopGroup(EventLoopGroup group) {
      this.eventLoopGroup = group;
      return this;
    }

    /** Threads of the group's own event loops; default min(4, cores). */
    public Builder ioThreads(int n) {
      this.ioThreads = positive(n, "io threads");
      return this;
    }

    /**
     * @throws IllegalArgumentException when no endpoint is given or the TLS material cannot be
     *     loaded
     */
    public UpstreamGroup build() {
      if (endpoints.isEmpty()) {
        throw new IllegalArgumentException("an upstream group needs at least one endpoint");
      }
      if (eventLoopGroup != null) {
        Transport.of(eventLoopGroup); // refuses kinds we cannot open channels on
      }
      UpstreamGroup g = new UpstreamGroup(this);
      g.start();
      return g;
    }

    private static int positive(int v, String what) {
      if (v <= 0) {
        throw new IllegalArgumentException(what + " must be positive: " + v);
      }
      return v;
    }

    private static Duration positive(Duration d, String what) {
      PassiveEjection.positive(d, what);
      return d;
    }
  }
}
