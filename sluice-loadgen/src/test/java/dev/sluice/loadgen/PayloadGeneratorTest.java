package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** The synthetic payloads, without a network: shapes, counts, ids, encodings. */
class PayloadGeneratorTest {

  private static List<Span> spans(Message m) {
    ExportTraceServiceRequest r = (ExportTraceServiceRequest) m;
    return r.getResourceSpans(0).getScopeSpans(0).getSpansList();
  }

  private static List<LogRecord> logs(Message m) {
    return ((ExportLogsServiceRequest) m).getResourceLogs(0).getScopeLogs(0).getLogRecordsList();
  }

  /** Every data point of a metrics request with its metric, in request order. */
  private static List<Object[]> points(Message m) {
    List<Object[]> out = new ArrayList<>();
    for (Metric metric : ((ExportMetricsServiceRequest) m).getResourceMetrics(0)
        .getScopeMetrics(0).getMetricsList()) {
      switch (metric.getDataCase()) {
        case SUM:
          metric.getSum().getDataPointsList().forEach(p ->
              out.add(new Object[] {metric.getName(), p.getAttributesList(), p.getTimeUnixNano()}));
          break;
        case GAUGE:
          metric.getGauge().getDataPointsList().forEach(p ->
              out.add(new Object[] {metric.getName(), p.getAttributesList(), p.getTimeUnixNano()}));
          break;
        case HISTOGRAM:
          metric.getHistogram().getDataPointsList().forEach(p ->
              out.add(new Object[] {metric.getName(), p.getAttributesList(), p.getTimeUnixNano()}));
          break;
        default:
          throw new AssertionError("unexpected metric type " + metric.getDataCase());
      }
    }
    return out;
  }

  @ParameterizedTest
  @CsvSource({
    "TRACES, 1, 0", "TRACES, 100, 10", "TRACES, 37, 3", "TRACES, 25, 23",
    "METRICS, 1, 0", "METRICS, 100, 10", "METRICS, 37, 0", "METRICS, 25, 23",
    "LOGS, 1, 0", "LOGS, 100, 10", "LOGS, 37, 3", "LOGS, 25, 23"
  })
  void theScannerCountsTheItemsAndFindsThemAllValid(Signal signal, int items, int attributes)
      throws Exception {
    PayloadGenerator g = PayloadGenerator.create(signal, items, attributes, 7);
    for (long r : new long[] {0, 1, 12_345}) {
      byte[] body = g.body(r, Encoding.PROTOBUF);
      ScanResult scan = OtlpScanner.scan(signal, body, 0, body.length);
      assertThat(scan.items()).isEqualTo(items);
      assertThat(scan.allValid()).as(scan.firstProblem()).isTrue();
    }
  }

  @ParameterizedTest
  @CsvSource({"0", "1", "9", "10", "11", "40"})
  void everyItemHasExactlyTheAttributesAskedFor(int attributes) {
    Message t = PayloadGenerator.create(Signal.TRACES, 30, attributes, 3).request(2);
    assertThat(spans(t)).allSatisfy(s -> assertThat(s.getAttributesCount()).isEqualTo(attributes));
    Message l = PayloadGenerator.create(Signal.LOGS, 30, attributes, 3).request(2);
    assertThat(logs(l)).allSatisfy(s -> assertThat(s.getAttributesCount()).isEqualTo(attributes));
    Message m = PayloadGenerator.create(Signal.METRICS, 30, attributes, 3).request(2);
    assertThat(points(m)).hasSize(30).allSatisfy(p ->
        assertThat((List<?>) p[1]).hasSize(attributes));
    if (attributes > 10) {
      Set<String> keys = new HashSet<>();
      spans(t).get(0).getAttributesList().forEach(kv -> keys.add(kv.getKey()));
      assertThat(keys).hasSize(attributes).contains("app.attr." + (attributes - 1));
    }
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void theJsonBodyIsTheSameRequestAsTheProtobufBody(Signal signal) {
    PayloadGenerator g = PayloadGenerator.create(signal, 45, 12, 99);
    for (long r : new long[] {0, 5, 1_000_000}) {
      byte[] json = g.body(r, Encoding.JSON);
      Message fromJson = OtlpJsonCodec.parse(json, 0, json.length, signal.requestPrototype());
      assertThat(fromJson).isEqualTo(g.request(r));
      assertThat(json.length).isEqualTo(g.bodySize(Encoding.JSON));
    }
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void theSameSeedGivesTheSameBytesAndAnotherSeedOtherBytes(Signal signal) {
    PayloadGenerator a = PayloadGenerator.create(signal, 20, 5, 42);
    PayloadGenerator b = PayloadGenerator.create(signal, 20, 5, 42);
    PayloadGenerator c = PayloadGenerator.create(signal, 20, 5, 43);
    for (Encoding e : Encoding.values()) {
      for (long r : new long[] {0, 1, 77}) {
        assertThat(b.body(r, e)).isEqualTo(a.body(r, e));
        assertThat(c.body(r, e)).isNotEqualTo(a.body(r, e));
      }
      assertThat(a.body(1, e)).isNotEqualTo(a.body(0, e));
    }
  }

  @Test
  void spanIdsFollowTheDocumentedFunctionsOfSeedRequestAndItem() {
    long seed = 1234;
    PayloadGenerator g = PayloadGenerator.create(Signal.TRACES, 25, 4, seed);
    for (long r : new long[] {0, 3, 999_999}) {
      List<Span> spans = spans(g.request(r));
      for (int i = 0; i < spans.size(); i++) {
        Span s = spans.get(i);
        assertThat(s.getTraceId()).isEqualTo(ByteString.copyFrom(Ids.traceId(seed, r, i / 10)));
        assertThat(s.getSpanId()).isEqualTo(ByteString.copyFrom(Ids.spanId(seed, r, i)));
        if (i % 10 == 0) {
          assertThat(s.getParentSpanId()).isEmpty();
          assertThat(s.getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
        } else {
          // The parent is the root span of the same trace, in the same request.
          assertThat(s.getParentSpanId()).isEqualTo(spans.get(i - i % 10).getSpanId());
          assertThat(s.getTraceId()).isEqualTo(spans.get(i - i % 10).getTraceId());
        }
        assertThat(s.getEndTimeUnixNano()).isGreaterThan(s.getStartTimeUnixNano());
      }
    }
  }

  @Test
  void logRecordsCarryTheTraceAndSpanIdsOfTheirPositions() {
    PayloadGenerator g = PayloadGenerator.create(Signal.LOGS, 12, 2, 5);
    List<LogRecord> records = logs(g.request(8));
    for (int i = 0; i < records.size(); i++) {
      assertThat(records.get(i).getTraceId()).isEqualTo(ByteString.copyFrom(Ids.traceId(5, 8, i / 10)));
      assertThat(records.get(i).getSpanId()).isEqualTo(ByteString.copyFrom(Ids.spanId(5, 8, i)));
      assertThat(records.get(i).getBody().getStringValue()).isNotBlank();
    }
  }

  @Test
  void idsAreDistinctOverManyRequests() {
    PayloadGenerator g = PayloadGenerator.create(Signal.TRACES, 100, 0, 1);
    Set<ByteString> spanIds = new HashSet<>();
    Set<ByteString> traceIds = new HashSet<>();
    for (long r = 0; r < 200; r++) {
      for (Span s : spans(g.request(r))) {
        spanIds.add(s.getSpanId());
        traceIds.add(s.getTraceId());
      }
    }
    assertThat(spanIds).hasSize(200 * 100);
    assertThat(traceIds).hasSize(200 * 10);
  }

  @Test
  void eachRequestIsDatedOneMillisecondAfterThePrevious() {
    PayloadGenerator g = PayloadGenerator.create(Signal.TRACES, 15, 1, 9);
    List<Span> first = spans(g.request(0));
    List<Span> later = spans(g.request(1000));
    for (int i = 0; i < first.size(); i++) {
      assertThat(later.get(i).getStartTimeUnixNano() - first.get(i).getStartTimeUnixNano())
          .isEqualTo(1_000_000_000L);
      assertThat(later.get(i).getEndTimeUnixNano() - first.get(i).getEndTimeUnixNano())
          .isEqualTo(1_000_000_000L);
    }
    // The first span of request 0 starts shortly after the fixed base time, 2024-09-17T12:00Z.
    assertThat(first.get(0).getStartTimeUnixNano())
        .isBetween(1_726_574_400_000_000_000L, 1_726_574_401_000_000_000L);
  }

  @Test
  void metricPointsOfOneMetricAreDistinctSeriesAndRequestsAreLaterPoints() {
    PayloadGenerator g = PayloadGenerator.create(Signal.METRICS, 35, 3, 11);
    List<Object[]> p0 = points(g.request(0));
    List<Object[]> p7 = points(g.request(7));
    Set<String> series = new HashSet<>();
    for (int i = 0; i < p0.size(); i++) {
      assertThat(series.add(p0.get(i)[0] + " " + p0.get(i)[1])).as("series %d is unique", i).isTrue();
      assertThat(p7.get(i)[0]).isEqualTo(p0.get(i)[0]);
      assertThat(p7.get(i)[1]).isEqualTo(p0.get(i)[1]);
      assertThat((long) p7.get(i)[2] - (long) p0.get(i)[2]).isEqualTo(7_000_000L);
    }
    // With no attributes every point is a metric of its own.
    Message bare = PayloadGenerator.create(Signal.METRICS, 12, 0, 11).request(0);
    assertThat(((ExportMetricsServiceRequest) bare).getResourceMetrics(0).getScopeMetrics(0)
        .getMetricsCount()).isEqualTo(12);
  }

  @Test
  void writeBodyAppendsAtTheWriterIndex() {
    PayloadGenerator g = PayloadGenerator.create(Signal.LOGS, 10, 2, 1);
    ByteBuf buf = Unpooled.buffer();
    try {
      buf.writeBytes(new byte[] {1, 2, 3});
      g.writeBody(4, Encoding.PROTOBUF, buf);
      byte[] written = new byte[buf.readableBytes() - 3];
      buf.getBytes(3, written);
      assertThat(written).isEqualTo(g.body(4, Encoding.PROTOBUF));
      assertThat(buf.getByte(0)).isEqualTo((byte) 1);
    } finally {
      buf.release();
    }
  }

  @Test
  void gzipRoundTrips() throws IOException {
    PayloadGenerator g = PayloadGenerator.create(Signal.TRACES, 50, 10, 1);
    byte[] body = g.body(3, Encoding.JSON);
    ByteBuf in = Unpooled.wrappedBuffer(body);
    ByteBuf out = Unpooled.buffer();
    try (GzipEncoder gzip = new GzipEncoder()) {
      for (int round = 0; round < 2; round++) { // the encoder is reused
        out.clear();
        gzip.encode(in, out);
        byte[] z = new byte[out.readableBytes()];
        out.getBytes(0, z);
        assertThat(z.length).isLessThan(body.length / 2);
        try (GZIPInputStream unzip = new GZIPInputStream(new ByteArrayInputStream(z))) {
          assertThat(unzip.readAllBytes()).isEqualTo(body);
        }
      }
      assertThat(in.readerIndex()).isZero();
    } finally {
      in.release();
      out.release();
    }
  }

  @Test
  void badSizesAreRefused() {
    assertThatThrownBy(() -> PayloadGenerator.create(Signal.TRACES, 0, 1, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("items");
    assertThatThrownBy(() -> PayloadGenerator.create(Signal.TRACES, 1, -1, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("attributes");
  }

  @Test
  void idHelpers() {
    assertThat(Ids.hex(new byte[] {0, 1, (byte) 0xab, (byte) 0xff})).isEqualTo("0001abff");
    assertThat(Ids.traceId(1, 2, 3)).hasSize(16).isEqualTo(Ids.traceId(1, 2, 3))
        .isNotEqualTo(Ids.traceId(1, 2, 4)).isNotEqualTo(Ids.traceId(2, 2, 3));
    assertThat(Ids.spanId(1, 2, 3)).hasSize(8).isNotEqualTo(Ids.spanId(1, 3, 3));
  }
}
