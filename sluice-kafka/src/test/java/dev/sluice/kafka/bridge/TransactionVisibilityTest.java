package dev.sluice.kafka.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What the bridge builds on, checked on the real broker: records of an aborted transaction are
 * invisible to {@code read_committed} consumers, those of a committed one are visible.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class TransactionVisibilityTest {
  private static KafkaTestBroker kafka;

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
  }

  @Test
  void anAbortedTransactionIsInvisibleToReadCommittedConsumers() throws Exception {
    String topic = kafka.createTopic("txn-visibility", 2);
    Map<String, Object> props = new HashMap<>();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "visibility-" + UUID.randomUUID());
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      producer.initTransactions();

      producer.beginTransaction();
      for (int i = 0; i < 10; i++) {
        // Acknowledged by the partition leaders: the records are in the log, uncommitted.
        producer.send(record(topic, "aborted-" + i)).get(30, TimeUnit.SECONDS);
      }
      producer.abortTransaction();

      producer.beginTransaction();
      for (int i = 0; i < 5; i++) {
        producer.send(record(topic, "committed-" + i));
      }
      producer.commitTransaction();
    }

    List<String> committedView = values(kafka.readAll(topic));
    List<String> uncommittedView = readUncommitted(topic);

    assertThat(committedView).containsExactlyInAnyOrder("committed-0", "committed-1",
        "committed-2", "committed-3", "committed-4");
    assertThat(uncommittedView).as("the aborted records are in the log all the same")
        .hasSize(15).contains("aborted-0", "aborted-9", "committed-4");
  }

  private static ProducerRecord<byte[], byte[]> record(String topic, String value) {
    return new ProducerRecord<>(topic, value.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8));
  }

  private static List<String> values(List<ConsumerRecord<byte[], byte[]>> records) {
    List<String> out = new ArrayList<>();
    records.forEach(r -> out.add(new String(r.value(), StandardCharsets.UTF_8)));
    return out;
  }

  /** Every data record of the topic, aborted ones included. */
  private static List<String> readUncommitted(String topic) {
    Map<String, Object> props = kafka.consumerProperties(null);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    List<String> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic, Duration.ofSeconds(30))
          .forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        assertThat(System.nanoTime()).as("read %s in time", topic).isLessThan(deadline);
        consumer.poll(Duration.ofMillis(200)).forEach(r -> out.add(
            new String(r.value(), StandardCharsets.UTF_8)));
      }
    }
    return out;
  }
}
