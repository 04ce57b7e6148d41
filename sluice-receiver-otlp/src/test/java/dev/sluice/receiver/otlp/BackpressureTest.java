package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Mode;
import dev.sluice.testing.Await;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Throttling (specification, "OTLP/HTTP Throttling"): while the pipeline's in-flight bytes are
 * taken, new requests get 503 with Retry-After at once; the request holding them is answered 200
 * when the exporter confirms, and never before.
 */
class BackpressureTest {
  private ReceiverFixture f;

  @BeforeEach
  void start() {
    // One byte: the first batch still passes (the pipeline lets one batch through when nothing
    // else is in flight), every other waits for it.
    f = ReceiverFixture.builder().maxInFlightBytes(1).start();
  }

  @AfterEach
  void stop() {
    f.close();
  }

  @Test
  void secondRequestIsRefusedWhileTheFirstHoldsTheInFlightBytes() throws Exception {
    f.exporter.mode(Mode.HOLD);
    Message first = OtlpSamples.traces();
    CompletableFuture<HttpResponse<byte[]>> pending = f.sendAsync(f.request("/v1/traces")
        .header("Content-Type", PROTOBUF)
        .POST(BodyPublishers.ofByteArray(first.toByteArray())).build());
    Await.until("the first batch is held", Duration.ofSeconds(5),
        () -> f.exporter.heldCount() == 1);
    assertThat(f.pipeline.inFlightBytes()).isEqualTo(first.getSerializedSize());
    assertThat(pending).as("no answer before the exporter confirms").isNotDone();

    for (String ct : new String[] {PROTOBUF, JSON}) {
      Message second = OtlpSamples.logs();
      byte[] body = ct.equals(JSON) ? OtlpJsonCodec.toJsonBytes(second) : second.toByteArray();
      HttpResponse<byte[]> r = f.post(Signal.LOGS, ct, body);
      assertThat(r.statusCode()).isEqualTo(503);
      assertThat(Answers.contentType(r)).isEqualTo(ct);
      assertThat(r.headers().firstValue("retry-after")).hasValueSatisfying(
          v -> assertThat(Integer.parseInt(v)).isPositive());
      assertThat(Answers.status(r).getMessage()).contains("full");
    }
    assertThat(f.exporter.batches()).as("refused batches never reach the exporter").hasSize(1);
    assertThat(pending).isNotDone();

    f.exporter.completeHeld();
    HttpResponse<byte[]> r = pending.get(5, TimeUnit.SECONDS);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEmpty();
    assertThat(f.exporter.only().request()).isEqualTo(first);
    Await.until("in-flight bytes are given back", Duration.ofSeconds(5),
        () -> f.pipeline.inFlightBytes() == 0);

    // Room again.
    f.exporter.mode(Mode.ACCEPT);
    assertThat(f.post(Signal.LOGS, PROTOBUF, OtlpSamples.logs().toByteArray()).statusCode())
        .isEqualTo(200);
  }

  @Test
  void heldRequestFailedByTheExporterIs503() throws Exception {
    f.exporter.mode(Mode.HOLD);
    CompletableFuture<HttpResponse<byte[]>> pending = f.sendAsync(f.request("/v1/metrics")
        .header("Content-Type", JSON)
        .POST(BodyPublishers.ofByteArray(OtlpJsonCodec.toJsonBytes(OtlpSamples.metrics())))
        .build());
    Await.until("the batch is held", Duration.ofSeconds(5), () -> f.exporter.heldCount() == 1);
    f.exporter.failHeld(new java.io.IOException("backend went away"));
    HttpResponse<byte[]> r = pending.get(5, TimeUnit.SECONDS);
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(Answers.contentType(r)).isEqualTo(JSON);
    assertThat(Answers.status(r).getMessage()).contains("backend went away");
  }
}
