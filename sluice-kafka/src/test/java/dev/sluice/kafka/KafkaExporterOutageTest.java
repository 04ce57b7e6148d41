package dev.sluice.kafka;

import static dev.sluice.kafka.Otlp.attr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.queue.DurableQueue;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The no-loss path: a durable pipeline with a real queue in front of the Kafka exporter, and the
 * shared broker stopped and started again. What was accepted during the outage arrives after it.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaExporterOutageTest {

  @TempDir
  Path queueDirectory;

  private static ExportTraceServiceRequest batchOf(int n) {
    return Otlp.traces(Otlp.resourceSpans(Otlp.resource(attr("service.name", "outage")),
        Otlp.scopeSpans(Otlp.scope("s"),
            Otlp.span(Otlp.traceId(0x40 + n, n), n * 10, "batch-" + n + "-a"),
            Otlp.span(Otlp.traceId(0x60 + n, n), n * 10 + 1, "batch-" + n + "-b"))));
  }

  private static Set<String> spanNames(List<ConsumerRecord<byte[], byte[]>> records)
      throws Exception {
    Set<String> names = new HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      Otlp.flatten(ExportTraceServiceRequest.parseFrom(r.value()))
          .forEach(s -> names.add(s.span().getName()));
    }
    return names;
  }

  private static double counter(SimpleMeterRegistry registry, String name) {
    return registry.get(name).tag("signal", "traces").counter().count();
  }

  @Test
  void batchesAcceptedWhileTheBrokerIsDownArriveAfterItIsBack(KafkaTestBroker kafka)
      throws Exception {
    String topic = kafka.createTopic("outage", 2);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    KafkaExporter exporter = KafkaExporter.builder().name("kafka-outage")
        .bootstrapServers(kafka.bootstrapServers()).topic(Signal.TRACES, topic)
        .deliveryTimeout(Duration.ofSeconds(2)).closeTimeout(Duration.ofSeconds(5))
        .producerProperty("max.block.ms", 2000)
        .producerProperty("reconnect.backoff.max.ms", 200)
        .meterRegistry(registry).build();
    DurableQueue queue = DurableQueue.builder().directory(queueDirectory).build();
    DurablePipeline pipeline = DurablePipeline.builder().queue(queue)
        .exporters(List.of(exporter)).backoff(Duration.ofMillis(100), Duration.ofMillis(500))
        .closeTimeout(Duration.ofSeconds(5)).meterRegistry(registry).build();
    pipeline.start();
    try {
      pipeline.submit(Otlp.batch(Signal.TRACES, batchOf(0))).get(10, TimeUnit.SECONDS);
      Await.until("batch 0 in Kafka", Duration.ofSeconds(20),
          () -> counter(registry, "sluice.kafka.messages.sent") >= 2);
      assertThat(spanNames(kafka.readAll(topic))).containsExactlyInAnyOrder("batch-0-a",
          "batch-0-b");

      Set<String> expected = new HashSet<>(Set.of("batch-0-a", "batch-0-b"));
      kafka.stopBroker();
      try {
        assertThat(kafka.running()).isFalse();
        List<CompletableFuture<Void>> accepted = new ArrayList<>();
        for (int n = 1; n <= 4; n++) {
          TelemetryBatch batch = Otlp.batch(Signal.TRACES, batchOf(n));
          accepted.add(pipeline.submit(batch));
          expected.add("batch-" + n + "-a");
          expected.add("batch-" + n + "-b");
        }
        for (CompletableFuture<Void> f : accepted) {
          f.get(10, TimeUnit.SECONDS); // durable in the queue: the receiver could answer 200
        }
        // The producer gives up after the delivery timeout, the batch's future fails, and the
        // pipeline keeps the batch to offer it again.
        Await.until("the pipeline taking back a batch the exporter failed",
            Duration.ofSeconds(30),
            () -> registry.get("sluice.pipeline.redelivered.batches").counter().count() > 0);
        assertThat(counter(registry, "sluice.kafka.send.errors")).isPositive();
        assertThat(registry.get("sluice.pipeline.lag").gauge().value()).isPositive();
      } finally {
        kafka.startBroker();
      }

      Await.until("the queue delivered everything", Duration.ofSeconds(60),
          () -> registry.get("sluice.pipeline.lag").gauge().value() == 0);
      Set<String> arrived = spanNames(kafka.readAll(topic));
      assertThat(arrived).isEqualTo(expected);
    } finally {
      pipeline.close();
    }
  }
}
