package dev.sluice.receiver.otlp;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
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
import io.opentelemetry.proto.metrics.v1.Exemplar;
import io.opentelemetry.proto.metrics.v1.ExponentialHistogram;
import io.opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Gauge;
import io.opentelemetry.proto.metrics.v1.Histogram;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.metrics.v1.Sum;
import io.opentelemetry.proto.metrics.v1.Summary;
import io.opentelemetry.proto.metrics.v1.SummaryDataPoint;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Random;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;

/**
 * OTLP requests built with the protobuf builders for the tests: several resources and scopes,
 * every kind of attribute value, every metric type; ids from a seeded {@link Random}, so the same
 * call gives the same request. Also item counting written here, independently of the receiver, and
 * the compressions a client applies.
 */
public final class OtlpSamples {
  static final long T0 = 1_700_000_000_000_000_000L;

  private OtlpSamples() {}

  /** A representative request of the signal. */
  public static Message request(Signal signal) {
    switch (signal) {
      case TRACES:
        return traces();
      case METRICS:
        return metrics();
      default:
        return logs();
    }
  }

  /** Random bytes of the given length, never all zero. */
  public static ByteString id(Random random, int length) {
    byte[] b = new byte[length];
    random.nextBytes(b);
    if (length > 0) {
      b[0] |= 1;
    }
    return ByteString.copyFrom(b);
  }

  public static KeyValue attr(String key, AnyValue value) {
    return KeyValue.newBuilder().setKey(key).setValue(value).build();
  }

  public static KeyValue attr(String key, String value) {
    return attr(key, AnyValue.newBuilder().setStringValue(value).build());
  }

  /** One attribute of every AnyValue kind, nested arrays and kvlists included. */
  static java.util.List<KeyValue> richAttributes(int n) {
    return java.util.List.of(
        attr("str", "value-" + n + " \u00e9\u4e2d\ud83d\ude00"),
        attr("int", AnyValue.newBuilder().setIntValue(-42L * n - 1).build()),
        attr("big", AnyValue.newBuilder().setIntValue(Long.MAX_VALUE - n).build()),
        attr("double", AnyValue.newBuilder().setDoubleValue(0.1 + n).build()),
        attr("bool", AnyValue.newBuilder().setBoolValue(n % 2 == 0).build()),
        attr("bytes", AnyValue.newBuilder()
            .setBytesValue(ByteString.copyFrom(new byte[] {0, (byte) 0xff, (byte) n})).build()),
        attr("array", AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
            .addValues(AnyValue.newBuilder().setStringValue("a"))
            .addValues(AnyValue.newBuilder().setIntValue(n))
            .addValues(AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
                .addValues(AnyValue.newBuilder().setBoolValue(true))))).build()),
        attr("kvlist", AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder()
            .addValues(attr("inner", "x"))
            .addValues(attr("deeper", AnyValue.newBuilder().setKvlistValue(
                KeyValueList.newBuilder().addValues(attr("leaf", "y"))).build()))).build()));
  }

  static Resource resource(String service, int n) {
    return Resource.newBuilder()
        .addAttributes(attr("service.name", service))
        .addAttributes(attr("service.instance.id", "instance-" + n))
        .addAllAttributes(richAttributes(n))
        .setDroppedAttributesCount(n)
        .build();
  }

  static InstrumentationScope scope(String name, int n) {
    return InstrumentationScope.newBuilder()
        .setName(name)
        .setVersion("1." + n + ".0")
        .addAttributes(attr("scope.attr", "s" + n))
        .build();
  }

  /** Two resources, three scopes, six spans with events, links and statuses. */
  public static ExportTraceServiceRequest traces() {
    Random r = new Random(1);
    ExportTraceServiceRequest.Builder req = ExportTraceServiceRequest.newBuilder();
    int[][] layout = {{3, 1}, {2}};
    int n = 0;
    for (int ri = 0; ri < layout.length; ri++) {
      ResourceSpans.Builder rs = ResourceSpans.newBuilder()
          .setResource(resource("checkout-" + ri, ri))
          .setSchemaUrl("https://opentelemetry.io/schemas/1.21.0");
      for (int si = 0; si < layout[ri].length; si++) {
        ScopeSpans.Builder ss = ScopeSpans.newBuilder().setScope(scope("lib-" + si, si))
            .setSchemaUrl("https://opentelemetry.io/schemas/1.20.0");
        for (int k = 0; k < layout[ri][si]; k++) {
          ss.addSpans(span(r, n++));
        }
        rs.addScopeSpans(ss);
      }
      req.addResourceSpans(rs);
    }
    return req.build();
  }

  /** A valid span with everything set. */
  public static Span span(Random r, int n) {
    ByteString traceId = id(r, 16);
    return Span.newBuilder()
        .setTraceId(traceId)
        .setSpanId(id(r, 8))
        .setParentSpanId(n % 2 == 0 ? ByteString.EMPTY : id(r, 8))
        .setTraceState("vendor=value" + n)
        .setFlags(0x101)
        .setName("GET /orders/" + n)
        .setKind(Span.SpanKind.forNumber(1 + n % 5))
        .setStartTimeUnixNano(T0 + n)
        .setEndTimeUnixNano(T0 + n + 1_500_000)
        .addAllAttributes(richAttributes(n))
        .setDroppedAttributesCount(n)
        .addEvents(Span.Event.newBuilder().setName("exception").setTimeUnixNano(T0 + n + 10)
            .addAttributes(attr("exception.type", "java.io.IOException")))
        .addLinks(Span.Link.newBuilder().setTraceId(id(r, 16)).setSpanId(id(r, 8))
            .setTraceState("a=b").addAttributes(attr("link", "l" + n)).setFlags(1))
        .setStatus(Status.newBuilder()
            .setCode(Status.StatusCode.forNumber(n % 3)).setMessage(n % 3 == 2 ? "boom" : ""))
        .build();
  }

  static NumberDataPoint number(int n, boolean asDouble) {
    NumberDataPoint.Builder b = NumberDataPoint.newBuilder()
        .setStartTimeUnixNano(T0)
        .setTimeUnixNano(T0 + n)
        .addAttributes(attr("dp", "p" + n));
    if (asDouble) {
      b.setAsDouble(1.25 * n);
    } else {
      b.setAsInt(-7L * n);
    }
    return b.addExemplars(Exemplar.newBuilder().setTimeUnixNano(T0 + 1).setAsDouble(2.5)
        .setTraceId(ByteString.fromHex("5b8efff798038103d269b633813fc60c"))
        .setSpanId(ByteString.fromHex("eee19b7ec3c1b174"))
        .addFilteredAttributes(attr("f", "v"))).build();
  }

  /**
   * Two resources with a gauge, a sum, a histogram, an exponential histogram and a summary: ten
   * data points.
   */
  public static ExportMetricsServiceRequest metrics() {
    ExportMetricsServiceRequest.Builder req = ExportMetricsServiceRequest.newBuilder();
    ResourceMetrics.Builder rm = ResourceMetrics.newBuilder().setResource(resource("api", 0));
    ScopeMetrics.Builder sm = ScopeMetrics.newBuilder().setScope(scope("meter", 0));
    sm.addMetrics(Metric.newBuilder().setName("queue.depth").setUnit("1")
        .setDescription("items waiting")
        .setGauge(Gauge.newBuilder().addDataPoints(number(1, false))
            .addDataPoints(number(2, true))));
    sm.addMetrics(Metric.newBuilder().setName("requests").setUnit("{request}")
        .setSum(Sum.newBuilder().setIsMonotonic(true)
            .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)
            .addDataPoints(number(3, false)).addDataPoints(number(4, false))
            .addDataPoints(number(5, true))));
    sm.addMetrics(Metric.newBuilder().setName("latency").setUnit("ms")
        .setHistogram(Histogram.newBuilder()
            .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
            .addDataPoints(HistogramDataPoint.newBuilder().setStartTimeUnixNano(T0)
                .setTimeUnixNano(T0 + 9).setCount(6).setSum(12.5).setMin(0.5).setMax(5)
                .addBucketCounts(1).addBucketCounts(2).addBucketCounts(3)
                .addExplicitBounds(1).addExplicitBounds(2.5))
            .addDataPoints(HistogramDataPoint.newBuilder().setTimeUnixNano(T0 + 10)
                .setCount(0).addAttributes(attr("empty", "yes")))));
    rm.addScopeMetrics(sm);
    ScopeMetrics.Builder sm2 = ScopeMetrics.newBuilder().setScope(scope("meter2", 1));
    sm2.addMetrics(Metric.newBuilder().setName("size")
        .setExponentialHistogram(ExponentialHistogram.newBuilder()
            .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
            .addDataPoints(ExponentialHistogramDataPoint.newBuilder().setTimeUnixNano(T0 + 3)
                .setCount(5).setSum(30).setScale(2).setZeroCount(1).setZeroThreshold(1e-9)
                .setPositive(ExponentialHistogramDataPoint.Buckets.newBuilder().setOffset(-2)
                    .addBucketCounts(1).addBucketCounts(3))
                .setNegative(ExponentialHistogramDataPoint.Buckets.newBuilder()
                    .addBucketCounts(0)))));
    rm.addScopeMetrics(sm2);
    req.addResourceMetrics(rm);
    ResourceMetrics.Builder rm2 = ResourceMetrics.newBuilder().setResource(resource("db", 1));
    rm2.addScopeMetrics(ScopeMetrics.newBuilder().setScope(scope("legacy", 2))
        .addMetrics(Metric.newBuilder().setName("rpc.duration")
            .setSummary(Summary.newBuilder()
                .addDataPoints(SummaryDataPoint.newBuilder().setTimeUnixNano(T0 + 4).setCount(3)
                    .setSum(9).addQuantileValues(SummaryDataPoint.ValueAtQuantile.newBuilder()
                        .setQuantile(0.5).setValue(2.5))
                    .addQuantileValues(SummaryDataPoint.ValueAtQuantile.newBuilder()
                        .setQuantile(0.99).setValue(4)))
                .addDataPoints(SummaryDataPoint.newBuilder().setTimeUnixNano(T0 + 5)))));
    req.addResourceMetrics(rm2);
    return req.build();
  }

  /** Two resources, three scopes, six log records; some carry trace context, some do not. */
  public static ExportLogsServiceRequest logs() {
    Random r = new Random(2);
    ExportLogsServiceRequest.Builder req = ExportLogsServiceRequest.newBuilder();
    int[][] layout = {{2, 1}, {3}};
    int n = 0;
    for (int ri = 0; ri < layout.length; ri++) {
      ResourceLogs.Builder rl = ResourceLogs.newBuilder().setResource(resource("worker-" + ri, ri));
      for (int si = 0; si < layout[ri].length; si++) {
        ScopeLogs.Builder sl = ScopeLogs.newBuilder().setScope(scope("logger-" + si, si));
        for (int k = 0; k < layout[ri][si]; k++) {
          sl.addLogRecords(logRecord(r, n++));
        }
        rl.addScopeLogs(sl);
      }
      req.addResourceLogs(rl);
    }
    return req.build();
  }

  /** A valid log record; every other one carries a trace and span id. */
  public static LogRecord logRecord(Random r, int n) {
    LogRecord.Builder b = LogRecord.newBuilder()
        .setTimeUnixNano(T0 + n)
        .setObservedTimeUnixNano(T0 + n + 5)
        .setSeverityNumber(SeverityNumber.forNumber(1 + n * 4 % 24))
        .setSeverityText("LEVEL" + n)
        .setBody(n % 3 == 0
            ? AnyValue.newBuilder().setStringValue("message " + n).build()
            : AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder()
                .addValues(attr("event", "e" + n))).build())
        .addAllAttributes(richAttributes(n))
        .setFlags(1)
        .setEventName(n == 1 ? "app.started" : "");
    if (n % 2 == 0) {
      b.setTraceId(id(r, 16)).setSpanId(id(r, 8));
    }
    return b.build();
  }

  /** Spans, data points or log records in a request, counted here from the builders' view. */
  public static int countItems(Message request) {
    if (request instanceof ExportTraceServiceRequest) {
      int n = 0;
      for (ResourceSpans rs : ((ExportTraceServiceRequest) request).getResourceSpansList()) {
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          n += ss.getSpansCount();
        }
      }
      return n;
    }
    if (request instanceof ExportLogsServiceRequest) {
      int n = 0;
      for (ResourceLogs rl : ((ExportLogsServiceRequest) request).getResourceLogsList()) {
        for (ScopeLogs sl : rl.getScopeLogsList()) {
          n += sl.getLogRecordsCount();
        }
      }
      return n;
    }
    int n = 0;
    for (ResourceMetrics rm : ((ExportMetricsServiceRequest) request).getResourceMetricsList()) {
      for (ScopeMetrics sm : rm.getScopeMetricsList()) {
        for (Metric m : sm.getMetricsList()) {
          n += m.getGauge().getDataPointsCount() + m.getSum().getDataPointsCount()
              + m.getHistogram().getDataPointsCount()
              + m.getExponentialHistogram().getDataPointsCount()
              + m.getSummary().getDataPointsCount();
        }
      }
    }
    return n;
  }

  public static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream z = new GZIPOutputStream(out)) {
      z.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** HTTP's deflate: the zlib format (RFC 1950). */
  public static byte[] deflate(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (DeflaterOutputStream z = new DeflaterOutputStream(out)) {
      z.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  public static byte[] zstd(byte[] data) {
    return com.github.luben.zstd.Zstd.compress(data);
  }

  /** Applies a {@code Content-Encoding} by name: none, gzip, deflate or zstd. */
  public static byte[] encode(String coding, byte[] data) {
    switch (coding) {
      case "none":
        return data;
      case "gzip":
        return gzip(data);
      case "deflate":
        return deflate(data);
      case "zstd":
        return zstd(data);
      default:
        throw new IllegalArgumentException(coding);
    }
  }
}
