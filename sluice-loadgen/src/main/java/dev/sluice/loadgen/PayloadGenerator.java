package dev.sluice.loadgen;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.logs.v1.SeverityNumber;
import io.opentelemetry.proto.metrics.v1.AggregationTemporality;
import io.opentelemetry.proto.metrics.v1.Gauge;
import io.opentelemetry.proto.metrics.v1.Histogram;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.metrics.v1.Sum;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Synthetic OTLP export requests that look like what an instrumented HTTP service sends, built
 * once as a template and stamped per request: request {@code r} is the template with every trace
 * id, span id and timestamp replaced by the values {@link Ids} computes from {@code (seed, r, item
 * index)}. The same {@code (signal, items, attributes, seed)} therefore gives byte-identical
 * requests for the same index in every run, in protobuf and in JSON, and different indexes give
 * different ids.
 *
 * <ul>
 *   <li>traces: {@code items} spans in traces of {@value Ids#ITEMS_PER_TRACE} (a server span and
 *       its database and HTTP client children, with parent ids, statuses, some errors);
 *   <li>metrics: {@code items} data points, up to ten series per metric (a {@code loadgen.series}
 *       attribute tells them apart), cycling through cumulative sums, gauges and histograms, all
 *       dated {@code Ids.BASE_NANOS + r} ms;
 *   <li>logs: {@code items} log records with severities, bodies and the trace and span ids of the
 *       same positions in the traces signal.
 * </ul>
 *
 * <p>Each item has exactly {@code attributes} attributes: realistic keys and values (semantic
 * conventions) first, then {@code app.attr.N} fillers of string, int, bool and double values. All
 * other values (names, durations, attribute values) come from a {@link Random} seeded with {@code
 * seed} and are the same in every request. Every item passes Sluice's item rules.
 *
 * <p>Stamping a request costs a copy of the template and a few stores per item; {@link #writeBody}
 * allocates nothing. Immutable and thread-safe.
 */
public final class PayloadGenerator {
  private static final byte TRACE_ID = 0;
  private static final byte SPAN_ID = 1;
  private static final byte TIME = 2;
  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  private static final int TIME_DIGITS = 19;

  private final Signal signal;
  private final int items;
  private final int attributes;
  private final long seed;
  private final byte[] protobuf;
  private final byte[] json;
  // One entry per stamped field, in template order.
  private final byte[] kinds;
  private final int[] args;
  private final long[] timeBase;
  private final int[] protobufAt;
  private final int[] jsonAt;

  private PayloadGenerator(Signal signal, int items, int attributes, long seed, Template t) {
    this.signal = signal;
    this.items = items;
    this.attributes = attributes;
    this.seed = seed;
    this.protobuf = t.protobuf;
    this.json = t.json;
    this.kinds = t.kinds;
    this.args = t.args;
    this.timeBase = t.timeBase;
    this.protobufAt = t.protobufAt;
    this.jsonAt = t.jsonAt;
  }

  /**
   * @param items spans, data points or log records per request, at least 1
   * @param attributes attributes per item, 0 or more
   * @param seed decides every id and value; the same seed gives the same requests
   */
  public static PayloadGenerator create(Signal signal, int items, int attributes, long seed) {
    if (items < 1) {
      throw new IllegalArgumentException("items per request must be at least 1: " + items);
    }
    if (attributes < 0) {
      throw new IllegalArgumentException("attributes per item must not be negative: " + attributes);
    }
    // The markers are random; the chance that one also occurs elsewhere in the encoding is about
    // 2^-40, and a template where that happens is simply built again with other markers.
    for (int attempt = 0; attempt < 8; attempt++) {
      Template t = Template.build(signal, items, attributes, seed, attempt);
      if (t != null) {
        return new PayloadGenerator(signal, items, attributes, seed, t);
      }
    }
    throw new IllegalStateException("cannot build a payload template");
  }

  public Signal signal() {
    return signal;
  }

  /** Items per request. */
  public int items() {
    return items;
  }

  /** Attributes per item. */
  public int attributes() {
    return attributes;
  }

  public long seed() {
    return seed;
  }

  /** The size of every request body in {@code encoding}, uncompressed; the same for every index. */
  public int bodySize(Encoding encoding) {
    return encoding == Encoding.JSON ? json.length : protobuf.length;
  }

  /** Appends request {@code request}'s body in {@code encoding} to {@code out}. */
  public void writeBody(long request, Encoding encoding, ByteBuf out) {
    if (request < 0) {
      throw new IllegalArgumentException("request index must not be negative: " + request);
    }
    int base = out.writerIndex();
    if (encoding == Encoding.JSON) {
      out.writeBytes(json);
      stampJson(request, out, base);
    } else {
      out.writeBytes(protobuf);
      stampProtobuf(request, out, base);
    }
  }

  /** Request {@code request}'s body in {@code encoding}, as a new array. */
  public byte[] body(long request, Encoding encoding) {
    byte[] out = new byte[bodySize(encoding)];
    ByteBuf buf = Unpooled.wrappedBuffer(out).writerIndex(0);
    try {
      writeBody(request, encoding, buf);
    } finally {
      buf.release();
    }
    return out;
  }

  /** Request {@code request} as a message: an {@code Export*ServiceRequest} of {@link #signal()}. */
  public Message request(long request) {
    byte[] b = body(request, Encoding.PROTOBUF);
    try {
      return signal.parseRequest(b, 0, b.length);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("the template does not parse", e);
    }
  }

  private void stampProtobuf(long request, ByteBuf out, int base) {
    for (int i = 0; i < kinds.length; i++) {
      int at = base + protobufAt[i];
      switch (kinds[i]) {
        case TRACE_ID:
          out.setLong(at, Ids.traceIdHigh(seed, request, args[i]));
          out.setLong(at + 8, Ids.traceIdLow(seed, request, args[i]));
          break;
        case SPAN_ID:
          out.setLong(at, Ids.spanIdLong(seed, request, args[i]));
          break;
        default:
          out.setLongLE(at, timeBase[i] + request * Ids.REQUEST_SPACING_NANOS);
      }
    }
  }

  private void stampJson(long request, ByteBuf out, int base) {
    for (int i = 0; i < kinds.length; i++) {
      int at = base + jsonAt[i];
      switch (kinds[i]) {
        case TRACE_ID:
          hex(out, at, Ids.traceIdHigh(seed, request, args[i]));
          hex(out, at + 16, Ids.traceIdLow(seed, request, args[i]));
          break;
        case SPAN_ID:
          hex(out, at, Ids.spanIdLong(seed, request, args[i]));
          break;
        default:
          long v = timeBase[i] + request * Ids.REQUEST_SPACING_NANOS;
          for (int d = TIME_DIGITS - 1; d >= 0; d--) {
            out.setByte(at + d, '0' + (int) (v % 10));
            v /= 10;
          }
      }
    }
  }

  private static void hex(ByteBuf out, int at, long v) {
    for (int i = 0; i < 16; i++) {
      out.setByte(at + i, HEX[(int) (v >>> (60 - 4 * i)) & 0xf]);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The template

  /** The encodings of one request with marker values where the stamped fields go, and where. */
  private static final class Template {
    byte[] protobuf;
    byte[] json;
    byte[] kinds;
    int[] args;
    long[] timeBase;
    int[] protobufAt;
    int[] jsonAt;

    /** Returns null when a marker is not found exactly once in each encoding. */
    static Template build(Signal signal, int items, int attributes, long seed, int attempt) {
      Markers m = new Markers(new Random(0x5eed_0000L + attempt));
      Random r = new Random(seed);
      Message msg;
      switch (signal) {
        case TRACES:
          msg = traces(items, attributes, r, m);
          break;
        case METRICS:
          msg = metrics(items, attributes, r, m);
          break;
        default:
          msg = logs(items, attributes, r, m);
      }
      Template t = new Template();
      t.protobuf = msg.toByteArray();
      t.json = OtlpJsonCodec.toJsonBytes(msg);
      int n = m.kinds.size();
      t.kinds = new byte[n];
      t.args = new int[n];
      t.timeBase = new long[n];
      for (int i = 0; i < n; i++) {
        t.kinds[i] = m.kinds.get(i);
        t.args[i] = m.args.get(i);
        t.timeBase[i] = m.timeBase.get(i);
      }
      t.protobufAt = m.findInProtobuf(t.protobuf);
      t.jsonAt = m.findInJson(t.json);
      return t.protobufAt == null || t.jsonAt == null ? null : t;
    }
  }

  /**
   * Hands out unique random marker values for the stamped fields and finds them again in the
   * encodings: ids by their raw bytes or hex, timestamps (19 decimal digits) by their fixed64
   * bytes or their decimal string.
   */
  private static final class Markers {
    private final Random random;
    final List<Byte> kinds = new ArrayList<>();
    final List<Integer> args = new ArrayList<>();
    final List<Long> timeBase = new ArrayList<>();
    /** The big-endian long at a field's first byte in protobuf, to the field's number. */
    private final Map<Long, Integer> byKey = new HashMap<>();
    /** The second half of trace id markers, checked after the key matched. */
    private final Map<Integer, Long> traceLow = new HashMap<>();
    private final Map<String, Integer> byText = new HashMap<>();

    Markers(Random random) {
      this.random = random;
    }

    ByteString traceId(int trace) {
      long hi = uniqueKey(random.nextLong());
      long lo = random.nextLong();
      int n = add(TRACE_ID, trace, 0, hi, hexOf(hi) + hexOf(lo));
      traceLow.put(n, lo);
      return ByteString.copyFrom(bytes(hi, lo));
    }

    ByteString spanId(int item) {
      long v = uniqueKey(random.nextLong());
      add(SPAN_ID, item, 0, v, hexOf(v));
      return ByteString.copyFrom(bytes(v));
    }

    /** A timestamp field that request {@code r} sets to {@code BASE_NANOS + offset + r} ms. */
    long time(long offsetNanos) {
      long v;
      do {
        v = 1_000_000_000_000_000_000L + Math.floorMod(random.nextLong(), 8_000_000_000_000_000_000L);
      } while (byKey.containsKey(Long.reverseBytes(v)));
      add(TIME, 0, Ids.BASE_NANOS + offsetNanos, Long.reverseBytes(v), Long.toString(v));
      return v;
    }

    private long uniqueKey(long v) {
      while (v == 0 || byKey.containsKey(v)) {
        v = random.nextLong();
      }
      return v;
    }

    private int add(byte kind, int arg, long base, long key, String text) {
      int n = kinds.size();
      kinds.add(kind);
      args.add(arg);
      timeBase.add(base);
      byKey.put(key, n);
      byText.put(text, n);
      return n;
    }

    int[] findInProtobuf(byte[] b) {
      int[] at = new int[kinds.size()];
      java.util.Arrays.fill(at, -1);
      ByteBuf buf = Unpooled.wrappedBuffer(b);
      try {
        for (int p = 0; p + 8 <= b.length; p++) {
          Integer n = byKey.get(buf.getLong(p));
          if (n == null) {
            continue;
          }
          if (kinds.get(n) == TRACE_ID
              && (p + 16 > b.length || buf.getLong(p + 8) != traceLow.get(n))) {
            continue;
          }
          if (at[n] != -1) {
            return null; // twice
          }
          at[n] = p;
        }
      } finally {
        buf.release();
      }
      for (int p : at) {
        if (p < 0) {
          return null;
        }
      }
      return at;
    }

    int[] findInJson(byte[] b) {
      int[] at = new int[kinds.size()];
      java.util.Arrays.fill(at, -1);
      int i = 0;
      while (i < b.length) {
        if (b[i] != '"') {
          i++;
          continue;
        }
        int j = i + 1;
        while (j < b.length && b[j] != '"') {
          j += b[j] == '\\' ? 2 : 1;
        }
        int len = j - i - 1;
        if (len == 16 || len == 32 || len == TIME_DIGITS) {
          Integer n = byText.get(new String(b, i + 1, len, StandardCharsets.ISO_8859_1));
          if (n != null) {
            if (at[n] != -1) {
              return null;
            }
            at[n] = i + 1;
          }
        }
        i = j + 1;
      }
      for (int p : at) {
        if (p < 0) {
          return null;
        }
      }
      return at;
    }

    private static String hexOf(long v) {
      String h = Long.toHexString(v);
      return "0".repeat(16 - h.length()) + h;
    }

    private static byte[] bytes(long... halves) {
      byte[] b = new byte[halves.length * 8];
      for (int h = 0; h < halves.length; h++) {
        long v = halves[h];
        for (int i = 7; i >= 0; i--) {
          b[h * 8 + i] = (byte) v;
          v >>>= 8;
        }
      }
      return b;
    }
  }

  // -------------------------------------------------------------------------------------------
  // What the items look like

  private static final String[] ROUTES = {
    "/api/v1/orders/{id}", "/api/v1/orders", "/api/v1/cart", "/api/v1/products/{sku}",
    "/api/v1/users/{id}/profile", "/healthz", "/api/v1/checkout", "/api/v1/search"
  };
  private static final String[] METHODS = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
  private static final String[] DB_STATEMENTS = {
    "SELECT id, status, total FROM orders WHERE id = $1",
    "SELECT sku, name, price FROM products WHERE sku = ANY($1)",
    "UPDATE carts SET updated_at = now() WHERE user_id = $1",
    "INSERT INTO order_items (order_id, sku, qty) VALUES ($1, $2, $3)"
  };
  private static final String[] PEERS = {
    "inventory.internal", "payments.internal", "users.internal", "search.internal"
  };
  private static final String USER_AGENT =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0";
  private static final String SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0";

  private static Resource resource() {
    return Resource.newBuilder()
        .addAttributes(str("service.name", "checkout"))
        .addAttributes(str("service.namespace", "shop"))
        .addAttributes(str("service.version", "2.14.3"))
        .addAttributes(str("deployment.environment.name", "production"))
        .addAttributes(str("host.name", "checkout-7d9f8b6c5-x2k4q"))
        .addAttributes(str("telemetry.sdk.language", "java"))
        .build();
  }

  private static ExportTraceServiceRequest traces(int items, int attributes, Random r, Markers m) {
    ScopeSpans.Builder scope = ScopeSpans.newBuilder()
        .setScope(InstrumentationScope.newBuilder()
            .setName("io.opentelemetry.tomcat-10.0").setVersion("2.8.0-alpha"))
        .setSchemaUrl(SCHEMA_URL);
    long traceStart = 0;
    for (int i = 0; i < items; i++) {
      int trace = Ids.traceOf(i);
      boolean root = i % Ids.ITEMS_PER_TRACE == 0;
      if (root) {
        traceStart += 1_000_000L + r.nextInt(50_000_000);
      }
      long start = root ? traceStart : traceStart + 100_000L + r.nextInt(5_000_000);
      long duration = root ? 20_000_000L + r.nextInt(80_000_000) : 200_000L + r.nextInt(15_000_000);
      Span.Builder span = Span.newBuilder()
          .setTraceId(m.traceId(trace))
          .setSpanId(m.spanId(i))
          .setStartTimeUnixNano(m.time(start))
          .setEndTimeUnixNano(m.time(start + duration));
      if (!root) {
        span.setParentSpanId(m.spanId(i - i % Ids.ITEMS_PER_TRACE));
      }
      boolean error = r.nextInt(20) == 0;
      List<KeyValue> attrs = new ArrayList<>(Math.max(attributes, 10));
      if (root) {
        serverSpan(span, attrs, r, error);
      } else if (i % 2 == 0) {
        dbSpan(span, attrs, r);
      } else {
        clientSpan(span, attrs, r, error);
      }
      span.addAllAttributes(fit(attrs, attributes, r));
      span.setStatus(error
          ? Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_ERROR)
              .setMessage("upstream returned 503").build()
          : Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_UNSET).build());
      scope.addSpans(span);
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(resource()).addScopeSpans(scope).setSchemaUrl(SCHEMA_URL))
        .build();
  }

  private static void serverSpan(Span.Builder span, List<KeyValue> a, Random r, boolean error) {
    String method = METHODS[r.nextInt(METHODS.length)];
    String route = ROUTES[r.nextInt(ROUTES.length)];
    span.setName(method + " " + route).setKind(Span.SpanKind.SPAN_KIND_SERVER);
    a.add(str("http.request.method", method));
    a.add(str("http.route", route));
    a.add(str("url.path", route.replace("{id}", Integer.toString(r.nextInt(1_000_000)))
        .replace("{sku}", "SKU-" + r.nextInt(100_000))));
    a.add(str("url.scheme", "https"));
    a.add(integer("http.response.status_code", error ? 503 : 200));
    a.add(str("client.address", "10.12." + r.nextInt(256) + "." + r.nextInt(256)));
    a.add(integer("server.port", 8080));
    a.add(str("user_agent.original", USER_AGENT));
    a.add(bool("http.request.resent", false));
    a.add(dbl("app.cart.total", Math.round(r.nextDouble() * 50_000) / 100.0));
  }

  private static void dbSpan(Span.Builder span, List<KeyValue> a, Random r) {
    String statement = DB_STATEMENTS[r.nextInt(DB_STATEMENTS.length)];
    String operation = statement.substring(0, statement.indexOf(' '));
    span.setName(operation + " shop").setKind(Span.SpanKind.SPAN_KIND_CLIENT);
    a.add(str("db.system", "postgresql"));
    a.add(str("db.namespace", "shop"));
    a.add(str("db.query.text", statement));
    a.add(str("db.operation.name", operation));
    a.add(str("server.address", "pg-primary.internal"));
    a.add(integer("server.port", 5432));
    a.add(integer("db.response.returned_rows", r.nextInt(200)));
    a.add(bool("db.statement.prepared", r.nextBoolean()));
    a.add(dbl("db.client.connection.wait_ms", r.nextInt(5000) / 1000.0));
    a.add(str("thread.name", "http-nio-8080-exec-" + (1 + r.nextInt(200))));
  }

  private static void clientSpan(Span.Builder span, List<KeyValue> a, Random r, boolean error) {
    String peer = PEERS[r.nextInt(PEERS.length)];
    span.setName("POST").setKind(Span.SpanKind.SPAN_KIND_CLIENT);
    a.add(str("http.request.method", "POST"));
    a.add(str("url.full", "http://" + peer + "/v2/reserve?items=" + r.nextInt(20)));
    a.add(str("server.address", peer));
    a.add(integer("server.port", 80));
    a.add(integer("http.response.status_code", error ? 503 : 200));
    a.add(integer("http.request.body.size", 200 + r.nextInt(4000)));
    a.add(str("network.protocol.version", "1.1"));
    a.add(bool("app.retry", r.nextInt(10) == 0));
    a.add(dbl("app.retry.backoff_s", r.nextInt(100) / 10.0));
    a.add(str("thread.name", "http-nio-8080-exec-" + (1 + r.nextInt(200))));
  }

  private static final String[][] METRICS = {
    {"http.server.request.body.size", "By", "Size of HTTP server request bodies."},
    {"http.server.active_requests", "{request}", "Number of active HTTP server requests."},
    {"http.server.request.duration", "s", "Duration of HTTP server requests."},
    {"db.client.operation.count", "{operation}", "Database operations."},
    {"jvm.memory.used", "By", "Measure of memory used."},
    {"http.client.request.duration", "s", "Duration of HTTP client requests."},
    {"app.orders.placed", "{order}", "Orders placed."},
    {"jvm.cpu.recent_utilization", "1", "Recent CPU utilization for the process."},
    {"db.client.operation.duration", "s", "Duration of database client operations."},
  };
  private static final List<Double> BOUNDS =
      List.of(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0);

  private static ExportMetricsServiceRequest metrics(int items, int attributes, Random r,
      Markers m) {
    ScopeMetrics.Builder scope = ScopeMetrics.newBuilder()
        .setScope(InstrumentationScope.newBuilder()
            .setName("io.opentelemetry.sdk.metrics").setVersion("1.42.0"))
        .setSchemaUrl(SCHEMA_URL);
    // Points of one metric need distinct attributes to be distinct series.
    int perMetric = attributes == 0 ? 1 : Math.min(10, items);
    long start = -60_000_000_000L; // the cumulative series started a minute before request 0
    int item = 0;
    for (int metric = 0; item < items; metric++) {
      String[] def = METRICS[metric % METRICS.length];
      String name = def[0] + (metric >= METRICS.length ? "." + metric / METRICS.length : "");
      Metric.Builder mb = Metric.newBuilder().setName(name).setUnit(def[1])
          .setDescription(def[2]);
      int points = Math.min(perMetric, items - item);
      switch (metric % 3) {
        case 0: {
          Sum.Builder sum = Sum.newBuilder().setIsMonotonic(true)
              .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
          for (int p = 0; p < points; p++) {
            sum.addDataPoints(NumberDataPoint.newBuilder()
                .addAllAttributes(pointAttributes(p, attributes, r))
                .setStartTimeUnixNano(Ids.BASE_NANOS + start)
                .setTimeUnixNano(m.time(0))
                .setAsInt(r.nextInt(1_000_000)));
          }
          mb.setSum(sum);
          break;
        }
        case 1: {
          Gauge.Builder gauge = Gauge.newBuilder();
          for (int p = 0; p < points; p++) {
            gauge.addDataPoints(NumberDataPoint.newBuilder()
                .addAllAttributes(pointAttributes(p, attributes, r))
                .setTimeUnixNano(m.time(0))
                .setAsDouble(Math.round(r.nextDouble() * 1_000_000) / 1000.0));
          }
          mb.setGauge(gauge);
          break;
        }
        default: {
          Histogram.Builder h = Histogram.newBuilder()
              .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
          for (int p = 0; p < points; p++) {
            HistogramDataPoint.Builder dp = HistogramDataPoint.newBuilder()
                .addAllAttributes(pointAttributes(p, attributes, r))
                .setStartTimeUnixNano(Ids.BASE_NANOS + start)
                .setTimeUnixNano(m.time(0))
                .addAllExplicitBounds(BOUNDS);
            long count = 0;
            double total = 0;
            for (int b = 0; b <= BOUNDS.size(); b++) {
              int c = r.nextInt(500);
              dp.addBucketCounts(c);
              count += c;
              total += c * (b < BOUNDS.size() ? BOUNDS.get(b) : 12.0) * 0.7;
            }
            h.addDataPoints(dp.setCount(count).setSum(Math.round(total * 1000) / 1000.0)
                .setMin(0.001).setMax(11.5));
          }
          mb.setHistogram(h);
        }
      }
      scope.addMetrics(mb);
      item += points;
    }
    return ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder()
            .setResource(resource()).addScopeMetrics(scope).setSchemaUrl(SCHEMA_URL))
        .build();
  }

  private static List<KeyValue> pointAttributes(int series, int attributes, Random r) {
    List<KeyValue> a = new ArrayList<>(Math.max(attributes, 8));
    a.add(integer("loadgen.series", series));
    a.add(str("http.request.method", METHODS[r.nextInt(METHODS.length)]));
    a.add(str("http.route", ROUTES[r.nextInt(ROUTES.length)]));
    a.add(integer("http.response.status_code", r.nextInt(20) == 0 ? 503 : 200));
    a.add(str("url.scheme", "https"));
    a.add(str("server.address", "checkout.shop.internal"));
    a.add(integer("server.port", 8080));
    a.add(str("network.protocol.version", "1.1"));
    return fit(a, attributes, r);
  }

  private static final String[] LOG_MESSAGES = {
    "order %d placed with %d items",
    "payment authorised for order %d after %d ms",
    "cart %d updated, %d items",
    "inventory reservation for order %d took %d ms",
    "slow query on orders (%d ms, %d rows)",
    "user %d signed in from a new device (%d)",
  };
  private static final SeverityNumber[] SEVERITIES = {
    SeverityNumber.SEVERITY_NUMBER_INFO, SeverityNumber.SEVERITY_NUMBER_INFO,
    SeverityNumber.SEVERITY_NUMBER_INFO, SeverityNumber.SEVERITY_NUMBER_DEBUG,
    SeverityNumber.SEVERITY_NUMBER_WARN, SeverityNumber.SEVERITY_NUMBER_ERROR,
  };

  private static ExportLogsServiceRequest logs(int items, int attributes, Random r, Markers m) {
    ScopeLogs.Builder scope = ScopeLogs.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName("com.example.shop.checkout"))
        .setSchemaUrl(SCHEMA_URL);
    long time = 0;
    for (int i = 0; i < items; i++) {
      time += 100_000L + r.nextInt(2_000_000);
      SeverityNumber severity = SEVERITIES[r.nextInt(SEVERITIES.length)];
      String message = String.format(java.util.Locale.ROOT,
          LOG_MESSAGES[r.nextInt(LOG_MESSAGES.length)], r.nextInt(1_000_000), r.nextInt(2_000));
      List<KeyValue> a = new ArrayList<>(Math.max(attributes, 10));
      String route = ROUTES[r.nextInt(ROUTES.length)];
      a.add(str("http.request.method", METHODS[r.nextInt(METHODS.length)]));
      a.add(str("http.route", route));
      a.add(integer("http.response.status_code",
          severity == SeverityNumber.SEVERITY_NUMBER_ERROR ? 500 : 200));
      a.add(str("code.function.name", "com.example.shop.checkout.OrderService.place"));
      a.add(integer("code.line.number", 40 + r.nextInt(400)));
      a.add(str("thread.name", "http-nio-8080-exec-" + (1 + r.nextInt(200))));
      a.add(str("client.address", "10.12." + r.nextInt(256) + "." + r.nextInt(256)));
      a.add(str("user_agent.original", USER_AGENT));
      a.add(bool("app.feature.new_checkout", r.nextBoolean()));
      a.add(dbl("app.latency_ms", r.nextInt(100_000) / 100.0));
      scope.addLogRecords(LogRecord.newBuilder()
          .setTimeUnixNano(m.time(time))
          .setObservedTimeUnixNano(m.time(time + 50_000L + r.nextInt(500_000)))
          .setSeverityNumber(severity)
          .setSeverityText(severityText(severity))
          .setBody(AnyValue.newBuilder().setStringValue(message))
          .addAllAttributes(fit(a, attributes, r))
          .setFlags(1)
          .setTraceId(m.traceId(Ids.traceOf(i)))
          .setSpanId(m.spanId(i)));
    }
    return ExportLogsServiceRequest.newBuilder()
        .addResourceLogs(ResourceLogs.newBuilder()
            .setResource(resource()).addScopeLogs(scope).setSchemaUrl(SCHEMA_URL))
        .build();
  }

  private static String severityText(SeverityNumber s) {
    switch (s) {
      case SEVERITY_NUMBER_DEBUG:
        return "DEBUG";
      case SEVERITY_NUMBER_WARN:
        return "WARN";
      case SEVERITY_NUMBER_ERROR:
        return "ERROR";
      default:
        return "INFO";
    }
  }

  /** Cuts the realistic attributes to {@code n}, or adds {@code app.attr.K} fillers up to it. */
  private static List<KeyValue> fit(List<KeyValue> a, int n, Random r) {
    if (a.size() >= n) {
      return a.subList(0, n);
    }
    for (int k = a.size(); k < n; k++) {
      String key = "app.attr." + k;
      switch (k % 4) {
        case 0:
          a.add(str(key, "value-" + k + "-" + Integer.toHexString(r.nextInt())));
          break;
        case 1:
          a.add(integer(key, r.nextInt(1_000_000)));
          break;
        case 2:
          a.add(bool(key, r.nextBoolean()));
          break;
        default:
          a.add(dbl(key, r.nextInt(1_000_000) / 100.0));
      }
    }
    return a;
  }

  private static KeyValue str(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  private static KeyValue integer(String key, long value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setIntValue(value)).build();
  }

  private static KeyValue bool(String key, boolean value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setBoolValue(value)).build();
  }

  private static KeyValue dbl(String key, double value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setDoubleValue(value)).build();
  }
}
