package dev.sluice.app.config;

import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.receiver.InitialOffset;
import dev.sluice.kafka.receiver.KafkaReceiver;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Reads the {@code receivers.kafka} section, with the OpenTelemetry Collector's Kafka receiver key
 * names ({@code brokers}, {@code group_id}, {@code initial_offset}, {@code traces.topic}, {@code
 * encoding}).
 */
final class KafkaReceiverConfig {
  private KafkaReceiverConfig() {}

  /** A sink that only lets the builder check its settings; never used to receive. */
  private static final TelemetrySink CHECK_ONLY = new TelemetrySink() {
    @Override
    public CompletableFuture<Void> submit(TelemetryBatch batch) {
      batch.release();
      return CompletableFuture.failedFuture(new PipelineFullException("not started", 1));
    }

    @Override
    public boolean ready() {
      return false;
    }
  };

  static SluiceConfig.KafkaReceiverSpec read(ConfigNode k) {
    int before = k.problemCount();
    KafkaReceiver.Builder b = KafkaReceiver.builder().name("kafka");
    List<String> brokers = k.strings("brokers");
    if (brokers.isEmpty()) {
      k.problem("brokers", "is required: a list of host:port of the Kafka bootstrap servers");
    } else {
      set(k, "brokers", () -> b.bootstrapServers(String.join(",", brokers)));
    }
    String group = k.string("group_id", "sluice");
    set(k, "group_id", () -> b.groupId(group));
    String initial = k.string("initial_offset", "latest");
    set(k, "initial_offset", () -> b.initialOffset(InitialOffset.fromId(initial)));
    for (Signal s : Signal.values()) {
      ConfigNode sig = k.section(s.id());
      if (sig.has("topics")) {
        List<String> topics = sig.strings("topics");
        set(sig, "topics", () -> b.topics(s, topics));
      }
      String topic = sig.string("topic", null);
      if (topic != null) {
        set(sig, "topic", () -> b.topic(s, topic));
      }
      sig.rejectUnknownKeys();
    }
    String encoding = k.string("encoding", "otlp_proto");
    set(k, "encoding", () -> b.encoding(KafkaEncoding.fromId(encoding)));
    if (k.has("dead_letter_topic")) {
      String dlq = k.string("dead_letter_topic", "");
      set(k, "dead_letter_topic", () -> b.deadLetterTopic(dlq.isEmpty() ? null : dlq));
    }
    ConfigNode consumer = k.section("consumer");
    ConfigNode props = consumer.section("properties");
    Map<String, Object> properties = new LinkedHashMap<>();
    for (String key : props.keys()) {
      properties.put(key, props.string(key, ""));
    }
    set(consumer, "properties", () -> b.consumerProperties(properties));
    consumer.rejectUnknownKeys();
    k.rejectUnknownKeys();
    if (k.problemCount() > before) {
      return null;
    }
    try {
      b.sink(CHECK_ONLY).build(); // checks without connecting
    } catch (IllegalArgumentException ex) {
      k.problem(null, ex.getMessage());
      return null;
    }
    return new SluiceConfig.KafkaReceiverSpec("kafka (" + String.join(",", brokers) + ", group "
        + group + ")", (sink, registry) -> b.sink(sink).meterRegistry(registry).build());
  }

  private static void set(ConfigNode n, String key, Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException ex) {
      n.problem(key, ex.getMessage());
    }
  }
}
