package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.Answers.PartialSuccess;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.metrics.v1.Gauge;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.metrics.v1.Sum;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Partial success (specification, "Partial Success"): items that are invalid on their own are
 * dropped, the rest goes on, and the answer is 200 with partial_success counting the rejected items
 * and an error_message naming the problem. When nothing is left, nothing is exported.
 */
class PartialSuccessTest {
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
  }

  /**
   * A request with some invalid items, the request the pipeline must get (null: none), how many
   * items are rejected and a word the error message must contain.
   */
  record Case(String name, Signal signal, Message request, Message expected, long rejected,
      String problem) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Case tracesWithTwoBadSpans() {
    Random r = new Random(3);
    Span s0 = OtlpSamples.span(r, 0);
    Span s1 = OtlpSamples.span(r, 1).toBuilder().setTraceId(OtlpSamples.id(r, 15)).build();
    Span s2 = OtlpSamples.span(r, 2);
    Span s3 = OtlpSamples.span(r, 3).toBuilder().setSpanId(OtlpSamples.id(r, 7)).build();
    Span s4 = OtlpSamples.span(r, 4);
    ResourceSpans.Builder rs1 =
        ResourceSpans.newBuilder().setResource(OtlpSamples.resource("a", 1));
    ResourceSpans.Builder rs2 =
        ResourceSpans.newBuilder().setResource(OtlpSamples.resource("b", 2));
    ScopeSpans.Builder sa = ScopeSpans.newBuilder().setScope(OtlpSamples.scope("sa", 1));
    ScopeSpans.Builder sb = ScopeSpans.newBuilder().setScope(OtlpSamples.scope("sb", 2));
    Message request = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(rs1.clone().addScopeSpans(sa.clone().addSpans(s0).addSpans(s1)
            .addSpans(s2)))
        .addResourceSpans(rs2.clone().addScopeSpans(sb.clone().addSpans(s3).addSpans(s4)))
        .build();
    Message expected = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(rs1.addScopeSpans(sa.addSpans(s0).addSpans(s2)))
        .addResourceSpans(rs2.addScopeSpans(sb.addSpans(s4)))
        .build();
    return new Case("traces: 15-byte trace_id and 7-byte span_id", Signal.TRACES, request,
        expected, 2, "trace_id");
  }

  static Case logsWithTwoBadRecords() {
    Random r = new Random(4);
    List<LogRecord> recs = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      recs.add(OtlpSamples.logRecord(r, i));
    }
    LogRecord badTrace = recs.get(1).toBuilder().setTraceId(OtlpSamples.id(r, 10))
        .setSpanId(OtlpSamples.id(r, 8)).build();
    LogRecord badSpan = recs.get(3).toBuilder().setTraceId(OtlpSamples.id(r, 16))
        .setSpanId(OtlpSamples.id(r, 4)).build();
    ScopeLogs.Builder s = ScopeLogs.newBuilder().setScope(OtlpSamples.scope("l", 0));
    ResourceLogs.Builder res = ResourceLogs.newBuilder().setResource(OtlpSamples.resource("w", 0));
    Message request = ExportLogsServiceRequest.newBuilder().addResourceLogs(res.clone()
        .addScopeLogs(s.clone().addLogRecords(recs.get(0)).addLogRecords(badTrace)
            .addLogRecords(recs.get(2)).addLogRecords(badSpan).addLogRecords(recs.get(4))))
        .build();
    Message expected = ExportLogsServiceRequest.newBuilder().addResourceLogs(res
        .addScopeLogs(s.addLogRecords(recs.get(0)).addLogRecords(recs.get(2))
            .addLogRecords(recs.get(4))))
        .build();
    return new Case("logs: 10-byte trace_id and 4-byte span_id", Signal.LOGS, request, expected,
        2, "trace_id");
  }

  static Metric gauge(String name, int points) {
    Gauge.Builder g = Gauge.newBuilder();
    for (int i = 0; i < points; i++) {
      g.addDataPoints(OtlpSamples.number(i, i % 2 == 0));
    }
    return Metric.newBuilder().setName(name).setGauge(g).build();
  }

  static Metric sum(String name, int points) {
    Sum.Builder g = Sum.newBuilder();
    for (int i = 0; i < points; i++) {
      g.addDataPoints(OtlpSamples.number(i, false));
    }
    return Metric.newBuilder().setName(name).setSum(g).build();
  }

  static Case metricsWithAnUnnamedMetric() {
    Metric ok1 = gauge("ok.one", 2);
    Metric bad = sum("", 3);
    Metric ok2 = gauge("ok.two", 2);
    ScopeMetrics.Builder s = ScopeMetrics.newBuilder().setScope(OtlpSamples.scope("m", 0));
    ResourceMetrics.Builder res =
        ResourceMetrics.newBuilder().setResource(OtlpSamples.resource("api", 0));
    Message request = ExportMetricsServiceRequest.newBuilder().addResourceMetrics(
        res.clone().addScopeMetrics(s.clone().addMetrics(ok1).addMetrics(bad).addMetrics(ok2)))
        .build();
    Message expected = ExportMetricsServiceRequest.newBuilder().addResourceMetrics(
        res.addScopeMetrics(s.addMetrics(ok1).addMetrics(ok2))).build();
    return new Case("metrics: a metric with an empty name and 3 data points", Signal.METRICS,
        request, expected, 3, "name");
  }

  static Case allSpansInvalid() {
    Random r = new Random(5);
    Message request = ExportTraceServiceRequest.newBuilder().addResourceSpans(
        ResourceSpans.newBuilder().addScopeSpans(ScopeSpans.newBuilder()
            .addSpans(OtlpSamples.span(r, 0).toBuilder().setTraceId(ByteString.EMPTY))
            .addSpans(OtlpSamples.span(r, 1).toBuilder().setTraceId(ByteString.copyFrom(
                new byte[16]))) // all zeros
            .addSpans(OtlpSamples.span(r, 2).toBuilder().setSpanId(OtlpSamples.id(r, 9)))))
        .build();
    return new Case("traces: every span invalid", Signal.TRACES, request, null, 3, "trace_id");
  }

  static Case allLogsInvalid() {
    Random r = new Random(6);
    Message request = ExportLogsServiceRequest.newBuilder().addResourceLogs(
        ResourceLogs.newBuilder().addScopeLogs(ScopeLogs.newBuilder()
            .addLogRecords(OtlpSamples.logRecord(r, 1).toBuilder()
                .setTraceId(OtlpSamples.id(r, 17)))
            .addLogRecords(OtlpSamples.logRecord(r, 2).toBuilder()
                .setTraceId(OtlpSamples.id(r, 1)))))
        .build();
    return new Case("logs: every record invalid", Signal.LOGS, request, null, 2, "trace_id");
  }

  static Case allMetricsInvalid() {
    Message request = ExportMetricsServiceRequest.newBuilder().addResourceMetrics(
        ResourceMetrics.newBuilder().addScopeMetrics(ScopeMetrics.newBuilder()
            .addMetrics(gauge("", 1)).addMetrics(sum("", 4))))
        .build();
    return new Case("metrics: every metric unnamed", Signal.METRICS, request, null, 5, "name");
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (Case c : List.of(tracesWithTwoBadSpans(), logsWithTwoBadRecords(),
        metricsWithAnUnnamedMetric(), allSpansInvalid(), allLogsInvalid(), allMetricsInvalid())) {
      out.add(Arguments.of(c, PROTOBUF));
      out.add(Arguments.of(c, JSON));
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0}, {1}")
  @MethodSource("cases")
  void invalidItemsAreRejectedAndTheRestExported(Case c, String contentType) {
    int total = OtlpSamples.countItems(c.request);
    byte[] body = contentType.equals(JSON) ? OtlpJsonCodec.toJsonBytes(c.request)
        : c.request.toByteArray();

    HttpResponse<byte[]> r = f.post(c.signal, contentType, body);

    assertThat(r.statusCode()).as(new String(r.body())).isEqualTo(200);
    assertThat(Answers.contentType(r)).isEqualTo(contentType);
    PartialSuccess ps = Answers.partialSuccess(c.signal, r);
    assertThat(ps.present()).as("partial_success is set").isTrue();
    assertThat(ps.rejected()).isEqualTo(c.rejected);
    assertThat(ps.errorMessage()).contains(c.problem);
    if (contentType.equals(JSON)) {
      // proto3 JSON: lowerCamelCase keys, int64 as a decimal string.
      String key = switch (c.signal) {
        case TRACES -> "rejectedSpans";
        case METRICS -> "rejectedDataPoints";
        case LOGS -> "rejectedLogRecords";
      };
      var rejected = Answers.json(r.body()).path("partialSuccess").path(key);
      assertThat(rejected.isTextual()).as("%s in %s", key, new String(r.body())).isTrue();
      assertThat(rejected.textValue()).isEqualTo(Long.toString(c.rejected));
    }
    if (c.expected == null) {
      assertThat(ps.rejected()).isEqualTo(total);
      assertThat(f.exporter.batches()).as("nothing is left to export").isEmpty();
    } else {
      Captured got = f.exporter.only();
      assertThat(got.items()).isEqualTo(total - c.rejected)
          .isEqualTo(OtlpSamples.countItems(c.expected));
      assertThat(got.request()).isEqualTo(c.expected);
    }
  }
}
