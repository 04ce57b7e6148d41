package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The broker goes away: closing a receiver stays bounded, a receiver started meanwhile waits for
 * it, and consumption resumes from the committed offsets when it is back.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaReceiverOutageTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static KafkaTestBroker kafka;
  private static KafkaProducer<byte[], byte[]> producer;

  private final List<KafkaReceiver> receivers = new ArrayList<>();

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
  void close() {
    kafka.startBroker(); // does nothing when it runs
    receivers.forEach(KafkaReceiver::close);
  }

  private static void fill(String topic, String prefix, int n) {
    for (int i = 0; i < n; i++) {
      Fixtures.send(producer, topic, i % 2,
          Fixtures.request(Signal.METRICS, prefix + i, 1).toByteArray(), null);
    }
  }

  @Test
  void closeIsBoundedDuringAnOutageAndANewReceiverResumesWhenTheBrokerIsBack() {
    String topic = kafka.createTopic("outage-metrics", 2);
    String group = Fixtures.group("outage");
    fill(topic, "before", 10);
    Fixtures.ControlledSink firstSink = new Fixtures.ControlledSink();
    KafkaReceiver first = Fixtures.receiver(kafka, "before-outage", group, firstSink,
        Map.of(Signal.METRICS, topic)).closeTimeout(Duration.ofSeconds(2))
        // It cannot leave the group while the broker is away: the group drops it after 6 s.
        .consumerProperty("session.timeout.ms", 6000).build();
    receivers.add(first);
    first.start();
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("everything committed", WAIT, () -> Fixtures.committed(kafka, group)
        .equals(ends));

    Fixtures.ControlledSink secondSink = new Fixtures.ControlledSink();
    try {
      kafka.stopBroker();

      long started = System.nanoTime();
      first.close();
      Duration took = Duration.ofNanos(System.nanoTime() - started);
      assertThat(took).as("close with the broker gone").isLessThan(Duration.ofSeconds(2 + 5));

      // Starting needs no broker; it consumes once there is one.
      KafkaReceiver second = Fixtures.receiver(kafka, "after-outage", group, secondSink,
          Map.of(Signal.METRICS, topic)).build();
      receivers.add(second);
      second.start();
      assertThat(second.running()).isTrue();
    } finally {
      kafka.startBroker();
    }
    fill(topic, "after", 10);

    Await.until("the new messages accepted", WAIT, () -> secondSink.acceptedIds().size() >= 10);
    Map<TopicPartition, Long> newEnds = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("everything committed", WAIT, () -> Fixtures.committed(kafka, group)
        .equals(newEnds));
    assertThat(firstSink.acceptedIds()).hasSize(10);
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      expected.add("after" + i + "/0");
    }
    // It started from the committed offsets: only what came after.
    assertThat(secondSink.acceptedIds()).containsExactlyInAnyOrderElementsOf(expected);
  }
}
