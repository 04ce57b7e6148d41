package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.KafkaExporter;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.Unpooled;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every signal in both encodings from Kafka into a real durable pipeline: exact counts and
 * content, tenants, committed offsets and the receiver's meters.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaReceiverRoundTripTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final int PARTITIONS = 3;
  private static KafkaTestBroker kafka;
  private static KafkaProducer<byte[], byte[]> producer;

  @TempDir
  Path dir;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final Fixtures.CapturingExporter exporter = new Fixtures.CapturingExporter();
  private DurablePipeline pipeline;
  private SimpleMeterRegistry registry;

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
    if (pipeline != null) {
      pipeline.close();
    }
  }

  private KafkaReceiver start(KafkaReceiver.Builder b) throws Exception {
    KafkaReceiver r = b.build();
    closeables.add(r);
    r.start();
    return r;
  }

  private Map<Signal, String> topics(String prefix) {
    Map<Signal, String> topics = new EnumMap<>(Signal.class);
    for (Signal s : Signal.values()) {
      topics.put(s, kafka.createTopic(prefix + "-" + s.id(), PARTITIONS));
    }
    return topics;
  }

  private double counter(String name, String... tags) {
    var c = registry.find(name).tags(tags).counter();
    return c == null ? 0 : c.count();
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void everySignalArrivesExactlyOnceWithItsContentAndTenant(KafkaEncoding encoding)
      throws Exception {
    pipeline = Fixtures.durablePipeline(dir, exporter);
    registry = new SimpleMeterRegistry();
    Map<Signal, String> topics = topics("rt-" + encoding.id().replace('_', '-'));
    String group = Fixtures.group("rt");
    // 3 signals x 3 partitions x 4 messages, each with 1 to 3 items; tenants on some.
    Map<String, Message> sent = new HashMap<>();
    Map<String, String> tenantOf = new HashMap<>();
    Map<String, Long> bytesPerTopic = new HashMap<>();
    int expectedItems = 0;
    for (Signal s : Signal.values()) {
      for (int p = 0; p < PARTITIONS; p++) {
        for (int i = 0; i < 4; i++) {
          String id = s.id() + "-p" + p + "-" + i;
          Message request = Fixtures.request(s, id, 1 + i % 3);
          String tenant = i % 2 == 0 ? "tenant-" + p : null;
          byte[] value = Fixtures.encode(request, encoding);
          Fixtures.send(producer, topics.get(s), p, value, tenant);
          sent.put(id, request);
          tenantOf.put(id, tenant == null ? "" : tenant);
          bytesPerTopic.merge(topics.get(s), (long) value.length, Long::sum);
          expectedItems += 1 + i % 3;
        }
      }
    }

    start(Fixtures.receiver(kafka, "rt", group, pipeline, topics).encoding(encoding)
        .meterRegistry(registry));

    int total = expectedItems;
    Await.until("every item exported", WAIT, () -> exporter.ids().size() >= total);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka,
        topics.values().toArray(String[]::new));
    Await.until("offsets committed up to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));

    List<Fixtures.Captured> got = exporter.snapshot();
    assertThat(got).hasSize(sent.size());
    for (Fixtures.Captured c : got) {
      String id = c.ids().get(0).substring(0, c.ids().get(0).indexOf('/'));
      assertThat(c.request()).as("request %s", id).isEqualTo(sent.get(id));
      assertThat(c.signal()).isEqualTo(Signal.valueOf(id.startsWith("traces") ? "TRACES"
          : id.startsWith("metrics") ? "METRICS" : "LOGS"));
      assertThat(c.tenant()).as("tenant of %s", id).isEqualTo(tenantOf.get(id));
      assertThat(c.items()).isEqualTo(c.ids().size());
    }
    assertThat(exporter.ids()).hasSize(total).doesNotHaveDuplicates();
    for (Signal s : Signal.values()) {
      String topic = topics.get(s);
      assertThat(counter("sluice.kafka.receiver.records", "receiver", "rt", "topic", topic))
          .isEqualTo(PARTITIONS * 4);
      assertThat(counter("sluice.kafka.receiver.bytes", "receiver", "rt", "topic", topic))
          .isEqualTo(bytesPerTopic.get(topic).doubleValue());
      long items = got.stream().filter(c -> c.signal() == s).mapToLong(Fixtures.Captured::items)
          .sum();
      assertThat(counter("sluice.kafka.receiver.items", "receiver", "rt", "signal", s.id()))
          .isEqualTo(items).isEqualTo(PARTITIONS * (1 + 2 + 3 + 1));
    }
    assertThat(registry.find("sluice.kafka.receiver.commit.latency").timer().count())
        .isPositive();
    // The lag per partition, from the consumer: nothing left to read.
    Await.until("the lag gauges at 0", WAIT, () -> {
      var gauges = registry.find("sluice.kafka.receiver.lag").tag("receiver", "rt").gauges();
      return gauges.size() == 3 * PARTITIONS
          && gauges.stream().allMatch(g -> g.value() == 0.0);
    });
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void roundTripThroughTheKafkaExporter(KafkaEncoding encoding) throws Exception {
    pipeline = Fixtures.durablePipeline(dir, exporter);
    Map<Signal, String> topics = topics("xrt-" + encoding.id().replace('_', '-'));
    KafkaExporter.Builder eb = KafkaExporter.builder().name("xrt")
        .bootstrapServers(kafka.bootstrapServers()).encoding(encoding);
    topics.forEach(eb::topic);
    KafkaExporter kafkaExporter = eb.build();
    closeables.add(kafkaExporter);
    kafkaExporter.start();
    List<String> expected = new ArrayList<>();
    for (Signal s : Signal.values()) {
      for (int i = 0; i < 5; i++) {
        Message request = Fixtures.request(s, s.id() + "-x" + i, 4);
        expected.addAll(Fixtures.itemIds(request));
        byte[] bytes = request.toByteArray();
        kafkaExporter.export(new TelemetryBatch(s, Unpooled.wrappedBuffer(bytes), 4, "acme",
            System.currentTimeMillis())).get(30, TimeUnit.SECONDS);
      }
    }

    start(Fixtures.receiver(kafka, "xrt", Fixtures.group("xrt"), pipeline, topics)
        .encoding(encoding));

    Await.until("every item exported", WAIT, () -> exporter.ids().size() >= expected.size());
    assertThat(exporter.ids()).containsExactlyInAnyOrderElementsOf(expected);
    assertThat(exporter.snapshot()).allSatisfy(c -> assertThat(c.tenant()).isEqualTo("acme"));
    // The exporter cut traces into one message per trace: every span is one message here.
    assertThat(exporter.snapshot().stream().filter(c -> c.signal() == Signal.TRACES))
        .allSatisfy(c -> assertThat(c.items()).isEqualTo(1));
  }

  @Test
  void invalidItemsAreDroppedAndTheRestForwarded() throws Exception {
    pipeline = Fixtures.durablePipeline(dir, exporter);
    registry = new SimpleMeterRegistry();
    Map<Signal, String> topics = topics("partial");
    for (Signal s : Signal.values()) {
      Fixtures.send(producer, topics.get(s), 0,
          Fixtures.partlyInvalid(s, s.id(), 3, 2).toByteArray(), null);
      Fixtures.send(producer, topics.get(s), 0,
          Fixtures.request(s, s.id() + "-after", 1).toByteArray(), null);
    }
    String group = Fixtures.group("partial");

    start(Fixtures.receiver(kafka, "partial", group, pipeline, topics).meterRegistry(registry));

    Await.until("the valid items exported", WAIT, () -> exporter.ids().size() >= 12);
    Map<TopicPartition, Long> ends = Fixtures.nonEmptyEndOffsets(kafka,
        topics.values().toArray(String[]::new));
    Await.until("offsets committed up to the end", WAIT,
        () -> Fixtures.committed(kafka, group).equals(ends));
    assertThat(exporter.ids()).containsExactlyInAnyOrder(
        "traces/v0", "traces/v1", "traces/v2", "traces-after/0",
        "metrics/v0", "metrics/v1", "metrics/v2", "metrics-after/0",
        "logs/v0", "logs/v1", "logs/v2", "logs-after/0");
    for (Signal s : Signal.values()) {
      assertThat(counter("sluice.kafka.receiver.rejected.items", "receiver", "partial", "signal",
          s.id())).isEqualTo(2);
      assertThat(counter("sluice.kafka.receiver.items", "receiver", "partial", "signal",
          s.id())).isEqualTo(4);
    }
  }

  @Test
  void latestSkipsWhatWasWrittenBeforeTheGroupStartedAndEarliestReadsIt() throws Exception {
    pipeline = Fixtures.durablePipeline(dir, exporter);
    registry = new SimpleMeterRegistry();
    String topic = kafka.createTopic("latest-logs", 2);
    Map<Signal, String> topics = Map.of(Signal.LOGS, topic);
    for (int p = 0; p < 2; p++) {
      Fixtures.send(producer, topic, p, Fixtures.request(Signal.LOGS, "old" + p, 1).toByteArray(),
          null);
    }

    start(Fixtures.receiver(kafka, "latest", Fixtures.group("latest"), pipeline, topics)
        .initialOffset(InitialOffset.LATEST).meterRegistry(registry));
    // The consumer knows its position (at the end) once it reports a lag for each partition.
    Await.until("the positions resolved", WAIT, () -> {
      var gauges = registry.find("sluice.kafka.receiver.lag").tag("topic", topic).gauges();
      return gauges.size() == 2 && gauges.stream().allMatch(g -> g.value() == 0.0);
    });
    for (int p = 0; p < 2; p++) {
      Fixtures.send(producer, topic, p, Fixtures.request(Signal.LOGS, "new" + p, 1).toByteArray(),
          null);
    }
    Await.until("the new records exported", WAIT, () -> exporter.ids().size() >= 2);

    Fixtures.CapturingExporter second = new Fixtures.CapturingExporter();
    DurablePipeline secondPipeline = Fixtures.durablePipeline(dir.resolve("second"), second);
    closeables.add(secondPipeline);
    start(Fixtures.receiver(kafka, "earliest", Fixtures.group("earliest"), secondPipeline,
        topics).initialOffset(InitialOffset.EARLIEST));
    Await.until("everything exported by the earliest group", WAIT,
        () -> second.ids().size() >= 4);

    assertThat(exporter.ids()).containsExactlyInAnyOrder("new0/0", "new1/0");
    assertThat(second.ids()).containsExactlyInAnyOrder("old0/0", "old1/0", "new0/0", "new1/0");
  }

  @Test
  void closeCommitsWhatWasAcceptedAndIsIdempotent() throws Exception {
    pipeline = Fixtures.durablePipeline(dir, exporter);
    String topic = kafka.createTopic("close-spans", 2);
    String group = Fixtures.group("close");
    for (int i = 0; i < 10; i++) {
      Fixtures.send(producer, topic, i % 2, Fixtures.request(Signal.TRACES, "c" + i, 1)
          .toByteArray(), null);
    }
    // A commit interval far longer than the test: only close() commits.
    KafkaReceiver r = start(Fixtures.receiver(kafka, "close", group, pipeline,
        Map.of(Signal.TRACES, topic)).commitInterval(Duration.ofMinutes(10)));
    Await.until("every span exported", WAIT, () -> exporter.ids().size() >= 10);
    assertThat(Fixtures.committed(kafka, group)).as("nothing committed before close").isEmpty();

    r.close();
    r.close();

    assertThat(r.running()).isFalse();
    assertThat(r.assignedPartitions()).isEmpty();
    assertThat(Fixtures.committed(kafka, group))
        .isEqualTo(Fixtures.nonEmptyEndOffsets(kafka, topic));
  }

  @Test
  void gaugesReportTheAssignment() throws Exception {
    pipeline = Fixtures.durablePipeline(dir, exporter);
    registry = new SimpleMeterRegistry();
    String topic = kafka.createTopic("gauges-metrics", 3);
    KafkaReceiver r = start(Fixtures.receiver(kafka, "gauges", Fixtures.group("gauges"),
        pipeline, Map.of(Signal.METRICS, topic)).meterRegistry(registry));

    Await.until("three partitions assigned", WAIT, () -> r.assignedPartitions().size() == 3);
    Gauge assigned = registry.find("sluice.kafka.receiver.assigned.partitions").gauge();
    assertThat(assigned.value()).isEqualTo(3.0);
    assertThat(r.assignedPartitions().stream().map(TopicPartition::topic)
        .collect(Collectors.toSet())).containsExactly(topic);
    r.close();
    assertThat(registry.find("sluice.kafka.receiver.lag").gauges()).isEmpty();
  }
}
