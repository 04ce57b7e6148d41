package dev.sluice.kafka.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import dev.sluice.testing.Await;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import kafka.server.BrokerServer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.server.common.MetadataVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The shared broker fixture itself: what the exporter's and the receiver's tests rely on. */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaTestBrokerTest {

  @Test
  void sharedBrokerIsOneInstanceOnLoopbackWithProductionMetadata(KafkaTestBroker kafka) {
    assertThat(KafkaTestBroker.shared()).isSameAs(kafka);
    assertThat(kafka.bootstrapServers()).startsWith("127.0.0.1:");
    assertThat(kafka.kit().nodes().bootstrapMetadata().metadataVersion())
        .isEqualTo(MetadataVersion.LATEST_PRODUCTION);
    assertThat(kafka.directory().toString()).contains("target");
    BrokerServer broker = kafka.kit().brokers().values().iterator().next();
    int port = broker.boundPort(kafka.kit().nodes().brokerListenerName());
    assertThat(kafka.bootstrapServers()).endsWith(":" + port);
  }

  @Test
  void everyListenerIsBoundToLoopbackOnly(KafkaTestBroker kafka) {
    int brokerPort = Integer.parseInt(kafka.bootstrapServers().substring("127.0.0.1:".length()));
    int controllerPort = kafka.kit().controllers().values().iterator().next().socketServer()
        .boundPort(kafka.kit().nodes().controllerListenerName());
    List<InetSocketAddress> bound = kafka.listeningAddresses();
    assertThat(bound).extracting(InetSocketAddress::getPort)
        .contains(brokerPort, controllerPort);
    assertThat(bound).allSatisfy(a -> assertThat(a.getAddress().isLoopbackAddress())
        .as("%s is a loopback address", a).isTrue());
  }

  @Test
  void createdTopicTakesRecordsAtOnceAndReadAllReturnsThemInOrder(KafkaTestBroker kafka)
      throws Exception {
    String topic = kafka.createTopic("fixture", 3);
    try (KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
      for (int i = 0; i < 30; i++) {
        producer.send(new ProducerRecord<>(topic, i % 3, null,
            ("m" + i).getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
      }
    }
    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic);
    assertThat(records).hasSize(30);
    for (int p = 0; p < 3; p++) {
      int partition = p;
      List<String> values = records.stream().filter(r -> r.partition() == partition)
          .map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
      assertThat(values).hasSize(10);
      for (int k = 0; k < 10; k++) {
        assertThat(values.get(k)).isEqualTo("m" + (k * 3 + partition));
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"classic", "consumer"})
  void consumerGroupsOfBothProtocolsConsumeAndCommit(String protocol, KafkaTestBroker kafka)
      throws Exception {
    String topic = kafka.createTopic("group-" + protocol, 2);
    try (KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
      for (int i = 0; i < 10; i++) {
        producer.send(new ProducerRecord<>(topic, i % 2, null,
            ("g" + i).getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
      }
    }
    String group = "group-" + protocol + "-" + topic;
    Map<String, Object> props = new HashMap<>(kafka.consumerProperties(group));
    props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
    List<String> seen = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      consumer.subscribe(List.of(topic));
      Await.until("10 records through a " + protocol + " consumer group", Duration.ofSeconds(30),
          () -> {
            consumer.poll(Duration.ofMillis(100)).forEach(r ->
                seen.add(new String(r.value(), StandardCharsets.UTF_8)));
            return seen.size() >= 10;
          });
      consumer.commitSync(Duration.ofSeconds(10));
    }
    assertThat(seen).containsExactlyInAnyOrder("g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7",
        "g8", "g9");
    Map<TopicPartition, OffsetAndMetadata> committed = kafka.admin()
        .listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
        .get(10, TimeUnit.SECONDS);
    assertThat(committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum())
        .isEqualTo(10);
  }

  static KafkaProducer<byte[], byte[]> producer(KafkaTestBroker kafka) {
    return new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class));
  }
}
