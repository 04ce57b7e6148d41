package dev.sluice.exporter.otlp.testdata;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.TelemetryBatch;
import io.netty.buffer.ByteBufAllocator;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
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
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * OTLP requests for tests, built with the protobuf classes (not with the code under test), and
 * helpers to flatten them into (resource, scope, item) triples for comparing what arrived with
 * what was sent.
 */
public final class TestData {
  private TestData() {}

  public static KeyValue attr(String k, String v) {
    return KeyValue.newBuilder().setKey(k).setValue(AnyValue.newBuilder().setStringValue(v))
        .build();
  }

  public static Resource resource(String service) {
    return Resource.newBuilder().addAttributes(attr("service.name", service)).build();
  }

  public static InstrumentationScope scope(String name) {
    return InstrumentationScope.newBuilder().setName(name).setVersion("1.0").build();
  }

  public static byte[] traceId(int n) {
    return ByteBuffer.allocate(16).putLong(0x1122334455667788L).putLong(n + 1L).array();
  }

  public static byte[] spanId(long n) {
    return ByteBuffer.allocate(8).putLong(n + 1).array();
  }

  public static Span span(int trace, long id, int padding) {
    Span.Builder b = Span.newBuilder()
        .setTraceId(ByteString.copyFrom(traceId(trace)))
        .setSpanId(ByteString.copyFrom(spanId(id)))
        .setName("span-" + trace + "-" + id)
        .setKind(Span.SpanKind.SPAN_KIND_SERVER)
        .setStartTimeUnixNano(1_700_000_000_000_000_000L + id)
        .setEndTimeUnixNano(1_700_000_000_000_100_000L + id);
    if (padding > 0) {
      b.addAttributes(attr("padding", "x".repeat(padding)));
    }
    return b.build();
  }

  /**
   * Traces over {@code resources} resources of {@code scopes} scopes each, {@code spansPerScope}
   * spans per scope; span {@code i} of the request belongs to trace {@code i % traces}.
   */
  public static ExportTraceServiceRequest traces(int resources, int scopes, int spansPerScope,
      int traces, int padding) {
    ExportTraceServiceRequest.Builder req = ExportTraceServiceRequest.newBuilder();
    long n = 0;
    for (int r = 0; r < resources; r++) {
      ResourceSpans.Builder rs = ResourceSpans.newBuilder().setResource(resource("svc-" + r))
          .setSchemaUrl("https://opentelemetry.io/schemas/1.21.0");
      for (int s = 0; s < scopes; s++) {
        ScopeSpans.Builder ss = ScopeSpans.newBuilder().setScope(scope("lib-" + r + "-" + s));
        for (int i = 0; i < spansPerScope; i++) {
          ss.addSpans(span((int) (n % traces), n, padding));
          n++;
        }
        rs.addScopeSpans(ss);
      }
      req.addResourceSpans(rs);
    }
    return req.build();
  }

  /** Each metric is a gauge, a sum or a histogram with {@code pointsPerMetric} points. */
  public static ExportMetricsServiceRequest metrics(int resources, int scopes, int metricsPerScope,
      int pointsPerMetric) {
    ExportMetricsServiceRequest.Builder req = ExportMetricsServiceRequest.newBuilder();
    int n = 0;
    for (int r = 0; r < resources; r++) {
      ResourceMetrics.Builder rm = ResourceMetrics.newBuilder().setResource(resource("svc-" + r));
      for (int s = 0; s < scopes; s++) {
        ScopeMetrics.Builder sm = ScopeMetrics.newBuilder().setScope(scope("meter-" + s));
        for (int m = 0; m < metricsPerScope; m++) {
          Metric.Builder mb = Metric.newBuilder().setName("metric." + n).setUnit("1");
          switch (n % 3) {
            case 0: {
              Gauge.Builder g = Gauge.newBuilder();
              for (int p = 0; p < pointsPerMetric; p++) {
                g.addDataPoints(NumberDataPoint.newBuilder().setAsDouble(p * 1.5)
                    .setTimeUnixNano(1_700_000_000_000_000_000L + p)
                    .addAttributes(attr("p", Integer.toString(p))));
              }
              mb.setGauge(g);
              break;
            }
            case 1: {
              Sum.Builder g = Sum.newBuilder().setIsMonotonic(true)
                  .setAggregationTemporality(
                      io.opentelemetry.proto.metrics.v1.AggregationTemporality
                          .AGGREGATION_TEMPORALITY_CUMULATIVE);
              for (int p = 0; p < pointsPerMetric; p++) {
                g.addDataPoints(NumberDataPoint.newBuilder().setAsInt(p)
                    .setTimeUnixNano(1_700_000_000_000_000_000L + p));
              }
              mb.setSum(g);
              break;
            }
            default: {
              Histogram.Builder g = Histogram.newBuilder();
              for (int p = 0; p < pointsPerMetric; p++) {
                g.addDataPoints(HistogramDataPoint.newBuilder().setCount(3).setSum(6)
                    .addBucketCounts(1).addBucketCounts(2).addExplicitBounds(1.0)
                    .setTimeUnixNano(1_700_000_000_000_000_000L + p));
              }
              mb.setHistogram(g);
            }
          }
          sm.addMetrics(mb);
          n++;
        }
        rm.addScopeMetrics(sm);
      }
      req.addResourceMetrics(rm);
    }
    return req.build();
  }

  public static ExportLogsServiceRequest logs(int resources, int scopes, int recordsPerScope,
      int padding) {
    ExportLogsServiceRequest.Builder req = ExportLogsServiceRequest.newBuilder();
    int n = 0;
    for (int r = 0; r < resources; r++) {
      ResourceLogs.Builder rl = ResourceLogs.newBuilder().setResource(resource("svc-" + r));
      for (int s = 0; s < scopes; s++) {
        ScopeLogs.Builder sl = ScopeLogs.newBuilder().setScope(scope("logger-" + s));
        for (int i = 0; i < recordsPerScope; i++) {
          sl.addLogRecords(LogRecord.newBuilder()
              .setTimeUnixNano(1_700_000_000_000_000_000L + n)
              .setSeverityNumber(io.opentelemetry.proto.logs.v1.SeverityNumber.SEVERITY_NUMBER_INFO)
              .setBody(AnyValue.newBuilder().setStringValue("log " + n + " " + "y".repeat(padding))));
          n++;
        }
        rl.addScopeLogs(sl);
      }
      req.addResourceLogs(rl);
    }
    return req.build();
  }

  /** A request of one signal with {@code size} resources and about that many items. */
  public static Message request(Signal signal, int seed, int items) {
    switch (signal) {
      case TRACES:
        return traces(1, 1, items, Math.max(1, items / 3), 10 + seed % 7);
      case METRICS:
        return metrics(1, 1, items, 1);
      default:
        return logs(1, 1, items, 10 + seed % 7);
    }
  }

  /** The number of items of a request: spans, data points or log records. */
  public static int items(Message request) {
    int n = 0;
    for (Object[] t : flatten(request)) {
      Object item = t[2];
      if (item instanceof Metric m) {
        n += points(m);
      } else {
        n++;
      }
    }
    return n;
  }

  private static int points(Metric m) {
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
   * The items of a request, each with its resource envelope and scope envelope (the messages
   * without their lists), in order: {@code [resourceEnvelope, scopeEnvelope, item]}.
   */
  public static List<Object[]> flatten(Message request) {
    List<Object[]> out = new ArrayList<>();
    if (request instanceof ExportTraceServiceRequest t) {
      for (ResourceSpans rs : t.getResourceSpansList()) {
        ResourceSpans re = rs.toBuilder().clearScopeSpans().build();
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          ScopeSpans se = ss.toBuilder().clearSpans().build();
          for (Span s : ss.getSpansList()) {
            out.add(new Object[] {re, se, s});
          }
        }
      }
    } else if (request instanceof ExportMetricsServiceRequest m) {
      for (ResourceMetrics rm : m.getResourceMetricsList()) {
        ResourceMetrics re = rm.toBuilder().clearScopeMetrics().build();
        for (ScopeMetrics sm : rm.getScopeMetricsList()) {
          ScopeMetrics se = sm.toBuilder().clearMetrics().build();
          for (Metric x : sm.getMetricsList()) {
            out.add(new Object[] {re, se, x});
          }
        }
      }
    } else {
      ExportLogsServiceRequest l = (ExportLogsServiceRequest) request;
      for (ResourceLogs rl : l.getResourceLogsList()) {
        ResourceLogs re = rl.toBuilder().clearScopeLogs().build();
        for (ScopeLogs sl : rl.getScopeLogsList()) {
          ScopeLogs se = sl.toBuilder().clearLogRecords().build();
          for (LogRecord x : sl.getLogRecordsList()) {
            out.add(new Object[] {re, se, x});
          }
        }
      }
    }
    return out;
  }

  /** {@link #flatten} as comparable strings. */
  public static List<String> flatKeys(Message request) {
    List<String> out = new ArrayList<>();
    for (Object[] t : flatten(request)) {
      out.add(t[0].toString().replace('\n', ' ') + " | " + t[1].toString().replace('\n', ' ')
          + " | " + t[2].toString().replace('\n', ' '));
    }
    return out;
  }

  public static Message parse(Signal signal, byte[] bytes) {
    try {
      return signal.parseRequest(bytes, 0, bytes.length);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new AssertionError("not a valid " + signal.id() + " request", e);
    }
  }

  public static TelemetryBatch batch(Signal signal, Message request) {
    byte[] bytes = request.toByteArray();
    // A pooled buffer, so that the leak detector notices one that is never released.
    return new TelemetryBatch(signal, ByteBufAllocator.DEFAULT.buffer(bytes.length)
        .writeBytes(bytes), items(request), "", System.currentTimeMillis());
  }

  public static String hex(byte[] b) {
    return HexFormat.of().formatHex(b);
  }

  public static Random random(long seed) {
    return new Random(seed);
  }
}
