package dev.sluice.proxy.trace;

import com.google.protobuf.ByteString;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.SpanFlags;
import io.opentelemetry.proto.trace.v1.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batches the proxy's server spans and hands them to a {@link SpanSink} as OTLP {@code
 * ExportTraceServiceRequest}s, off the event loops.
 *
 * <pre>{@code
 * SpanReporter spans = SpanReporter.start(sink, "edge-proxy", registry);
 * spans.record(ProxySpan.of(context, start, end, "GET", host, path, route, upstream, 200, ...));
 * spans.close();   // hands over what is queued, then stops
 * }</pre>
 *
 * <p>{@link #record} never blocks: it puts the span into a bounded queue ({@value
 * #DEFAULT_QUEUE_CAPACITY} spans), or drops it when the queue is full and counts it in {@code
 * sluice.proxy.spans.dropped}. One background thread drains the queue every second, or as soon as
 * {@value #DEFAULT_BATCH_SIZE} spans are waiting, and makes one request of them: resource attribute
 * {@code service.name}, instrumentation scope {@code sluice-proxy}, one {@code SPAN_KIND_SERVER}
 * span per request with the OpenTelemetry HTTP semantic-convention attributes ({@code
 * http.request.method}, {@code url.path}, {@code server.address}, {@code server.port}, {@code
 * http.response.status_code}, {@code http.route}, {@code client.address}, {@code
 * network.protocol.version}) and {@code sluice.upstream}. Its status is ERROR for a 5xx response or
 * an error, with the error as message.
 *
 * <p>Meters: {@code sluice.proxy.spans.dropped} (queue full, or recorded after close), {@code
 * sluice.proxy.spans.exported} (handed to the sink), {@code sluice.proxy.spans.export.failed}
 * (lost because the sink threw; logged at most every {@value #LOG_INTERVAL_SECONDS} seconds).
 */
public final class SpanReporter implements AutoCloseable {
  /** Spans the queue holds at most. */
  public static final int DEFAULT_QUEUE_CAPACITY = 8192;

  /** Spans that make the background thread export at once. */
  public static final int DEFAULT_BATCH_SIZE = 512;

  /** The instrumentation scope of the proxy's spans. */
  public static final String SCOPE_NAME = "sluice-proxy";

  static final Duration DEFAULT_FLUSH_INTERVAL = Duration.ofSeconds(1);
  static final long LOG_INTERVAL_SECONDS = 10;
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
  private static final Logger LOG = LoggerFactory.getLogger(SpanReporter.class);

  /** Put into the queue by close(); compared by identity. */
  private static final ProxySpan END =
      new ProxySpan(1, 1, 1, 0, 0, 0, null, null, null, null, null, 0, null, null, null);

  private final SpanSink sink;
  private final ArrayBlockingQueue<ProxySpan> queue;
  private final int batchSize;
  private final long flushIntervalNanos;
  private final ResourceSpans.Builder template;
  private final Counter dropped;
  private final Counter exported;
  private final Counter failed;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Thread thread;

  // Touched by the reporting thread only.
  private long lastFailureLogNanos;
  private long failuresNotLogged;
  private boolean failureLogged;

  private SpanReporter(SpanSink sink, String serviceName, MeterRegistry registry, int capacity,
      int batchSize, Duration flushInterval) {
    this.sink = Objects.requireNonNull(sink, "sink");
    Objects.requireNonNull(serviceName, "serviceName");
    Objects.requireNonNull(registry, "registry");
    if (capacity < 1) {
      throw new IllegalArgumentException("span queue capacity must be at least 1: " + capacity);
    }
    if (batchSize < 1) {
      throw new IllegalArgumentException("span batch size must be at least 1: " + batchSize);
    }
    if (flushInterval.isNegative() || flushInterval.isZero()) {
      throw new IllegalArgumentException("span flush interval must be positive: " + flushInterval);
    }
    this.queue = new ArrayBlockingQueue<>(capacity);
    this.batchSize = batchSize;
    this.flushIntervalNanos = flushInterval.toNanos();
    this.template = ResourceSpans.newBuilder()
        .setResource(Resource.newBuilder().addAttributes(string("service.name", serviceName)));
    this.dropped = Counter.builder("sluice.proxy.spans.dropped")
        .description("Spans of proxied requests dropped because the span queue was full")
        .register(registry);
    this.exported = Counter.builder("sluice.proxy.spans.exported")
        .description("Spans of proxied requests handed to the span sink")
        .register(registry);
    this.failed = Counter.builder("sluice.proxy.spans.export.failed")
        .description("Spans of proxied requests lost because the span sink failed")
        .register(registry);
    this.thread = new Thread(this::run, "sluice-span-reporter");
    thread.setDaemon(true);
  }

  /**
   * Starts a reporter with its background thread.
   *
   * @param sink receives each encoded {@code ExportTraceServiceRequest}
   * @param serviceName the {@code service.name} resource attribute
   * @param registry where the reporter's own counters go
   */
  public static SpanReporter start(SpanSink sink, String serviceName, MeterRegistry registry) {
    return start(sink, serviceName, registry, DEFAULT_QUEUE_CAPACITY, DEFAULT_BATCH_SIZE,
        DEFAULT_FLUSH_INTERVAL);
  }

  static SpanReporter start(SpanSink sink, String serviceName, MeterRegistry registry,
      int capacity, int batchSize, Duration flushInterval) {
    SpanReporter reporter =
        new SpanReporter(sink, serviceName, registry, capacity, batchSize, flushInterval);
    reporter.thread.start();
    return reporter;
  }

  /**
   * Queues a span for export without blocking; safe from any thread.
   *
   * @return false when the span was dropped: the queue is full or the reporter is closed
   */
  public boolean record(ProxySpan span) {
    Objects.requireNonNull(span, "span");
    if (closed.get() || !queue.offer(span)) {
      dropped.increment();
      return false;
    }
    return true;
  }

  /** Spans waiting in the queue. */
  public int queued() {
    return queue.size();
  }

  /**
   * Hands what is queued to the sink and stops the background thread, waiting up to 10 seconds
   * for it. Idempotent.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      // The queue may be full for a moment; the thread empties it, so waiting for room is short.
      while (!queue.offer(END, 100, TimeUnit.MILLISECONDS)) {
        if (!thread.isAlive()) {
          return;
        }
      }
      thread.join(CLOSE_TIMEOUT.toMillis());
      if (thread.isAlive()) {
        LOG.warn("the span reporter did not finish within {}; spans still queued are lost",
            CLOSE_TIMEOUT);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void run() {
    List<ProxySpan> batch = new ArrayList<>(batchSize);
    long deadline = System.nanoTime() + flushIntervalNanos;
    boolean ending = false;
    while (!ending) {
      long wait = deadline - System.nanoTime();
      if (wait > 0 && batch.size() < batchSize) {
        ProxySpan first;
        try {
          first = queue.poll(wait, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          // Nobody but close() should stop this thread; treat it as the end.
          first = END;
        }
        if (first != null) {
          batch.add(first);
          queue.drainTo(batch, batchSize - batch.size());
        }
        ending = removeEnd(batch);
      }
      long now = System.nanoTime();
      if (ending || batch.size() >= batchSize || now - deadline >= 0) {
        export(batch);
        deadline = now + flushIntervalNanos;
      }
    }
    // What raced with close() into the queue behind END still goes out.
    while (queue.drainTo(batch, batchSize) > 0) {
      removeEnd(batch);
      export(batch);
    }
  }

  private static boolean removeEnd(List<ProxySpan> batch) {
    for (int i = batch.size() - 1; i >= 0; i--) {
      if (batch.get(i) == END) {
        batch.remove(i);
        return true;
      }
    }
    return false;
  }

  /** Encodes and hands over {@code batch}, then clears it. */
  private void export(List<ProxySpan> batch) {
    if (batch.isEmpty()) {
      return;
    }
    int count = batch.size();
    try {
      byte[] request = encode(batch).toByteArray();
      batch.clear();
      sink.accept(request);
      exported.increment(count);
    } catch (Throwable e) {
      if (e instanceof VirtualMachineError vme) {
        throw vme;
      }
      batch.clear();
      failed.increment(count);
      logFailure(count, e);
    }
  }

  private void logFailure(int spans, Throwable e) {
    long now = System.nanoTime();
    if (failureLogged && now - lastFailureLogNanos < TimeUnit.SECONDS.toNanos(LOG_INTERVAL_SECONDS)) {
      failuresNotLogged++;
      return;
    }
    LOG.warn("the span sink failed; {} spans lost{}", spans,
        failuresNotLogged > 0 ? " (" + failuresNotLogged + " more failures not logged)" : "", e);
    failureLogged = true;
    lastFailureLogNanos = now;
    failuresNotLogged = 0;
  }

  ExportTraceServiceRequest encode(List<ProxySpan> spans) {
    ScopeSpans.Builder scope = ScopeSpans.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName(SCOPE_NAME));
    for (ProxySpan s : spans) {
      scope.addSpans(toSpan(s));
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(template.clone().addScopeSpans(scope))
        .build();
  }

  private static Span toSpan(ProxySpan s) {
    String method = s.method() == null ? "HTTP" : s.method();
    Span.Builder b = Span.newBuilder()
        .setTraceId(id(s.traceIdHigh(), s.traceIdLow()))
        .setSpanId(id(s.spanId()))
        .setName(s.route() == null ? method : method + " " + s.route())
        .setKind(Span.SpanKind.SPAN_KIND_SERVER)
        .setStartTimeUnixNano(s.startEpochNanos())
        .setEndTimeUnixNano(s.endEpochNanos());
    int flags = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK_VALUE;
    if (s.parentSpanId() != 0) {
      // The parent is the caller's span, from its traceparent header.
      b.setParentSpanId(id(s.parentSpanId()));
      flags |= SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK_VALUE;
    }
    b.setFlags(flags);
    b.addAttributes(string("http.request.method", method));
    addString(b, "url.path", s.path());
    String host = s.host();
    if (host != null && !host.isEmpty()) {
      int port = portStart(host);
      if (port < 0) {
        b.addAttributes(string("server.address", stripBrackets(host, host.length())));
      } else {
        b.addAttributes(string("server.address", stripBrackets(host, port - 1)));
        try {
          b.addAttributes(integer("server.port", Integer.parseInt(host, port, host.length(), 10)));
        } catch (NumberFormatException ignored) {
          // A malformed port in a Host header is the client's problem; the address still tells.
        }
      }
    }
    if (s.status() != 0) {
      b.addAttributes(integer("http.response.status_code", s.status()));
    }
    addString(b, "http.route", s.route());
    addString(b, "client.address", s.clientAddress());
    addString(b, "network.protocol.version", protocolVersion(s.protocol()));
    addString(b, "sluice.upstream", s.upstream());
    if (s.status() >= 500 || s.error() != null) {
      Status.Builder status = Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_ERROR);
      if (s.error() != null) {
        status.setMessage(s.error());
      }
      b.setStatus(status);
    }
    return b.build();
  }

  /** Where the port of {@code host[:port]} or {@code [v6]:port} starts, or -1 without one. */
  private static int portStart(String host) {
    int colon = host.lastIndexOf(':');
    if (colon < 0) {
      return -1;
    }
    if (host.charAt(0) == '[') {
      return host.charAt(colon - 1) == ']' ? colon + 1 : -1;
    }
    // More than one colon without brackets: a bare IPv6 address, no port.
    return host.indexOf(':') == colon ? colon + 1 : -1;
  }

  private static String stripBrackets(String host, int end) {
    if (end >= 2 && host.charAt(0) == '[' && host.charAt(end - 1) == ']') {
      return host.substring(1, end - 1);
    }
    return end == host.length() ? host : host.substring(0, end);
  }

  /** {@code network.protocol.version} is the version alone: "1.1", "2". */
  private static String protocolVersion(String protocol) {
    if (protocol == null) {
      return null;
    }
    return protocol.startsWith("HTTP/") ? protocol.substring(5) : protocol;
  }

  private static ByteString id(long high, long low) {
    byte[] b = new byte[16];
    putLong(b, 0, high);
    putLong(b, 8, low);
    return ByteString.copyFrom(b);
  }

  private static ByteString id(long v) {
    byte[] b = new byte[8];
    putLong(b, 0, v);
    return ByteString.copyFrom(b);
  }

  private static void putLong(byte[] b, int at, long v) {
    for (int i = 7; i >= 0; i--) {
      b[at + i] = (byte) v;
      v >>>= 8;
    }
  }

  private static void addString(Span.Builder b, String key, String value) {
    if (value != null) {
      b.addAttributes(string(key, value));
    }
  }

  private static KeyValue string(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  private static KeyValue integer(String key, long value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setIntValue(value)).build();
  }
}
