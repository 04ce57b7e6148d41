package dev.sluice.client;

import dev.sluice.exporter.otlp.Compression;
import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.exporter.otlp.OtlpHttpExporter;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * An OTLP/HTTP client for applications: the transport an application would otherwise write by
 * hand, on Sluice's OTLP/HTTP exporter (batching, retries as the OTLP specification says, requests
 * cut to size, pooled keep-alive connections).
 *
 * <pre>{@code
 * try (SluiceOtlpClient client = SluiceOtlpClient.builder()
 *     .fromEnvironment()                        // OTEL_EXPORTER_OTLP_*
 *     .maxQueuedBytes(16 << 20)
 *     .build()) {
 *   client.export(request).whenComplete((ok, error) -> ...);
 * }
 * }</pre>
 *
 * <p><b>Never blocks, never grows.</b> {@link #export} hands the data over and returns at once. The
 * client holds at most {@code maxQueuedRequests} exports and {@code maxQueuedBytes} bytes that are
 * not yet delivered; beyond that an export returns a future already failed with {@link
 * QueueFullException}.
 *
 * <p><b>Outcomes.</b> The future of an export completes normally when the backend accepted the data
 * (a 2xx answer, partial success included) or refused it for good (a 4xx other than 429: retrying
 * cannot help; the exporter logs it). It fails with {@link QueueFullException} when refused at
 * once, {@link dev.sluice.exporter.otlp.ExportFailedException} when retries ran out, and {@link
 * IllegalStateException} when the client was closed before or while the data was pending. Futures
 * complete on the client's threads: do not block in their callbacks.
 *
 * <p><b>Batching.</b> Exports of a signal are merged into one request until {@code batchMaxItems}
 * items are pending or {@code batchTimeout} (default 200 ms) passed since the first; so a future
 * may complete up to {@code batchTimeout} after the export. {@link #flush()} waits for everything
 * handed over so far.
 */
public final class SluiceOtlpClient implements AutoCloseable {
  /** Where data goes when nothing says otherwise: a local Collector. */
  public static final String DEFAULT_ENDPOINT = "http://localhost:4318";

  /**
   * What one signal's requests look like after defaults, environment and code were applied; {@code
   * tls} is null for the JDK's trust store and no client certificate.
   */
  public record SignalSettings(URI url, Map<String, String> headers, Compression compression,
      Encoding encoding, Duration timeout, UpstreamTls tls) {
    /** {@code http/protobuf} or {@code http/json}. */
    public String protocol() {
      return OtlpEnvironment.protocolName(encoding);
    }

    /** Without header values, which may be secrets. */
    @Override
    public String toString() {
      return url + " (" + protocol() + ", compression " + compression.id() + ", timeout "
          + timeout.toMillis() + " ms, headers " + headers.keySet()
          + (tls == null ? "" : ", " + tls) + ")";
    }
  }

  private final Map<Signal, SignalSettings> settings;
  private final Map<Signal, OtlpHttpExporter> exporters;
  private final List<OtlpHttpExporter> distinct;
  private final int maxQueuedRequests;
  private final long maxQueuedBytes;
  private final AtomicInteger queuedRequests = new AtomicInteger();
  private final AtomicLong queuedBytes = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final Set<CompletableFuture<Void>> outstanding = ConcurrentHashMap.newKeySet();
  private final Object closeLock = new Object();
  private volatile boolean closed;

  private SluiceOtlpClient(Builder b) {
    this.settings = Collections.unmodifiableMap(b.resolve());
    this.maxQueuedRequests = b.maxQueuedRequests;
    this.maxQueuedBytes = b.maxQueuedBytes;
    // Signals whose requests differ only in URL share one exporter (threads, connections).
    Map<List<Object>, List<Signal>> groups = new LinkedHashMap<>();
    for (Map.Entry<Signal, SignalSettings> e : settings.entrySet()) {
      SignalSettings s = e.getValue();
      groups.computeIfAbsent(Arrays.asList(s.headers(), s.compression(), s.encoding(),
          s.timeout(), s.tls()), k -> new ArrayList<>()).add(e.getKey());
    }
    Map<Signal, OtlpHttpExporter> bySignal = new EnumMap<>(Signal.class);
    List<OtlpHttpExporter> all = new ArrayList<>();
    try {
      for (List<Signal> group : groups.values()) {
        SignalSettings s = settings.get(group.get(0));
        OtlpHttpExporter.Builder eb = OtlpHttpExporter.builder()
            .name(groups.size() == 1 ? b.name : b.name + "-" + group.get(0).id())
            .headers(s.headers())
            .compression(s.compression())
            .encoding(s.encoding())
            .timeout(s.timeout())
            .retry(b.retry)
            .batchTimeout(b.batchTimeout)
            .batchMaxItems(b.batchMaxItems)
            .batchMaxBytes(b.batchMaxBytes)
            .maxPendingBytes(Long.MAX_VALUE) // the client's own limits apply first
            .shutdownTimeout(b.closeTimeout);
        if (s.tls() != null) {
          eb.tls(s.tls());
        }
        for (Signal signal : group) {
          eb.signalEndpoint(signal, settings.get(signal).url().toString());
        }
        b.exporterSettings.accept(eb);
        OtlpHttpExporter exporter = eb.build();
        exporter.start();
        all.add(exporter);
        for (Signal signal : group) {
          bySignal.put(signal, exporter);
        }
      }
    } catch (RuntimeException e) {
      all.forEach(OtlpHttpExporter::close);
      throw e;
    }
    this.exporters = Collections.unmodifiableMap(bySignal);
    this.distinct = List.copyOf(all);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The URL, headers, compression, protocol and timeout of a signal's requests. */
  public SignalSettings settings(Signal signal) {
    return settings.get(Objects.requireNonNull(signal, "signal"));
  }

  /** Exports handed over and not yet settled (delivered, refused or failed). */
  public int queuedRequests() {
    return queuedRequests.get();
  }

  /** Protobuf bytes handed over and not yet settled. */
  public long queuedBytes() {
    return queuedBytes.get();
  }

  /** Exports refused at once because the queue was full. */
  public long rejectedExports() {
    return rejected.get();
  }

  /** Sends spans. */
  public CompletableFuture<Void> export(ExportTraceServiceRequest request) {
    int spans = 0;
    for (ResourceSpans rs : request.getResourceSpansList()) {
      for (ScopeSpans ss : rs.getScopeSpansList()) {
        spans += ss.getSpansCount();
      }
    }
    return export(Signal.TRACES, request.toByteArray(), spans);
  }

  /** Sends metric data points. */
  public CompletableFuture<Void> export(ExportMetricsServiceRequest request) {
    int points = 0;
    for (ResourceMetrics rm : request.getResourceMetricsList()) {
      for (ScopeMetrics sm : rm.getScopeMetricsList()) {
        for (Metric m : sm.getMetricsList()) {
          points += dataPoints(m);
        }
      }
    }
    return export(Signal.METRICS, request.toByteArray(), points);
  }

  /** Sends log records. */
  public CompletableFuture<Void> export(ExportLogsServiceRequest request) {
    int records = 0;
    for (ResourceLogs rl : request.getResourceLogsList()) {
      for (ScopeLogs sl : rl.getScopeLogsList()) {
        records += sl.getLogRecordsCount();
      }
    }
    return export(Signal.LOGS, request.toByteArray(), records);
  }

  private static int dataPoints(Metric m) {
    switch (m.getDataCase()) {
      case GAUGE:
        return m.getGauge().getDataPointsCount();
      case SUM:
        return m.getSum().getDataPointsCount();
      case HISTOGRAM:
        return m.getHistogram().getDataPointsCount();
      case EXPONENTIAL_HISTOGRAM:
        return m.getExponentialHistogram().getDataPointsCount();
      case SUMMARY:
        return m.getSummary().getDataPointsCount();
      default:
        return 0;
    }
  }

  /**
   * Sends the protobuf encoding of an {@code Export*ServiceRequest} of {@code signal}, as it is
   * (with {@code http/json}, converted). The client keeps the array until the export settles: do
   * not change it.
   *
   * @param items the spans, data points or log records in it (for batching and metrics)
   * @return completes as the class comment says; never blocks, never throws for non-null arguments
   */
  public CompletableFuture<Void> export(Signal signal, byte[] protobuf, int items) {
    Objects.requireNonNull(protobuf, "protobuf");
    return export(signal, Unpooled.wrappedBuffer(protobuf), items);
  }

  /**
   * As {@link #export(Signal, byte[], int)}, for callers that encode into (pooled) Netty buffers:
   * the client takes over the reference to the readable bytes of {@code protobuf} and releases it
   * exactly once, whatever the outcome, refusals included.
   */
  public CompletableFuture<Void> export(Signal signal, ByteBuf protobuf, int items) {
    Objects.requireNonNull(protobuf, "protobuf");
    if (signal == null) {
      protobuf.release();
      throw new NullPointerException("signal");
    }
    if (closed) {
      protobuf.release();
      return CompletableFuture.failedFuture(closedException());
    }
    int size = protobuf.readableBytes();
    if (queuedRequests.incrementAndGet() > maxQueuedRequests) {
      queuedRequests.decrementAndGet();
      protobuf.release();
      return reject("the client holds " + maxQueuedRequests + " exports not yet delivered");
    }
    long bytes = queuedBytes.addAndGet(size);
    if (bytes > maxQueuedBytes && bytes != size) { // one export larger than the limit may go alone
      queuedBytes.addAndGet(-size);
      queuedRequests.decrementAndGet();
      protobuf.release();
      return reject("the client holds " + (bytes - size) + " bytes not yet delivered; "
          + size + " more would pass max_queued_bytes " + maxQueuedBytes);
    }
    CompletableFuture<Void> out = new CompletableFuture<>();
    outstanding.add(out);
    CompletableFuture<Void> sent;
    try {
      // the exporter owns the batch from here and releases it, whether it succeeds or fails
      sent = exporters.get(signal).export(new TelemetryBatch(signal, protobuf, Math.max(0, items),
          "", System.currentTimeMillis()));
    } catch (RuntimeException e) { // not the exporter's contract; settle anyway
      sent = CompletableFuture.failedFuture(e);
    }
    sent.whenComplete((v, error) -> {
      queuedRequests.decrementAndGet();
      queuedBytes.addAndGet(-size);
      outstanding.remove(out);
      if (error == null) {
        out.complete(null);
      } else {
        out.completeExceptionally(translate(error));
      }
    });
    return out;
  }

  private CompletableFuture<Void> reject(String message) {
    rejected.incrementAndGet();
    return CompletableFuture.failedFuture(new QueueFullException(message));
  }

  private static Throwable translate(Throwable error) {
    Throwable e = error instanceof CompletionException && error.getCause() != null
        ? error.getCause() : error;
    if (e instanceof PipelineFullException) { // the exporter's word for "closed before delivery"
      return new IllegalStateException("the Sluice OTLP client closed before this export was "
          + "delivered", e);
    }
    return e;
  }

  private static IllegalStateException closedException() {
    return new IllegalStateException("the Sluice OTLP client is closed");
  }

  /**
   * Completes when every export handed over before this call has settled: normally when all were
   * delivered (or refused for good), exceptionally when any failed. Exports that come later are
   * not waited for. Use {@code flush().get(timeout, unit)} to bound the wait.
   */
  public CompletableFuture<Void> flush() {
    return CompletableFuture.allOf(outstanding.toArray(new CompletableFuture<?>[0]));
  }

  /**
   * Refuses new exports, sends what is batched and waits up to {@code closeTimeout} (default 5 s)
   * for what is in flight; what is still undelivered then fails with {@link
   * IllegalStateException}. Idempotent; blocks the caller for at most about the close timeout.
   */
  @Override
  public void close() {
    synchronized (closeLock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    for (OtlpHttpExporter e : distinct) {
      e.close();
    }
  }

  public boolean isClosed() {
    return closed;
  }

  @Override
  public String toString() {
    return "SluiceOtlpClient" + settings;
  }

  /** Settings of a {@link SluiceOtlpClient}, each checked when it is set. */
  public static final class Builder {
    private String name = "sluice-client";
    private String endpoint;
    private final Map<Signal, String> signalEndpoints = new EnumMap<>(Signal.class);
    private Map<String, String> headers = Map.of();
    private final Map<Signal, Map<String, String>> signalHeaders = new EnumMap<>(Signal.class);
    private Compression compression = Compression.NONE;
    private final Map<Signal, Compression> signalCompression = new EnumMap<>(Signal.class);
    private Encoding encoding = Encoding.PROTOBUF;
    private final Map<Signal, Encoding> signalEncoding = new EnumMap<>(Signal.class);
    private Duration timeout = Duration.ofSeconds(10);
    private final Map<Signal, Duration> signalTimeout = new EnumMap<>(Signal.class);
    private UpstreamTls tls;
    private final Map<Signal, UpstreamTls> signalTls = new EnumMap<>(Signal.class);
    private int maxQueuedRequests = 2048;
    private long maxQueuedBytes = 64L * 1024 * 1024;
    private Duration batchTimeout = Duration.ofMillis(200);
    private int batchMaxItems = 8192;
    private long batchMaxBytes = 1024L * 1024;
    private RetrySettings retry = new RetrySettings(true, Duration.ofSeconds(1),
        Duration.ofSeconds(5), Duration.ofSeconds(30), 1.5, 0.2);
    private Duration closeTimeout = Duration.ofSeconds(5);
    private Consumer<OtlpHttpExporter.Builder> exporterSettings = b -> {};

    private Builder() {}

    /**
     * Applies the {@code OTEL_EXPORTER_OTLP_*} variables of the process's environment that are
     * set; see {@link #fromEnvironment(Map)}.
     */
    public Builder fromEnvironment() {
      return fromEnvironment(System.getenv());
    }

    /**
     * Applies the {@code OTEL_EXPORTER_OTLP_*} variables in {@code env} that are set (non-empty),
     * as the OpenTelemetry specification says: {@code ENDPOINT} is a base URL that gets {@code
     * /v1/<signal>} appended, {@code <SIGNAL>_ENDPOINT} is used as it is; {@code HEADERS} ({@code
     * k=v,k2=v2}, values percent-decoded), {@code COMPRESSION} ({@code gzip}, {@code none}),
     * {@code TIMEOUT} (milliseconds) and {@code PROTOCOL} ({@code http/protobuf}, {@code
     * http/json}) each have a per-signal variant ({@code OTEL_EXPORTER_OTLP_TRACES_HEADERS} ...)
     * that wins over the generic one. {@code CERTIFICATE} (PEM CA certificates to trust instead
     * of the JDK's), {@code CLIENT_CERTIFICATE} and {@code CLIENT_KEY} (PEM, for mutual TLS; both
     * or neither) set {@link #tls}, their per-signal variants {@link #signalTls}; each of the three
     * is taken from the signal's variable when set, else from the generic one. Settings made in
     * code after this call win over the environment; made before, they lose to what the
     * environment sets.
     *
     * @throws IllegalArgumentException naming the variable whose value is not valid
     */
    public Builder fromEnvironment(Map<String, String> env) {
      OtlpEnvironment.apply(Objects.requireNonNull(env, "env"), this);
      return this;
    }

    /** The name in logs and in the exporter's thread names; default {@code sluice-client}. */
    public Builder name(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank");
      }
      this.name = name;
      return this;
    }

    /**
     * The backend's base URL, default {@value #DEFAULT_ENDPOINT}: a signal without its own
     * endpoint goes to this URL with {@code v1/<signal>} appended to its path ({@code
     * http://host:4318/prefix} gives {@code http://host:4318/prefix/v1/traces}).
     */
    public Builder endpoint(String url) {
      this.endpoint = checkUrl("endpoint", url, true);
      return this;
    }

    /** The full URL of trace requests, used as it is. */
    public Builder tracesEndpoint(String url) {
      return signalEndpoint(Signal.TRACES, url);
    }

    /** The full URL of metric requests, used as it is. */
    public Builder metricsEndpoint(String url) {
      return signalEndpoint(Signal.METRICS, url);
    }

    /** The full URL of log requests, used as it is. */
    public Builder logsEndpoint(String url) {
      return signalEndpoint(Signal.LOGS, url);
    }

    /** A signal's full URL, used as it is; null goes back to the base endpoint. */
    public Builder signalEndpoint(Signal signal, String url) {
      Objects.requireNonNull(signal, "signal");
      if (url == null) {
        signalEndpoints.remove(signal);
      } else {
        signalEndpoints.put(signal, checkUrl(signal.id() + "_endpoint", url, false));
      }
      return this;
    }

    /** Headers sent with every request (API keys ...); replaces earlier ones. */
    public Builder headers(Map<String, String> headers) {
      this.headers = Map.copyOf(Objects.requireNonNull(headers, "headers"));
      return this;
    }

    /** Adds one header to those sent with every request. */
    public Builder header(String name, String value) {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
      Map<String, String> h = new LinkedHashMap<>(headers);
      h.keySet().removeIf(k -> k.equalsIgnoreCase(name));
      h.put(name, value);
      this.headers = Map.copyOf(h);
      return this;
    }

    /** A signal's own headers, used instead of (not merged with) the common ones; null removes. */
    public Builder signalHeaders(Signal signal, Map<String, String> headers) {
      Objects.requireNonNull(signal, "signal");
      if (headers == null) {
        signalHeaders.remove(signal);
      } else {
        signalHeaders.put(signal, Map.copyOf(headers));
      }
      return this;
    }

    /** {@code none} (default, as the specification says), {@code gzip} or {@code zstd}. */
    public Builder compression(String compression) {
      return compression(OtlpEnvironment.parseCompression(compression));
    }

    public Builder compression(Compression compression) {
      this.compression = Objects.requireNonNull(compression, "compression");
      return this;
    }

    /** A signal's own compression; null goes back to the common one. */
    public Builder signalCompression(Signal signal, String compression) {
      Objects.requireNonNull(signal, "signal");
      if (compression == null) {
        signalCompression.remove(signal);
      } else {
        signalCompression.put(signal, OtlpEnvironment.parseCompression(compression));
      }
      return this;
    }

    /** The deadline of one request, answer included; default 10 s, as the specification says. */
    public Builder timeout(Duration timeout) {
      this.timeout = positive("timeout", timeout);
      return this;
    }

    /** A signal's own request deadline; null goes back to the common one. */
    public Builder signalTimeout(Signal signal, Duration timeout) {
      Objects.requireNonNull(signal, "signal");
      if (timeout == null) {
        signalTimeout.remove(signal);
      } else {
        signalTimeout.put(signal, positive(signal.id() + "_timeout", timeout));
      }
      return this;
    }

    /**
     * TLS for {@code https://} endpoints: the CA certificates to trust, a client certificate for
     * mutual TLS; null (default) is the JDK's trust store and no client certificate.
     */
    public Builder tls(UpstreamTls tls) {
      this.tls = tls;
      return this;
    }

    /** A signal's own TLS settings; null goes back to the common ones. */
    public Builder signalTls(Signal signal, UpstreamTls tls) {
      Objects.requireNonNull(signal, "signal");
      if (tls == null) {
        signalTls.remove(signal);
      } else {
        signalTls.put(signal, tls);
      }
      return this;
    }

    /** {@code http/protobuf} (default) or {@code http/json}; {@code grpc} is refused. */
    public Builder protocol(String protocol) {
      this.encoding = OtlpEnvironment.parseProtocol(protocol);
      return this;
    }

    /** A signal's own protocol; null goes back to the common one. */
    public Builder signalProtocol(Signal signal, String protocol) {
      Objects.requireNonNull(signal, "signal");
      if (protocol == null) {
        signalEncoding.remove(signal);
      } else {
        signalEncoding.put(signal, OtlpEnvironment.parseProtocol(protocol));
      }
      return this;
    }

    /** Exports held undelivered before new ones are refused; default 2048. */
    public Builder maxQueuedRequests(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("max_queued_requests must be positive: " + n);
      }
      this.maxQueuedRequests = n;
      return this;
    }

    /**
     * Protobuf bytes held undelivered before new exports are refused; default 64 MiB. One export
     * larger than this is taken when nothing else is queued.
     */
    public Builder maxQueuedBytes(long bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("max_queued_bytes must be positive: " + bytes);
      }
      this.maxQueuedBytes = bytes;
      return this;
    }

    /**
     * How long an export may wait to be merged with later ones; zero sends each export as a
     * request of its own. Default 200 ms.
     */
    public Builder batchTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "batch_timeout");
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("batch_timeout must not be negative: " + timeout);
      }
      this.batchTimeout = timeout;
      return this;
    }

    /** Send once this many items are pending; default 8192. */
    public Builder batchMaxItems(int items) {
      if (items < 1) {
        throw new IllegalArgumentException("batch_max_items must be positive: " + items);
      }
      this.batchMaxItems = items;
      return this;
    }

    /**
     * Send once this many protobuf bytes are pending; default 1 MiB (the exporter's own default is
     * 2 MiB: smaller requests keep a retry, and what a failure may hold back, small).
     */
    public Builder batchMaxBytes(long bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("batch_max_bytes must be positive: " + bytes);
      }
      this.batchMaxBytes = bytes;
      return this;
    }

    /**
     * How failed requests are retried (429, 502, 503, 504, connection failures); default: from 1 s,
     * times 1.5 up to 5 s, for at most 30 s.
     */
    public Builder retry(RetrySettings retry) {
      this.retry = Objects.requireNonNull(retry, "retry");
      return this;
    }

    /** How long {@link SluiceOtlpClient#close()} waits for undelivered data; default 5 s. */
    public Builder closeTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "close_timeout");
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("close_timeout must not be negative: " + timeout);
      }
      this.closeTimeout = timeout;
      return this;
    }

    /**
     * Any other setting of the underlying {@link OtlpHttpExporter} (TLS, HTTP/2, connections,
     * worker threads, meters ...), applied last; endpoints, headers, compression, encoding,
     * timeout, retry and batching are better set on this builder.
     */
    public Builder exporterSettings(Consumer<OtlpHttpExporter.Builder> settings) {
      this.exporterSettings = Objects.requireNonNull(settings, "settings");
      return this;
    }

    /** What each signal's requests will look like, defaults applied. */
    public Map<Signal, SignalSettings> resolve() {
      Map<Signal, SignalSettings> out = new EnumMap<>(Signal.class);
      String base = endpoint != null ? endpoint : DEFAULT_ENDPOINT;
      for (Signal s : Signal.values()) {
        String own = signalEndpoints.get(s);
        String url = own != null ? own
            : base + (base.endsWith("/") ? "" : "/") + "v1/" + s.id();
        out.put(s, new SignalSettings(URI.create(url),
            signalHeaders.getOrDefault(s, headers),
            signalCompression.getOrDefault(s, compression),
            signalEncoding.getOrDefault(s, encoding),
            signalTimeout.getOrDefault(s, timeout),
            signalTls.getOrDefault(s, tls)));
      }
      return out;
    }

    /**
     * Starts the client (its threads open connections when the first request goes).
     *
     * @throws IllegalArgumentException when a URL or header the exporter checks is not valid
     */
    public SluiceOtlpClient build() {
      return new SluiceOtlpClient(this);
    }

    private static Duration positive(String key, Duration d) {
      Objects.requireNonNull(d, key);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(key + " must be positive: " + d);
      }
      return d;
    }

    private static String checkUrl(String key, String url, boolean base) {
      Objects.requireNonNull(url, key);
      String u = url.trim();
      URI uri;
      try {
        uri = new URI(u);
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException(key + " is not a URL: " + url + " (" + e.getReason()
            + ")", e);
      }
      String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("http") && !scheme.equals("https")) {
        throw new IllegalArgumentException(key + " must be an http:// or https:// URL: " + url);
      }
      if (uri.getHost() == null) {
        throw new IllegalArgumentException(key + " has no host: " + url);
      }
      if (uri.getRawFragment() != null || (base && uri.getRawQuery() != null)) {
        throw new IllegalArgumentException(key + " must not have a "
            + (uri.getRawFragment() != null ? "fragment" : "query") + ": " + url);
      }
      return u;
    }
  }
}
