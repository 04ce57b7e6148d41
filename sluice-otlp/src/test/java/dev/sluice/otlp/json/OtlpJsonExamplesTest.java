package dev.sluice.otlp.json;

import static dev.sluice.otlp.json.JsonTree.array;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.SeverityNumber;
import io.opentelemetry.proto.metrics.v1.AggregationTemporality;
import io.opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The opentelemetry-proto examples are accepted as sent, decode to the values they spell, and round-trip. */
class OtlpJsonExamplesTest {

  static byte[] example(String name) {
    try (InputStream in = OtlpJsonExamplesTest.class.getResourceAsStream("/otlp-json/" + name)) {
      assertThat(in).as(name).isNotNull();
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static ByteString hex(String text) {
    return ByteString.copyFrom(HexFormat.of().parseHex(text));
  }

  @Test
  void traceExampleDecodesToItsValues() {
    byte[] json = example("trace.json");
    Object tree = JsonTree.parse(json);
    Map<String, Object> spanJson = JsonTree.object(tree, "resourceSpans", "0", "scopeSpans", "0", "spans", "0");

    ExportTraceServiceRequest request =
        OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance());

    List<Span> spans = request.getResourceSpansList().stream()
        .flatMap(rs -> rs.getScopeSpansList().stream())
        .flatMap(ss -> ss.getSpansList().stream())
        .collect(Collectors.toList());
    assertThat(spans).hasSize(countLeaves(tree, "resourceSpans", "scopeSpans", "spans")).hasSize(1);

    Span span = spans.get(0);
    assertThat(span.getTraceId()).isEqualTo(hex((String) spanJson.get("traceId")));
    assertThat(span.getTraceId().size()).isEqualTo(16);
    assertThat(span.getSpanId()).isEqualTo(hex((String) spanJson.get("spanId")));
    assertThat(span.getParentSpanId()).isEqualTo(hex((String) spanJson.get("parentSpanId")));
    assertThat(span.getName()).isEqualTo("I'm a server span");
    assertThat(span.getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(span.getStartTimeUnixNano()).isEqualTo(1544712660000000000L);
    assertThat(span.getEndTimeUnixNano()).isEqualTo(1544712661000000000L);
    assertThat(span.getAttributesList())
        .containsExactly(attribute("my.span.attr", AnyValue.newBuilder().setStringValue("some value").build()));

    var resourceSpans = request.getResourceSpans(0);
    assertThat(resourceSpans.getResource().getAttributesList()).containsExactly(
        attribute("service.name", AnyValue.newBuilder().setStringValue("my.service").build()));
    var scope = resourceSpans.getScopeSpans(0).getScope();
    assertThat(scope.getName()).isEqualTo("my.library");
    assertThat(scope.getVersion()).isEqualTo("1.0.0");
    assertThat(scope.getAttributes(0).getValue().getStringValue()).isEqualTo("some scope attribute");
  }

  @Test
  void logsExampleDecodesToItsValues() {
    byte[] json = example("logs.json");
    Object tree = JsonTree.parse(json);
    Map<String, Object> recordJson =
        JsonTree.object(tree, "resourceLogs", "0", "scopeLogs", "0", "logRecords", "0");

    ExportLogsServiceRequest request =
        OtlpJsonCodec.parse(json, 0, json.length, ExportLogsServiceRequest.getDefaultInstance());

    List<LogRecord> records = request.getResourceLogsList().stream()
        .flatMap(rl -> rl.getScopeLogsList().stream())
        .flatMap(sl -> sl.getLogRecordsList().stream())
        .collect(Collectors.toList());
    assertThat(records).hasSize(countLeaves(tree, "resourceLogs", "scopeLogs", "logRecords")).hasSize(1);

    LogRecord record = records.get(0);
    assertThat(record.getTraceId()).isEqualTo(hex((String) recordJson.get("traceId")));
    assertThat(record.getSpanId()).isEqualTo(hex((String) recordJson.get("spanId")));
    assertThat(record.getTimeUnixNano()).isEqualTo(1544712660300000000L);
    assertThat(record.getObservedTimeUnixNano()).isEqualTo(1544712660300000000L);
    assertThat(record.getSeverityNumber()).isEqualTo(SeverityNumber.SEVERITY_NUMBER_INFO2);
    assertThat(record.getSeverityText()).isEqualTo("Information");
    assertThat(record.getBody().getStringValue()).isEqualTo("Example log record");

    Map<String, AnyValue> attributes = record.getAttributesList().stream()
        .collect(Collectors.toMap(KeyValue::getKey, KeyValue::getValue));
    assertThat(attributes).hasSize(array(recordJson, "attributes").size());
    assertThat(attributes.get("string.attribute").getStringValue()).isEqualTo("some string");
    assertThat(attributes.get("boolean.attribute").getBoolValue()).isTrue();
    assertThat(attributes.get("int.attribute").getValueCase()).isEqualTo(AnyValue.ValueCase.INT_VALUE);
    assertThat(attributes.get("int.attribute").getIntValue()).isEqualTo(10L);
    assertThat(attributes.get("double.attribute").getDoubleValue()).isEqualTo(637.704);
    assertThat(attributes.get("array.attribute").getArrayValue().getValuesList())
        .extracting(AnyValue::getStringValue).containsExactly("many", "values");
    KeyValue entry = attributes.get("map.attribute").getKvlistValue().getValues(0);
    assertThat(entry.getKey()).isEqualTo("some.map.key");
    assertThat(entry.getValue().getStringValue()).isEqualTo("some value");
  }

  @Test
  void metricsExampleDecodesToItsValues() {
    byte[] json = example("metrics.json");
    Object tree = JsonTree.parse(json);
    List<Object> metricsJson = array(tree, "resourceMetrics", "0", "scopeMetrics", "0", "metrics");

    ExportMetricsServiceRequest request =
        OtlpJsonCodec.parse(json, 0, json.length, ExportMetricsServiceRequest.getDefaultInstance());

    List<Metric> metrics = request.getResourceMetricsList().stream()
        .flatMap(rm -> rm.getScopeMetricsList().stream())
        .flatMap(sm -> sm.getMetricsList().stream())
        .collect(Collectors.toList());
    assertThat(metrics).hasSize(metricsJson.size());
    for (String kind : List.of("sum", "gauge", "histogram", "exponentialHistogram", "summary")) {
      long inJson = metricsJson.stream()
          .filter(m -> ((Map<?, ?>) m).containsKey(kind))
          .mapToLong(m -> array(m, kind, "dataPoints").size())
          .sum();
      assertThat(dataPoints(metrics, kind)).as(kind).isEqualTo(inJson);
    }
    assertThat(dataPoints(metrics, "sum")).isEqualTo(1);
    assertThat(dataPoints(metrics, "gauge")).isEqualTo(1);
    assertThat(dataPoints(metrics, "histogram")).isEqualTo(1);
    assertThat(dataPoints(metrics, "exponentialHistogram")).isEqualTo(1);
    assertThat(dataPoints(metrics, "summary")).isZero();

    Metric counter = metrics.get(0);
    assertThat(counter.getName()).isEqualTo("my.counter");
    assertThat(counter.getUnit()).isEqualTo("1");
    assertThat(counter.getDescription()).isEqualTo("I am a Counter");
    assertThat(counter.getDataCase()).isEqualTo(Metric.DataCase.SUM);
    assertThat(counter.getSum().getAggregationTemporality())
        .isEqualTo(AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA);
    assertThat(counter.getSum().getIsMonotonic()).isTrue();
    NumberDataPoint sumPoint = counter.getSum().getDataPoints(0);
    assertThat(sumPoint.getValueCase()).isEqualTo(NumberDataPoint.ValueCase.AS_DOUBLE);
    assertThat(sumPoint.getAsDouble()).isEqualTo(5.0);
    assertThat(sumPoint.getStartTimeUnixNano()).isEqualTo(1544712660300000000L);
    assertThat(sumPoint.getAttributes(0).getValue().getStringValue()).isEqualTo("some value");

    assertThat(metrics.get(1).getGauge().getDataPoints(0).getAsDouble()).isEqualTo(10.0);

    HistogramDataPoint histogram = metrics.get(2).getHistogram().getDataPoints(0);
    assertThat(histogram.getCount()).isEqualTo(2L);
    assertThat(histogram.getSum()).isEqualTo(2.0);
    assertThat(histogram.getBucketCountsList()).containsExactly(1L, 1L);
    assertThat(histogram.getExplicitBoundsList()).containsExactly(1.0);
    assertThat(histogram.hasMin()).isTrue();
    assertThat(histogram.getMin()).isEqualTo(0.0);
    assertThat(histogram.getMax()).isEqualTo(2.0);

    ExponentialHistogramDataPoint exponential = metrics.get(3).getExponentialHistogram().getDataPoints(0);
    assertThat(exponential.getCount()).isEqualTo(3L);
    assertThat(exponential.getSum()).isEqualTo(10.0);
    assertThat(exponential.getScale()).isZero();
    assertThat(exponential.getZeroCount()).isEqualTo(1L);
    assertThat(exponential.getPositive().getOffset()).isEqualTo(1);
    assertThat(exponential.getPositive().getBucketCountsList()).containsExactly(0L, 2L);
    assertThat(exponential.hasNegative()).isFalse();
    assertThat(exponential.getMax()).isEqualTo(5.0);
  }

  @Test
  void examplesRoundTrip() {
    // The ids come back as the example's hex in lowercase.
    assertThat(roundTrip("trace.json", ExportTraceServiceRequest.getDefaultInstance()))
        .contains("\"traceId\":\"5b8efff798038103d269b633813fc60c\"")
        .contains("\"spanId\":\"eee19b7ec3c1b174\"")
        .contains("\"parentSpanId\":\"eee19b7ec3c1b173\"");
    roundTrip("metrics.json", ExportMetricsServiceRequest.getDefaultInstance());
    assertThat(roundTrip("logs.json", ExportLogsServiceRequest.getDefaultInstance()))
        .contains("\"traceId\":\"5b8efff798038103d269b633813fc60c\"");
  }

  @Test
  void examplesKeepTheirContentThroughProtobuf() {
    for (var example : Map.of(
        "trace.json", (Message) ExportTraceServiceRequest.getDefaultInstance(),
        "metrics.json", ExportMetricsServiceRequest.getDefaultInstance(),
        "logs.json", ExportLogsServiceRequest.getDefaultInstance()).entrySet()) {
      byte[] json = example(example.getKey());
      byte[] written = OtlpJsonCodec.toJsonBytes(OtlpJsonCodec.parse(json, 0, json.length, example.getValue()));
      assertThat(normalize(null, JsonTree.parse(written)))
          .as(example.getKey())
          .isEqualTo(normalize(null, JsonTree.parse(json)));
    }
  }

  /**
   * Makes two encodings of the same content compare equal: numbers by value, hex ids in one case, and
   * zero, false and "" left out as proto3 writers leave them out.
   */
  private static Object normalize(String key, Object node) {
    if (node instanceof Map<?, ?> map) {
      Map<String, Object> out = new java.util.TreeMap<>();
      map.forEach((k, v) -> {
        Object value = normalize((String) k, v);
        boolean isDefault = value == null || Boolean.FALSE.equals(value) || "".equals(value)
            || (value instanceof java.math.BigDecimal d && d.signum() == 0)
            || (value instanceof List<?> l && l.isEmpty());
        // min/max/sum of histograms are optional: zero there is a value, not an absence.
        if (!isDefault || List.of("min", "max", "sum").contains(k)) {
          out.put((String) k, value);
        }
      });
      return out;
    } else if (node instanceof List<?> list) {
      return list.stream().map(e -> normalize(key, e)).collect(Collectors.toList());
    } else if (node instanceof Number number) {
      return new java.math.BigDecimal(number.toString()).stripTrailingZeros();
    } else if (node instanceof String text && key != null && key.endsWith("Id")) {
      return text.toLowerCase(java.util.Locale.ROOT);
    }
    return node;
  }

  @Test
  void examplesParseFromAStreamAndFromASlice() throws IOException {
    byte[] json = example("trace.json");
    ExportTraceServiceRequest expected =
        OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance());
    try (InputStream in = OtlpJsonExamplesTest.class.getResourceAsStream("/otlp-json/trace.json")) {
      assertThat(OtlpJsonCodec.parse(in, ExportTraceServiceRequest.getDefaultInstance())).isEqualTo(expected);
    }
    byte[] padded = new byte[json.length + 10];
    System.arraycopy(json, 0, padded, 3, json.length);
    padded[json.length + 3] = '!';
    assertThat(OtlpJsonCodec.parse(padded, 3, json.length, ExportTraceServiceRequest.getDefaultInstance()))
        .isEqualTo(expected);
  }

  private static <T extends Message> String roundTrip(String name, T prototype) {
    byte[] json = example(name);
    T first = OtlpJsonCodec.parse(json, 0, json.length, prototype);
    byte[] written = OtlpJsonCodec.toJsonBytes(first);
    T second = OtlpJsonCodec.parse(written, 0, written.length, prototype);
    assertThat(second).as(name).isEqualTo(first);
    assertThat(OtlpJsonCodec.toJsonBytes(second)).as(name).isEqualTo(written);
    return new String(written, java.nio.charset.StandardCharsets.UTF_8);
  }

  /** Counts the objects at the end of a chain of arrays, e.g. resourceSpans[*].scopeSpans[*].spans[*]. */
  static int countLeaves(Object node, String... arrays) {
    if (arrays.length == 0) {
      return 1;
    }
    List<Object> items = array(node, arrays[0]);
    if (items == null) {
      return 0;
    }
    String[] rest = java.util.Arrays.copyOfRange(arrays, 1, arrays.length);
    return items.stream().mapToInt(item -> countLeaves(item, rest)).sum();
  }

  private static long dataPoints(List<Metric> metrics, String kind) {
    return metrics.stream().mapToLong(m -> {
      switch (kind) {
        case "sum":
          return m.hasSum() ? m.getSum().getDataPointsCount() : 0;
        case "gauge":
          return m.hasGauge() ? m.getGauge().getDataPointsCount() : 0;
        case "histogram":
          return m.hasHistogram() ? m.getHistogram().getDataPointsCount() : 0;
        case "exponentialHistogram":
          return m.hasExponentialHistogram() ? m.getExponentialHistogram().getDataPointsCount() : 0;
        case "summary":
          return m.hasSummary() ? m.getSummary().getDataPointsCount() : 0;
        default:
          throw new IllegalArgumentException(kind);
      }
    }).sum();
  }

  private static KeyValue attribute(String key, AnyValue value) {
    return KeyValue.newBuilder().setKey(key).setValue(value).build();
  }
}
