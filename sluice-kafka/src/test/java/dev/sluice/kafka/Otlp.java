package dev.sluice.kafka;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.TelemetryBatch;
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
import io.opentelemetry.proto.metrics.v1.Gauge;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.metrics.v1.Sum;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** Builds OTLP test data and reads it back out of Kafka messages, independently of the exporter. */
final class Otlp {
  private Otlp() {}

  static KeyValue attr(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  static Resource resource(KeyValue... attributes) {
    return Resource.newBuilder().addAllAttributes(List.of(attributes)).build();
  }

  static InstrumentationScope scope(String name) {
    return InstrumentationScope.newBuilder().setName(name).setVersion("1.0").build();
  }

  /** A 16-byte trace id whose bytes are all {@code b} except the last, {@code n}. */
  static ByteString traceId(int b, int n) {
    byte[] id = new byte[16];
    java.util.Arrays.fill(id, (byte) b);
    id[15] = (byte) n;
    return ByteString.copyFrom(id);
  }

  static ByteString spanId(int n) {
    byte[] id = new byte[8];
    id[0] = 1;
    id[7] = (byte) n;
    id[6] = (byte) (n >>> 8);
    return ByteString.copyFrom(id);
  }

  static Span span(ByteString traceId, int n, String name) {
    return Span.newBuilder().setTraceId(traceId).setSpanId(spanId(n)).setName(name)
        .setStartTimeUnixNano(1_700_000_000_000_000_000L + n)
        .setEndTimeUnixNano(1_700_000_000_000_000_000L + n + 1000).build();
  }

  static ScopeSpans scopeSpans(InstrumentationScope scope, Span... spans) {
    return ScopeSpans.newBuilder().setScope(scope).setSchemaUrl("https://schema/" + scope.getName())
        .addAllSpans(List.of(spans)).build();
  }

  static ResourceSpans resourceSpans(Resource resource, ScopeSpans... scopes) {
    return ResourceSpans.newBuilder().setResource(resource).setSchemaUrl("https://schema/r")
        .addAllScopeSpans(List.of(scopes)).build();
  }

  static ExportTraceServiceRequest traces(ResourceSpans... resources) {
    return ExportTraceServiceRequest.newBuilder().addAllResourceSpans(List.of(resources)).build();
  }

  static NumberDataPoint point(long time, double value, KeyValue... attributes) {
    return NumberDataPoint.newBuilder().setTimeUnixNano(time).setAsDouble(value)
        .addAllAttributes(List.of(attributes)).build();
  }

  static Metric gauge(String name, NumberDataPoint... points) {
    return Metric.newBuilder().setName(name).setUnit("1")
        .setGauge(Gauge.newBuilder().addAllDataPoints(List.of(points))).build();
  }

  static Metric sum(String name, NumberDataPoint... points) {
    return Metric.newBuilder().setName(name)
        .setSum(Sum.newBuilder().setIsMonotonic(true).setAggregationTemporality(
            io.opentelemetry.proto.metrics.v1.AggregationTemporality
                .AGGREGATION_TEMPORALITY_CUMULATIVE)
            .addAllDataPoints(List.of(points))).build();
  }

  static ResourceMetrics resourceMetrics(Resource resource, InstrumentationScope scope,
      Metric... metrics) {
    return ResourceMetrics.newBuilder().setResource(resource).addScopeMetrics(
        ScopeMetrics.newBuilder().setScope(scope).addAllMetrics(List.of(metrics))).build();
  }

  static ExportMetricsServiceRequest metrics(ResourceMetrics... resources) {
    return ExportMetricsServiceRequest.newBuilder().addAllResourceMetrics(List.of(resources))
        .build();
  }

  static LogRecord log(int n, String body) {
    return LogRecord.newBuilder().setTimeUnixNano(1_700_000_000_000_000_000L + n)
        .setSeverityNumberValue(9).setBody(AnyValue.newBuilder().setStringValue(body)).build();
  }

  static ResourceLogs resourceLogs(Resource resource, InstrumentationScope scope,
      LogRecord... records) {
    return ResourceLogs.newBuilder().setResource(resource).addScopeLogs(
        ScopeLogs.newBuilder().setScope(scope).addAllLogRecords(List.of(records))).build();
  }

  static ExportLogsServiceRequest logs(ResourceLogs... resources) {
    return ExportLogsServiceRequest.newBuilder().addAllResourceLogs(List.of(resources)).build();
  }

  /** The items of a request, as the pipeline counts them. */
  static int items(Message request) {
    if (request instanceof ExportTraceServiceRequest t) {
      return t.getResourceSpansList().stream().flatMap(r -> r.getScopeSpansList().stream())
          .mapToInt(ScopeSpans::getSpansCount).sum();
    }
    if (request instanceof ExportLogsServiceRequest l) {
      return l.getResourceLogsList().stream().flatMap(r -> r.getScopeLogsList().stream())
          .mapToInt(ScopeLogs::getLogRecordsCount).sum();
    }
    ExportMetricsServiceRequest m = (ExportMetricsServiceRequest) request;
    int n = 0;
    for (ResourceMetrics rm : m.getResourceMetricsList()) {
      for (ScopeMetrics sm : rm.getScopeMetricsList()) {
        for (Metric metric : sm.getMetricsList()) {
          n += metric.hasGauge() ? metric.getGauge().getDataPointsCount()
              : metric.getSum().getDataPointsCount();
        }
      }
    }
    return n;
  }

  /** A batch whose payload comes from Netty's leak-tracked allocator. */
  static TelemetryBatch batch(Signal signal, Message request, String tenant) {
    byte[] bytes = request.toByteArray();
    ByteBuf buf = Unpooled.buffer(bytes.length).writeBytes(bytes);
    return new TelemetryBatch(signal, buf, items(request), tenant, System.currentTimeMillis());
  }

  static TelemetryBatch batch(Signal signal, Message request) {
    return batch(signal, request, "");
  }

  /** Decodes a message value written in {@code encoding}. */
  static Message decode(Signal signal, KafkaEncoding encoding, byte[] value)
      throws InvalidProtocolBufferException {
    if (encoding == KafkaEncoding.OTLP_JSON) {
      return OtlpJsonCodec.parse(value, 0, value.length, signal.requestPrototype());
    }
    return signal.parseRequest(value, 0, value.length);
  }

  static String hex(ByteString id) {
    return HexFormat.of().formatHex(id.toByteArray());
  }

  /** One span with where it was: resource and scope (without their item lists). */
  record SpanAt(Resource resource, String resourceSchema, InstrumentationScope scope,
      String scopeSchema, Span span) {}

  static List<SpanAt> flatten(ExportTraceServiceRequest req) {
    List<SpanAt> out = new ArrayList<>();
    for (ResourceSpans rs : req.getResourceSpansList()) {
      for (ScopeSpans ss : rs.getScopeSpansList()) {
        for (Span s : ss.getSpansList()) {
          out.add(new SpanAt(rs.getResource(), rs.getSchemaUrl(), ss.getScope(),
              ss.getSchemaUrl(), s));
        }
      }
    }
    return out;
  }

  /** One data point with its resource, scope and metric (without data points). */
  record PointAt(Resource resource, InstrumentationScope scope, Metric metric,
      NumberDataPoint point) {}

  static List<PointAt> flatten(ExportMetricsServiceRequest req) {
    List<PointAt> out = new ArrayList<>();
    for (ResourceMetrics rm : req.getResourceMetricsList()) {
      for (ScopeMetrics sm : rm.getScopeMetricsList()) {
        for (Metric m : sm.getMetricsList()) {
          List<NumberDataPoint> points = m.hasGauge() ? m.getGauge().getDataPointsList()
              : m.getSum().getDataPointsList();
          Metric bare = m.hasGauge()
              ? m.toBuilder().setGauge(m.getGauge().toBuilder().clearDataPoints()).build()
              : m.toBuilder().setSum(m.getSum().toBuilder().clearDataPoints()).build();
          for (NumberDataPoint p : points) {
            out.add(new PointAt(rm.getResource(), sm.getScope(), bare, p));
          }
        }
      }
    }
    return out;
  }

  record LogAt(Resource resource, InstrumentationScope scope, LogRecord record) {}

  static List<LogAt> flatten(ExportLogsServiceRequest req) {
    List<LogAt> out = new ArrayList<>();
    for (ResourceLogs rl : req.getResourceLogsList()) {
      for (ScopeLogs sl : rl.getScopeLogsList()) {
        for (LogRecord r : sl.getLogRecordsList()) {
          out.add(new LogAt(rl.getResource(), sl.getScope(), r));
        }
      }
    }
    return out;
  }
}
