package dev.sluice.exporter.otlp;

import dev.sluice.exporter.otlp.internal.Batcher;
import dev.sluice.exporter.otlp.internal.BodyCodec;
import dev.sluice.exporter.otlp.internal.DeadLetterWriter;
import dev.sluice.exporter.otlp.internal.Dispatcher;
import dev.sluice.exporter.otlp.internal.ExporterMetrics;
import dev.sluice.exporter.otlp.internal.Route;
import dev.sluice.exporter.otlp.internal.Upstream;
import dev.sluice.http.upstream.CircuitBreakerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends OTLP data to OTLP/HTTP backends, as the OpenTelemetry Collector's {@code otlphttp}
 * exporter does: to {@code <endpoint>/v1/<signal>} or to a signal's own URL, as protobuf (the
 * received bytes, unchanged) or OTLP/JSON, compressed with gzip (the default), zstd or not at all,
 * through an upstream group that balances the load over several endpoints.
 *
 * <p><b>Delivery.</b> The future of {@link #export} completes normally when the backend accepted
 * the data (a 2xx answer, partial success included) or refused it for good and it was written to
 * the dead-letter file (retrying cannot help either way). It fails with {@link
 * ExportFailedException} (retriable) when retries ran out, and with {@link PipelineFullException}
 * when the exporter is closed, or holds too many undelivered bytes, and the data must be offered
 * again. A future never completes before its data was delivered or dead-lettered; a failed future
 * may hide a partial delivery (when a batch was cut into several requests), which makes delivery
 * at-least-once.
 *
 * <p><b>Batching.</b> Batches of one signal and tenant are merged (by concatenating their protobuf
 * encodings) until {@code batchMaxItems} items or {@code batchMaxBytes} bytes are pending, or {@code
 * batchTimeout} passed since the first; requests over {@code maxRequestBytes} are cut between
 * resources, scopes and items. With {@code routeTracesByTraceId} every trace goes out in requests
 * of its own, hashed on the trace id, so all spans of a trace reach the same backend.
 *
 * <p><b>Retries</b> follow the OTLP specification: 429, 502, 503, 504 and connection failures are
 * retried with exponential backoff ({@link RetrySettings}), waiting at least what {@code
 * Retry-After} asks; every other answer is permanent.
 */
public final class OtlpHttpExporter implements Exporter {
  private static final Logger LOG = LoggerFactory.getLogger(OtlpHttpExporter.class);
  private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");
  private static final Set<String> RESERVED_HEADERS = Set.of("content-type", "content-encoding",
      "content-length", "transfer-encoding", "host", "connection", "te", "upgrade",
      "keep-alive", "proxy-connection");

  private enum State { NEW, RUNNING, CLOSED }

  private final Builder config;
  private final String name;
  private final Map<Signal, Target> targets;
  private final HttpHeaders headers;
  private final MeterRegistry registry;
  private final Object lock = new Object();
  private final Map<BatchKey, Slot> batchers = new HashMap<>(); // guarded by lock
  private final AtomicLong pendingBytes = new AtomicLong();
  private final List<Upstream> upstreams = new ArrayList<>();
  private volatile State state = State.NEW;
  private ScheduledExecutorService scheduler;
  private ExecutorService workers;
  private Dispatcher dispatcher;

  private OtlpHttpExporter(Builder b) {
    this.config = b.copy();
    this.name = b.name;
    this.targets = Collections.unmodifiableMap(targets(b));
    this.registry = b.registry != null ? b.registry : new CompositeMeterRegistry();
    HttpHeaders h = new DefaultHttpHeaders();
    h.set(HttpHeaderNames.USER_AGENT, "Sluice/" + b.version);
    b.headers.forEach(h::set); // may replace the User-Agent, as in the Collector
    h.set(HttpHeaderNames.CONTENT_TYPE, b.encoding.contentType());
    if (b.compression.contentEncoding() != null) {
      h.set(HttpHeaderNames.CONTENT_ENCODING, b.compression.contentEncoding());
    }
    this.headers = h;
  }

  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String name() {
    return name;
  }

  /** The signals this exporter has an endpoint for. */
  public Set<Signal> signals() {
    return targets.keySet();
  }

  /** The URL a signal's requests are posted to (the first endpoint's, when there are several). */
  public URI url(Signal signal) {
    Target t = targets.get(signal);
    if (t == null) {
      return null;
    }
    return URI.create(t.endpoints.get(0).uri().toString() + t.path);
  }

  public Encoding encoding() {
    return config.encoding;
  }

  public Compression compression() {
    return config.compression;
  }

  public RetrySettings retry() {
    return config.retry;
  }

  /** The dead-letter file of a signal, or null when dead letters are dropped. */
  public Path deadLetterFile(Signal signal) {
    return config.deadLetterDirectory == null ? null
        : config.deadLetterDirectory.resolve(signal.id() + ".jsonl");
  }

  /** Payload bytes accepted and not yet delivered, dead-lettered or failed. */
  public long pendingBytes() {
    return pendingBytes.get();
  }

  /**
   * Creates the upstream groups and the exporter's threads.
   *
   * @throws IllegalStateException when called twice or after close, or when an upstream group
   *     cannot be made
   */
  @Override
  public void start() {
    synchronized (lock) {
      if (state != State.NEW) {
        throw new IllegalStateException("the OTLP/HTTP exporter '" + name
            + "' was already " + (state == State.RUNNING ? "started" : "closed"));
      }
      Map<Signal, Route> routes = new EnumMap<>(Signal.class);
      Map<List<Object>, Upstream> byEndpoints = new LinkedHashMap<>();
      try {
        for (Map.Entry<Signal, Target> e : targets.entrySet()) {
          Target t = e.getValue();
          boolean hash = config.routeTracesByTraceId && e.getKey() == Signal.TRACES;
          List<Object> key = List.of(t.endpoints, hash);
          Upstream u = byEndpoints.get(key);
          if (u == null) {
            u = config.upstreams.create(name + (byEndpoints.isEmpty() ? "" : "-" + byEndpoints.size()),
                t.endpoints, hash, config);
            byEndpoints.put(key, u);
            upstreams.add(u);
          }
          routes.put(e.getKey(), new Route(e.getKey(), u, t.path, url(e.getKey()).toString()));
        }
      } catch (RuntimeException e) {
        upstreams.forEach(OtlpHttpExporter::closeQuietly);
        upstreams.clear();
        throw new IllegalStateException("the OTLP/HTTP exporter '" + name
            + "' cannot set up its upstreams: " + e.getMessage(), e);
      }
      scheduler = scheduler(name);
      workers = workers(name, config.workerThreads);
      ExporterMetrics metrics = new ExporterMetrics(registry, name);
      DeadLetterWriter deadLetters = config.deadLetterDirectory == null ? null
          : new DeadLetterWriter(config.deadLetterDirectory, name, config.clock);
      dispatcher = new Dispatcher(
          new Dispatcher.Settings(name, config.retry, config.maxRequestBytes,
              routesTraces(), config.maxConcurrentRequests, config.timeout, config.logInterval),
          routes, headers, new BodyCodec(config.encoding, config.compression,
              ByteBufAllocator.DEFAULT),
          scheduler, workers, metrics, deadLetters, config.clock, config.nanoTime, config.random);
      Gauge.builder("sluice.exporter.pending.bytes", pendingBytes, AtomicLong::get)
          .description("Payload bytes accepted and not yet delivered or dead-lettered")
          .tag("exporter", name).register(registry);
      Dispatcher d = dispatcher;
      Gauge.builder("sluice.exporter.requests.active", d, Dispatcher::activeRequests)
          .description("Requests being sent or waiting for a retry")
          .tag("exporter", name).register(registry);
      for (Upstream u : upstreams) {
        u.registerMetrics(registry, name);
      }
      state = State.RUNNING;
    }
    LOG.info("[{}] exporting OTLP/HTTP to {} ({}, {}, {}, batches of up to {} items or {} bytes "
            + "within {} ms{})", name, describeTargets(), config.encoding.id(),
        config.compression.id(), config.retry, config.batchMaxItems, config.batchMaxBytes,
        config.batchTimeout.toMillis(),
        routesTraces() ? ", traces routed by trace id" : "");
  }

  /** Cutting traces per trace id is worth it only when there is a choice of endpoints. */
  private boolean routesTraces() {
    Target traces = targets.get(Signal.TRACES);
    return config.routeTracesByTraceId && traces != null && traces.endpoints.size() > 1;
  }

  private String describeTargets() {
    StringBuilder b = new StringBuilder();
    for (Map.Entry<Signal, Target> e : targets.entrySet()) {
      if (b.length() > 0) {
        b.append(", ");
      }
      b.append(e.getKey().id()).append(' ');
      List<Endpoint> eps = e.getValue().endpoints;
      for (int i = 0; i < eps.size(); i++) {
        b.append(i == 0 ? "" : "|").append(eps.get(i).uri());
      }
      b.append(e.getValue().path);
    }
    return b.toString();
  }

  /**
   * Takes the batch over; the future completes when it was delivered or dead-lettered (see the
   * class comment). Never throws for a non-null batch.
   */
  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    Objects.requireNonNull(batch, "batch");
    State s = state;
    if (s != State.RUNNING) {
      batch.release();
      return CompletableFuture.failedFuture(s == State.CLOSED ? closedException()
          : new IllegalStateException("the OTLP/HTTP exporter '" + name + "' has not been started"));
    }
    if (!targets.containsKey(batch.signal())) {
      batch.release();
      return CompletableFuture.failedFuture(new IllegalStateException("the OTLP/HTTP exporter '"
          + name + "' has no endpoint for " + batch.signal().id() + ": set endpoint or "
          + batch.signal().id() + "_endpoint"));
    }
    long size = batch.bytes();
    long now = pendingBytes.addAndGet(size);
    if (now > config.maxPendingBytes && now != size) {
      pendingBytes.addAndGet(-size);
      batch.release();
      return CompletableFuture.failedFuture(new PipelineFullException("the OTLP/HTTP exporter '"
          + name + "' holds " + config.maxPendingBytes + " bytes not yet delivered; retry later",
          1));
    }
    CompletableFuture<Void> future = new CompletableFuture<>();
    future.whenComplete((v, e) -> pendingBytes.addAndGet(-size));
    List<Batcher.Pending> ready;
    synchronized (lock) {
      if (state != State.RUNNING) {
        batch.release();
        future.completeExceptionally(closedException());
        return future;
      }
      if (config.batchTimeout.isZero()) {
        ready = List.of(Batcher.Pending.of(batch, future));
      } else {
        BatchKey key = new BatchKey(batch.signal(), batch.tenant());
        Slot slot = batchers.computeIfAbsent(key, k -> new Slot(new Batcher(
            config.batchMaxItems, config.batchMaxBytes, config.maxRequestBytes)));
        ready = slot.batcher.add(batch, future);
        if (!slot.batcher.isEmpty() && slot.armed != slot.batcher.generation()) {
          long generation = slot.batcher.generation();
          slot.armed = generation;
          try {
            scheduler.schedule(() -> flushIfDue(key, generation),
                config.batchTimeout.toNanos(), TimeUnit.NANOSECONDS);
          } catch (RejectedExecutionException e) {
            // closing: close() drains the batchers
          }
        }
      }
    }
    for (Batcher.Pending p : ready) {
      dispatcher.submit(p);
    }
    return future;
  }

  /** Sends every batch being merged now, without waiting for {@code batch.timeout}. */
  @Override
  public void flush() {
    List<Batcher.Pending> ready = new ArrayList<>();
    synchronized (lock) {
      if (state != State.RUNNING) {
        return;
      }
      for (Slot slot : batchers.values()) {
        if (!slot.batcher.isEmpty()) {
          ready.add(slot.batcher.drain());
        }
      }
    }
    for (Batcher.Pending p : ready) {
      dispatcher.submit(p);
    }
  }

  private void flushIfDue(BatchKey key, long generation) {
    Batcher.Pending p = null;
    synchronized (lock) {
      Slot slot = batchers.get(key);
      if (slot != null && slot.batcher.generation() == generation && state == State.RUNNING) {
        p = slot.batcher.drain();
      }
    }
    if (p != null) {
      dispatcher.submit(p);
    }
  }

  /**
   * Stops taking batches, sends what is batched, waits up to {@code shutdownTimeout} for what is
   * in flight (answers and retries), then abandons the rest (their futures fail with {@link
   * PipelineFullException}: behind the durable queue, that data stays queued) and closes the
   * upstream groups; idempotent.
   */
  @Override
  public void close() {
    List<Batcher.Pending> rest = new ArrayList<>();
    State before;
    synchronized (lock) {
      before = state;
      if (before == State.CLOSED) {
        return;
      }
      state = State.CLOSED;
      for (Slot slot : batchers.values()) {
        Batcher.Pending p = slot.batcher.drain();
        if (p != null) {
          rest.add(p);
        }
      }
      batchers.clear();
    }
    if (before == State.NEW) {
      return;
    }
    rest.forEach(dispatcher::submit);
    int abandoned = dispatcher.drainAndAbandon(config.shutdownTimeout, this::closedException);
    if (abandoned > 0) {
      LOG.warn("[{}] closed with {} requests not delivered within {}; their data stays with the "
          + "sender", name, abandoned, config.shutdownTimeout);
    }
    upstreams.forEach(OtlpHttpExporter::closeQuietly);
    scheduler.shutdownNow();
    workers.shutdown();
    try {
      if (!workers.awaitTermination(5, TimeUnit.SECONDS)) {
        LOG.warn("[{}] worker threads did not stop within 5 s", name);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private PipelineFullException closedException() {
    return new PipelineFullException("the OTLP/HTTP exporter '" + name + "' is closed", 5);
  }

  private static void closeQuietly(Upstream u) {
    try {
      u.close();
    } catch (RuntimeException e) {
      LOG.warn("closing an upstream group failed", e);
    }
  }

  /** Settings without header values, which may be secrets. */
  @Override
  public String toString() {
    return "OtlpHttpExporter[" + config + "]";
  }

  private static ScheduledExecutorService scheduler(String name) {
    ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(1,
        threads("sluice-otlphttp-" + name + "-timer"));
    s.setRemoveOnCancelPolicy(true);
    s.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    return s;
  }

  private static ExecutorService workers(String name, int n) {
    ThreadPoolExecutor e = new ThreadPoolExecutor(n, n, 30, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), threads("sluice-otlphttp-" + name + "-worker"));
    e.allowCoreThreadTimeOut(true);
    return e;
  }

  private static ThreadFactory threads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  private record BatchKey(Signal signal, String tenant) {}

  private static final class Slot {
    final Batcher batcher;
    long armed = -1;

    Slot(Batcher batcher) {
      this.batcher = batcher;
    }
  }

  /** Where a signal goes: endpoints (base URIs) and the path on them. */
  private record Target(List<Endpoint> endpoints, String path) {}

  private static Map<Signal, Target> targets(Builder b) {
    Map<Signal, Target> out = new EnumMap<>(Signal.class);
    for (Signal s : Signal.values()) {
      Target own = b.signalEndpoints.get(s);
      if (own != null) {
        out.put(s, own);
      } else if (!b.endpoints.isEmpty()) {
        out.put(s, new Target(b.endpoints, s.defaultPath()));
      }
    }
    return out;
  }

  /** Makes the upstream for a set of endpoints; the default makes an {@code UpstreamGroup}. */
  @FunctionalInterface
  interface UpstreamFactory {
    Upstream create(String groupName, List<Endpoint> endpoints, boolean consistentHash,
        Builder settings);
  }

  /** Settings of an {@link OtlpHttpExporter}, each checked when it is set. */
  public static final class Builder {
    private String name = "otlphttp";
    private List<Endpoint> endpoints = List.of();
    private final Map<Signal, Target> signalEndpoints = new EnumMap<>(Signal.class);
    private final Map<Signal, String> signalEndpointText = new EnumMap<>(Signal.class);
    private Encoding encoding = Encoding.PROTOBUF;
    private Compression compression = Compression.GZIP;
    private Map<String, String> headers = Map.of();
    private String version = "dev";
    private Duration timeout = Duration.ofSeconds(30);
    private Duration connectTimeout = Duration.ofSeconds(10);
    private int maxConnectionsPerEndpoint = 16;
    private Boolean http2;
    private LoadBalancing loadBalancing = LoadBalancing.ROUND_ROBIN;
    private UpstreamTls tls;
    private HealthCheck healthCheck;
    private PassiveEjection passiveEjection;
    private CircuitBreakerSettings circuitBreaker;
    private EventLoopGroup eventLoopGroup;
    private boolean routeTracesByTraceId;
    private RetrySettings retry = RetrySettings.defaults();
    private Duration batchTimeout = Duration.ofMillis(200);
    private int batchMaxItems = 8192;
    private long batchMaxBytes = 2L * 1024 * 1024;
    private long maxRequestBytes = 4L * 1024 * 1024;
    private int maxConcurrentRequests = 10;
    private long maxPendingBytes = 64L * 1024 * 1024;
    private Path deadLetterDirectory;
    private Duration shutdownTimeout = Duration.ofSeconds(5);
    private Duration logInterval = Duration.ofSeconds(10);
    private int workerThreads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    private MeterRegistry registry;
    private UpstreamFactory upstreams = UpstreamGroups::create;
    private Clock clock = Clock.systemUTC();
    private LongSupplier nanoTime = System::nanoTime;
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();

    private Builder() {}

    private Builder copy() {
      Builder c = new Builder();
      c.name = name;
      c.endpoints = endpoints;
      c.signalEndpoints.putAll(signalEndpoints);
      c.signalEndpointText.putAll(signalEndpointText);
      c.encoding = encoding;
      c.compression = compression;
      c.headers = headers;
      c.version = version;
      c.timeout = timeout;
      c.connectTimeout = connectTimeout;
      c.maxConnectionsPerEndpoint = maxConnectionsPerEndpoint;
      c.http2 = http2;
      c.loadBalancing = loadBalancing;
      c.tls = tls;
      c.healthCheck = healthCheck;
      c.passiveEjection = passiveEjection;
      c.circuitBreaker = circuitBreaker;
      c.eventLoopGroup = eventLoopGroup;
      c.routeTracesByTraceId = routeTracesByTraceId;
      c.retry = retry;
      c.batchTimeout = batchTimeout;
      c.batchMaxItems = batchMaxItems;
      c.batchMaxBytes = batchMaxBytes;
      c.maxRequestBytes = maxRequestBytes;
      c.maxConcurrentRequests = maxConcurrentRequests;
      c.maxPendingBytes = maxPendingBytes;
      c.deadLetterDirectory = deadLetterDirectory;
      c.shutdownTimeout = shutdownTimeout;
      c.logInterval = logInterval;
      c.workerThreads = workerThreads;
      c.registry = registry;
      c.upstreams = upstreams;
      c.clock = clock;
      c.nanoTime = nanoTime;
      c.random = random;
      return c;
    }

    /** The exporter's name in logs and metrics; default {@code otlphttp}. */
    public Builder name(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank");
      }
      this.name = name;
      return this;
    }

    /**
     * The backend's base URL ({@code endpoint}): requests go to {@code <endpoint>/v1/traces} and so
     * on, unless a signal has its own URL.
     */
    public Builder endpoint(String url) {
      return endpoints(List.of(baseEndpoint("endpoint", url, 1)));
    }

    /**
     * Several base URLs of equivalent backends, balanced by the upstream group; replaces {@link
     * #endpoint}.
     */
    public Builder endpoints(List<Endpoint> endpoints) {
      Objects.requireNonNull(endpoints, "endpoints");
      List<Endpoint> out = new ArrayList<>();
      for (Endpoint e : endpoints) {
        Objects.requireNonNull(e, "endpoints must not contain null");
        Endpoint n = baseEndpoint("endpoints", e.uri().toString(), e.weight());
        if (out.contains(n)) {
          throw new IllegalArgumentException("endpoints lists " + n.uri() + " twice");
        }
        out.add(n);
      }
      this.endpoints = List.copyOf(out);
      return this;
    }

    /** Base URLs as strings; see {@link #endpoints(List)}. */
    public Builder endpointUrls(List<String> urls) {
      Objects.requireNonNull(urls, "endpoints");
      List<Endpoint> eps = new ArrayList<>();
      for (String u : urls) {
        eps.add(baseEndpoint("endpoints", u, 1));
      }
      return endpoints(eps);
    }

    /** The full URL for traces ({@code traces_endpoint}), used as it is. */
    public Builder tracesEndpoint(String url) {
      return signalEndpoint(Signal.TRACES, url);
    }

    /** The full URL for metrics ({@code metrics_endpoint}), used as it is. */
    public Builder metricsEndpoint(String url) {
      return signalEndpoint(Signal.METRICS, url);
    }

    /** The full URL for logs ({@code logs_endpoint}), used as it is. */
    public Builder logsEndpoint(String url) {
      return signalEndpoint(Signal.LOGS, url);
    }

    /** A signal's full URL, used as it is; null removes it. */
    public Builder signalEndpoint(Signal signal, String url) {
      Objects.requireNonNull(signal, "signal");
      String key = signal.id() + "_endpoint";
      if (url == null) {
        signalEndpoints.remove(signal);
        signalEndpointText.remove(signal);
        return this;
      }
      URI u = parseUrl(key, url);
      String path = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
      if (u.getRawQuery() != null) {
        path += "?" + u.getRawQuery();
      }
      Endpoint base;
      try {
        base = new Endpoint(new URI(u.getScheme().toLowerCase(Locale.ROOT), null, u.getHost(),
            u.getPort(), null, null, null), 1);
      } catch (URISyntaxException | IllegalArgumentException e) {
        throw new IllegalArgumentException(key + " is not a usable URL: " + url, e);
      }
      signalEndpoints.put(signal, new Target(List.of(base), path));
      signalEndpointText.put(signal, url);
      return this;
    }

    private static Duration positive(String key, Duration d) {
      Objects.requireNonNull(d, key);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(key + " must be positive: " + d);
      }
      return d;
    }

    private static URI parseUrl(String key, String url) {
      Objects.requireNonNull(url, key);
      URI u;
      try {
        u = new URI(url.trim());
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException(key + " is not a URL: " + url + " (" + e.getReason()
            + ")", e);
      }
      String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("http") && !scheme.equals("https")) {
        throw new IllegalArgumentException(key + " must be an http:// or https:// URL: " + url);
      }
      if (u.getHost() == null) {
        throw new IllegalArgumentException(key + " has no host: " + url);
      }
      if (u.getRawUserInfo() != null) {
        throw new IllegalArgumentException(key + " must not carry credentials; use headers: "
            + u.getScheme() + "://" + u.getHost());
      }
      if (u.getRawFragment() != null) {
        throw new IllegalArgumentException(key + " must not have a fragment: " + url);
      }
      return u;
    }

    private static Endpoint baseEndpoint(String key, String url, int weight) {
      URI u = parseUrl(key, url);
      if (u.getRawQuery() != null) {
        throw new IllegalArgumentException(key + " must not have a query: " + url);
      }
      String path = u.getRawPath() == null ? "" : u.getRawPath();
      while (path.endsWith("/")) {
        path = path.substring(0, path.length() - 1);
      }
      try {
        return new Endpoint(new URI(u.getScheme().toLowerCase(Locale.ROOT) + "://"
            + u.getRawAuthority() + path), weight);
      } catch (URISyntaxException | IllegalArgumentException e) {
        throw new IllegalArgumentException(key + " is not a usable URL: " + url + ": "
            + e.getMessage(), e);
      }
    }

    /** {@code encoding}: protobuf (default) or JSON. */
    public Builder encoding(Encoding encoding) {
      this.encoding = Objects.requireNonNull(encoding, "encoding");
      return this;
    }

    /** {@code compression}: gzip (default), zstd or none. */
    public Builder compression(Compression compression) {
      this.compression = Objects.requireNonNull(compression, "compression");
      return this;
    }

    /**
     * {@code headers} sent with every request, values as they are (environment references are
     * the configuration's business). Content-Type, Content-Encoding, Content-Length, Host and
     * connection headers are the exporter's own and cannot be set; User-Agent can.
     */
    public Builder headers(Map<String, String> headers) {
      Objects.requireNonNull(headers, "headers");
      Map<String, String> out = new LinkedHashMap<>();
      for (Map.Entry<String, String> e : headers.entrySet()) {
        String k = e.getKey();
        if (k == null || !TOKEN.matcher(k).matches()) {
          throw new IllegalArgumentException("headers: '" + k + "' is not a valid header name");
        }
        if (RESERVED_HEADERS.contains(k.toLowerCase(Locale.ROOT))) {
          throw new IllegalArgumentException("headers." + k
              + " cannot be set: the exporter sets it itself");
        }
        String v = e.getValue();
        if (v == null) {
          throw new IllegalArgumentException("headers." + k + " has no value");
        }
        for (int i = 0; i < v.length(); i++) {
          char c = v.charAt(i);
          if (c == '\r' || c == '\n' || c == 0 || c > 0xff) {
            throw new IllegalArgumentException("headers." + k
                + " holds a character not allowed in a header value (at index " + i + ")");
          }
        }
        for (String seen : out.keySet()) {
          if (seen.equalsIgnoreCase(k)) {
            throw new IllegalArgumentException("headers." + k + " is given twice");
          }
        }
        out.put(k, v);
      }
      this.headers = Collections.unmodifiableMap(out);
      return this;
    }

    /** The product version for the {@code User-Agent: Sluice/<version>} header. */
    public Builder version(String version) {
      Objects.requireNonNull(version, "version");
      if (version.isBlank() || !TOKEN.matcher(version).matches()) {
        throw new IllegalArgumentException("version must be a single token like 1.2.3, not '"
            + version + "'");
      }
      this.version = version;
      return this;
    }

    /** {@code timeout}: the deadline of one request, answer included; default 30 s. */
    public Builder timeout(Duration timeout) {
      this.timeout = positive("timeout", timeout);
      return this;
    }

    /** The deadline for opening a connection; default 10 s. */
    public Builder connectTimeout(Duration connectTimeout) {
      this.connectTimeout = positive("connect_timeout", connectTimeout);
      return this;
    }

    /** Connections kept per endpoint; default 16. */
    public Builder maxConnectionsPerEndpoint(int n) {
      if (n < 1 || n > 10_000) {
        throw new IllegalArgumentException("max_connections_per_endpoint must be 1 to 10000: " + n);
      }
      this.maxConnectionsPerEndpoint = n;
      return this;
    }

    /**
     * HTTP/2: true for h2c (prior knowledge) on {@code http://} and h2 by ALPN on {@code
     * https://}; false for HTTP/1.1 everywhere; unset (default): HTTP/1.1 on {@code http://},
     * h2 offered by ALPN on {@code https://}.
     */
    public Builder http2(boolean http2) {
      this.http2 = http2;
      return this;
    }

    /**
     * How requests are spread over several endpoints; default round robin. Traces routed by trace
     * id always use consistent hashing.
     */
    public Builder loadBalancing(LoadBalancing loadBalancing) {
      this.loadBalancing = Objects.requireNonNull(loadBalancing, "load_balancing");
      return this;
    }

    /** TLS for {@code https://} endpoints; default: the JDK's trust store, full verification. */
    public Builder tls(UpstreamTls tls) {
      this.tls = tls;
      return this;
    }

    /** An active health check of each endpoint; none by default. */
    public Builder healthCheck(HealthCheck healthCheck) {
      this.healthCheck = healthCheck;
      return this;
    }

    /** Ejection of endpoints that keep failing; off by default. */
    public Builder passiveEjection(PassiveEjection passiveEjection) {
      this.passiveEjection = passiveEjection;
      return this;
    }

    /** A circuit breaker per endpoint; off by default. */
    public Builder circuitBreaker(CircuitBreakerSettings circuitBreaker) {
      this.circuitBreaker = circuitBreaker;
      return this;
    }

    /** Event loops to share with the rest of the process; default: the groups make their own. */
    public Builder eventLoopGroup(EventLoopGroup group) {
      this.eventLoopGroup = group;
      return this;
    }

    /**
     * Cut trace batches per trace id and hash each trace to an endpoint (consistent hashing), so
     * that all spans of a trace reach the same backend (for tail sampling); default off.
     */
    public Builder routeTracesByTraceId(boolean route) {
      this.routeTracesByTraceId = route;
      return this;
    }

    /** {@code retry_on_failure}; default {@link RetrySettings#defaults()}. */
    public Builder retry(RetrySettings retry) {
      this.retry = Objects.requireNonNull(retry, "retry_on_failure");
      return this;
    }

    /**
     * How long a batch may wait for others to be merged with ({@code batch.timeout}); zero sends
     * every batch on its own (still cut to {@code max_request_bytes}); default 200 ms.
     */
    public Builder batchTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "batch.timeout");
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("batch.timeout must not be negative: " + timeout);
      }
      this.batchTimeout = timeout;
      return this;
    }

    /** Send once this many items are pending ({@code batch.max_items}); default 8192. */
    public Builder batchMaxItems(int items) {
      if (items < 1) {
        throw new IllegalArgumentException("batch.max_items must be positive: " + items);
      }
      this.batchMaxItems = items;
      return this;
    }

    /** Send once this many bytes are pending ({@code batch.max_bytes}); default 2 MiB. */
    public Builder batchMaxBytes(long bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("batch.max_bytes must be positive: " + bytes);
      }
      this.batchMaxBytes = bytes;
      return this;
    }

    /**
     * The largest request sent ({@code max_request_bytes}), measured on its protobuf encoding
     * before compression (an OTLP/JSON body is larger): larger ones are cut between items; one
     * item larger than this goes alone. Default 4 MiB.
     */
    public Builder maxRequestBytes(long bytes) {
      if (bytes < 256 || bytes > Integer.MAX_VALUE - 1024) {
        throw new IllegalArgumentException(
            "max_request_bytes must be between 256 and 2 GiB: " + bytes);
      }
      this.maxRequestBytes = bytes;
      return this;
    }

    /** Requests in flight at once ({@code num_consumers}); default 10. */
    public Builder maxConcurrentRequests(int n) {
      if (n < 1 || n > 10_000) {
        throw new IllegalArgumentException("max_concurrent_requests must be 1 to 10000: " + n);
      }
      this.maxConcurrentRequests = n;
      return this;
    }

    /**
     * Payload bytes the exporter holds undelivered (batched, sending or waiting to retry) before
     * it refuses more with {@link PipelineFullException}; default 64 MiB.
     */
    public Builder maxPendingBytes(long bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("max_pending_bytes must be positive: " + bytes);
      }
      this.maxPendingBytes = bytes;
      return this;
    }

    /**
     * {@code dead_letter_dir}: where requests refused for good are appended, as {@code
     * <signal>.jsonl}; null (default) drops them, logged and counted.
     */
    public Builder deadLetterDirectory(Path directory) {
      this.deadLetterDirectory = directory;
      return this;
    }

    /** How long {@link #close()} waits for requests in flight; default 5 s. */
    public Builder shutdownTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "shutdown_timeout");
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("shutdown_timeout must not be negative: " + timeout);
      }
      this.shutdownTimeout = timeout;
      return this;
    }

    /** At most one warning per this interval per kind of failure; default 10 s. */
    public Builder logInterval(Duration interval) {
      Objects.requireNonNull(interval, "log_interval");
      if (interval.isNegative()) {
        throw new IllegalArgumentException("log_interval must not be negative: " + interval);
      }
      this.logInterval = interval;
      return this;
    }

    /** Threads that encode, compress and write dead letters; default min(4, CPUs). */
    public Builder workerThreads(int n) {
      if (n < 1 || n > 256) {
        throw new IllegalArgumentException("worker_threads must be 1 to 256: " + n);
      }
      this.workerThreads = n;
      return this;
    }

    /** Where the exporter's meters go; default and null: nowhere. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** For tests: what makes the upstreams. */
    Builder upstreamFactory(UpstreamFactory factory) {
      this.upstreams = Objects.requireNonNull(factory, "factory");
      return this;
    }

    /** For tests: the wall clock (dead-letter times, Retry-After dates). */
    Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** For tests: the jitter's random numbers, uniform in [0, 1). */
    Builder random(DoubleSupplier random) {
      this.random = Objects.requireNonNull(random, "random");
      return this;
    }

    public String name() {
      return name;
    }

    public List<Endpoint> endpoints() {
      return endpoints;
    }

    public Duration timeout() {
      return timeout;
    }

    public Duration connectTimeout() {
      return connectTimeout;
    }

    public int maxConnectionsPerEndpoint() {
      return maxConnectionsPerEndpoint;
    }

    public Boolean http2() {
      return http2;
    }

    public LoadBalancing loadBalancing() {
      return loadBalancing;
    }

    public UpstreamTls tls() {
      return tls;
    }

    public HealthCheck healthCheck() {
      return healthCheck;
    }

    public PassiveEjection passiveEjection() {
      return passiveEjection;
    }

    public CircuitBreakerSettings circuitBreaker() {
      return circuitBreaker;
    }

    public EventLoopGroup eventLoopGroup() {
      return eventLoopGroup;
    }

    /**
     * @throws IllegalStateException when no endpoint is set, or settings contradict each other
     */
    public OtlpHttpExporter build() {
      if (endpoints.isEmpty() && signalEndpoints.isEmpty()) {
        throw new IllegalStateException(
            "endpoint is required (or traces_endpoint, metrics_endpoint, logs_endpoint)");
      }
      if (!retry.forever() && retry.enabled()
          && retry.maxElapsedTime().compareTo(retry.initialInterval()) < 0) {
        throw new IllegalStateException("retry_on_failure.max_elapsed_time ("
            + retry.maxElapsedTime() + ") is shorter than retry_on_failure.initial_interval ("
            + retry.initialInterval() + "): no retry could ever happen");
      }
      return new OtlpHttpExporter(this);
    }

    /** The settings, without header values (they may be secrets). */
    @Override
    public String toString() {
      StringBuilder b = new StringBuilder(name);
      if (!endpoints.isEmpty()) {
        b.append(", endpoint=");
        for (int i = 0; i < endpoints.size(); i++) {
          b.append(i == 0 ? "" : "|").append(endpoints.get(i).uri());
        }
      }
      signalEndpointText.forEach((s, u) -> b.append(", ").append(s.id()).append("_endpoint=")
          .append(u));
      b.append(", encoding=").append(encoding.id())
          .append(", compression=").append(compression.id())
          .append(", headers=").append(headers.keySet()).append(" (values hidden)")
          .append(", timeout=").append(timeout)
          .append(", load_balancing=").append(loadBalancing)
          .append(", ").append(retry)
          .append(", batch{timeout=").append(batchTimeout).append(", max_items=")
          .append(batchMaxItems).append(", max_bytes=").append(batchMaxBytes).append('}')
          .append(", max_request_bytes=").append(maxRequestBytes)
          .append(", route_traces_by_trace_id=").append(routeTracesByTraceId)
          .append(", dead_letter_dir=").append(deadLetterDirectory);
      return b.toString();
    }
  }
}
