package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A sink that refuses or does not answer: partitions pause, memory stays bounded, nothing is
 * committed early, nothing is skipped or lost, and consumption resumes when the sink does.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaReceiverBackpressureTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static KafkaTestBroker kafka;
  private static KafkaProducer<byte[], byte[]> producer;

  private final List<KafkaReceiver> receivers = new ArrayList<>();
  private final Fixtures.ControlledSink sink = new Fixtures.ControlledSink();

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
    sink.mode = Fixtures.ControlledSink.Mode.ACCEPT;
    sink.acceptHeld();
    receivers.forEach(KafkaReceiver::close);
  }

  private KafkaReceiver start(KafkaReceiver.Builder b) {
    KafkaReceiver r = b.build();
    receivers.add(r);
    r.start();
    return r;
  }

  /** Writes {@code n} one-log requests to each partition, with ids {@code p<partition>-<seq>}. */
  private static void fill(String topic, int partitions, int n) {
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < partitions; p++) {
        Fixtures.send(producer, topic, p,
            Fixtures.request(Signal.LOGS, "p" + p + "-" + i, 1).toByteArray(), null);
      }
    }
  }

  /** The sequence numbers per partition, in the order the sink accepted them. */
  private static Map<Integer, List<Integer>> sequences(List<String> ids) {
    Map<Integer, List<Integer>> out = new HashMap<>();
    for (String id : ids) {
      String head = id.substring(0, id.indexOf('/'));
      int dash = head.indexOf('-');
      out.computeIfAbsent(Integer.parseInt(head.substring(1, dash)), k -> new ArrayList<>())
          .add(Integer.parseInt(head.substring(dash + 1)));
    }
    return out;
  }

  private static List<Integer> range(int n) {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(i);
    }
    return out;
  }

  @Test
  void aRefusingSinkPausesThePartitionsAndTheSameMessageIsRetriedUntilAccepted() {
    String topic = kafka.createTopic("refuse-logs", 2);
    fill(topic, 2, 20);
    String group = Fixtures.group("refuse");
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    sink.mode = Fixtures.ControlledSink.Mode.REFUSE;

    KafkaReceiver r = start(Fixtures.receiver(kafka, "refuse", group, sink,
            Map.of(Signal.LOGS, topic))
        .maxConcurrentSubmitsPerPartition(1).maxInFlightRecordsPerPartition(5)
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(100))
        .consumerProperty("max.poll.records", 5).meterRegistry(registry));

    Set<TopicPartition> both = Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
    AtomicInteger maxHeld = new AtomicInteger();
    Await.until("both partitions paused after repeated refusals", WAIT, () -> {
      maxHeld.accumulateAndGet(r.inFlightRecords(), Math::max);
      return sink.refusals.get() >= 10 && r.pausedPartitions().equals(both);
    });
    assertThat(sink.accepted).isEmpty();
    assertThat(Fixtures.committed(kafka, group)).as("nothing committed while refused").isEmpty();
    // Only the first message of each partition was ever offered: retried, never skipped.
    synchronized (sink.refused) {
      assertThat(sink.refused).extracting(c -> c.ids().get(0))
          .allMatch(id -> id.equals("p0-0/0") || id.equals("p1-0/0"));
    }
    // Per partition at most the limit plus what one poll returns.
    assertThat(maxHeld.get()).isLessThanOrEqualTo(2 * (5 + 5));
    assertThat(registry.find("sluice.kafka.receiver.refusals").tag("topic", topic).counter()
        .count()).isGreaterThanOrEqualTo(10);

    sink.mode = Fixtures.ControlledSink.Mode.ACCEPT;

    Await.until("every message accepted", WAIT, () -> sink.acceptedIds().size() >= 40);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed up to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    Await.until("the partitions resumed", WAIT, () -> r.pausedPartitions().isEmpty());
    // Exactly once each (the sink refused without keeping anything) and in offset order.
    Map<Integer, List<Integer>> seq = sequences(sink.acceptedIds());
    assertThat(seq.get(0)).isEqualTo(range(20));
    assertThat(seq.get(1)).isEqualTo(range(20));
    assertThat(r.inFlightRecords()).isZero();
  }

  @Test
  void aSinkThatDoesNotAnswerBoundsWhatIsHeldAndPauses() {
    String topic = kafka.createTopic("hold-logs", 1);
    fill(topic, 1, 60);
    String group = Fixtures.group("hold");
    sink.mode = Fixtures.ControlledSink.Mode.HOLD;

    KafkaReceiver r = start(Fixtures.receiver(kafka, "hold", group, sink,
            Map.of(Signal.LOGS, topic))
        .maxConcurrentSubmitsPerPartition(4).maxInFlightRecordsPerPartition(10)
        .consumerProperty("max.poll.records", 5));

    TopicPartition tp = new TopicPartition(topic, 0);
    Await.until("the window full and the partition paused", WAIT,
        () -> sink.heldCount() == 4 && r.pausedPartitions().contains(tp));
    assertThat(r.inFlightRecords()).isBetween(10, 10 + 5);
    assertThat(r.inFlightBytes()).isPositive();
    assertThat(sink.submissions.get()).as("never more than the window at once").isEqualTo(4);
    assertThat(Fixtures.committed(kafka, group)).isEmpty();

    // Answer in bursts; the partition resumes and everything arrives, in order.
    AtomicInteger maxHeld = new AtomicInteger();
    Await.until("every message accepted", WAIT, () -> {
      maxHeld.accumulateAndGet(r.inFlightRecords(), Math::max);
      assertThat(sink.heldCount()).isLessThanOrEqualTo(4);
      sink.acceptHeld();
      return sink.acceptedIds().size() >= 60;
    });
    assertThat(maxHeld.get()).isLessThanOrEqualTo(15);
    assertThat(sequences(sink.acceptedIds()).get(0)).isEqualTo(range(60));
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed up to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
  }

  @Test
  void theTotalLimitPausesEveryPartition() {
    String topic = kafka.createTopic("total-logs", 3);
    fill(topic, 3, 10);
    String group = Fixtures.group("total");
    sink.mode = Fixtures.ControlledSink.Mode.HOLD;

    KafkaReceiver r = start(Fixtures.receiver(kafka, "total", group, sink,
            Map.of(Signal.LOGS, topic))
        .maxConcurrentSubmitsPerPartition(2).maxInFlightRecords(6)
        .consumerProperty("max.poll.records", 3));

    Await.until("every partition paused", WAIT,
        () -> r.assignedPartitions().size() == 3
            && r.pausedPartitions().equals(r.assignedPartitions()));
    assertThat(r.inFlightRecords()).isBetween(6, 6 + 3);
    assertThat(Fixtures.committed(kafka, group)).isEmpty();

    Await.until("every message accepted", WAIT, () -> {
      assertThat(r.inFlightRecords()).isLessThanOrEqualTo(6 + 3);
      sink.acceptHeld();
      return sink.acceptedIds().size() >= 30;
    });
    assertThat(sink.acceptedIds()).hasSize(30).doesNotHaveDuplicates();
    Map<Integer, List<Integer>> seq = sequences(sink.acceptedIds());
    for (int p = 0; p < 3; p++) {
      assertThat(seq.get(p)).as("partition %d in order", p).isEqualTo(range(10));
    }
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed up to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
  }
}
