package dev.sluice.kafka.bridge;

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
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;

/** OTLP test data for the bridge tests, built independently of the code under test. */
final class BridgeData {
  private BridgeData() {}

  /** A trace id: 8 fixed bytes then {@code n} as a big-endian long. */
  static ByteString traceId(long n) {
    return ByteString.copyFrom(ByteBuffer.allocate(16).putLong(0x5eed_0000_cafe_f00dL).putLong(n)
        .array());
  }

  /** The number a {@link #traceId(long)} was made from. */
  static long traceNumber(byte[] traceId) {
    return ByteBuffer.wrap(traceId, 8, 8).getLong();
  }

  /** What the spec (and the Collector) key a trace by: its id as 32 lowercase hex characters. */
  static String hex(ByteString traceId) {
    return HexFormat.of().formatHex(traceId.toByteArray());
  }

  static KeyValue attr(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  static Resource resource(KeyValue... attributes) {
    return Resource.newBuilder().addAllAttributes(List.of(attributes)).build();
  }

  static Span span(ByteString traceId, int n) {
    byte[] spanId = ByteBuffer.allocate(8).putInt(1).putInt(n).array();
    return Span.newBuilder().setTraceId(traceId).setSpanId(ByteString.copyFrom(spanId))
        .setName("span-" + n).setStartTimeUnixNano(1_700_000_000_000_000_000L + n)
        .setEndTimeUnixNano(1_700_000_000_000_000_000L + n + 1000).build();
  }

  /** One resource, one scope, the given spans. */
  static ExportTraceServiceRequest traces(Resource resource, Span... spans) {
    return ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans.newBuilder()
        .setResource(resource).addScopeSpans(ScopeSpans.newBuilder()
            .setScope(InstrumentationScope.newBuilder().setName("bridge-test"))
            .addAllSpans(List.of(spans)))).build();
  }

  /** A request holding one trace of {@code spans} spans, numbered after {@code n}. */
  static ExportTraceServiceRequest oneTrace(long n, int spans) {
    Span[] s = new Span[spans];
    for (int i = 0; i < spans; i++) {
      s[i] = span(traceId(n), i);
    }
    return traces(resource(attr("service.name", "svc-" + (n % 7))), s);
  }

  static ResourceMetrics resourceMetrics(Resource resource, String metric, double value) {
    return ResourceMetrics.newBuilder().setResource(resource).addScopeMetrics(
        ScopeMetrics.newBuilder().addMetrics(Metric.newBuilder().setName(metric)
            .setGauge(Gauge.newBuilder().addDataPoints(NumberDataPoint.newBuilder()
                .setTimeUnixNano(1_700_000_000_000_000_000L).setAsDouble(value))))).build();
  }

  static ExportMetricsServiceRequest metrics(ResourceMetrics... resources) {
    return ExportMetricsServiceRequest.newBuilder().addAllResourceMetrics(List.of(resources))
        .build();
  }

  static ExportLogsServiceRequest logs(Resource resource, String... bodies) {
    ScopeLogs.Builder scope = ScopeLogs.newBuilder();
    for (String b : bodies) {
      scope.addLogRecords(LogRecord.newBuilder().setTimeUnixNano(1_700_000_000_000_000_000L)
          .setBody(AnyValue.newBuilder().setStringValue(b)));
    }
    return ExportLogsServiceRequest.newBuilder().addResourceLogs(ResourceLogs.newBuilder()
        .setResource(resource).addScopeLogs(scope)).build();
  }

  static String utf8(byte[] bytes) {
    return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
  }
}
