package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.KafkaExporter;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Messages that cannot be forwarded go to the dead-letter topic with headers saying why and where
 * they came from, are counted, and never hold up their partition.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaReceiverDeadLetterTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  /** A length-delimited field claiming far more bytes than follow: no request, no JSON. */
  private static final byte[] GARBAGE = {0x0a, (byte) 0xff, (byte) 0xff, 0x7f, 'j', 'u', 'n', 'k'};
  private static KafkaTestBroker kafka;
  private static KafkaProducer<byte[], byte[]> producer;

  @TempDir
  Path dir;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final Fixtures.ControlledSink sink = new Fixtures.ControlledSink();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
    producer = Fixtures.producer(kafka);
  }

  @AfterAll
  static void closeProducer() {
    producer.close(Duration.ofSeconds(5));
  }

  @AfterEach
  void close() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private KafkaReceiver start(KafkaReceiver.Builder b) {
    KafkaReceiver r = b.meterRegistry(registry).build();
    closeables.add(r);
    r.start();
    return r;
  }

  private double count(String name, String... tags) {
    var c = registry.find(name).tags(tags).counter();
    return c == null ? 0 : c.count();
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String key) {
    Header h = r.headers().lastHeader(key);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  private static byte[] log(String id) {
    return Fixtures.request(Signal.LOGS, id, 1).toByteArray();
  }

  @Test
  void badMessagesGoToTheDeadLetterTopicAndThePartitionKeepsFlowing() {
    String topic = kafka.createTopic("poison-logs", 2);
    String dlq = kafka.createTopic("poison-dlq", 1);
    String group = Fixtures.group("poison");
    Fixtures.send(producer, topic, 0, log("a0"), null);
    Fixtures.send(producer, topic, 0, GARBAGE, "acme"); // offset 1
    Fixtures.send(producer, topic, 0, log("a1"), null);
    Fixtures.send(producer, topic, 0,
        Fixtures.partlyInvalid(Signal.LOGS, "bad", 0, 2).toByteArray(), null); // offset 3
    Fixtures.send(producer, topic, 0, log("a2"), null);
    Fixtures.send(producer, topic, 1, log("b0"), null);
    Fixtures.send(producer, topic, 1, null, null); // offset 1: no value
    Fixtures.send(producer, topic, 1, log("b1"), null);

    start(Fixtures.receiver(kafka, "poison", group, sink, Map.of(Signal.LOGS, topic))
        .deadLetterTopic(dlq));

    Await.until("the good messages accepted", WAIT, () -> sink.acceptedIds().size() >= 5);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed past the bad messages", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    assertThat(sink.acceptedIds()).containsExactlyInAnyOrder("a0/0", "a1/0", "a2/0", "b0/0",
        "b1/0");

    List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(dlq);
    assertThat(dead).hasSize(3);
    ConsumerRecord<byte[], byte[]> garbage = dead.stream()
        .filter(r -> "1".equals(header(r, KafkaReceiver.ORIGINAL_OFFSET_HEADER))
            && "0".equals(header(r, KafkaReceiver.ORIGINAL_PARTITION_HEADER)))
        .findFirst().orElseThrow();
    assertThat(garbage.value()).isEqualTo(GARBAGE);
    assertThat(header(garbage, KafkaReceiver.ERROR_KIND_HEADER)).isEqualTo("decode_error");
    assertThat(header(garbage, KafkaReceiver.ERROR_HEADER))
        .contains("not a valid protobuf ExportLogsServiceRequest");
    assertThat(header(garbage, KafkaReceiver.ORIGINAL_TOPIC_HEADER)).isEqualTo(topic);
    assertThat(header(garbage, KafkaReceiver.RECEIVER_HEADER)).isEqualTo("poison");
    assertThat(header(garbage, KafkaReceiver.ENCODING_HEADER)).isEqualTo("otlp_proto");
    assertThat(header(garbage, KafkaExporter.TENANT_HEADER)).as("original headers kept")
        .isEqualTo("acme");
    assertThat(Long.parseLong(header(garbage, KafkaReceiver.ORIGINAL_TIMESTAMP_HEADER)))
        .isPositive();

    ConsumerRecord<byte[], byte[]> invalid = dead.stream()
        .filter(r -> "3".equals(header(r, KafkaReceiver.ORIGINAL_OFFSET_HEADER)))
        .findFirst().orElseThrow();
    assertThat(header(invalid, KafkaReceiver.ERROR_KIND_HEADER)).isEqualTo("invalid");
    assertThat(header(invalid, KafkaReceiver.ERROR_HEADER)).contains("trace_id is 3 bytes");

    ConsumerRecord<byte[], byte[]> empty = dead.stream()
        .filter(r -> "1".equals(header(r, KafkaReceiver.ORIGINAL_PARTITION_HEADER)))
        .findFirst().orElseThrow();
    assertThat(empty.value()).isNull();
    assertThat(header(empty, KafkaReceiver.ERROR_KIND_HEADER)).isEqualTo("no_value");
    assertThat(header(empty, KafkaReceiver.ORIGINAL_OFFSET_HEADER)).isEqualTo("1");

    assertThat(count("sluice.kafka.receiver.decode.failures", "topic", topic)).isEqualTo(1);
    assertThat(count("sluice.kafka.receiver.dead.lettered", "topic", topic, "reason",
        "decode_error")).isEqualTo(1);
    assertThat(count("sluice.kafka.receiver.dead.lettered", "topic", topic, "reason", "invalid"))
        .isEqualTo(1);
    assertThat(count("sluice.kafka.receiver.dead.lettered", "topic", topic, "reason",
        "no_value")).isEqualTo(1);
  }

  @Test
  void aJsonReceiverDeadLettersProtobuf() {
    String topic = kafka.createTopic("json-metrics", 1);
    String dlq = kafka.createTopic("json-dlq", 1);
    String group = Fixtures.group("json");
    Fixtures.send(producer, topic, 0, Fixtures.request(Signal.METRICS, "proto", 1).toByteArray(),
        null);
    Fixtures.send(producer, topic, 0, Fixtures.encode(Fixtures.request(Signal.METRICS, "json", 2),
        KafkaEncoding.OTLP_JSON), null);

    start(Fixtures.receiver(kafka, "json", group, sink, Map.of(Signal.METRICS, topic))
        .encoding(KafkaEncoding.OTLP_JSON).deadLetterTopic(dlq));

    Await.until("the JSON message accepted", WAIT, () -> sink.acceptedIds().size() >= 2);
    Await.until("the protobuf message dead-lettered", WAIT,
        () -> count("sluice.kafka.receiver.dead.lettered", "topic", topic) == 1);
    assertThat(sink.acceptedIds()).containsExactly("json/0", "json/1");
    List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(dlq);
    assertThat(dead).hasSize(1);
    assertThat(header(dead.get(0), KafkaReceiver.ERROR_HEADER))
        .contains("not valid OTLP JSON for ExportMetricsServiceRequest");
    assertThat(header(dead.get(0), KafkaReceiver.ENCODING_HEADER)).isEqualTo("otlp_json");
  }

  @Test
  void withoutADeadLetterTopicBadMessagesAreDroppedAndCounted() {
    String topic = kafka.createTopic("drop-spans", 1);
    String group = Fixtures.group("drop");
    Fixtures.send(producer, topic, 0, GARBAGE, null);
    Fixtures.send(producer, topic, 0, Fixtures.request(Signal.TRACES, "after", 1).toByteArray(),
        null);

    start(Fixtures.receiver(kafka, "drop", group, sink, Map.of(Signal.TRACES, topic)));

    Await.until("the later message accepted", WAIT, () -> sink.acceptedIds().size() >= 1);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    assertThat(sink.acceptedIds()).containsExactly("after/0");
    assertThat(count("sluice.kafka.receiver.dropped", "topic", topic, "reason", "decode_error"))
        .isEqualTo(1);
  }

  @Test
  void aMessageThePipelineRefusesForGoodIsDeadLettered() throws Exception {
    // The durable pipeline cannot store a tenant name over 65535 bytes: a permanent refusal.
    Fixtures.CapturingExporter exporter = new Fixtures.CapturingExporter();
    DurablePipeline pipeline = Fixtures.durablePipeline(dir, exporter);
    closeables.add(pipeline);
    String topic = kafka.createTopic("tenant-logs", 1);
    String dlq = kafka.createTopic("tenant-dlq", 1);
    String group = Fixtures.group("tenant");
    Fixtures.send(producer, topic, 0, log("huge"), "t".repeat(70_000));
    Fixtures.send(producer, topic, 0, log("fine"), "small");

    start(Fixtures.receiver(kafka, "tenant", group, pipeline, Map.of(Signal.LOGS, topic))
        .deadLetterTopic(dlq));

    Await.until("the fine message exported", WAIT, () -> exporter.ids().size() >= 1);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    assertThat(exporter.ids()).containsExactly("fine/0");
    List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(dlq);
    assertThat(dead).hasSize(1);
    assertThat(header(dead.get(0), KafkaReceiver.ERROR_KIND_HEADER)).isEqualTo("refused");
    assertThat(header(dead.get(0), KafkaReceiver.ERROR_HEADER))
        .startsWith("the pipeline refused the message");
  }

  @Test
  void aMessageIsNotSkippedWhileTheDeadLetterTopicCannotTakeIt() {
    String topic = kafka.createTopic("wait-logs", 1);
    String dlq = "wait-dlq-" + System.nanoTime(); // created later
    String group = Fixtures.group("wait");
    Fixtures.send(producer, topic, 0, log("w0"), null);
    Fixtures.send(producer, topic, 0, GARBAGE, null); // offset 1
    Fixtures.send(producer, topic, 0, log("w1"), null);

    start(Fixtures.receiver(kafka, "wait", group, sink, Map.of(Signal.LOGS, topic))
        .deadLetterTopic(dlq)
        .deadLetterProducerProperties(Map.of("max.block.ms", 200)));

    Await.until("a dead-letter write failed", WAIT,
        () -> count("sluice.kafka.receiver.dead.letter.errors") >= 2);
    // Whatever came after may be accepted, but the commit stops at the message not yet handled.
    Await.until("the first message committed", WAIT,
        () -> Long.valueOf(1).equals(Fixtures.committed(kafka, group)
            .get(new TopicPartition(topic, 0))));
    assertThat(count("sluice.kafka.receiver.dead.lettered")).isZero();

    kafka.createTopics(Map.of(dlq, 1));

    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    assertThat(kafka.readAll(dlq)).hasSize(1)
        .allSatisfy(r -> assertThat(r.value()).isEqualTo(GARBAGE));
    assertThat(sink.acceptedIds()).containsExactly("w0/0", "w1/0");
  }
}
