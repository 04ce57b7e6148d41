package dev.sluice.kafka.twotier;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.ArrayValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.common.v1.KeyValueList;
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
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The data of the two-tier test, built here and only here (never from what the pipeline produced),
 * and the views it is compared through: every item flattened into its own resource and scope
 * envelope, keyed by span id (hex), metric name or log body.
 */
final class TwoTierData {
  private TwoTierData() {}

  static final int TRACES = 8;
  static final int TRACE_REQUESTS = 3;
  static final int METRIC_REQUESTS = 2;
  static final int LOG_REQUESTS = 3;
  private static final long T0 = 1_700_000_000_000_000_000L;
  private static final HexFormat HEX = HexFormat.of();

  // ------------------------------------------------------------------------------------------
  // Values

  static KeyValue kv(String key, AnyValue value) {
    return KeyValue.newBuilder().setKey(key).setValue(value).build();
  }

  static AnyValue str(String s) {
    return AnyValue.newBuilder().setStringValue(s).build();
  }

  static AnyValue integer(long v) {
    return AnyValue.newBuilder().setIntValue(v).build();
  }

  static AnyValue dbl(double v) {
    return AnyValue.newBuilder().setDoubleValue(v).build();
  }

  static AnyValue bool(boolean v) {
    return AnyValue.newBuilder().setBoolValue(v).build();
  }

  /** Attributes of every type OTLP has, so that both Kafka encodings must carry them all. */
  static List<KeyValue> richAttributes(String id, long n) {
    return List.of(
        kv("item.id", str(id)),
        kv("item.n", integer(n)),
        kv("item.big", integer(Long.MAX_VALUE - n)), // > 2^53: must survive JSON as a string
        kv("item.ratio", dbl(n / 8.0 + 0.125)),
        kv("item.even", bool(n % 2 == 0)),
        kv("item.tags", AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
            .addValues(str("a" + n)).addValues(integer(-n)).addValues(dbl(-0.5))).build()),
        kv("item.map", AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder()
            .addValues(kv("inner", str("v" + n))).addValues(kv("deep", AnyValue.newBuilder()
                .setKvlistValue(KeyValueList.newBuilder().addValues(kv("x", integer(n))))
                .build()))).build()),
        kv("item.raw", AnyValue.newBuilder()
            .setBytesValue(ByteString.copyFrom(new byte[] {0, (byte) n, (byte) 0xff, 7})).build()),
        kv("item.unicode", str("zürich ✓ " + n)));
  }

  static Resource resource(String service, int request) {
    return Resource.newBuilder()
        .addAttributes(kv("service.name", str(service)))
        .addAttributes(kv("edge.request", integer(request)))
        .build();
  }

  static InstrumentationScope scope(String name) {
    return InstrumentationScope.newBuilder().setName(name).setVersion("2.1.0")
        .addAttributes(kv("scope.attr", str(name))).build();
  }

  /** A non-zero 16-byte trace id of trace {@code t}. */
  static ByteString traceId(int t) {
    byte[] id = new byte[16];
    for (int i = 0; i < 16; i++) {
      id[i] = (byte) (0x11 * (i + 1) + t * 37);
    }
    id[0] = (byte) (0x40 | t);
    return ByteString.copyFrom(id);
  }

  /** A non-zero 8-byte span id, unique per {@code n}. */
  static ByteString spanId(int n) {
    byte[] id = new byte[8];
    id[0] = (byte) 0xa0;
    id[6] = (byte) (n >>> 8);
    id[7] = (byte) n;
    return ByteString.copyFrom(id);
  }

  static String hex(ByteString b) {
    return HEX.formatHex(b.toByteArray());
  }

  // ------------------------------------------------------------------------------------------
  // Requests

  /**
   * Trace requests: each request holds two resources, each resource a span of every trace, so
   * every trace is spread over all requests and resources ({@code TRACES * TRACE_REQUESTS * 2}
   * spans). The first span of a trace is its root; the others name it as parent.
   */
  static List<Message> traceRequests() {
    List<Message> out = new ArrayList<>();
    int n = 0;
    for (int r = 0; r < TRACE_REQUESTS; r++) {
      ExportTraceServiceRequest.Builder req = ExportTraceServiceRequest.newBuilder();
      for (int k = 0; k < 2; k++) {
        String service = k == 0 ? "checkout" : "payments";
        ScopeSpans.Builder ss = ScopeSpans.newBuilder().setScope(scope("lib-" + service))
            .setSchemaUrl("https://opentelemetry.io/schemas/1.21.0");
        for (int t = 0; t < TRACES; t++) {
          int spanNo = n++;
          boolean root = r == 0 && k == 0;
          Span.Builder span = Span.newBuilder()
              .setTraceId(traceId(t))
              .setSpanId(spanId(spanNo))
              .setTraceState("vendor=t" + t)
              .setName("op-" + service + "-r" + r + "-t" + t)
              .setKind(Span.SpanKind.forNumber(1 + spanNo % 5))
              .setStartTimeUnixNano(T0 + spanNo * 1000L)
              .setEndTimeUnixNano(T0 + spanNo * 1000L + 777)
              .addAllAttributes(richAttributes("span-" + spanNo, spanNo))
              .setDroppedAttributesCount(spanNo % 3)
              .addEvents(Span.Event.newBuilder().setName("event-" + spanNo)
                  .setTimeUnixNano(T0 + spanNo * 1000L + 5)
                  .addAttributes(kv("event.n", integer(spanNo))))
              .setStatus(Status.newBuilder().setCode(spanNo % 2 == 0 ? Status.StatusCode.STATUS_CODE_OK
                  : Status.StatusCode.STATUS_CODE_ERROR).setMessage(spanNo % 2 == 0 ? "" : "boom"))
              .setFlags(0x101);
          if (!root) {
            span.setParentSpanId(spanId(t)); // spans 0..TRACES-1 are the roots
            span.addLinks(Span.Link.newBuilder().setTraceId(traceId((t + 1) % TRACES))
                .setSpanId(spanId((t + 1) % TRACES)).addAttributes(kv("link", bool(true))));
          }
          ss.addSpans(span);
        }
        req.addResourceSpans(ResourceSpans.newBuilder().setResource(resource(service, r))
            .setSchemaUrl("https://opentelemetry.io/schemas/1.21.0").addScopeSpans(ss));
      }
      out.add(req.build());
    }
    return out;
  }

  /** Metric requests: per request two resources, each a gauge, a sum and a histogram. */
  static List<Message> metricRequests() {
    List<Message> out = new ArrayList<>();
    for (int r = 0; r < METRIC_REQUESTS; r++) {
      ExportMetricsServiceRequest.Builder req = ExportMetricsServiceRequest.newBuilder();
      for (int k = 0; k < 2; k++) {
        String service = k == 0 ? "inventory" : "search";
        String p = service + ".r" + r;
        Metric gauge = Metric.newBuilder().setName(p + ".temperature").setUnit("Cel")
            .setDescription("a gauge").setGauge(Gauge.newBuilder()
                .addDataPoints(NumberDataPoint.newBuilder().setTimeUnixNano(T0 + r)
                    .setAsDouble(21.5 + r + k).addAttributes(kv("room", str("a"))))
                .addDataPoints(NumberDataPoint.newBuilder().setTimeUnixNano(T0 + r)
                    .setAsDouble(-3.25 * (r + 1)).addAttributes(kv("room", str("b")))))
            .build();
        Metric sum = Metric.newBuilder().setName(p + ".requests").setUnit("{request}")
            .setSum(Sum.newBuilder().setIsMonotonic(true)
                .setAggregationTemporality(
                    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)
                .addDataPoints(NumberDataPoint.newBuilder().setStartTimeUnixNano(T0)
                    .setTimeUnixNano(T0 + 60 + r).setAsInt(9_007_199_254_740_993L + r)
                    .addAttributes(kv("code", integer(200))))
                .addDataPoints(NumberDataPoint.newBuilder().setStartTimeUnixNano(T0)
                    .setTimeUnixNano(T0 + 60 + r).setAsInt(17 + k)
                    .addAttributes(kv("code", integer(503)))))
            .build();
        Metric histogram = Metric.newBuilder().setName(p + ".latency").setUnit("ms")
            .setHistogram(Histogram.newBuilder()
                .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
                .addDataPoints(HistogramDataPoint.newBuilder().setStartTimeUnixNano(T0)
                    .setTimeUnixNano(T0 + 10).setCount(10 + r).setSum(123.5 + k)
                    .setMin(0.5).setMax(99.0)
                    .addAllExplicitBounds(List.of(1.0, 10.0, 100.0))
                    .addAllBucketCounts(List.of(2L, 3L, 4L, 1L + r))
                    .addAttributes(kv("route", str("/p" + k)))))
            .build();
        req.addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource(service, r))
            .addScopeMetrics(ScopeMetrics.newBuilder().setScope(scope("meter-" + service))
                .addMetrics(gauge).addMetrics(sum).addMetrics(histogram)));
      }
      out.add(req.build());
    }
    return out;
  }

  /** Log requests: per request two resources with three records each; some carry trace context. */
  static List<Message> logRequests() {
    List<Message> out = new ArrayList<>();
    int n = 0;
    for (int r = 0; r < LOG_REQUESTS; r++) {
      ExportLogsServiceRequest.Builder req = ExportLogsServiceRequest.newBuilder();
      for (int k = 0; k < 2; k++) {
        String service = k == 0 ? "auth" : "mailer";
        ScopeLogs.Builder sl = ScopeLogs.newBuilder().setScope(scope("logger-" + service));
        for (int i = 0; i < 3; i++) {
          int no = n++;
          LogRecord.Builder rec = LogRecord.newBuilder()
              .setTimeUnixNano(T0 + no)
              .setObservedTimeUnixNano(T0 + no + 50)
              .setSeverityNumber(SeverityNumber.forNumber(1 + no % 24))
              .setSeverityText("LEVEL" + no % 4)
              .setBody(str("log " + service + " r" + r + " #" + no + " — ünïcode"))
              .addAllAttributes(richAttributes("log-" + no, no))
              .setEventName(no % 2 == 0 ? "" : "event.log" + no);
          if (no % 3 == 0) {
            rec.setTraceId(traceId(no % TRACES)).setSpanId(spanId(no)).setFlags(1);
          }
          sl.addLogRecords(rec);
        }
        req.addResourceLogs(ResourceLogs.newBuilder().setResource(resource(service, r))
            .addScopeLogs(sl));
      }
      out.add(req.build());
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Views

  /**
   * Every item of {@code requests}, each in an envelope of its own resource and scope, by key: the
   * span id in hex, the metric name, the log body. A key that comes twice (a duplicate delivery)
   * has two entries in its list.
   */
  static Map<String, List<Message>> items(List<Message> requests) {
    Map<String, List<Message>> out = new TreeMap<>();
    for (Message m : requests) {
      if (m instanceof ExportTraceServiceRequest t) {
        for (ResourceSpans rs : t.getResourceSpansList()) {
          for (ScopeSpans ss : rs.getScopeSpansList()) {
            for (Span s : ss.getSpansList()) {
              Message item = rs.toBuilder().clearScopeSpans()
                  .addScopeSpans(ss.toBuilder().clearSpans().addSpans(s)).build();
              out.computeIfAbsent(hex(s.getSpanId()), x -> new ArrayList<>()).add(item);
            }
          }
        }
      } else if (m instanceof ExportMetricsServiceRequest mr) {
        for (ResourceMetrics rm : mr.getResourceMetricsList()) {
          for (ScopeMetrics sm : rm.getScopeMetricsList()) {
            for (Metric x : sm.getMetricsList()) {
              Message item = rm.toBuilder().clearScopeMetrics()
                  .addScopeMetrics(sm.toBuilder().clearMetrics().addMetrics(x)).build();
              out.computeIfAbsent(x.getName(), y -> new ArrayList<>()).add(item);
            }
          }
        }
      } else {
        for (ResourceLogs rl : ((ExportLogsServiceRequest) m).getResourceLogsList()) {
          for (ScopeLogs sl : rl.getScopeLogsList()) {
            for (LogRecord x : sl.getLogRecordsList()) {
              Message item = rl.toBuilder().clearScopeLogs()
                  .addScopeLogs(sl.toBuilder().clearLogRecords().addLogRecords(x)).build();
              out.computeIfAbsent(x.getBody().getStringValue(), y -> new ArrayList<>()).add(item);
            }
          }
        }
      }
    }
    return out;
  }

  /** Spans, metric data points or log records in {@code requests}. */
  static int itemCount(List<Message> requests) {
    int n = 0;
    for (Message m : requests) {
      if (m instanceof ExportTraceServiceRequest t) {
        for (ResourceSpans rs : t.getResourceSpansList()) {
          for (ScopeSpans ss : rs.getScopeSpansList()) {
            n += ss.getSpansCount();
          }
        }
      } else if (m instanceof ExportMetricsServiceRequest mr) {
        for (ResourceMetrics rm : mr.getResourceMetricsList()) {
          for (ScopeMetrics sm : rm.getScopeMetricsList()) {
            for (Metric x : sm.getMetricsList()) {
              n += switch (x.getDataCase()) {
                case GAUGE -> x.getGauge().getDataPointsCount();
                case SUM -> x.getSum().getDataPointsCount();
                case HISTOGRAM -> x.getHistogram().getDataPointsCount();
                case EXPONENTIAL_HISTOGRAM -> x.getExponentialHistogram().getDataPointsCount();
                case SUMMARY -> x.getSummary().getDataPointsCount();
                default -> 0;
              };
            }
          }
        }
      } else {
        for (ResourceLogs rl : ((ExportLogsServiceRequest) m).getResourceLogsList()) {
          for (ScopeLogs sl : rl.getScopeLogsList()) {
            n += sl.getLogRecordsCount();
          }
        }
      }
    }
    return n;
  }
}
