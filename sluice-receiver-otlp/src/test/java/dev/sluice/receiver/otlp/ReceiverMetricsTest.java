package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Mode;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The receiver's meters in the registry it is given: requests, items and bytes by signal,
 * encoding, compression and status; refused requests and items by reason; latency; connections.
 */
class ReceiverMetricsTest {
  private ReceiverFixture f;

  @BeforeEach
  void start() {
    f = ReceiverFixture.start();
  }

  @AfterEach
  void stop() {
    f.close();
  }

  private double count(String name, String... tags) {
    Counter c = f.registry.find(name).tags(tags).counter();
    assertThat(c).as("counter %s %s", name, String.join(",", tags)).isNotNull();
    return c.count();
  }

  private static String[] outcome(String signal, String encoding, String compression,
      int status) {
    return new String[] {"signal", signal, "encoding", encoding, "compression", compression,
        "status", Integer.toString(status)};
  }

  @Test
  void acceptedRequestsItemsAndBytesAreCountedByOutcome() {
    Message traces = OtlpSamples.traces();
    int spans = OtlpSamples.countItems(traces);
    byte[] gz1 = OtlpSamples.gzip(traces.toByteArray());
    byte[] gz2 = OtlpSamples.gzip(RawHttp.concat(traces.toByteArray(), traces.toByteArray()));
    assertThat(f.post(Signal.TRACES, PROTOBUF, gz1, "Content-Encoding", "gzip").statusCode())
        .isEqualTo(200);
    assertThat(f.post(Signal.TRACES, PROTOBUF, gz2, "Content-Encoding", "gzip").statusCode())
        .isEqualTo(200);
    Message logs = OtlpSamples.logs();
    byte[] json = OtlpJsonCodec.toJsonBytes(logs);
    assertThat(f.post(Signal.LOGS, JSON, json).statusCode()).isEqualTo(200);

    String[] tracesGzip = outcome("traces", "protobuf", "gzip", 200);
    assertThat(count("sluice.receiver.requests", tracesGzip)).isEqualTo(2);
    assertThat(count("sluice.receiver.items", tracesGzip)).isEqualTo(3 * spans);
    assertThat(count("sluice.receiver.bytes", tracesGzip)).isEqualTo(gz1.length + gz2.length);

    String[] logsJson = outcome("logs", "json", "none", 200);
    assertThat(count("sluice.receiver.requests", logsJson)).isEqualTo(1);
    assertThat(count("sluice.receiver.items", logsJson)).isEqualTo(OtlpSamples.countItems(logs));
    assertThat(count("sluice.receiver.bytes", logsJson)).isEqualTo(json.length);

    assertThat(f.registry.find("sluice.receiver.requests").tags("signal", "metrics").counter())
        .as("nothing was sent for metrics").isNull();
    Timer latency = f.registry.find("sluice.receiver.request.duration").tag("signal", "traces")
        .timer();
    assertThat(latency).isNotNull();
    assertThat(latency.count()).isEqualTo(2);
  }

  @Test
  void partialSuccessCountsAcceptedAndRejectedItems() {
    Random r = new Random(31);
    ExportTraceServiceRequest request = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().addScopeSpans(ScopeSpans.newBuilder()
            .addSpans(OtlpSamples.span(r, 0))
            .addSpans(OtlpSamples.span(r, 1).toBuilder().setTraceId(ByteString.EMPTY))
            .addSpans(OtlpSamples.span(r, 2).toBuilder().setSpanId(ByteString.EMPTY))
            .addSpans(OtlpSamples.span(r, 3))))
        .build();
    assertThat(f.post(Signal.TRACES, PROTOBUF, request.toByteArray()).statusCode())
        .isEqualTo(200);
    assertThat(count("sluice.receiver.items", outcome("traces", "protobuf", "none", 200)))
        .isEqualTo(2);
    assertThat(count("sluice.receiver.refused.items", "signal", "traces", "reason",
        "invalid_item")).isEqualTo(2);
  }

  @Test
  void refusedRequestsAreCountedByReason() {
    byte[] metrics = OtlpSamples.metrics().toByteArray();
    f.post(Signal.METRICS, "text/plain", metrics);
    f.post(Signal.METRICS, "text/plain", metrics);
    f.post(Signal.METRICS, PROTOBUF, metrics, "Content-Encoding", "br");
    f.post(Signal.LOGS, PROTOBUF, new byte[] {0x0a, 0x7f});
    f.post(Signal.LOGS, JSON, "{".getBytes(StandardCharsets.UTF_8));
    f.send(f.request("/v1/nothing").header("Content-Type", PROTOBUF)
        .POST(BodyPublishers.ofByteArray(metrics)).build());
    f.send(f.request("/v1/traces").GET().build());
    f.exporter.mode(Mode.FAIL_FULL);
    Message logs = OtlpSamples.logs();
    assertThat(f.post(Signal.LOGS, PROTOBUF, logs.toByteArray()).statusCode()).isEqualTo(503);
    f.exporter.mode(Mode.FAIL_IO);
    assertThat(f.post(Signal.LOGS, PROTOBUF, logs.toByteArray()).statusCode()).isEqualTo(503);

    String refused = "sluice.receiver.refused.requests";
    assertThat(count(refused, "signal", "metrics", "reason", "unsupported_media_type"))
        .isEqualTo(2);
    assertThat(count(refused, "signal", "metrics", "reason", "unsupported_encoding"))
        .isEqualTo(1);
    assertThat(count(refused, "signal", "logs", "reason", "decode_error")).isEqualTo(2);
    assertThat(count(refused, "signal", "unknown", "reason", "not_found")).isEqualTo(1);
    assertThat(count(refused, "signal", "traces", "reason", "method_not_allowed")).isEqualTo(1);
    assertThat(count(refused, "signal", "logs", "reason", "pipeline_full")).isEqualTo(1);
    assertThat(count(refused, "signal", "logs", "reason", "exporter_failed")).isEqualTo(1);
    assertThat(count("sluice.receiver.refused.items", "signal", "logs", "reason",
        "pipeline_full")).isEqualTo(OtlpSamples.countItems(logs));

    assertThat(count("sluice.receiver.requests", outcome("metrics", "other", "none", 415)))
        .as("text/plain is neither protobuf nor json").isEqualTo(2);
    assertThat(count("sluice.receiver.requests", outcome("metrics", "protobuf", "other", 415)))
        .as("br is not a compression the receiver knows").isEqualTo(1);
    assertThat(f.registry.find("sluice.receiver.requests")
        .tags(outcome("metrics", "protobuf", "none", 415)).counter()).isNull();
    assertThat(count("sluice.receiver.requests", outcome("logs", "protobuf", "none", 503)))
        .isEqualTo(2);
    assertThat(count("sluice.receiver.items", outcome("logs", "protobuf", "none", 503)))
        .as("items of refused requests are not counted as accepted").isZero();
    assertThat(count("sluice.receiver.requests", outcome("logs", "json", "none", 400)))
        .isEqualTo(1);
  }

  @Test
  void openConnectionsAreGauged() throws Exception {
    Gauge open = f.registry.find("sluice.receiver.connections").gauge();
    assertThat(open).isNotNull();
    try (RawHttp a = f.raw(); RawHttp b = f.raw()) {
      assertThat(a.socket().isConnected() && b.socket().isConnected()).isTrue();
      Await.until("two connections are counted", Duration.ofSeconds(5), () -> open.value() >= 2);
    }
    Await.until("closed connections are no longer counted", Duration.ofSeconds(5),
        () -> open.value() < 2);
  }
}
