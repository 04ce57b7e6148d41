package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import dev.sluice.receiver.otlp.CapturingExporter.Mode;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * HTTP/1.1 keep-alive and pipelining over a raw socket: requests written back to back in one write
 * are all answered, in order, on the same connection, also when the first is held by the exporter.
 */
class PipeliningTest {
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
    f.exporter.mode(Mode.ACCEPT);
  }

  static ExportTraceServiceRequest oneBadSpanOfTwo() {
    Random r = new Random(21);
    return ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans.newBuilder()
        .addScopeSpans(ScopeSpans.newBuilder().addSpans(OtlpSamples.span(r, 0))
            .addSpans(OtlpSamples.span(r, 1).toBuilder().setSpanId(ByteString.EMPTY))))
        .build();
  }

  @Test
  void twoRequestsInOneWriteGetTwoAnswersInOrder() throws Exception {
    Message traces = oneBadSpanOfTwo();
    Message logs = OtlpSamples.logs();
    byte[] both = RawHttp.concat(
        RawHttp.request("POST", "/v1/traces", OtlpJsonCodec.toJsonBytes(traces),
            "Content-Type", JSON),
        RawHttp.request("POST", "/v1/logs", logs.toByteArray(), "Content-Type", PROTOBUF));
    try (RawHttp c = f.raw()) {
      c.write(both);
      RawHttp.Response first = c.read();
      RawHttp.Response second = c.read();

      assertThat(first.status()).isEqualTo(200);
      assertThat(first.header("content-type")).isEqualTo(JSON);
      assertThat(Answers.partialSuccess(Signal.TRACES, JSON, first.body()).rejected())
          .isEqualTo(1);
      assertThat(second.status()).isEqualTo(200);
      assertThat(second.header("content-type")).isEqualTo(PROTOBUF);
      assertThat(second.body()).isEmpty();
      assertThat(first.header("connection")).isNotEqualToIgnoringCase("close");
      assertThat(second.header("connection")).isNotEqualToIgnoringCase("close");

      // The connection is still usable.
      c.write(RawHttp.request("POST", "/v1/logs", logs.toByteArray(), "Content-Type", PROTOBUF));
      assertThat(c.read().status()).isEqualTo(200);
    }
    assertThat(f.exporter.batches()).extracting(Captured::signal)
        .containsExactly(Signal.TRACES, Signal.LOGS, Signal.LOGS);
    assertThat(f.exporter.batches().get(0).items()).isEqualTo(1);
  }

  @Test
  void refusedRequestInTheMiddleDoesNotDisturbTheOthers() throws Exception {
    byte[] good = OtlpSamples.traces().toByteArray();
    byte[] three = RawHttp.concat(
        RawHttp.request("POST", "/v1/traces", good, "Content-Type", PROTOBUF),
        RawHttp.request("POST", "/v1/traces", "not telemetry".getBytes(StandardCharsets.UTF_8),
            "Content-Type", "text/plain"),
        RawHttp.request("POST", "/v1/nowhere", good, "Content-Type", PROTOBUF),
        RawHttp.request("POST", "/v1/traces", new byte[] {0x0a, 0x05}, "Content-Type", PROTOBUF),
        RawHttp.request("POST", "/v1/traces", good, "Content-Type", PROTOBUF));
    try (RawHttp c = f.raw()) {
      c.write(three);
      int[] statuses = new int[5];
      for (int i = 0; i < statuses.length; i++) {
        statuses[i] = c.read().status();
      }
      assertThat(statuses).containsExactly(200, 415, 404, 400, 200);
    }
    assertThat(f.exporter.batches()).hasSize(2);
  }

  @Test
  void pipelinedRequestWaitsWhileTheFirstIsHeld() throws Exception {
    f.exporter.mode(Mode.HOLD);
    Message metrics = OtlpSamples.metrics();
    Message logs = OtlpSamples.logs();
    try (RawHttp c = f.raw()) {
      c.write(RawHttp.concat(
          RawHttp.request("POST", "/v1/metrics", metrics.toByteArray(), "Content-Type", PROTOBUF),
          RawHttp.request("POST", "/v1/logs", logs.toByteArray(), "Content-Type", PROTOBUF)));
      Await.until("the first batch is held", Duration.ofSeconds(5),
          () -> f.exporter.heldCount() == 1);
      assertThat(f.exporter.batches()).as("the second waits for the first's answer").hasSize(1);
      assertThat(c.socket().getInputStream().available()).as("no answer yet").isZero();

      f.exporter.mode(Mode.ACCEPT);
      f.exporter.completeHeld();
      RawHttp.Response first = c.read();
      RawHttp.Response second = c.read();
      assertThat(first.status()).isEqualTo(200);
      assertThat(second.status()).isEqualTo(200);
    }
    assertThat(f.exporter.batches()).extracting(Captured::request)
        .containsExactly(metrics, logs);
  }

  @Test
  void manySequentialRequestsShareOneConnection() throws Exception {
    byte[] body = OtlpSamples.traces().toByteArray();
    try (RawHttp c = f.raw()) {
      for (int i = 0; i < 20; i++) {
        c.write(RawHttp.request("POST", "/v1/traces", body, "Content-Type", PROTOBUF));
        RawHttp.Response r = c.read();
        assertThat(r.status()).as("request %d", i).isEqualTo(200);
        assertThat(r.header("connection")).isNotEqualToIgnoringCase("close");
      }
    }
    assertThat(f.exporter.batches()).hasSize(20);
  }

  @Test
  void connectionCloseIsHonoured() throws Exception {
    try (RawHttp c = f.raw()) {
      c.write(RawHttp.request("POST", "/v1/traces", OtlpSamples.traces().toByteArray(),
          "Content-Type", PROTOBUF, "Connection", "close"));
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.awaitClosed()).isTrue();
    }
  }
}
