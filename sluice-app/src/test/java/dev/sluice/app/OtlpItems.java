package dev.sluice.app;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
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
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * OTLP test data for the forwarding tests, and the reverse: requests flattened into their items
 * (each span, metric or log record with its resource and scope), keyed by span id (hex), metric
 * name or log body, so that what a backend received can be compared with what was sent however
 * Sluice merged and cut the requests.
 */
public final class OtlpItems {
  private static final HexFormat HEX = HexFormat.of();
  private static final AtomicLong IDS = new AtomicLong(0x5100_0000L);
  private static final long T0 = 1_700_000_000_000_000_000L;

  private OtlpItems() {}

  /**
   * One item with where it came from. Equal items were sent and received with the same content:
   * the resource, its schema URL, the scope, its schema URL, and the span, metric or log record.
   */
  public record Item(String key, Signal signal, Resource resource, String resourceSchemaUrl,
      InstrumentationScope scope, String scopeSchemaUrl, Message item) {}

  // ---- building ------------------------------------------------------------------------------

  /** A fresh 16-byte trace id. */
  public static ByteString newTraceId() {
    long n = IDS.incrementAndGet();
    byte[] id = new byte[16];
    id[0] = 0x7e;
    for (int i = 0; i < 8; i++) {
      id[15 - i] = (byte) (n >>> (8 * i));
    }
    return ByteString.copyFrom(id);
  }

  /** A fresh 8-byte span id. */
  public static ByteString newSpanId() {
    long n = IDS.incrementAndGet();
    byte[] id = new byte[8];
    id[0] = 0x5a;
    for (int i = 0; i < 6; i++) {
      id[7 - i] = (byte) (n >>> (8 * i));
    }
    return ByteString.copyFrom(id);
  }

  public static String hex(ByteString b) {
    return HEX.formatHex(b.toByteArray());
  }

  public static KeyValue attr(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  public static KeyValue attr(String key, long value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setIntValue(value)).build();
  }

  /** A span with a few attributes, an event and a status, in trace {@code traceId}. */
  public static Span span(ByteString traceId, String name, KeyValue... attributes) {
    long start = T0 + IDS.get() * 1000;
    Span.Builder b = Span.newBuilder()
        .setTraceId(traceId)
        .setSpanId(newSpanId())
        .setParentSpanId(newSpanId())
        .setName(name)
        .setKind(Span.SpanKind.SPAN_KIND_SERVER)
        .setStartTimeUnixNano(start)
        .setEndTimeUnixNano(start + 1_234_567)
        .addAttributes(attr("http.route", "/items/{id}"))
        .addAttributes(attr("http.status_code", 200))
        .addEvents(Span.Event.newBuilder().setName("cache miss").setTimeUnixNano(start + 10)
            .addAttributes(attr("cache", "l2")))
        .setStatus(Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_OK));
    for (KeyValue a : attributes) {
      b.addAttributes(a);
    }
    return b.build();
  }

  /** Spans under one resource and scope. */
  public static ExportTraceServiceRequest traces(String service, List<Span> spans) {
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(resource(service))
            .setSchemaUrl("https://opentelemetry.io/schemas/1.24.0")
            .addScopeSpans(ScopeSpans.newBuilder()
                .setScope(InstrumentationScope.newBuilder().setName("forwarding-test")
                    .setVersion("1.0"))
                .addAllSpans(spans)))
        .build();
  }

  /** {@code n} spans, each in a trace of its own. */
  public static ExportTraceServiceRequest traces(String service, int n, KeyValue... attributes) {
    List<Span> spans = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      spans.add(span(newTraceId(), service + " op " + i, attributes));
    }
    return traces(service, spans);
  }

  /** One gauge, one cumulative sum and one histogram per name prefix given. */
  public static ExportMetricsServiceRequest metrics(String service, String... prefixes) {
    ScopeMetrics.Builder scope = ScopeMetrics.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName("forwarding-test-meter"));
    long t = T0 + IDS.incrementAndGet();
    for (String p : prefixes) {
      scope.addMetrics(Metric.newBuilder().setName(p + ".gauge").setUnit("1")
          .setGauge(Gauge.newBuilder().addDataPoints(NumberDataPoint.newBuilder()
              .setTimeUnixNano(t).setAsDouble(0.25).addAttributes(attr("cpu", 1)))));
      scope.addMetrics(Metric.newBuilder().setName(p + ".sum").setDescription("requests")
          .setSum(Sum.newBuilder().setIsMonotonic(true)
              .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)
              .addDataPoints(NumberDataPoint.newBuilder().setStartTimeUnixNano(t - 5)
                  .setTimeUnixNano(t).setAsInt(42).addAttributes(attr("route", "/a")))
              .addDataPoints(NumberDataPoint.newBuilder().setStartTimeUnixNano(t - 5)
                  .setTimeUnixNano(t).setAsInt(7).addAttributes(attr("route", "/b")))));
      scope.addMetrics(Metric.newBuilder().setName(p + ".histogram").setUnit("ms")
          .setHistogram(Histogram.newBuilder()
              .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
              .addDataPoints(HistogramDataPoint.newBuilder().setStartTimeUnixNano(t - 5)
                  .setTimeUnixNano(t).setCount(6).setSum(21.5)
                  .addExplicitBounds(1).addExplicitBounds(10)
                  .addBucketCounts(1).addBucketCounts(3).addBucketCounts(2))));
    }
    return ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource(service))
            .addScopeMetrics(scope))
        .build();
  }

  /** One log record per body given. */
  public static ExportLogsServiceRequest logs(String service, String... bodies) {
    ScopeLogs.Builder scope = ScopeLogs.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName("forwarding-test-logger"));
    for (String body : bodies) {
      long t = T0 + IDS.incrementAndGet();
      scope.addLogRecords(LogRecord.newBuilder().setTimeUnixNano(t).setObservedTimeUnixNano(t + 1)
          .setSeverityNumber(SeverityNumber.SEVERITY_NUMBER_WARN).setSeverityText("WARN")
          .setBody(AnyValue.newBuilder().setStringValue(body))
          .addAttributes(attr("thread", "main"))
          .setTraceId(newTraceId()).setSpanId(newSpanId()));
    }
    return ExportLogsServiceRequest.newBuilder()
        .addResourceLogs(ResourceLogs.newBuilder().setResource(resource(service))
            .addScopeLogs(scope))
        .build();
  }

  private static Resource resource(String service) {
    return Resource.newBuilder().addAttributes(attr("service.name", service))
        .addAttributes(attr("host.name", "test-host")).build();
  }

  // ---- flattening -----------------------------------------------------------------------------

  /** Every item of a request, with its resource and scope. */
  public static List<Item> items(Message request) {
    List<Item> out = new ArrayList<>();
    if (request instanceof ExportTraceServiceRequest t) {
      for (ResourceSpans rs : t.getResourceSpansList()) {
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          for (Span s : ss.getSpansList()) {
            out.add(new Item(hex(s.getSpanId()), Signal.TRACES, rs.getResource(),
                rs.getSchemaUrl(), ss.getScope(), ss.getSchemaUrl(), s));
          }
        }
      }
    } else if (request instanceof ExportMetricsServiceRequest m) {
      for (ResourceMetrics rm : m.getResourceMetricsList()) {
        for (ScopeMetrics sm : rm.getScopeMetricsList()) {
          for (Metric metric : sm.getMetricsList()) {
            out.add(new Item(metric.getName(), Signal.METRICS, rm.getResource(),
                rm.getSchemaUrl(), sm.getScope(), sm.getSchemaUrl(), metric));
          }
        }
      }
    } else if (request instanceof ExportLogsServiceRequest l) {
      for (ResourceLogs rl : l.getResourceLogsList()) {
        for (ScopeLogs sl : rl.getScopeLogsList()) {
          for (LogRecord r : sl.getLogRecordsList()) {
            out.add(new Item(r.getBody().getStringValue(), Signal.LOGS, rl.getResource(),
                rl.getSchemaUrl(), sl.getScope(), sl.getSchemaUrl(), r));
          }
        }
      }
    } else {
      throw new IllegalArgumentException("not an export request: " + request);
    }
    return out;
  }

  /** The keys of a request's items: span ids (hex), metric names, log bodies. */
  public static List<String> keys(Message request) {
    return items(request).stream().map(Item::key).toList();
  }

  /** The trace id (hex) of every span of a request, by span id. */
  public static java.util.Map<String, String> traceIdsBySpanId(ExportTraceServiceRequest r) {
    java.util.Map<String, String> out = new java.util.HashMap<>();
    for (ResourceSpans rs : r.getResourceSpansList()) {
      for (ScopeSpans ss : rs.getScopeSpansList()) {
        for (Span s : ss.getSpansList()) {
          out.put(hex(s.getSpanId()), hex(s.getTraceId()));
        }
      }
    }
    return out;
  }
}
