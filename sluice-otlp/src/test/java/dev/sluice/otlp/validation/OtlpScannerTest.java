package dev.sluice.otlp.validation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.ArrayValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
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
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class OtlpScannerTest {
  private final Random random = new Random(42);

  private ByteString bytes(int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    b[0] = 1; // never all zeros
    return ByteString.copyFrom(b);
  }

  private Span span(int traceLen, int spanLen, int parentLen) {
    return Span.newBuilder()
        .setTraceId(bytes(traceLen == 0 ? 1 : traceLen).substring(0, traceLen))
        .setSpanId(bytes(spanLen == 0 ? 1 : spanLen).substring(0, spanLen))
        .setParentSpanId(bytes(parentLen == 0 ? 1 : parentLen).substring(0, parentLen))
        .setName("op-" + random.nextInt(100))
        .setKind(Span.SpanKind.SPAN_KIND_SERVER)
        .setStartTimeUnixNano(1_700_000_000_000_000_000L)
        .setEndTimeUnixNano(1_700_000_000_100_000_000L)
        .addAttributes(KeyValue.newBuilder().setKey("http.method")
            .setValue(AnyValue.newBuilder().setStringValue("GET")))
        .addAttributes(KeyValue.newBuilder().setKey("list").setValue(AnyValue.newBuilder()
            .setArrayValue(ArrayValue.newBuilder()
                .addValues(AnyValue.newBuilder().setIntValue(-5))
                .addValues(AnyValue.newBuilder().setDoubleValue(2.5)))))
        .addEvents(Span.Event.newBuilder().setName("evt").setTimeUnixNano(5))
        .addLinks(Span.Link.newBuilder().setTraceId(bytes(16)).setSpanId(bytes(8)))
        .build();
  }

  private ExportTraceServiceRequest traces(Span... spans) {
    ScopeSpans.Builder scope = ScopeSpans.newBuilder();
    for (Span s : spans) {
      scope.addSpans(s);
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(Resource.newBuilder().addAttributes(KeyValue.newBuilder()
                .setKey("service.name").setValue(AnyValue.newBuilder().setStringValue("svc"))))
            .addScopeSpans(scope))
        .build();
  }

  private static ScanResult scan(Signal s, Message m) throws MalformedOtlpException {
    byte[] b = m.toByteArray();
    return OtlpScanner.scan(s, b, 0, b.length);
  }

  @Test
  void countsValidSpansAndAgreesWithTheFilter() throws Exception {
    ExportTraceServiceRequest req = traces(span(16, 8, 0), span(16, 8, 8), span(16, 8, 8));
    ScanResult r = scan(Signal.TRACES, req);
    assertThat(r.items()).isEqualTo(3);
    assertThat(r.allValid()).isTrue();
    assertThat(OtlpRequestFilter.filter(Signal.TRACES, req).result()).isEqualTo(r);
    assertThat(OtlpRequestFilter.filter(Signal.TRACES, req).request()).isSameAs(req);
  }

  @Test
  void rejectsSpansWithBadIdsLikeTheFilterDoes() throws Exception {
    Span zeroTrace = span(16, 8, 0).toBuilder().setTraceId(ByteString.copyFrom(new byte[16]))
        .build();
    ExportTraceServiceRequest req = traces(span(16, 8, 0), span(15, 8, 0), span(16, 7, 0),
        span(16, 8, 3), zeroTrace, span(0, 8, 0), span(16, 8, 8));
    ScanResult r = scan(Signal.TRACES, req);
    assertThat(r.items()).isEqualTo(7);
    assertThat(r.rejected()).isEqualTo(5);
    assertThat(r.firstProblem()).contains("rejected 5 of 7 spans").contains("span #1")
        .contains("trace_id is 15 bytes, must be 16");
    OtlpRequestFilter.Filtered f = OtlpRequestFilter.filter(Signal.TRACES, req);
    assertThat(f.result()).isEqualTo(r);
    ExportTraceServiceRequest kept = (ExportTraceServiceRequest) f.request();
    assertThat(kept.getResourceSpans(0).getScopeSpans(0).getSpansList())
        .containsExactly(req.getResourceSpans(0).getScopeSpans(0).getSpans(0),
            req.getResourceSpans(0).getScopeSpans(0).getSpans(6));
  }

  @Test
  void logRecordIdsAreOptionalButMustHaveTheRightLength() throws Exception {
    ExportLogsServiceRequest req = ExportLogsServiceRequest.newBuilder()
        .addResourceLogs(ResourceLogs.newBuilder().addScopeLogs(ScopeLogs.newBuilder()
            .addLogRecords(LogRecord.newBuilder().setBody(AnyValue.newBuilder()
                .setStringValue("no ids")))
            .addLogRecords(LogRecord.newBuilder().setTraceId(bytes(16)).setSpanId(bytes(8)))
            .addLogRecords(LogRecord.newBuilder().setTraceId(bytes(4)))
            .addLogRecords(LogRecord.newBuilder().setSpanId(bytes(9)))))
        .build();
    ScanResult r = scan(Signal.LOGS, req);
    assertThat(r.items()).isEqualTo(4);
    assertThat(r.rejected()).isEqualTo(2);
    assertThat(r.firstProblem()).contains("log record #2").contains("trace_id is 4 bytes");
    assertThat(OtlpRequestFilter.filter(Signal.LOGS, req).result()).isEqualTo(r);
  }

  @Test
  void countsDataPointsOfEveryMetricKindAndRejectsUnnamedMetrics() throws Exception {
    NumberDataPoint p = NumberDataPoint.newBuilder().setAsDouble(1.5).setTimeUnixNano(9).build();
    ExportMetricsServiceRequest req = ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder().addScopeMetrics(ScopeMetrics.newBuilder()
            .addMetrics(Metric.newBuilder().setName("g").setGauge(Gauge.newBuilder()
                .addDataPoints(p).addDataPoints(p)))
            .addMetrics(Metric.newBuilder().setName("s").setSum(Sum.newBuilder()
                .addDataPoints(p.toBuilder().setAsInt(3))))
            .addMetrics(Metric.newBuilder().setName("h").setHistogram(Histogram.newBuilder()
                .addDataPoints(HistogramDataPoint.newBuilder().setCount(3)
                    .addAllBucketCounts(Arrays.asList(1L, 2L)).addExplicitBounds(1.0))))
            .addMetrics(Metric.newBuilder().setName("e").setExponentialHistogram(
                ExponentialHistogram.newBuilder().addDataPoints(
                    ExponentialHistogramDataPoint.newBuilder().setScale(2).setPositive(
                        ExponentialHistogramDataPoint.Buckets.newBuilder()
                            .addBucketCounts(4)))))
            .addMetrics(Metric.newBuilder().setName("").setSummary(Summary.newBuilder()
                .addDataPoints(SummaryDataPoint.newBuilder().setCount(1))
                .addDataPoints(SummaryDataPoint.newBuilder().setCount(2))))))
        .build();
    ScanResult r = scan(Signal.METRICS, req);
    assertThat(r.items()).isEqualTo(7);
    assertThat(r.rejected()).isEqualTo(2);
    assertThat(r.firstProblem()).contains("metric name is empty");
    assertThat(OtlpRequestFilter.filter(Signal.METRICS, req).result()).isEqualTo(r);
  }

  @Test
  void aMetricDataOneofSentTwiceCountsOnlyTheMemberTheParserKeeps() throws Exception {
    NumberDataPoint p = NumberDataPoint.newBuilder().setAsInt(1).build();
    byte[] gauge = Metric.newBuilder().setName("m")
        .setGauge(Gauge.newBuilder().addDataPoints(p).addDataPoints(p)).build().toByteArray();
    byte[] sum = Metric.newBuilder()
        .setSum(Sum.newBuilder().addDataPoints(p).addDataPoints(p).addDataPoints(p)).build()
        .toByteArray();
    byte[] gauge1 = Metric.newBuilder()
        .setGauge(Gauge.newBuilder().addDataPoints(p)).build().toByteArray();
    // Not {gauge, sum, gauge}: protobuf-java's builders then merge the first gauge back in,
    // against the protobuf rule that the last member seen is the value; the scanner follows the rule.
    for (byte[][] parts : new byte[][][] {{gauge, sum}, {sum, gauge}, {gauge, gauge1}}) {
      byte[] metric = concat(parts); // concatenated encodings merge, as the parser defines
      ExportMetricsServiceRequest req = ExportMetricsServiceRequest.newBuilder()
          .addResourceMetrics(ResourceMetrics.newBuilder().addScopeMetrics(ScopeMetrics.newBuilder()
              .addMetrics(Metric.parseFrom(metric))))
          .build();
      // Rebuild the request by hand so the metric keeps its raw, repeated oneof members.
      byte[] scope = concat(new byte[][] {tagLen(2, metric.length), metric});
      byte[] rm = concat(new byte[][] {tagLen(2, scope.length), scope});
      byte[] top = concat(new byte[][] {tagLen(1, rm.length), rm});
      ScanResult r = OtlpScanner.scan(Signal.METRICS, top, 0, top.length);
      ScanResult expected = OtlpRequestFilter.filter(Signal.METRICS,
          ExportMetricsServiceRequest.parseFrom(top)).result();
      assertThat(r.items()).isEqualTo(expected.items());
      assertThat(r.items()).isEqualTo(OtlpRequestFilter.dataPoints(
          req.getResourceMetrics(0).getScopeMetrics(0).getMetrics(0)));
    }
  }

  private static byte[] tagLen(int field, int len) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    out.write((field << 3) | 2);
    int v = len;
    while ((v & ~0x7F) != 0) {
      out.write((v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out.write(v);
    return out.toByteArray();
  }

  private static byte[] concat(byte[][] parts) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  @Test
  void emptyRequestHasNoItems() throws Exception {
    assertThat(OtlpScanner.scan(Signal.TRACES, new byte[0], 0, 0).items()).isZero();
  }

  @Test
  void skipsUnknownFieldsAsTheParserDoes() throws Exception {
    byte[] known = traces(span(16, 8, 0)).toByteArray();
    // Field 99, varint, appended at the top level, and a length-delimited field 77.
    byte[] extra = {(byte) 0x98, 0x06, 0x05, (byte) 0xEA, 0x04, 0x02, 'h', 'i'};
    byte[] b = Arrays.copyOf(known, known.length + extra.length);
    System.arraycopy(extra, 0, b, known.length, extra.length);
    assertThat(OtlpScanner.scan(Signal.TRACES, b, 0, b.length).items()).isEqualTo(1);
    ExportTraceServiceRequest.parseFrom(b); // the parser agrees
  }

  @Test
  void truncatedRequestsAreMalformed() {
    byte[] b = traces(span(16, 8, 8), span(16, 8, 8)).toByteArray();
    for (int len = 1; len < b.length; len++) {
      boolean parserRejects;
      try {
        ExportTraceServiceRequest.parseFrom(Arrays.copyOf(b, len));
        parserRejects = false;
      } catch (InvalidProtocolBufferException e) {
        parserRejects = true;
      }
      boolean scannerRejects;
      try {
        OtlpScanner.scan(Signal.TRACES, b, 0, len);
        scannerRejects = false;
      } catch (MalformedOtlpException e) {
        scannerRejects = true;
      }
      assertThat(scannerRejects).as("truncated at %d of %d", len, b.length)
          .isEqualTo(parserRejects);
    }
  }

  @Test
  void invalidUtf8InAStringIsMalformedAsInTheParser() {
    Span s = span(16, 8, 0).toBuilder().setName("ab").build();
    byte[] b = traces(s).toByteArray();
    int at = indexOf(b, "ab".getBytes(StandardCharsets.US_ASCII));
    b[at] = (byte) 0xC3; // a lead byte followed by 'b': not UTF-8
    assertThatThrownBy(() -> ExportTraceServiceRequest.parseFrom(b))
        .isInstanceOf(InvalidProtocolBufferException.class);
    assertThatThrownBy(() -> OtlpScanner.scan(Signal.TRACES, b, 0, b.length))
        .isInstanceOf(MalformedOtlpException.class).hasMessageContaining("UTF-8");
  }

  @Test
  void utf8CheckAgreesWithTheJdkDecoder() {
    Random r = new Random(7);
    for (int i = 0; i < 20_000; i++) {
      byte[] b = new byte[r.nextInt(8)];
      r.nextBytes(b);
      boolean jdk;
      try {
        StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b));
        jdk = true;
      } catch (java.nio.charset.CharacterCodingException e) {
        jdk = false;
      }
      assertThat(Utf8Check.isValid(b, 0, b.length)).as(Arrays.toString(b)).isEqualTo(jdk);
    }
    byte[] good = "héllo wörld €𝄞".getBytes(StandardCharsets.UTF_8);
    assertThat(Utf8Check.isValid(good, 0, good.length)).isTrue();
  }

  @Test
  void deepNestingIsRefused() {
    AnyValue v = AnyValue.newBuilder().setStringValue("x").build();
    for (int i = 0; i < 120; i++) {
      v = AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder().addValues(v)).build();
    }
    Span s = span(16, 8, 0).toBuilder()
        .addAttributes(KeyValue.newBuilder().setKey("deep").setValue(v)).build();
    byte[] b = traces(s).toByteArray();
    assertThatThrownBy(() -> OtlpScanner.scan(Signal.TRACES, b, 0, b.length))
        .isInstanceOf(MalformedOtlpException.class).hasMessageContaining("nesting");
  }

  /**
   * Random damage to valid requests: the scanner never throws anything but its own exception, and
   * whenever it accepts bytes, protobuf-java parses them and finds the same number of spans.
   */
  @Test
  void mutatedRequestsNeverCrashAndAcceptedOnesParse() throws Exception {
    byte[] base = traces(span(16, 8, 8), span(16, 8, 0), span(16, 8, 8)).toByteArray();
    Random r = new Random(1234);
    int accepted = 0;
    for (int i = 0; i < 20_000; i++) {
      byte[] b = base.clone();
      int flips = 1 + r.nextInt(4);
      for (int f = 0; f < flips; f++) {
        b[r.nextInt(b.length)] = (byte) r.nextInt(256);
      }
      ScanResult result;
      try {
        result = OtlpScanner.scan(Signal.TRACES, b, 0, b.length);
      } catch (MalformedOtlpException e) {
        continue;
      }
      accepted++;
      ExportTraceServiceRequest parsed = ExportTraceServiceRequest.parseFrom(b);
      ScanResult fromObjects = OtlpRequestFilter.filter(Signal.TRACES, parsed).result();
      assertThat(result.items()).isEqualTo(fromObjects.items());
      assertThat(result.rejected()).isEqualTo(fromObjects.rejected());
    }
    assertThat(accepted).isGreaterThan(100); // the comparison above really ran
  }

  @Test
  void randomBytesNeverCrash() {
    Random r = new Random(99);
    for (int i = 0; i < 20_000; i++) {
      byte[] b = new byte[r.nextInt(64)];
      r.nextBytes(b);
      for (Signal s : Signal.values()) {
        try {
          OtlpScanner.scan(s, b, 0, b.length);
        } catch (MalformedOtlpException expected) {
          // fine: a clear refusal
        }
      }
    }
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i <= hay.length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found");
  }
}
