package dev.sluice.client;

import com.google.protobuf.ByteString;
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

/** Small OTLP requests of each signal, distinct per {@code tag}. */
final class Requests {
  private Requests() {}

  static KeyValue attr(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  static Resource resource(String service) {
    return Resource.newBuilder().addAttributes(attr("service.name", service)).build();
  }

  static ExportTraceServiceRequest traces(String tag, int spans) {
    ScopeSpans.Builder ss = ScopeSpans.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName("test").setVersion("1"));
    for (int i = 0; i < spans; i++) {
      byte[] traceId = new byte[16];
      byte[] spanId = new byte[8];
      traceId[0] = (byte) tag.hashCode();
      traceId[15] = (byte) i;
      spanId[7] = (byte) (i + 1);
      ss.addSpans(Span.newBuilder()
          .setTraceId(ByteString.copyFrom(traceId))
          .setSpanId(ByteString.copyFrom(spanId))
          .setName(tag + "-span-" + i)
          .setKind(Span.SpanKind.SPAN_KIND_SERVER)
          .setStartTimeUnixNano(1_700_000_000_000_000_000L + i)
          .setEndTimeUnixNano(1_700_000_000_001_000_000L + i)
          .addAttributes(attr("http.route", "/items/" + i)));
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().setResource(resource(tag)).addScopeSpans(ss))
        .build();
  }

  /** A gauge of 2 points, a sum of 1 and a histogram of 1: 4 data points. */
  static ExportMetricsServiceRequest metrics(String tag) {
    long t = 1_700_000_000_000_000_000L;
    Metric gauge = Metric.newBuilder().setName(tag + ".gauge").setGauge(Gauge.newBuilder()
        .addDataPoints(NumberDataPoint.newBuilder().setTimeUnixNano(t).setAsDouble(1.5))
        .addDataPoints(NumberDataPoint.newBuilder().setTimeUnixNano(t + 1).setAsInt(7))).build();
    Metric sum = Metric.newBuilder().setName(tag + ".sum").setSum(Sum.newBuilder()
        .setIsMonotonic(true)
        .addDataPoints(NumberDataPoint.newBuilder().setTimeUnixNano(t).setAsInt(42))).build();
    Metric histogram = Metric.newBuilder().setName(tag + ".latency").setHistogram(
        Histogram.newBuilder().addDataPoints(HistogramDataPoint.newBuilder()
            .setTimeUnixNano(t).setCount(3).setSum(0.6).addExplicitBounds(0.25)
            .addBucketCounts(1).addBucketCounts(2))).build();
    return ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource(tag))
            .addScopeMetrics(ScopeMetrics.newBuilder()
                .addMetrics(gauge).addMetrics(sum).addMetrics(histogram)))
        .build();
  }

  static ExportLogsServiceRequest logs(String tag, int records) {
    ScopeLogs.Builder sl = ScopeLogs.newBuilder();
    for (int i = 0; i < records; i++) {
      sl.addLogRecords(LogRecord.newBuilder()
          .setTimeUnixNano(1_700_000_000_000_000_000L + i)
          .setSeverityText("INFO")
          .setBody(AnyValue.newBuilder().setStringValue(tag + " record " + i))
          .addAttributes(attr("n", Integer.toString(i))));
    }
    return ExportLogsServiceRequest.newBuilder()
        .addResourceLogs(ResourceLogs.newBuilder().setResource(resource(tag)).addScopeLogs(sl))
        .build();
  }
}
