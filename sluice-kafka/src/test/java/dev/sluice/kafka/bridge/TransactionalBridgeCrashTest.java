package dev.sluice.kafka.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The bridge in a child JVM ({@link BridgeChild}), killed with SIGKILL three times while input is
 * still being written, each time replaced by a new child with the same transactional id and
 * group: a {@code read_committed} reader of the output finds every input record exactly once.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class TransactionalBridgeCrashTest {
  private static final int KILLS = 3;
  private static final int PROGRESS_PER_CHILD = 300;
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static KafkaTestBroker kafka;

  private final List<Process> children = new ArrayList<>();
  private Feeder feeder;
  private Collector collector;

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
  }

  @AfterEach
  void cleanUp() {
    children.forEach(p -> p.toHandle().destroyForcibly());
    if (feeder != null) {
      feeder.stop();
    }
    if (collector != null) {
      collector.close();
    }
  }

  @Test
  void killedMidStreamAndRestartedTheBridgeWritesEveryInputRecordExactlyOnce() throws Exception {
    String in = kafka.createTopic("crash-in", 3);
    String out = kafka.createTopic("crash-out", 3);
    String group = "crash-" + UUID.randomUUID();
    feeder = new Feeder(in);
    collector = new Collector(out);

    for (int i = 0; i <= KILLS; i++) {
      int k = i;
      Process child = startChild(k, in, out, group);
      // Once it has its partitions, its initTransactions has settled its predecessor's last
      // transaction (a commit under way when it was killed completes): what comes after is its.
      Await.until("child " + k + " to get its partitions", WAIT, () -> {
        requireAlive(child, k);
        return childLog(k).contains("Kafka bridge child: assigned");
      });
      collector.catchUp();
      long before = collector.total();
      Await.until("child " + k + " to commit " + PROGRESS_PER_CHILD + " records", WAIT, () -> {
        requireAlive(child, k);
        collector.poll();
        return collector.total() >= before + PROGRESS_PER_CHILD;
      });
      if (k < KILLS) {
        Await.until("child " + k + " to have a transaction with records open", WAIT, () -> {
          requireAlive(child, k);
          return openTransaction(out);
        });
        assertThat(feeder.stopped()).as("input is still being written at kill %d", k).isFalse();
        child.toHandle().destroyForcibly();
        assertThat(child.waitFor(10, TimeUnit.SECONDS)).as("child %d died", k).isTrue();
      } else {
        long produced = feeder.stop();
        Await.until("the last child to write all " + produced + " records", WAIT, () -> {
          requireAlive(child, k);
          collector.poll();
          return collector.total() >= produced;
        });
        child.destroy(); // SIGTERM: the child closes its bridge
        assertThat(child.waitFor(20, TimeUnit.SECONDS)).as("the last child stopped").isTrue();
      }
    }

    long produced = feeder.produced();
    List<Long> written = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(out)) {
      ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(r.value());
      written.add(BridgeData.traceNumber(req.getResourceSpans(0).getScopeSpans(0).getSpans(0)
          .getTraceId().toByteArray()));
    }
    List<Long> expected = new ArrayList<>();
    for (long n = 0; n < produced; n++) {
      expected.add(n);
    }
    assertThat(produced).isGreaterThan((KILLS + 1L) * PROGRESS_PER_CHILD);
    assertThat(written).as("every input record once: no loss, no duplicate")
        .hasSize((int) produced).containsExactlyInAnyOrderElementsOf(expected);
    // Each kill left the records of an open transaction in the log (unless it came as the
    // transaction was being committed); read_committed skips them.
    long inLog = readUncommittedCount(out);
    System.out.printf("crash test: %d input records, %d output records in the log%n", produced,
        inLog);
    assertThat(inLog).as("records in the output log, aborted ones included")
        .isGreaterThan(produced);
  }

  private Process startChild(int k, String in, String out, String group) throws IOException {
    Path log = Paths.get("target", "bridge-crash-child-" + k + ".log");
    ProcessBuilder pb = new ProcessBuilder(
        Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"),
        BridgeChild.class.getName(),
        "bootstrap=" + kafka.bootstrapServers(), "group=" + group, "instance=node-0",
        "in=" + in, "out=" + out, "maxRecords=1000", "maxTransactionMillis=400")
        .redirectErrorStream(true).redirectOutput(log.toFile());
    Process p = pb.start();
    children.add(p);
    return p;
  }

  private static String childLog(int k) {
    try {
      return Files.readString(Paths.get("target", "bridge-crash-child-" + k + ".log"));
    } catch (IOException e) {
      return e.toString();
    }
  }

  private static void requireAlive(Process child, int k) {
    if (!child.isAlive()) {
      String log = childLog(k);
      throw new AssertionError("child " + k + " exited with " + child.exitValue() + ":\n"
          + log.substring(Math.max(0, log.length() - 4000)));
    }
  }

  /**
   * True when records of a transaction not yet committed or aborted are in the topic's log: the
   * high watermark of a partition is past its last stable offset.
   */
  private static boolean openTransaction(String topic) {
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    for (int p = 0; p < 3; p++) {
      request.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    try {
      Map<TopicPartition, ListOffsetsResultInfo> stable = kafka.admin().listOffsets(request,
          new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get(10, TimeUnit.SECONDS);
      Map<TopicPartition, ListOffsetsResultInfo> high = kafka.admin().listOffsets(request,
          new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).all()
          .get(10, TimeUnit.SECONDS);
      return request.keySet().stream()
          .anyMatch(tp -> high.get(tp).offset() > stable.get(tp).offset());
    } catch (Exception e) {
      throw new AssertionError("cannot list the offsets of " + topic, e);
    }
  }

  private static long readUncommittedCount(String topic) {
    Map<String, Object> props = kafka.consumerProperties(null);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    long count = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic, WAIT)
          .forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, WAIT);
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        assertThat(System.nanoTime()).as("read %s in time", topic).isLessThan(deadline);
        count += consumer.poll(Duration.ofMillis(200)).count();
      }
    }
    return count;
  }

  /** Writes numbered one-trace requests to the input, 10 every 20 ms, until stopped. */
  private static final class Feeder {
    private final KafkaProducer<byte[], byte[]> producer;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final AtomicLong next = new AtomicLong();
    private final AtomicReference<Exception> error = new AtomicReference<>();
    private volatile boolean stopped;

    Feeder(String topic) {
      Map<String, Object> props = new HashMap<>();
      props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
      props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
      producer = new KafkaProducer<>(props);
      timer.scheduleAtFixedRate(() -> {
        for (int i = 0; i < 10; i++) {
          long n = next.getAndIncrement();
          producer.send(new ProducerRecord<>(topic,
              ("upstream-" + (n % 11)).getBytes(StandardCharsets.UTF_8),
              BridgeData.oneTrace(n, 1).toByteArray()), (meta, e) -> {
                if (e != null) {
                  error.compareAndSet(null, e);
                }
              });
        }
      }, 0, 20, TimeUnit.MILLISECONDS);
    }

    boolean stopped() {
      return stopped;
    }

    /** Stops writing, waits until Kafka acknowledged everything; returns the records written. */
    long stop() {
      if (!stopped) {
        stopped = true;
        timer.shutdown();
        try {
          assertThat(timer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError(e);
        }
        producer.flush();
        producer.close(Duration.ofSeconds(5));
        assertThat(error.get()).as("input write errors").isNull();
      }
      return next.get();
    }

    long produced() {
      return next.get();
    }
  }

  /** Reads the output read_committed as it grows, counting the records. */
  private static final class Collector {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private long total;

    Collector(String topic) {
      consumer = kafka.newConsumer(null);
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic, WAIT)
          .forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
    }

    void poll() {
      total += consumer.poll(Duration.ofMillis(100)).count();
    }

    /** Reads up to the current last stable offsets. */
    void catchUp() {
      Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), WAIT);
      Await.until("the collector to catch up with " + end, WAIT, () -> {
        poll();
        return end.entrySet().stream()
            .allMatch(e -> consumer.position(e.getKey()) >= e.getValue());
      });
    }

    long total() {
      return total;
    }

    void close() {
      consumer.close(Duration.ofSeconds(5));
    }
  }
}
