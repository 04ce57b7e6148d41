package dev.sluice.app.config;

import dev.sluice.kafka.KafkaCompression;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.KafkaExporter;
import dev.sluice.otlp.Signal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a {@code kafka} exporter section, with the OpenTelemetry Collector's key names where it has
 * them ({@code brokers}, {@code traces.topic}, {@code encoding}, {@code producer.compression},
 * {@code producer.max_message_bytes}).
 */
final class KafkaExporterConfig {
  private KafkaExporterConfig() {}

  /** Returns the exporter's spec, or null after recording the problems found. */
  static SluiceConfig.ExporterSpec read(String name, ConfigNode e, Path dataDir) {
    int before = e.problemCount();
    KafkaExporter.Builder b = KafkaExporter.builder().name(name);
    List<String> brokers = e.strings("brokers");
    if (brokers.isEmpty()) {
      e.problem("brokers", "is required: a list of host:port of the Kafka bootstrap servers");
    } else {
      set(e, "brokers", () -> b.bootstrapServers(String.join(",", brokers)));
    }
    for (Signal s : Signal.values()) {
      ConfigNode sig = e.section(s.id());
      String topic = sig.string("topic", null);
      if (topic != null) {
        set(sig, "topic", () -> b.topic(s, topic));
      }
      sig.rejectUnknownKeys();
    }
    String encoding = e.string("encoding", "otlp_proto");
    set(e, "encoding", () -> b.encoding(KafkaEncoding.fromId(encoding)));
    ConfigNode p = e.section("producer");
    String compression = p.string("compression", "none");
    set(p, "compression", () -> b.compression(KafkaCompression.fromId(compression)));
    set(p, "max_message_bytes", () -> b.maxMessageBytes((int) p.size("max_message_bytes",
        KafkaExporter.DEFAULT_MAX_MESSAGE_BYTES, 1024, Integer.MAX_VALUE)));
    set(p, "linger", () -> b.linger(p.durationOrZero("linger", KafkaExporter.DEFAULT_LINGER)));
    set(p, "batch_size", () -> b.batchSize((int) p.size("batch_size",
        KafkaExporter.DEFAULT_BATCH_SIZE, 0, Integer.MAX_VALUE)));
    set(p, "delivery_timeout", () -> b.deliveryTimeout(p.duration("delivery_timeout",
        KafkaExporter.DEFAULT_DELIVERY_TIMEOUT)));
    ConfigNode props = p.section("properties");
    Map<String, Object> properties = new LinkedHashMap<>();
    for (String key : props.keys()) {
      properties.put(key, props.string(key, ""));
    }
    set(p, "properties", () -> b.producerProperties(properties));
    p.rejectUnknownKeys();
    Path deadLetters = Path.of(e.string("dead_letter_dir",
        dataDir.resolve("dead-letter").resolve(name.replace('/', '-')).toString()));
    b.deadLetterDirectory(deadLetters);
    e.rejectUnknownKeys();
    if (e.problemCount() > before) {
      return null;
    }
    try {
      b.build(); // checks the producer configuration as Kafka would, without connecting
    } catch (IllegalArgumentException ex) {
      e.problem("producer", ex.getMessage());
      return null;
    }
    return new SluiceConfig.ExporterSpec(name, name + " (kafka, " + String.join(",", brokers)
        + ")", registry -> b.meterRegistry(registry).build());
  }

  private static void set(ConfigNode n, String key, Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException ex) {
      n.problem(key, ex.getMessage());
    }
  }
}
