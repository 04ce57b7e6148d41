package dev.sluice.kafka;

import static dev.sluice.kafka.Otlp.attr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Start, close, flush, refusal, failure when Kafka is unreachable, and what the builder checks. */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaExporterLifecycleTest {
  private static KafkaTestBroker kafka;

  private final List<KafkaExporter> exporters = new ArrayList<>();
  private final List<TelemetryBatch> batches = new ArrayList<>();

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
  }

  @AfterEach
  void cleanUp() {
    exporters.forEach(KafkaExporter::close);
    for (TelemetryBatch b : batches) {
      if (b.refCnt() > 0) {
        b.release();
      }
    }
  }

  private static ExportLogsServiceRequest logs(String body) {
    return Otlp.logs(Otlp.resourceLogs(Otlp.resource(attr("service.name", "life")),
        Otlp.scope("s"), Otlp.log(1, body)));
  }

  private TelemetryBatch batch(String body) {
    TelemetryBatch b = Otlp.batch(Signal.LOGS, logs(body));
    batches.add(b);
    return b;
  }

  private KafkaExporter started(KafkaExporter.Builder b) {
    KafkaExporter e = b.build();
    exporters.add(e);
    e.start();
    return e;
  }

  /** A loopback port where nothing listens (bound, then closed). */
  private static String deadAddress() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return "127.0.0.1:" + s.getLocalPort();
    }
  }

  @Test
  void closeFlushesWhatTheProducerIsStillHolding() throws Exception {
    String topic = kafka.createTopic("flush", 1);
    KafkaExporter exporter = started(KafkaExporter.builder().name("flush")
        .bootstrapServers(kafka.bootstrapServers()).topic(Signal.LOGS, topic)
        .linger(Duration.ofSeconds(60)).batchSize(1024 * 1024)
        .closeTimeout(Duration.ofSeconds(20)));
    TelemetryBatch batch = batch("lingering");
    CompletableFuture<Void> future = exporter.export(batch);
    // The producer lingers for a minute: nothing is acknowledged on its own.
    assertThatThrownBy(() -> future.get(500, TimeUnit.MILLISECONDS))
        .isInstanceOf(TimeoutException.class);

    long start = System.nanoTime();
    exporter.close();
    long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

    assertThat(future).isCompleted();
    future.get(); // completed normally: Kafka acknowledged it during close
    assertThat(took).isLessThan(15_000);
    assertThat(batch.refCnt()).isZero();
    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic);
    assertThat(records).hasSize(1);
    assertThat(ExportLogsServiceRequest.parseFrom(records.get(0).value()))
        .isEqualTo(logs("lingering"));
    assertThat(exporter.pendingBytes()).isZero();
  }

  @Test
  void closeIsBoundedWhenKafkaIsUnreachableAndFailsWhatItHeld() throws Exception {
    KafkaExporter exporter = started(KafkaExporter.builder().name("unreachable-close")
        .bootstrapServers(deadAddress()).closeTimeout(Duration.ofMillis(500))
        .producerProperty("max.block.ms", 60_000));
    TelemetryBatch first = batch("one");
    TelemetryBatch second = batch("two");
    CompletableFuture<Void> f1 = exporter.export(first);
    CompletableFuture<Void> f2 = exporter.export(second);

    long start = System.nanoTime();
    exporter.close();
    long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

    assertThat(took).isLessThan(5_000);
    for (CompletableFuture<Void> f : List.of(f1, f2)) {
      assertThat(f).isCompletedExceptionally();
      assertThatThrownBy(f::get).isInstanceOf(ExecutionException.class)
          .cause().isInstanceOfAny(KafkaExportException.class, PipelineFullException.class);
    }
    assertThat(first.refCnt()).isZero();
    assertThat(second.refCnt()).isZero();
    assertThat(exporter.pendingBytes()).isZero();
  }

  @Test
  void aBatchKafkaNeverAcknowledgesFailsRetriablyAfterTheTimeouts() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    KafkaExporter exporter = started(KafkaExporter.builder().name("unreachable")
        .bootstrapServers(deadAddress()).deliveryTimeout(Duration.ofMillis(1500))
        .producerProperty("max.block.ms", 1000).meterRegistry(registry));
    TelemetryBatch batch = batch("lost?");
    CompletableFuture<Void> future = exporter.export(batch);

    assertThatThrownBy(() -> future.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class).cause()
        .isInstanceOf(KafkaExportException.class)
        .hasMessageContaining("did not acknowledge 1 message")
        .hasRootCauseInstanceOf(org.apache.kafka.common.errors.TimeoutException.class);
    assertThat(batch.refCnt()).isZero();
    assertThat(registry.get("sluice.kafka.send.errors").tag("signal", "logs").counter().count())
        .isEqualTo(1.0);
    assertThat(exporter.pendingBytes()).isZero();
  }

  @Test
  void refusesBatchesOverItsPendingBytesWithoutBlocking() throws Exception {
    KafkaExporter exporter = started(KafkaExporter.builder().name("pending")
        .bootstrapServers(deadAddress()).maxPendingBytes(1).closeTimeout(Duration.ZERO));
    TelemetryBatch first = batch("first");
    CompletableFuture<Void> accepted = exporter.export(first);
    assertThat(exporter.pendingBytes()).isEqualTo(first.bytes());

    TelemetryBatch second = batch("second");
    CompletableFuture<Void> refused = exporter.export(second);

    assertThat(refused).isCompletedExceptionally();
    assertThatThrownBy(refused::get).cause().isInstanceOf(PipelineFullException.class)
        .hasMessageContaining("has not acknowledged");
    assertThat(second.refCnt()).isZero();
    assertThat(accepted).isNotDone();
  }

  @Test
  void closeIsIdempotentAndExportsAfterCloseFailWithPipelineFull() throws Exception {
    KafkaExporter exporter = started(KafkaExporter.builder().name("closed")
        .bootstrapServers(kafka.bootstrapServers()));
    exporter.close();
    exporter.close();
    TelemetryBatch batch = batch("late");

    CompletableFuture<Void> f = exporter.export(batch);

    assertThat(f).isCompletedExceptionally();
    assertThatThrownBy(f::get).cause().isInstanceOf(PipelineFullException.class)
        .hasMessageContaining("closed");
    assertThat(batch.refCnt()).isZero();
    assertThatThrownBy(exporter::start).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void exportBeforeStartThrowsAndLeavesTheBatchToTheCaller() {
    KafkaExporter exporter = KafkaExporter.builder().bootstrapServers(kafka.bootstrapServers())
        .build();
    exporters.add(exporter);
    TelemetryBatch batch = batch("early");
    assertThatThrownBy(() -> exporter.export(batch)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("not started");
    assertThat(batch.refCnt()).isEqualTo(1);
    exporter.start();
    assertThatThrownBy(exporter::start).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already started");
  }

  @Test
  void toStringAndEffectivePropertiesNeverShowSecrets() {
    KafkaExporter exporter = KafkaExporter.builder().name("secure")
        .bootstrapServers("broker-1.example:9093,broker-2.example:9093")
        .producerProperties(Map.of(
            "security.protocol", "SASL_SSL",
            "sasl.mechanism", "SCRAM-SHA-512",
            "sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule"
                + " required username=\"svc\" password=\"hunter2-jaas\";",
            "ssl.truststore.location", "/etc/kafka/truststore.jks",
            "ssl.truststore.password", "hunter2-truststore",
            "ssl.key.password", "hunter2-key",
            "sasl.oauthbearer.client.credentials.client.secret", "hunter2-secret",
            "sasl.login.callback.handler.token", "hunter2-token"))
        .build();
    exporters.add(exporter);

    String text = exporter.toString();
    String effective = exporter.effectiveProducerProperties().toString();
    for (String s : List.of(text, effective)) {
      assertThat(s).doesNotContain("hunter2").contains("****")
          .contains("SASL_SSL").contains("SCRAM-SHA-512").contains("/etc/kafka/truststore.jks");
    }
    assertThat(text).contains("name=secure").contains("broker-1.example:9093")
        .contains("traces=otlp_spans").contains("metrics=otlp_metrics").contains("logs=otlp_logs")
        .contains("encoding=otlp_proto").contains("compression=none")
        .contains("maxMessageBytes=1048576");
    assertThat(exporter.effectiveProducerProperties()).containsEntry("sasl.jaas.config", "****")
        .containsEntry("ssl.truststore.password", "****");
  }

  @Test
  void producerDefaultsAreForNoLossAndPassThroughPropertiesWin() {
    KafkaExporter defaults = KafkaExporter.builder().name("defaults")
        .bootstrapServers(kafka.bootstrapServers()).build();
    exporters.add(defaults);
    assertThat(defaults.effectiveProducerProperties())
        .containsEntry("acks", "all")
        .containsEntry("enable.idempotence", "true")
        .containsEntry("compression.type", "none")
        .containsEntry("delivery.timeout.ms", "120000")
        .containsEntry("max.request.size", "1048576")
        .containsEntry("linger.ms", "5")
        .containsEntry("batch.size", "16384")
        .containsEntry("client.id", "sluice-defaults");
    assertThat(defaults.topic(Signal.TRACES)).isEqualTo("otlp_spans");
    assertThat(defaults.topic(Signal.METRICS)).isEqualTo("otlp_metrics");
    assertThat(defaults.topic(Signal.LOGS)).isEqualTo("otlp_logs");
    assertThat(defaults.encoding()).isEqualTo(KafkaEncoding.OTLP_PROTO);
    assertThat(defaults.compression()).isEqualTo(KafkaCompression.NONE);
    assertThat(defaults.maxMessageBytes()).isEqualTo(1024 * 1024);
    assertThat(defaults.deadLetterFile(Signal.TRACES)).isNull();

    KafkaExporter tuned = KafkaExporter.builder().name("tuned")
        .bootstrapServers(kafka.bootstrapServers()).compression(KafkaCompression.ZSTD)
        .linger(Duration.ofMillis(50)).batchSize(65536).deliveryTimeout(Duration.ofSeconds(10))
        .producerProperty("client.id", "custom-client")
        .producerProperty("max.in.flight.requests.per.connection", 2)
        .build();
    exporters.add(tuned);
    assertThat(tuned.effectiveProducerProperties())
        .containsEntry("compression.type", "zstd")
        .containsEntry("linger.ms", "50")
        .containsEntry("batch.size", "65536")
        .containsEntry("delivery.timeout.ms", "10000")
        .containsEntry("request.timeout.ms", "9950")
        .containsEntry("client.id", "custom-client")
        .containsEntry("max.in.flight.requests.per.connection", "2");
  }

  @Test
  void theBuilderChecksEverythingEagerly() {
    assertThatThrownBy(() -> KafkaExporter.builder().build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bootstrap servers");
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers(" "))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers("localhost"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("host:port");
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers("h:99999"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("port");
    assertThatThrownBy(() -> KafkaExporter.builder().topic(Signal.TRACES, "bad topic"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("topic");
    assertThatThrownBy(() -> KafkaExporter.builder().topic(Signal.TRACES, ".."))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder().topic(Signal.TRACES, "t".repeat(250)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder().maxMessageBytes(100))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder().deliveryTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder().linger(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder().name(""))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaExporter.builder()
        .producerProperty("value.serializer", "x.Y"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("value.serializer");
    KafkaExporter.Builder ok = KafkaExporter.builder().bootstrapServers("127.0.0.1:9092");
    assertThatThrownBy(() -> ok.producerProperty("acks", "2").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("acks");
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers("127.0.0.1:9092")
        .producerProperty("acks", "1").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("idempotence");
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers("127.0.0.1:9092")
        .producerProperty("max.request.size", 2048).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max.request.size");
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers("127.0.0.1:9092")
        .deliveryTimeout(Duration.ofSeconds(5)).producerProperty("request.timeout.ms", 30_000)
        .build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("delivery.timeout.ms");
    assertThatThrownBy(() -> KafkaExporter.builder().bootstrapServers("127.0.0.1:9092")
        .producerProperty("linger.ms", "soon").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("linger.ms");
    assertThatThrownBy(() -> KafkaEncoding.fromId("avro"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("otlp_json");
    assertThatThrownBy(() -> KafkaCompression.fromId("brotli"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("zstd");
    assertThat(KafkaEncoding.fromId("OTLP_JSON")).isEqualTo(KafkaEncoding.OTLP_JSON);
    assertThat(KafkaCompression.fromId("Snappy")).isEqualTo(KafkaCompression.SNAPPY);
    // acks=1 is possible when idempotence is turned off explicitly.
    KafkaExporter weak = KafkaExporter.builder().bootstrapServers("127.0.0.1:9092")
        .producerProperty("acks", "1").producerProperty("enable.idempotence", false).build();
    exporters.add(weak);
    assertThat(weak.effectiveProducerProperties()).containsEntry("acks", "1");
  }
}
