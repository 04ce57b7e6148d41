package dev.sluice.otlp.json;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.rpc.ErrorInfo;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.SeverityNumber;
import io.opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Input that proto3 JSON and OTLP allow senders to spell in more than one way decodes to the same message. */
class OtlpJsonLenientInputTest {

  static <T extends Message> T parse(String json, T prototype) {
    byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
    return OtlpJsonCodec.parse(bytes, 0, bytes.length, prototype);
  }

  /** Wraps a span's JSON into a whole trace request and returns the decoded span. */
  static Span span(String spanJson) {
    return parse("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" + spanJson + "]}]}]}",
        ExportTraceServiceRequest.getDefaultInstance())
        .getResourceSpans(0).getScopeSpans(0).getSpans(0);
  }

  static LogRecord log(String recordJson) {
    return parse("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[" + recordJson + "]}]}]}",
        ExportLogsServiceRequest.getDefaultInstance())
        .getResourceLogs(0).getScopeLogs(0).getLogRecords(0);
  }

  static AnyValue value(String anyValueJson) {
    return log("{\"body\":" + anyValueJson + "}").getBody();
  }

  static HistogramDataPoint histogramPoint(String pointJson) {
    return parse("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"histogram\":{\"dataPoints\":["
        + pointJson + "]}}]}]}]}", ExportMetricsServiceRequest.getDefaultInstance())
        .getResourceMetrics(0).getScopeMetrics(0).getMetrics(0).getHistogram().getDataPoints(0);
  }

  static ExponentialHistogramDataPoint exponentialPoint(String pointJson) {
    return parse("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"exponentialHistogram\":"
        + "{\"dataPoints\":[" + pointJson + "]}}]}]}]}", ExportMetricsServiceRequest.getDefaultInstance())
        .getResourceMetrics(0).getScopeMetrics(0).getMetrics(0).getExponentialHistogram().getDataPoints(0);
  }

  @Test
  void hexIdsInEitherCase() {
    String id = "5B8EFFF798038103d269b633813fc60C";
    Span span = span("{\"traceId\":\"" + id + "\",\"spanId\":\"EEE19B7EC3C1B174\",\"parentSpanId\":\"abcdef0123456789\","
        + "\"links\":[{\"traceId\":\"" + id + "\",\"spanId\":\"00000000000000FF\"}]}");
    assertThat(span.getTraceId().toByteArray()).isEqualTo(HexFormat.of().parseHex(id));
    assertThat(span.getSpanId().toByteArray()).isEqualTo(HexFormat.of().parseHex("eee19b7ec3c1b174"));
    assertThat(span.getParentSpanId().toByteArray()).isEqualTo(HexFormat.of().parseHex("abcdef0123456789"));
    assertThat(span.getLinks(0).getTraceId()).isEqualTo(span.getTraceId());
    assertThat(span.getLinks(0).getSpanId().byteAt(7)).isEqualTo((byte) 0xff);
  }

  @Test
  void hexIdsOfTheWrongLengthDecodeForLaterValidation() {
    assertThat(span("{\"traceId\":\"00112233445566778899aabbccddee\"}").getTraceId().size()).isEqualTo(15);
    assertThat(span("{\"traceId\":\"\",\"spanId\":\"\"}").getTraceId()).isEqualTo(ByteString.EMPTY);
    assertThat(span("{\"spanId\":\"00112233445566778899\"}").getSpanId().size()).isEqualTo(10);
  }

  @Test
  void snakeCaseKeys() {
    Span camel = span("{\"traceId\":\"00112233445566778899aabbccddeeff\",\"parentSpanId\":\"0011223344556677\","
        + "\"startTimeUnixNano\":\"5\",\"droppedAttributesCount\":3,\"traceState\":\"a=b\"}");
    Span snake = span("{\"trace_id\":\"00112233445566778899aabbccddeeff\",\"parent_span_id\":\"0011223344556677\","
        + "\"start_time_unix_nano\":\"5\",\"dropped_attributes_count\":3,\"trace_state\":\"a=b\"}");
    assertThat(snake).isEqualTo(camel);
    assertThat(snake.getStartTimeUnixNano()).isEqualTo(5L);
    assertThat(snake.getDroppedAttributesCount()).isEqualTo(3);

    var request = parse("{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{\"name\":\"s\"}]}],"
        + "\"schema_url\":\"u\"}]}", ExportTraceServiceRequest.getDefaultInstance());
    assertThat(request.getResourceSpans(0).getSchemaUrl()).isEqualTo("u");
    assertThat(request.getResourceSpans(0).getScopeSpans(0).getSpans(0).getName()).isEqualTo("s");
    assertThat(value("{\"kvlist_value\":{\"values\":[{\"key\":\"k\",\"value\":{\"int_value\":\"7\"}}]}}")
        .getKvlistValue().getValues(0).getValue().getIntValue()).isEqualTo(7L);
  }

  @Test
  void enumsAsNumbersOrNames() {
    assertThat(span("{\"kind\":2}").getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(span("{\"kind\":\"SPAN_KIND_SERVER\"}").getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(span("{\"kind\":\"3\"}").getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_CLIENT);
    assertThat(span("{\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"m\"}}").getStatus().getCode())
        .isEqualTo(Status.StatusCode.STATUS_CODE_ERROR);
    assertThat(log("{\"severityNumber\":\"SEVERITY_NUMBER_WARN\"}").getSeverityNumber())
        .isEqualTo(SeverityNumber.SEVERITY_NUMBER_WARN);
    assertThat(log("{\"severity_number\":17}").getSeverityNumber()).isEqualTo(SeverityNumber.SEVERITY_NUMBER_ERROR);
  }

  @Test
  void enumNumbersThisVersionLacksAreKeptAndNamesAreDropped() {
    Span unknownNumber = span("{\"kind\":99}");
    assertThat(unknownNumber.getKindValue()).isEqualTo(99);
    assertThat(new String(OtlpJsonCodec.toJsonBytes(unknownNumber), StandardCharsets.UTF_8))
        .isEqualTo("{\"kind\":99}");
    Span unknownName = span("{\"kind\":\"SPAN_KIND_FROM_THE_FUTURE\",\"name\":\"n\"}");
    assertThat(unknownName.getKindValue()).isZero();
    assertThat(unknownName.getName()).isEqualTo("n");
  }

  @Test
  void int64AsNumberOrString() {
    assertThat(span("{\"startTimeUnixNano\":1544712660000000000}").getStartTimeUnixNano())
        .isEqualTo(1544712660000000000L);
    assertThat(span("{\"startTimeUnixNano\":\"1544712660000000000\"}").getStartTimeUnixNano())
        .isEqualTo(1544712660000000000L);
    assertThat(value("{\"intValue\":-42}").getIntValue()).isEqualTo(-42L);
    assertThat(value("{\"intValue\":\"-42\"}").getIntValue()).isEqualTo(-42L);
    assertThat(value("{\"intValue\":\"9223372036854775807\"}").getIntValue()).isEqualTo(Long.MAX_VALUE);
    assertThat(value("{\"intValue\":\"-9223372036854775808\"}").getIntValue()).isEqualTo(Long.MIN_VALUE);
    assertThat(value("{\"intValue\":1e3}").getIntValue()).isEqualTo(1000L);
    assertThat(value("{\"intValue\":\"2.0\"}").getIntValue()).isEqualTo(2L);
    // fixed64 covers the whole unsigned range and is written back unsigned.
    Span max = span("{\"endTimeUnixNano\":\"18446744073709551615\"}");
    assertThat(max.getEndTimeUnixNano()).isEqualTo(-1L);
    assertThat(new String(OtlpJsonCodec.toJsonBytes(max), StandardCharsets.UTF_8))
        .isEqualTo("{\"endTimeUnixNano\":\"18446744073709551615\"}");
    assertThat(span("{\"endTimeUnixNano\":18446744073709551615}").getEndTimeUnixNano()).isEqualTo(-1L);
  }

  @Test
  void int32AsNumberOrString() {
    assertThat(span("{\"droppedAttributesCount\":\"4\"}").getDroppedAttributesCount()).isEqualTo(4);
    // uint32 and fixed32 reach 2^32 - 1.
    Span max = span("{\"droppedEventsCount\":4294967295,\"flags\":\"4294967295\"}");
    assertThat(max.getDroppedEventsCount()).isEqualTo(-1);
    assertThat(max.getFlags()).isEqualTo(-1);
    assertThat(new String(OtlpJsonCodec.toJsonBytes(max), StandardCharsets.UTF_8))
        .isEqualTo("{\"flags\":4294967295,\"droppedEventsCount\":4294967295}");
    assertThat(exponentialPoint("{\"scale\":-3,\"positive\":{\"offset\":\"-7\"}}"))
        .satisfies(p -> assertThat(p.getScale()).isEqualTo(-3))
        .satisfies(p -> assertThat(p.getPositive().getOffset()).isEqualTo(-7));
  }

  @Test
  void doublesAsNumbersOrStrings() {
    assertThat(value("{\"doubleValue\":\"NaN\"}").getDoubleValue()).isNaN();
    assertThat(value("{\"doubleValue\":\"Infinity\"}").getDoubleValue()).isEqualTo(Double.POSITIVE_INFINITY);
    assertThat(value("{\"doubleValue\":\"-Infinity\"}").getDoubleValue()).isEqualTo(Double.NEGATIVE_INFINITY);
    assertThat(value("{\"doubleValue\":\"1.5e3\"}").getDoubleValue()).isEqualTo(1500.0);
    assertThat(value("{\"doubleValue\":7}").getDoubleValue()).isEqualTo(7.0);
    assertThat(value("{\"doubleValue\":-0.0}").getDoubleValue()).isEqualTo(-0.0);
    HistogramDataPoint point = histogramPoint("{\"explicitBounds\":[1, 2.5, \"Infinity\"],\"min\":\"-Infinity\"}");
    assertThat(point.getExplicitBoundsList()).containsExactly(1.0, 2.5, Double.POSITIVE_INFINITY);
    assertThat(point.getMin()).isEqualTo(Double.NEGATIVE_INFINITY);
  }

  @Test
  void base64InEitherAlphabetWithOrWithoutPadding() {
    byte[] expected = {(byte) 0xfb, (byte) 0xff, (byte) 0xfe, 0x01};
    for (String encoded : new String[] {"+//+AQ==", "+//+AQ", "-__-AQ==", "-__-AQ"}) {
      assertThat(value("{\"bytesValue\":\"" + encoded + "\"}").getBytesValue().toByteArray())
          .as(encoded).isEqualTo(expected);
    }
    assertThat(value("{\"bytesValue\":\"\"}").getValueCase()).isEqualTo(AnyValue.ValueCase.BYTES_VALUE);
  }

  @Test
  void booleansAsLiteralsOrStrings() {
    assertThat(value("{\"boolValue\":true}").getBoolValue()).isTrue();
    assertThat(value("{\"boolValue\":\"true\"}").getBoolValue()).isTrue();
    assertThat(value("{\"boolValue\":false}").getValueCase()).isEqualTo(AnyValue.ValueCase.BOOL_VALUE);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "\"futureScalar\":1",
      "\"futureString\":\"x\"",
      "\"futureObject\":{\"a\":{\"b\":[1,{\"c\":null}]},\"traceId\":\"not hex\"}",
      "\"futureArray\":[[[]],{},\"s\",true,null,-1.5e7]",
      "\"futureNull\":null",
      "\"futureDeep\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":[[[[[[[[1]]]]]]]]}}}}}}}}"
  })
  void unknownKeysAreSkippedWithTheirWholeValue(String unknown) {
    String span = "{\"name\":\"before\"," + unknown + ",\"kind\":1}";
    assertThat(span(span)).isEqualTo(Span.newBuilder().setName("before").setKindValue(1).build());
    String request = "{" + unknown + ",\"resourceSpans\":[{" + unknown + ",\"scopeSpans\":[{\"spans\":[" + span
        + "]," + unknown + "}]}]," + unknown + "}";
    assertThat(parse(request, ExportTraceServiceRequest.getDefaultInstance()).getResourceSpans(0)
        .getScopeSpans(0).getSpans(0).getName()).isEqualTo("before");
  }

  @Test
  void nullMeansNotSet() {
    Span span = span("{\"name\":null,\"traceId\":null,\"kind\":null,\"status\":null,\"attributes\":null,"
        + "\"startTimeUnixNano\":null,\"events\":null}");
    assertThat(span).isEqualTo(Span.getDefaultInstance());
    assertThat(span.hasStatus()).isFalse();
    assertThat(histogramPoint("{\"min\":null,\"sum\":null}").hasMin()).isFalse();
    assertThat(value("{\"stringValue\":null}").getValueCase()).isEqualTo(AnyValue.ValueCase.VALUE_NOT_SET);
    assertThat(parse("{\"resourceSpans\":null}", ExportTraceServiceRequest.getDefaultInstance()))
        .isEqualTo(ExportTraceServiceRequest.getDefaultInstance());
  }

  @Test
  void presenceOfEmptyMessagesAndOptionalZeros() {
    var request = parse("{\"resourceSpans\":[{\"resource\":{},\"scopeSpans\":[{\"scope\":{},\"spans\":[{}]}]}]}",
        ExportTraceServiceRequest.getDefaultInstance());
    assertThat(request.getResourceSpans(0).hasResource()).isTrue();
    assertThat(request.getResourceSpans(0).getScopeSpans(0).hasScope()).isTrue();
    assertThat(request.getResourceSpans(0).getScopeSpans(0).getSpansCount()).isEqualTo(1);
    assertThat(new String(OtlpJsonCodec.toJsonBytes(request), StandardCharsets.UTF_8))
        .isEqualTo("{\"resourceSpans\":[{\"resource\":{},\"scopeSpans\":[{\"scope\":{},\"spans\":[{}]}]}]}");
    assertThat(histogramPoint("{\"min\":0,\"max\":0}").hasMin()).isTrue();
  }

  @Test
  void whitespaceAndUnicodeAreFine() {
    Span span = span(" {\n\t\"name\" : \"caf\\u00e9 \u00fcber \ud83d\ude00\" ,\r\n \"kind\" : 1 } ");
    assertThat(span.getName()).isEqualTo("café über \ud83d\ude00");
    byte[] written = OtlpJsonCodec.toJsonBytes(span);
    // Written as plain UTF-8, including the 4-byte emoji rather than an escaped surrogate pair.
    assertThat(new String(written, StandardCharsets.UTF_8)).isEqualTo("{\"name\":\"café über \ud83d\ude00\",\"kind\":1}");
  }

  @Test
  void mapFieldsAreJsonObjects() {
    // No OTLP type has a map; google.rpc.ErrorInfo shows the generic mapping still holds.
    ErrorInfo info = ErrorInfo.newBuilder().setReason("r").putMetadata("a", "1").putMetadata("b", "").build();
    byte[] json = OtlpJsonCodec.toJsonBytes(info);
    Object tree = JsonTree.parse(json);
    assertThat(JsonTree.object(tree, "metadata")).containsEntry("a", "1").containsEntry("b", "");
    assertThat(OtlpJsonCodec.parse(json, 0, json.length, ErrorInfo.getDefaultInstance())).isEqualTo(info);
  }
}
