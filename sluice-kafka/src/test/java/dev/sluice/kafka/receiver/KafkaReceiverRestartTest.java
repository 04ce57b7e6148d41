package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import dev.sluice.testing.Await;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A receiver that stops mid-stream (closed while the pipeline holds submissions, or killed with
 * SIGKILL in a child JVM) and a new one in the same group: nothing is lost, only what was not
 * committed is read again, and the duplicates are exactly those.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaReceiverRestartTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static KafkaTestBroker kafka;
  private static KafkaProducer<byte[], byte[]> producer;

  @TempDir
  Path dir;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private Process child;

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
    if (child != null && child.isAlive()) {
      child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private KafkaReceiver start(KafkaReceiver.Builder b) {
    KafkaReceiver r = b.build();
    closeables.add(r);
    r.start();
    return r;
  }

  private static void fill(String topic, int partitions, int n) {
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < partitions; p++) {
        Fixtures.send(producer, topic, p,
            Fixtures.request(Signal.LOGS, "p" + p + "-" + i, 1).toByteArray(), null);
      }
    }
  }

  private static int partitionOf(String id) {
    return Integer.parseInt(id.substring(1, id.indexOf('-')));
  }

  private static int seqOf(String id) {
    return Integer.parseInt(id.substring(id.indexOf('-') + 1, id.indexOf('/')));
  }

  /**
   * Accepts (into the target) the first {@code perPartition} messages of each partition and holds
   * the later ones without answering, until told to forward them.
   */
  private static final class GatedSink implements TelemetrySink {
    private record Held(TelemetryBatch batch, CompletableFuture<Void> future) {}

    private final TelemetrySink target;
    private final int perPartition;
    private final ConcurrentLinkedQueue<Held> held = new ConcurrentLinkedQueue<>();

    GatedSink(TelemetrySink target, int perPartition) {
      this.target = target;
      this.perPartition = perPartition;
    }

    @Override
    public CompletableFuture<Void> submit(TelemetryBatch batch) {
      String id = Fixtures.capture(batch).ids().get(0);
      if (seqOf(id) < perPartition) {
        return target.submit(batch);
      }
      CompletableFuture<Void> f = new CompletableFuture<>();
      held.add(new Held(batch, f));
      return f;
    }

    int heldCount() {
      return held.size();
    }

    /** The held batches reach the target after all: late, after the receiver gave up on them. */
    void forwardHeld() {
      Held h;
      while ((h = held.poll()) != null) {
        Held x = h;
        target.submit(x.batch()).whenComplete((v, e) -> x.future().complete(null));
      }
    }

    void dropHeld() {
      Held h;
      while ((h = held.poll()) != null) {
        h.batch().release();
      }
    }

    @Override
    public boolean ready() {
      return true;
    }
  }

  @Test
  void aReceiverClosedMidStreamCommitsOnlyWhatWasAcceptedAndTheNextResumesThere()
      throws Exception {
    Fixtures.CapturingExporter exporter = new Fixtures.CapturingExporter();
    DurablePipeline pipeline = Fixtures.durablePipeline(dir, exporter);
    closeables.add(pipeline);
    String topic = kafka.createTopic("restart-logs", 3);
    fill(topic, 3, 60);
    String group = Fixtures.group("restart");
    GatedSink gated = new GatedSink(pipeline, 30);
    closeables.add(gated::dropHeld);

    KafkaReceiver first = start(Fixtures.receiver(kafka, "first", group, gated,
            Map.of(Signal.LOGS, topic))
        .maxConcurrentSubmitsPerPartition(4).closeTimeout(Duration.ofMillis(500)));
    Await.until("30 accepted and 4 held per partition", WAIT,
        () -> exporter.ids().size() == 90 && gated.heldCount() == 12);
    long closing = System.nanoTime();
    first.close();
    // It waits for the held submissions for the close timeout (500 ms), not for ever.
    assertThat(Duration.ofNanos(System.nanoTime() - closing))
        .isBetween(Duration.ofMillis(400), Duration.ofMillis(500 + 4000));

    Map<TopicPartition, Long> thirty = new HashMap<>();
    for (int p = 0; p < 3; p++) {
      thirty.put(new TopicPartition(topic, p), 30L);
    }
    assertThat(Fixtures.committed(kafka, group)).as("committed: the accepted prefix only")
        .isEqualTo(thirty);

    // The pipeline takes the held ones after all, after the receiver let them go: duplicates.
    gated.forwardHeld();
    start(Fixtures.receiver(kafka, "second", group, pipeline, Map.of(Signal.LOGS, topic)));

    Await.until("every message exported", WAIT,
        () -> exporter.ids().stream().distinct().count() == 180);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    Map<String, Long> counts = exporter.ids().stream()
        .collect(Collectors.groupingBy(Function.identity(), TreeMap::new,
            Collectors.counting()));
    List<String> duplicated = counts.entrySet().stream().filter(e -> e.getValue() > 1)
        .map(Map.Entry::getKey).collect(Collectors.toList());
    // Exactly the held ones, read again from the committed offset: 30 to 33 of each partition.
    assertThat(duplicated).hasSize(12)
        .allSatisfy(id -> assertThat(seqOf(id)).isBetween(30, 33));
    assertThat(counts.values()).allMatch(c -> c <= 2);
  }

  @Test
  void aReceiverKilledWithSigkillLosesNothing() throws Exception {
    String topic = kafka.createTopic("kill-logs", 3);
    fill(topic, 3, 100);
    String group = Fixtures.group("kill");
    Path queueDir = dir.resolve("queue");
    Files.createDirectories(queueDir);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        "-Xmx256m",
        ReceiverChildMain.class.getName(), kafka.bootstrapServers(), topic, group,
        queueDir.toString())
        .redirectErrorStream(true);
    child = pb.start();
    Process p = child;
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
        StandardCharsets.UTF_8));
    Thread drain = new Thread(() -> {
      try {
        String line;
        while ((line = out.readLine()) != null) {
          if (line.contains("ERROR") || line.contains("Exception")) {
            System.out.println("child: " + line);
          }
        }
      } catch (Exception ignored) {
        // the child died
      }
    }, "child-output");
    drain.setDaemon(true);
    drain.start();

    // Kill it while it is at it: something committed, not everything.
    Await.until("the child committed something", WAIT, () -> Fixtures.committed(kafka, group)
        .values().stream().mapToLong(Long::longValue).sum() >= 60);
    p.destroyForcibly(); // SIGKILL
    assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
    Map<TopicPartition, Long> committedAtKill = Fixtures.committed(kafka, group);
    long committedSum = committedAtKill.values().stream().mapToLong(Long::longValue).sum();
    assertThat(committedSum).as("killed mid-stream").isLessThan(300);

    // The same queue directory (what the child appended survives) and the same group.
    Fixtures.CapturingExporter exporter = new Fixtures.CapturingExporter();
    DurablePipeline pipeline = Fixtures.durablePipeline(queueDir, exporter);
    closeables.add(pipeline);
    start(Fixtures.receiver(kafka, "after-kill", group, pipeline, Map.of(Signal.LOGS, topic)));

    Await.until("every message exported", WAIT,
        () -> exporter.ids().stream().distinct().count() == 300);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka, topic);
    Await.until("offsets committed to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    Map<String, Long> counts = exporter.ids().stream()
        .collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
    assertThat(counts).hasSize(300);
    // Before the committed offset nothing was read twice; after it at most twice (once by the
    // child, appended but not committed, once again).
    counts.forEach((id, n) -> {
      long committed = committedAtKill.getOrDefault(new TopicPartition(topic, partitionOf(id)),
          0L);
      if (seqOf(id) < committed) {
        assertThat(n).as("%s, before the committed offset %d", id, committed).isEqualTo(1);
      } else {
        assertThat(n).as(id).isBetween(1L, 2L);
      }
    });
    long duplicates = counts.values().stream().mapToLong(n -> n - 1).sum();
    System.out.println("after SIGKILL: committed " + committedSum + " of 300, " + duplicates
        + " duplicate(s)");
  }
}
