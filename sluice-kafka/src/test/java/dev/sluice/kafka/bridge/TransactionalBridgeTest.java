package dev.sluice.kafka.bridge;

import static dev.sluice.kafka.bridge.BridgeData.hex;
import static dev.sluice.kafka.bridge.BridgeData.traceId;
import static dev.sluice.kafka.bridge.BridgeData.utf8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
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
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The bridge on the real broker: re-keying, routing, aborting and fencing. */
@ExtendWith(KafkaTestBrokerExtension.class)
class TransactionalBridgeTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static KafkaTestBroker kafka;

  private final List<TransactionalBridge> bridges = new ArrayList<>();
  private KafkaProducer<byte[], byte[]> input;

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
  }

  @AfterEach
  void close() {
    bridges.forEach(TransactionalBridge::close);
    if (input != null) {
      input.close(Duration.ofSeconds(5));
    }
  }

  private TransactionalBridge.Builder bridge(String in, String out, String group,
      String instance) {
    return TransactionalBridge.builder().name("bridge-test")
        .bootstrapServers(kafka.bootstrapServers()).groupId(group).instanceId(instance)
        .signals(Signal.TRACES).inputTopic(Signal.TRACES, in).outputTopic(Signal.TRACES, out)
        .retryBackoff(Duration.ofMillis(50)).maxRetryBackoff(Duration.ofMillis(200))
        .closeTimeout(Duration.ofSeconds(5));
  }

  private TransactionalBridge started(TransactionalBridge.Builder builder) {
    TransactionalBridge b = builder.build();
    bridges.add(b);
    b.start();
    return b;
  }

  /** Writes records as another system would: plain idempotent producer, keys of its own. */
  private void produce(String topic, List<byte[]> values, List<String> tenants)
      throws Exception {
    if (input == null) {
      Map<String, Object> props = new HashMap<>();
      props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
      props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
      input = new KafkaProducer<>(props);
    }
    for (int i = 0; i < values.size(); i++) {
      ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic,
          ("upstream-key-" + (i % 5)).getBytes(StandardCharsets.UTF_8), values.get(i));
      String tenant = tenants == null ? null : tenants.get(i);
      if (tenant != null) {
        r.headers().add(new RecordHeader("sluice.tenant",
            tenant.getBytes(StandardCharsets.UTF_8)));
      }
      input.send(r);
    }
    input.flush();
  }

  private static List<byte[]> traces(long from, int count) {
    List<byte[]> values = new ArrayList<>();
    for (long n = from; n < from + count; n++) {
      values.add(BridgeData.oneTrace(n, 1 + (int) (n % 3)).toByteArray());
    }
    return values;
  }

  /** The trace number of each output record, from its value (not its key). */
  private static List<Long> traceNumbers(List<ConsumerRecord<byte[], byte[]>> records)
      throws InvalidProtocolBufferException {
    List<Long> out = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(r.value());
      out.add(BridgeData.traceNumber(req.getResourceSpans(0).getScopeSpans(0).getSpans(0)
          .getTraceId().toByteArray()));
    }
    return out;
  }

  private static List<Long> range(long from, int count) {
    List<Long> out = new ArrayList<>();
    for (long n = from; n < from + count; n++) {
      out.add(n);
    }
    return out;
  }

  @Test
  void reKeysEveryInputRecordIntoExactlyOneOutputRecordWithTheSamePayload() throws Exception {
    int n = 200;
    String in = kafka.createTopic("bridge-rekey-in", 3);
    String out = kafka.createTopic("bridge-rekey-out", 3);
    String group = "rekey-" + UUID.randomUUID();
    List<byte[]> values = traces(0, n);
    produce(in, values, null);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();

    TransactionalBridge bridge = started(bridge(in, out, group, "node-1")
        .maxRecordsPerTransaction(50).meterRegistry(registry));
    Await.until("the bridge to commit " + n + " input records", WAIT,
        () -> bridge.recordsIn() >= n);

    List<ConsumerRecord<byte[], byte[]>> output = kafka.readAll(out);
    assertThat(output).hasSize(n);
    Map<Long, Integer> partitionOfTrace = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : output) {
      long trace = traceNumbers(List.of(r)).get(0);
      assertThat(r.value()).as("payload of trace %d", trace).isEqualTo(values.get((int) trace));
      assertThat(utf8(r.key())).isEqualTo(hex(traceId(trace)));
      partitionOfTrace.put(trace, r.partition());
    }
    assertThat(partitionOfTrace.keySet()).containsExactlyInAnyOrderElementsOf(range(0, n));
    assertThat(bridge.recordsIn()).isEqualTo(n);
    assertThat(bridge.recordsOut()).isEqualTo(n);
    assertThat(bridge.transactionsCommitted()).isGreaterThanOrEqualTo(n / 50);
    assertThat(bridge.transactionsAborted()).isZero();
    assertThat(registry.get("sluice.kafka.bridge.commit.latency").timer().count())
        .isEqualTo(bridge.transactionsCommitted());
    assertThat(registry.get("sluice.kafka.bridge.transactions").tag("outcome", "committed")
        .functionCounter().count()).isEqualTo(bridge.transactionsCommitted());
    // The input offsets were committed with the transactions, for the group.
    Map<TopicPartition, OffsetAndMetadata> committed = kafka.admin()
        .listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
        .get(30, TimeUnit.SECONDS);
    Map<TopicPartition, Long> committedOffsets = new HashMap<>();
    committed.forEach((tp, o) -> committedOffsets.put(tp, o.offset()));
    Map<TopicPartition, Long> written = new HashMap<>(kafka.endOffsets(in));
    written.values().removeIf(end -> end == 0); // partitions no key hashed to
    assertThat(committedOffsets).isEqualTo(written);
  }

  @Test
  void routesEachTenantToItsOwnTopicAndRecordsWithoutTenantToTheDefaultTopic()
      throws Exception {
    String in = kafka.createTopic("bridge-route-in", 2);
    String out = kafka.createTopic("bridge-route-out", 1);
    kafka.createTopics(Map.of(out + ".acme", 2, out + ".globex", 1));
    List<String> tenants = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      tenants.add(i % 3 == 0 ? "acme" : i % 3 == 1 ? "globex" : null);
    }
    produce(in, traces(0, 30), tenants);

    TransactionalBridge bridge = started(bridge(in, out, "route-" + UUID.randomUUID(), "n1")
        .transform(BridgeTransform.rekey().then(BridgeTransform.routeByTenant(
            "{topic}.{tenant}"))));
    Await.until("the bridge to commit 30 records", WAIT, () -> bridge.recordsIn() >= 30);

    List<Long> acme = new ArrayList<>();
    List<Long> globex = new ArrayList<>();
    List<Long> none = new ArrayList<>();
    for (long i = 0; i < 30; i++) {
      (i % 3 == 0 ? acme : i % 3 == 1 ? globex : none).add(i);
    }
    List<ConsumerRecord<byte[], byte[]>> acmeOut = kafka.readAll(out + ".acme");
    assertThat(traceNumbers(acmeOut)).containsExactlyInAnyOrderElementsOf(acme);
    assertThat(acmeOut).allSatisfy(r -> assertThat(utf8(r.headers()
        .lastHeader("sluice.tenant").value())).isEqualTo("acme"));
    assertThat(traceNumbers(kafka.readAll(out + ".globex")))
        .containsExactlyInAnyOrderElementsOf(globex);
    assertThat(traceNumbers(kafka.readAll(out))).containsExactlyInAnyOrderElementsOf(none);
  }

  @Test
  void aFailedTransactionIsAbortedAndItsRecordsAreProcessedAgainExactlyOnce() throws Exception {
    String in = kafka.createTopic("bridge-abort-in", 1);
    String out = kafka.createTopic("bridge-abort-out", 1);
    String late = out + ".late";
    List<String> tenants = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      tenants.add(i == 7 ? "late" : null);
    }
    produce(in, traces(0, 20), tenants);

    // Trace 7 goes to a topic that does not exist yet: its transaction cannot complete.
    TransactionalBridge bridge = started(bridge(in, out, "abort-" + UUID.randomUUID(), "n1")
        .maxRecordsPerTransaction(5)
        .producerProperty(ProducerConfig.MAX_BLOCK_MS_CONFIG, "500")
        .transform(BridgeTransform.routeByTenant("{topic}.{tenant}")));
    Await.until("the transaction with trace 7 to be aborted twice", WAIT,
        () -> bridge.transactionsAborted() >= 2);
    assertThat(bridge.recordsIn()).as("the transactions before it").isEqualTo(5);
    assertThat(bridge.state()).isEqualTo(TransactionalBridge.State.RUNNING);

    kafka.createTopics(Map.of(late, 1));
    Await.until("the bridge to commit all 20 records", WAIT, () -> bridge.recordsIn() >= 20);

    List<Long> expected = range(0, 20);
    expected.remove(7L);
    assertThat(traceNumbers(kafka.readAll(out))).containsExactlyElementsOf(expected);
    assertThat(traceNumbers(kafka.readAll(late))).containsExactly(7L);
    assertThat(bridge.recordsIn()).isEqualTo(20);
    // Traces 5 and 6 went out in every aborted attempt: the log has them more than once, and
    // only read_committed hides that.
    assertThat(readUncommittedCount(out)).isGreaterThan(19);
  }

  @Test
  void aSecondInstanceWithTheSameIdFencesTheFirstAndTakesOverWithoutDuplicates()
      throws Exception {
    String in = kafka.createTopic("bridge-fence-in", 2);
    String out = kafka.createTopic("bridge-fence-out", 2);
    String group = "fence-" + UUID.randomUUID();
    produce(in, traces(0, 50), null);
    TransactionalBridge first = started(bridge(in, out, group, "same"));
    Await.until("the first bridge to commit 50 records", WAIT, () -> first.recordsIn() >= 50);

    TransactionalBridge second = started(bridge(in, out, group, "same"));
    Await.until("the first bridge to be fenced", WAIT,
        () -> first.state() == TransactionalBridge.State.FAILED);
    assertThat(first.failure()).isInstanceOfAny(ProducerFencedException.class,
        FencedInstanceIdException.class);
    assertThat(first.termination()).isCompletedExceptionally();

    produce(in, traces(50, 50), null);
    Await.until("the second bridge to commit the next 50 records", WAIT,
        () -> second.recordsIn() >= 50);
    assertThat(traceNumbers(kafka.readAll(out))).containsExactlyInAnyOrderElementsOf(
        range(0, 100));
    assertThat(second.recordsIn()).as("the second started where the first committed")
        .isEqualTo(50);
  }

  private static int readUncommittedCount(String topic) {
    Map<String, Object> props = kafka.consumerProperties(null);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    int count = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      TopicPartition tp = new TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (consumer.position(tp) < end) {
        assertThat(System.nanoTime()).as("read %s in time", topic).isLessThan(deadline);
        count += consumer.poll(Duration.ofMillis(200)).count();
      }
    }
    return count;
  }
}
