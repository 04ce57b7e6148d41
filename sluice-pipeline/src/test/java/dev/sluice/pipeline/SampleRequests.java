package dev.sluice.pipeline;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
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
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.metrics.v1.Sum;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;

/**
 * OTLP requests for tests, each marked with a number ({@code test.seq} on the resource) so that
 * what comes out can be matched with what went in, and batches of them in leak-tracked buffers.
 */
public final class SampleRequests {
  private static final long T0 = 1_700_000_000_000_000_000L;

  private SampleRequests() {}

  /** A trace id whose hex form is {@link #traceIdHex}: the 16 bytes 0x01..0x0f then {@code seq}. */
  public static ByteString traceId(int seq) {
    byte[] id = new byte[16];
    for (int i = 0; i < 15; i++) {
      id[i] = (byte) (i + 1);
    }
    id[15] = (byte) seq;
    return ByteString.copyFrom(id);
  }

  public static String traceIdHex(int seq) {
    return "0102030405060708090a0b0c0d0e0f" + String.format("%02x", seq & 0xff);
  }

  public static ExportTraceServiceRequest traces(int seq, int spans) {
    ScopeSpans.Builder scope = ScopeSpans.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName("sluice-test").setVersion("1.0"));
    for (int i = 0; i < spans; i++) {
      scope.addSpans(Span.newBuilder()
          .setTraceId(traceId(seq))
          .setSpanId(ByteString.copyFrom(new byte[] {(byte) 0xab, 0, 0, 0, 0, 0, (byte) seq,
              (byte) i}))
          .setName("GET /orders/" + i)
          .setKind(Span.SpanKind.SPAN_KIND_SERVER)
          .setStartTimeUnixNano(T0 + i)
          .setEndTimeUnixNano(T0 + i + 1_000_000)
          .addAttributes(attr("http.response.status_code", AnyValue.newBuilder().setIntValue(200))));
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().setResource(resource(seq)).addScopeSpans(scope))
        .build();
  }

  public static ExportMetricsServiceRequest metrics(int seq, int points) {
    Sum.Builder sum = Sum.newBuilder()
        .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)
        .setIsMonotonic(true);
    for (int i = 0; i < points; i++) {
      sum.addDataPoints(NumberDataPoint.newBuilder()
          .setTimeUnixNano(T0 + i)
          .setAsInt(seq * 1000L + i)
          .addAttributes(attr("core", AnyValue.newBuilder().setIntValue(i))));
    }
    return ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder()
            .setResource(resource(seq))
            .addScopeMetrics(ScopeMetrics.newBuilder()
                .addMetrics(Metric.newBuilder().setName("cpu.time").setUnit("s").setSum(sum))))
        .build();
  }

  public static ExportLogsServiceRequest logs(int seq, int records) {
    ScopeLogs.Builder scope = ScopeLogs.newBuilder();
    for (int i = 0; i < records; i++) {
      scope.addLogRecords(LogRecord.newBuilder()
          .setTimeUnixNano(T0 + i)
          .setSeverityNumber(SeverityNumber.SEVERITY_NUMBER_WARN)
          .setSeverityText("WARN")
          .setBody(AnyValue.newBuilder().setStringValue("disk \"/var\" at 9" + i + "% — ünïcode"))
          .setTraceId(traceId(seq)));
    }
    return ExportLogsServiceRequest.newBuilder()
        .addResourceLogs(ResourceLogs.newBuilder().setResource(resource(seq)).addScopeLogs(scope))
        .build();
  }

  /** A request of {@code signal} with {@code items} items. */
  public static Message request(Signal signal, int seq, int items) {
    switch (signal) {
      case TRACES:
        return traces(seq, items);
      case METRICS:
        return metrics(seq, items);
      default:
        return logs(seq, items);
    }
  }

  /** The {@code test.seq} mark of a request made here. */
  public static long seqOf(Message request) {
    Resource resource;
    if (request instanceof ExportTraceServiceRequest t) {
      resource = t.getResourceSpans(0).getResource();
    } else if (request instanceof ExportMetricsServiceRequest m) {
      resource = m.getResourceMetrics(0).getResource();
    } else {
      resource = ((ExportLogsServiceRequest) request).getResourceLogs(0).getResource();
    }
    return resource.getAttributesList().stream()
        .filter(kv -> kv.getKey().equals("test.seq"))
        .findFirst()
        .orElseThrow()
        .getValue()
        .getIntValue();
  }

  /** A batch of the request in a pooled direct buffer, tracked by the leak detector. */
  public static TelemetryBatch batch(Signal signal, Message request, int items, String tenant) {
    byte[] bytes = request.toByteArray();
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(bytes.length);
    buf.writeBytes(bytes);
    return new TelemetryBatch(signal, buf, items, tenant, System.currentTimeMillis());
  }

  /** A batch of the request in a pooled heap buffer, for the array path of the exporters. */
  public static TelemetryBatch heapBatch(Signal signal, Message request, int items) {
    byte[] bytes = request.toByteArray();
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.heapBuffer(bytes.length + 16);
    buf.writeZero(7); // so the payload does not start at the array's first byte
    buf.writeBytes(bytes);
    buf.readerIndex(7);
    return new TelemetryBatch(signal, buf, items, "", System.currentTimeMillis());
  }

  public static TelemetryBatch batch(Signal signal, int seq, int items) {
    return batch(signal, request(signal, seq, items), items, "");
  }

  /** A batch of {@code size} bytes that are not looked at, for tests of the pipeline alone. */
  public static TelemetryBatch opaque(Signal signal, int size) {
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer(size);
    buf.writeZero(size);
    return new TelemetryBatch(signal, buf, 1, "", System.currentTimeMillis());
  }

  private static Resource resource(int seq) {
    return Resource.newBuilder()
        .addAttributes(attr("service.name", AnyValue.newBuilder().setStringValue("checkout")))
        .addAttributes(attr("test.seq", AnyValue.newBuilder().setIntValue(seq)))
        .build();
  }

  private static KeyValue attr(String key, AnyValue.Builder value) {
    return KeyValue.newBuilder().setKey(key).setValue(value).build();
  }
}
