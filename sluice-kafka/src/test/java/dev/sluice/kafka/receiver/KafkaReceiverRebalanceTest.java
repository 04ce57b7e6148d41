package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import dev.sluice.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Two receivers of one group while data flows: a second joins, then the first leaves. Every
 * message arrives; a partition is owned by one receiver at a time, so each partition's messages
 * reach the pipeline in offset order across the hand-overs; and since revoked partitions are
 * committed once the pipeline answered, none is read twice.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaReceiverRebalanceTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final int PARTITIONS = 6;
  private static final int PER_PARTITION = 150;
  private static KafkaTestBroker kafka;
  private static KafkaProducer<byte[], byte[]> producer;

  private final List<KafkaReceiver> receivers = new ArrayList<>();
  private Thread writer;
  private final AtomicBoolean stopWriting = new AtomicBoolean();

  /** Every accepted item in acceptance order, with the receiver that handed it over. */
  private final List<String[]> accepted = Collections.synchronizedList(new ArrayList<>());

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
    stopWriting.set(true);
    if (writer != null) {
      writer.join(10_000);
    }
    receivers.forEach(KafkaReceiver::close);
  }

  /** A sink recording, in one shared list, which receiver handed over which item. */
  private TelemetrySink sinkOf(String receiver) {
    return new TelemetrySink() {
      @Override
      public CompletableFuture<Void> submit(TelemetryBatch batch) {
        Fixtures.Captured c;
        try {
          c = Fixtures.capture(batch);
        } finally {
          batch.release();
        }
        synchronized (accepted) {
          c.ids().forEach(id -> accepted.add(new String[] {receiver, id}));
        }
        return CompletableFuture.completedFuture(null);
      }

      @Override
      public boolean ready() {
        return true;
      }
    };
  }

  private KafkaReceiver start(String name, String group, String topic) {
    KafkaReceiver r = Fixtures.receiver(kafka, name, group, sinkOf(name),
            Map.of(Signal.LOGS, topic))
        .maxConcurrentSubmitsPerPartition(4).build();
    receivers.add(r);
    r.start();
    return r;
  }

  private int acceptedBy(String receiver) {
    synchronized (accepted) {
      return (int) accepted.stream().filter(a -> a[0].equals(receiver)).count();
    }
  }

  @Test
  void messagesSurviveAJoinAndALeaveWithoutLossDuplicatesOrOverlap() throws Exception {
    String topic = kafka.createTopic("rebalance-logs", PARTITIONS);
    String group = Fixtures.group("rebalance");
    AtomicInteger written = new AtomicInteger();
    AtomicReference<Throwable> writeError = new AtomicReference<>();
    // Writes round-robin over the partitions, 6 messages every 20 ms or so, until all are out.
    writer = new Thread(() -> {
      try {
        for (int i = 0; i < PER_PARTITION && !stopWriting.get(); i++) {
          for (int p = 0; p < PARTITIONS; p++) {
            producer.send(new ProducerRecord<>(topic, p, null,
                Fixtures.request(Signal.LOGS, "p" + p + "-" + i, 1).toByteArray()));
            written.incrementAndGet();
          }
          producer.flush();
          TimeUnit.MILLISECONDS.sleep(20); // pacing the load over 3 s, not synchronising
        }
      } catch (Throwable t) {
        writeError.set(t);
      }
    }, "rebalance-writer");

    KafkaReceiver a = start("a", group, topic);
    Await.until("a owns every partition", WAIT, () -> a.assignedPartitions().size() == PARTITIONS);
    writer.start();
    Await.until("a took some", WAIT, () -> acceptedBy("a") >= 50);

    KafkaReceiver b = start("b", group, topic);
    Set<TopicPartition> overlap = new HashSet<>();
    Await.until("the partitions shared by a and b", WAIT, () -> {
      Set<TopicPartition> both = new HashSet<>(a.assignedPartitions());
      both.retainAll(b.assignedPartitions());
      overlap.addAll(both);
      return a.assignedPartitions().size() + b.assignedPartitions().size() == PARTITIONS
          && !a.assignedPartitions().isEmpty() && !b.assignedPartitions().isEmpty()
          && acceptedBy("b") >= 20;
    });

    a.close();
    assertThat(written.get()).as("still writing after the hand-overs")
        .isLessThan(PARTITIONS * PER_PARTITION);
    Await.until("b owns every partition", WAIT, () -> {
      Set<TopicPartition> both = new HashSet<>(a.assignedPartitions());
      both.retainAll(b.assignedPartitions());
      overlap.addAll(both);
      return b.assignedPartitions().size() == PARTITIONS;
    });
    writer.join(30_000);
    assertThat(writeError.get()).isNull();
    assertThat(written.get()).isEqualTo(PARTITIONS * PER_PARTITION);

    int total = PARTITIONS * PER_PARTITION;
    Await.until("every message accepted", WAIT, () -> accepted.size() >= total);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));

    assertThat(overlap).as("partitions owned by both at once").isEmpty();
    List<String[]> all;
    synchronized (accepted) {
      all = new ArrayList<>(accepted);
    }
    assertThat(all).hasSize(total);
    // Per partition: every sequence number once, in order, across the receivers.
    Map<Integer, List<Integer>> seq = new HashMap<>();
    Map<Integer, List<String>> owners = new HashMap<>();
    for (String[] a2 : all) {
      String id = a2[1];
      int p = Integer.parseInt(id.substring(1, id.indexOf('-')));
      seq.computeIfAbsent(p, k -> new ArrayList<>())
          .add(Integer.parseInt(id.substring(id.indexOf('-') + 1, id.indexOf('/'))));
      List<String> o = owners.computeIfAbsent(p, k -> new ArrayList<>());
      if (o.isEmpty() || !o.get(o.size() - 1).equals(a2[0])) {
        o.add(a2[0]);
      }
    }
    List<Integer> expected = new ArrayList<>();
    for (int i = 0; i < PER_PARTITION; i++) {
      expected.add(i);
    }
    for (int p = 0; p < PARTITIONS; p++) {
      assertThat(seq.get(p)).as("partition %d", p).isEqualTo(expected);
    }
    // Both took part, and b ended with everything.
    assertThat(acceptedBy("a")).isPositive();
    assertThat(acceptedBy("b")).isPositive();
    owners.values().forEach(o -> assertThat(o.get(o.size() - 1)).isEqualTo("b"));
  }

  /** A sink that accepts each batch {@code delayMillis} after it was handed over. */
  private TelemetrySink slowSinkOf(String receiver, long delayMillis) {
    return new TelemetrySink() {
      @Override
      public CompletableFuture<Void> submit(TelemetryBatch batch) {
        Fixtures.Captured c;
        try {
          c = Fixtures.capture(batch);
        } finally {
          batch.release();
        }
        return CompletableFuture.runAsync(() -> {
          synchronized (accepted) {
            c.ids().forEach(id -> accepted.add(new String[] {receiver, id}));
          }
        }, CompletableFuture.delayedExecutor(delayMillis, TimeUnit.MILLISECONDS));
      }

      @Override
      public boolean ready() {
        return true;
      }
    };
  }

  private KafkaReceiver startSlow(String name, String group, String topic, long delayMillis,
      Duration revokeTimeout) {
    KafkaReceiver r = Fixtures.receiver(kafka, name, group, slowSinkOf(name, delayMillis),
            Map.of(Signal.LOGS, topic))
        .maxConcurrentSubmitsPerPartition(1).revokeTimeout(revokeTimeout).build();
    receivers.add(r);
    r.start();
    return r;
  }

  private Map<String, Integer> acceptedCounts() {
    Map<String, Integer> counts = new HashMap<>();
    synchronized (accepted) {
      accepted.forEach(a -> counts.merge(a[1], 1, Integer::sum));
    }
    return counts;
  }

  @Test
  void revocationWaitsForWhatThePipelineWasHandedAndCommitsIt() {
    String topic = kafka.createTopic("revoke-wait-logs", 2);
    String group = Fixtures.group("revoke-wait");
    for (int i = 0; i < 8; i++) {
      for (int p = 0; p < 2; p++) {
        Fixtures.send(producer, topic, p,
            Fixtures.request(Signal.LOGS, "p" + p + "-" + i, 1).toByteArray(), null);
      }
    }
    // Every partition has a submission in flight at any time: the sink takes 150 ms each.
    startSlow("a", group, topic, 150, Duration.ofSeconds(5));
    Await.until("a took some", WAIT, () -> acceptedBy("a") >= 2);

    startSlow("b", group, topic, 150, Duration.ofSeconds(5));

    Await.until("every message accepted", WAIT, () -> acceptedCounts().size() == 16);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    assertThat(acceptedBy("b")).isPositive();
    // What a had in flight when its partitions were revoked was waited for and committed.
    assertThat(acceptedCounts()).hasSize(16).allSatisfy((id, n) -> assertThat(n).as(id)
        .isEqualTo(1));
  }

  @Test
  void revocationWaitsOnlyUntilTheRevokeTimeoutThenTheNextOwnerReadsItAgain() {
    String topic = kafka.createTopic("revoke-timeout-logs", 2);
    String group = Fixtures.group("revoke-timeout");
    for (int i = 0; i < 6; i++) {
      for (int p = 0; p < 2; p++) {
        Fixtures.send(producer, topic, p,
            Fixtures.request(Signal.LOGS, "p" + p + "-" + i, 1).toByteArray(), null);
      }
    }
    // The sink takes 400 ms, the revocation waits 50 ms at most.
    KafkaReceiver a = startSlow("a", group, topic, 400, Duration.ofMillis(50));
    Await.until("a took some", WAIT, () -> acceptedBy("a") >= 1);

    startSlow("b", group, topic, 400, Duration.ofMillis(50));

    Await.until("every message accepted", WAIT, () -> acceptedCounts().size() == 12);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    a.close();
    // The one message in flight per revoked partition was not committed: read again, once.
    Map<String, Integer> counts = acceptedCounts();
    assertThat(counts).hasSize(12).allSatisfy((id, n) -> assertThat(n).isBetween(1, 2));
    assertThat(counts.values().stream().filter(n -> n == 2).count()).isEqualTo(2);
  }
}
