package dev.sluice.otlp.json;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsPartialSuccess;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.ArrayValue;
import io.opentelemetry.proto.common.v1.EntityRef;
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
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Messages with every OTLP field kind set survive protobuf -> JSON -> protobuf, written in OTLP/JSON form. */
class OtlpJsonRoundTripTest {
  private static final ByteString TRACE_ID = hex("0af7651916cd43dd8448eb211c80319c");
  private static final ByteString SPAN_ID = hex("B7AD6B7169203331");
  private static final long T0 = 1_700_000_000_123_456_789L;

  static ByteString hex(String text) {
    return ByteString.copyFrom(HexFormat.of().parseHex(text));
  }

  static <T extends Message> T roundTrip(T message) {
    byte[] json = OtlpJsonCodec.toJsonBytes(message);
    @SuppressWarnings("unchecked")
    T back = (T) OtlpJsonCodec.parse(json, 0, json.length, message.getDefaultInstanceForType());
    assertThat(back).isEqualTo(message);
    // A second pass must produce the very same bytes: the encoding is deterministic.
    assertThat(OtlpJsonCodec.toJsonBytes(back)).isEqualTo(json);
    return back;
  }

  static KeyValue kv(String key, AnyValue value) {
    return KeyValue.newBuilder().setKey(key).setValue(value).build();
  }

  /** One attribute of every AnyValue kind, nested kinds included. */
  static List<KeyValue> allValueKinds() {
    AnyValue nested = AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder()
        .addValues(kv("inner", AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
            .addValues(AnyValue.newBuilder().setIntValue(-1))
            .addValues(AnyValue.newBuilder().setDoubleValue(Double.NEGATIVE_INFINITY))
            .addValues(AnyValue.getDefaultInstance())).build()))).build();
    return List.of(
        kv("string", AnyValue.newBuilder().setStringValue("héllo \"quoted\" \\ \n\t\u0000 \ud83d\ude80").build()),
        kv("empty.string", AnyValue.newBuilder().setStringValue("").build()),
        kv("bool", AnyValue.newBuilder().setBoolValue(true).build()),
        kv("false", AnyValue.newBuilder().setBoolValue(false).build()),
        kv("int", AnyValue.newBuilder().setIntValue(Long.MIN_VALUE).build()),
        kv("zero", AnyValue.newBuilder().setIntValue(0).build()),
        kv("double", AnyValue.newBuilder().setDoubleValue(-1.25e-300).build()),
        kv("nan", AnyValue.newBuilder().setDoubleValue(Double.NaN).build()),
        kv("inf", AnyValue.newBuilder().setDoubleValue(Double.POSITIVE_INFINITY).build()),
        kv("bytes", AnyValue.newBuilder().setBytesValue(ByteString.copyFrom(new byte[] {0, -1, -5, 62, 63})).build()),
        kv("array", AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
            .addValues(AnyValue.newBuilder().setStringValue("a"))
            .addValues(AnyValue.newBuilder().setBoolValue(false))).build()),
        kv("kvlist", nested),
        kv("strindex", AnyValue.newBuilder().setStringValueStrindex(3).build()),
        KeyValue.newBuilder().setKey("unset").build(),
        KeyValue.newBuilder().setKeyStrindex(9).setValue(AnyValue.newBuilder().setStringValue("x")).build());
  }

  static Resource resource() {
    return Resource.newBuilder()
        .addAttributes(kv("service.name", AnyValue.newBuilder().setStringValue("checkout").build()))
        .setDroppedAttributesCount(2)
        .addEntityRefs(EntityRef.newBuilder().setType("host").setSchemaUrl("s").addIdKeys("host.id")
            .addDescriptionKeys("host.name").addDescriptionKeys("host.arch"))
        .build();
  }

  static InstrumentationScope scope() {
    return InstrumentationScope.newBuilder().setName("io.lib").setVersion("1.2.3")
        .addAttributes(kv("scope.attr", AnyValue.newBuilder().setIntValue(5).build()))
        .setDroppedAttributesCount(1).build();
  }

  static ExportTraceServiceRequest traces() {
    Span full = Span.newBuilder()
        .setTraceId(TRACE_ID).setSpanId(SPAN_ID).setParentSpanId(hex("00f067aa0ba902b7"))
        .setTraceState("congo=t61rcWkgMzE").setFlags(0x301).setName("GET /cart")
        .setKind(Span.SpanKind.SPAN_KIND_CONSUMER)
        .setStartTimeUnixNano(T0).setEndTimeUnixNano(-2L)
        .addAllAttributes(allValueKinds()).setDroppedAttributesCount(7)
        .addEvents(Span.Event.newBuilder().setTimeUnixNano(T0 + 1).setName("exception")
            .addAttributes(kv("exception.message", AnyValue.newBuilder().setStringValue("boom").build()))
            .setDroppedAttributesCount(1))
        .addEvents(Span.Event.getDefaultInstance())
        .setDroppedEventsCount(3)
        .addLinks(Span.Link.newBuilder().setTraceId(TRACE_ID).setSpanId(hex("0102030405060708"))
            .setTraceState("a=b").setFlags(1).setDroppedAttributesCount(4)
            .addAttributes(kv("link.attr", AnyValue.newBuilder().setBoolValue(true).build())))
        .addLinks(Span.Link.newBuilder().setTraceId(hex("ab")).setSpanId(ByteString.EMPTY))
        .setDroppedLinksCount(5)
        .setStatus(Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_ERROR).setMessage("failed"))
        .build();
    Span minimal = Span.newBuilder().setName("minimal").setStatus(Status.getDefaultInstance()).build();
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().setResource(resource()).setSchemaUrl("https://schema/1")
            .addScopeSpans(ScopeSpans.newBuilder().setScope(scope()).setSchemaUrl("https://schema/2")
                .addSpans(full).addSpans(minimal))
            .addScopeSpans(ScopeSpans.getDefaultInstance()))
        .addResourceSpans(ResourceSpans.getDefaultInstance())
        .build();
  }

  static ExportMetricsServiceRequest metrics() {
    Exemplar exemplar = Exemplar.newBuilder()
        .addFilteredAttributes(kv("user", AnyValue.newBuilder().setStringValue("u1").build()))
        .setTimeUnixNano(T0).setAsDouble(0.5).setTraceId(TRACE_ID).setSpanId(SPAN_ID).build();
    Exemplar intExemplar = Exemplar.newBuilder().setAsInt(-9).build();
    KeyValue attr = kv("k", AnyValue.newBuilder().setStringValue("v").build());
    Metric gauge = Metric.newBuilder().setName("g").setDescription("a gauge").setUnit("ms")
        .addMetadata(kv("meta", AnyValue.newBuilder().setBoolValue(true).build()))
        .setGauge(Gauge.newBuilder()
            .addDataPoints(NumberDataPoint.newBuilder().addAttributes(attr).setStartTimeUnixNano(T0)
                .setTimeUnixNano(T0 + 5).setAsDouble(Double.NaN).addExemplars(exemplar).setFlags(1))
            .addDataPoints(NumberDataPoint.newBuilder().setAsInt(Long.MAX_VALUE))
            .addDataPoints(NumberDataPoint.newBuilder().setAsInt(0))
            .addDataPoints(NumberDataPoint.newBuilder().setAsDouble(0.0)))
        .build();
    Metric sum = Metric.newBuilder().setName("s")
        .setSum(Sum.newBuilder().setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)
            .setIsMonotonic(true)
            .addDataPoints(NumberDataPoint.newBuilder().setAsInt(-12345678901234L).addExemplars(intExemplar)))
        .build();
    Metric histogram = Metric.newBuilder().setName("h")
        .setHistogram(Histogram.newBuilder()
            .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA)
            .addDataPoints(HistogramDataPoint.newBuilder().addAttributes(attr).setStartTimeUnixNano(T0)
                .setTimeUnixNano(T0 + 1).setCount(-1L).setSum(12.5)
                .addAllBucketCounts(List.of(0L, 3L, -1L, 1L << 62))
                .addAllExplicitBounds(List.of(-1.5, 0.0, Double.POSITIVE_INFINITY))
                .addExemplars(exemplar).setFlags(0).setMin(0.0).setMax(Double.MAX_VALUE))
            .addDataPoints(HistogramDataPoint.newBuilder().setCount(1)))
        .build();
    Metric exponential = Metric.newBuilder().setName("e")
        .setExponentialHistogram(ExponentialHistogram.newBuilder()
            .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)
            .addDataPoints(ExponentialHistogramDataPoint.newBuilder().addAttributes(attr)
                .setStartTimeUnixNano(T0).setTimeUnixNano(T0 + 2).setCount(10).setSum(-3.75).setScale(-4)
                .setZeroCount(2).setZeroThreshold(1e-9).setFlags(1).setMin(-10).setMax(Double.MIN_VALUE)
                .setPositive(ExponentialHistogramDataPoint.Buckets.newBuilder().setOffset(-3)
                    .addAllBucketCounts(List.of(1L, 0L, -1L)))
                .setNegative(ExponentialHistogramDataPoint.Buckets.getDefaultInstance())
                .addExemplars(intExemplar)))
        .build();
    Metric summary = Metric.newBuilder().setName("q")
        .setSummary(Summary.newBuilder()
            .addDataPoints(SummaryDataPoint.newBuilder().addAttributes(attr).setStartTimeUnixNano(T0)
                .setTimeUnixNano(T0 + 3).setCount(4).setSum(10.25).setFlags(1)
                .addQuantileValues(SummaryDataPoint.ValueAtQuantile.newBuilder().setQuantile(0.5).setValue(2))
                .addQuantileValues(SummaryDataPoint.ValueAtQuantile.newBuilder().setQuantile(1.0)
                    .setValue(Double.NEGATIVE_INFINITY))
                .addQuantileValues(SummaryDataPoint.ValueAtQuantile.getDefaultInstance())))
        .build();
    return ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource()).setSchemaUrl("u")
            .addScopeMetrics(ScopeMetrics.newBuilder().setScope(scope()).setSchemaUrl("v")
                .addMetrics(gauge).addMetrics(sum).addMetrics(histogram).addMetrics(exponential)
                .addMetrics(summary).addMetrics(Metric.newBuilder().setName("no data"))))
        .build();
  }

  static ExportLogsServiceRequest logs() {
    LogRecord full = LogRecord.newBuilder().setTimeUnixNano(T0).setObservedTimeUnixNano(T0 + 9)
        .setSeverityNumber(SeverityNumber.SEVERITY_NUMBER_FATAL4).setSeverityText("FATAL")
        .setBody(AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder().addAllValues(allValueKinds())))
        .addAllAttributes(allValueKinds()).setDroppedAttributesCount(3).setFlags(0xff)
        .setTraceId(TRACE_ID).setSpanId(SPAN_ID).setEventName("browser.click")
        .build();
    LogRecord oddIds = LogRecord.newBuilder().setTraceId(hex("00112233445566778899aabbccddee"))
        .setSpanId(hex("01")).setBody(AnyValue.newBuilder().setBytesValue(ByteString.copyFromUtf8("raw"))).build();
    return ExportLogsServiceRequest.newBuilder()
        .addResourceLogs(ResourceLogs.newBuilder().setResource(resource()).setSchemaUrl("x")
            .addScopeLogs(ScopeLogs.newBuilder().setScope(scope()).setSchemaUrl("y")
                .addLogRecords(full).addLogRecords(oddIds).addLogRecords(LogRecord.getDefaultInstance())))
        .build();
  }

  @Test
  void tracesRoundTrip() {
    roundTrip(traces());
  }

  @Test
  void metricsWithAllFiveKindsRoundTrip() {
    ExportMetricsServiceRequest metrics = roundTrip(metrics());
    List<Metric.DataCase> kinds = metrics.getResourceMetrics(0).getScopeMetrics(0).getMetricsList().stream()
        .map(Metric::getDataCase).toList();
    assertThat(kinds).containsExactly(Metric.DataCase.GAUGE, Metric.DataCase.SUM, Metric.DataCase.HISTOGRAM,
        Metric.DataCase.EXPONENTIAL_HISTOGRAM, Metric.DataCase.SUMMARY, Metric.DataCase.DATA_NOT_SET);
    // Exemplars carry ids too, so they are hex as well.
    Object exemplar = JsonTree.at(JsonTree.parse(OtlpJsonCodec.toJsonBytes(metrics)), "resourceMetrics", "0",
        "scopeMetrics", "0", "metrics", "0", "gauge", "dataPoints", "0", "exemplars", "0");
    assertThat(JsonTree.at(exemplar, "traceId")).isEqualTo("0af7651916cd43dd8448eb211c80319c");
    assertThat(JsonTree.at(exemplar, "spanId")).isEqualTo("b7ad6b7169203331");
    assertThat(JsonTree.at(exemplar, "timeUnixNano")).isEqualTo(Long.toString(T0));
  }

  @Test
  void logsRoundTrip() {
    roundTrip(logs());
  }

  @Test
  void responsesRoundTrip() {
    var trace = ExportTraceServiceResponse.newBuilder().setPartialSuccess(
        ExportTracePartialSuccess.newBuilder().setRejectedSpans(3).setErrorMessage("3 spans had no trace id")).build();
    var metrics = ExportMetricsServiceResponse.newBuilder().setPartialSuccess(
        ExportMetricsPartialSuccess.newBuilder().setRejectedDataPoints(1L << 40).setErrorMessage("too many")).build();
    var logs = ExportLogsServiceResponse.newBuilder().setPartialSuccess(
        ExportLogsPartialSuccess.newBuilder().setRejectedLogRecords(1)).build();
    assertThat(json(roundTrip(trace)))
        .isEqualTo("{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"3 spans had no trace id\"}}");
    assertThat(json(roundTrip(metrics)))
        .isEqualTo("{\"partialSuccess\":{\"rejectedDataPoints\":\"1099511627776\",\"errorMessage\":\"too many\"}}");
    assertThat(json(roundTrip(logs))).isEqualTo("{\"partialSuccess\":{\"rejectedLogRecords\":\"1\"}}");
    assertThat(json(roundTrip(ExportTraceServiceResponse.getDefaultInstance()))).isEqualTo("{}");
    byte[] numeric = "{\"partialSuccess\":{\"rejectedSpans\":3,\"error_message\":\"3 spans had no trace id\"}}"
        .getBytes(StandardCharsets.UTF_8);
    assertThat(OtlpJsonCodec.parse(numeric, 0, numeric.length, ExportTraceServiceResponse.getDefaultInstance()))
        .isEqualTo(trace);
    assertThat(json(roundTrip(ExportLogsServiceResponse.newBuilder()
        .setPartialSuccess(ExportLogsPartialSuccess.getDefaultInstance()).build())))
        .isEqualTo("{\"partialSuccess\":{}}");
  }

  @Test
  void randomlyFilledTracesRoundTrip() {
    Random random = new Random(42);
    for (int i = 0; i < 50; i++) {
      Span.Builder span = Span.newBuilder()
          .setTraceId(ByteString.copyFrom(randomBytes(random, 16)))
          .setSpanId(ByteString.copyFrom(randomBytes(random, 8)))
          .setName(randomString(random)).setKindValue(random.nextInt(6))
          .setStartTimeUnixNano(random.nextLong()).setEndTimeUnixNano(random.nextLong())
          .setFlags(random.nextInt()).setDroppedAttributesCount(random.nextInt());
      for (int a = random.nextInt(5); a > 0; a--) {
        AnyValue.Builder value = AnyValue.newBuilder();
        switch (random.nextInt(5)) {
          case 0 -> value.setStringValue(randomString(random));
          case 1 -> value.setIntValue(random.nextLong());
          case 2 -> value.setDoubleValue(Double.longBitsToDouble(random.nextLong()));
          case 3 -> value.setBytesValue(ByteString.copyFrom(randomBytes(random, random.nextInt(20))));
          default -> value.setBoolValue(random.nextBoolean());
        }
        span.addAttributes(kv(randomString(random), value.build()));
      }
      roundTrip(ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans.newBuilder()
          .addScopeSpans(ScopeSpans.newBuilder().addSpans(span))).build());
    }
  }

  @Test
  void outputIsOtlpJson() {
    byte[] json = OtlpJsonCodec.toJsonBytes(traces());
    String text = new String(json, StandardCharsets.UTF_8);
    assertThat(text).doesNotContain("\n").doesNotContain(" \"").doesNotContain("_");
    assertThat(json[json.length - 1]).isEqualTo((byte) '}');

    Object tree = JsonTree.parse(json);
    Map<String, Object> span = JsonTree.object(tree, "resourceSpans", "0", "scopeSpans", "0", "spans", "0");
    // Ids as lowercase hex, even where the input had uppercase.
    assertThat(span.get("traceId")).isEqualTo("0af7651916cd43dd8448eb211c80319c");
    assertThat(span.get("spanId")).isEqualTo("b7ad6b7169203331");
    assertThat(span.get("parentSpanId")).isEqualTo("00f067aa0ba902b7");
    assertThat(JsonTree.at(span, "links", "0", "spanId")).isEqualTo("0102030405060708");
    assertThat(JsonTree.at(span, "links", "1", "traceId")).isEqualTo("ab");
    assertThat(JsonTree.object(span, "links", "1")).doesNotContainKey("spanId");
    // Enums as integers, int64 as decimal strings, 32-bit integers as numbers.
    assertThat(span.get("kind")).isEqualTo(5L);
    assertThat(JsonTree.at(span, "status", "code")).isEqualTo(2L);
    assertThat(span.get("startTimeUnixNano")).isEqualTo(Long.toString(T0));
    assertThat(span.get("endTimeUnixNano")).isEqualTo("18446744073709551614");
    assertThat(span.get("flags")).isEqualTo(0x301L);
    assertThat(span.get("droppedAttributesCount")).isEqualTo(7L);
    // camelCase keys; defaults left out; a present but empty status kept.
    assertThat(span).containsKeys("traceState", "droppedEventsCount", "droppedLinksCount");
    assertThat(JsonTree.object(span, "events", "1")).isEmpty();
    assertThat(JsonTree.object(tree, "resourceSpans", "0", "scopeSpans", "0", "spans", "1"))
        .containsOnlyKeys("name", "status");
    assertThat(JsonTree.object(tree, "resourceSpans", "1")).isEmpty();

    Map<String, Object> values = new java.util.HashMap<>();
    for (Object attribute : JsonTree.array(span, "attributes")) {
      values.put((String) JsonTree.at(attribute, "key"), JsonTree.at(attribute, "value"));
    }
    assertThat(values.get("int")).isEqualTo(Map.of("intValue", "-9223372036854775808"));
    assertThat(values.get("zero")).isEqualTo(Map.of("intValue", "0"));
    assertThat(values.get("empty.string")).isEqualTo(Map.of("stringValue", ""));
    assertThat(values.get("false")).isEqualTo(Map.of("boolValue", false));
    assertThat(values.get("double")).isEqualTo(Map.of("doubleValue", -1.25e-300));
    assertThat(values.get("nan")).isEqualTo(Map.of("doubleValue", "NaN"));
    assertThat(values.get("inf")).isEqualTo(Map.of("doubleValue", "Infinity"));
    assertThat(values.get("bytes")).isEqualTo(Map.of("bytesValue", "AP/7Pj8="));
    assertThat(values.get("strindex")).isEqualTo(Map.of("stringValueStrindex", 3L));
    assertThat(values.get("unset")).isNull();
    assertThat(JsonTree.at(values.get("kvlist"), "kvlistValue", "values", "0", "value", "arrayValue", "values"))
        .isEqualTo(List.of(Map.of("intValue", "-1"), Map.of("doubleValue", "-Infinity"), Map.of()));
  }

  @Test
  void writesToAStreamWithoutClosingIt() {
    boolean[] closed = {false};
    ByteArrayOutputStream sink = new ByteArrayOutputStream();
    OutputStream out = new OutputStream() {
      @Override
      public void write(int b) {
        sink.write(b);
      }

      @Override
      public void write(byte[] b, int off, int len) {
        sink.write(b, off, len);
      }

      @Override
      public void close() {
        closed[0] = true;
      }
    };
    OtlpJsonCodec.write(logs(), out);
    OtlpJsonCodec.write(ExportLogsServiceResponse.getDefaultInstance(), out);
    assertThat(closed[0]).isFalse();
    assertThat(sink.toString(StandardCharsets.UTF_8))
        .isEqualTo(json(logs()) + "{}");
  }

  @Test
  void buildersAreWrittenLikeTheirMessages() {
    ExportTraceServiceRequest request = traces();
    assertThat(OtlpJsonCodec.toJsonBytes(request.toBuilder())).isEqualTo(OtlpJsonCodec.toJsonBytes(request));
  }

  @Test
  void messagesTooDeepForJsonFailToEncode() {
    AnyValue value = AnyValue.newBuilder().setStringValue("leaf").build();
    for (int i = 0; i < 400; i++) {
      value = AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder().addValues(value)).build();
    }
    AnyValue deep = value;
    assertThatThrownBy(() -> OtlpJsonCodec.toJsonBytes(deep))
        .isInstanceOf(OtlpJsonException.class)
        .hasMessageStartingWith("cannot encode in arrayValue.values[0].arrayValue");
  }

  @Test
  void aFailingStreamSurfacesAsUncheckedIoException() {
    OutputStream broken = new OutputStream() {
      @Override
      public void write(int b) throws java.io.IOException {
        throw new java.io.IOException("disk full");
      }
    };
    assertThatThrownBy(() -> OtlpJsonCodec.write(traces(), broken))
        .isInstanceOf(java.io.UncheckedIOException.class)
        .hasRootCauseMessage("disk full");
  }

  private static String json(Message message) {
    return new String(OtlpJsonCodec.toJsonBytes(message), StandardCharsets.UTF_8);
  }

  private static byte[] randomBytes(Random random, int n) {
    byte[] bytes = new byte[n];
    random.nextBytes(bytes);
    return bytes;
  }

  private static String randomString(Random random) {
    StringBuilder text = new StringBuilder();
    for (int n = random.nextInt(12); n > 0; n--) {
      int codePoint;
      do {
        codePoint = random.nextInt(4) == 0 ? random.nextInt(0x10FFFF) : random.nextInt(0x80);
      } while (Character.isSurrogate((char) codePoint) && codePoint < 0x10000);
      text.appendCodePoint(codePoint);
    }
    return text.toString();
  }
}
