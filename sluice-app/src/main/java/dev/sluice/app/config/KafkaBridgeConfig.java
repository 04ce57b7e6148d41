package dev.sluice.app.config;

import dev.sluice.kafka.bridge.BridgeTransform;
import dev.sluice.kafka.bridge.TransactionalBridge;
import dev.sluice.otlp.Signal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the {@code bridges} section: exactly-once Kafka-to-Kafka pipelines that re-key or route by
 * tenant, each a map entry named after the bridge.
 */
final class KafkaBridgeConfig {
  private KafkaBridgeConfig() {}

  static List<SluiceConfig.BridgeSpec> read(ConfigNode bridges) {
    List<SluiceConfig.BridgeSpec> out = new ArrayList<>();
    for (String name : bridges.keys()) {
      SluiceConfig.BridgeSpec spec = one(name, bridges.section(name));
      if (spec != null) {
        out.add(spec);
      }
    }
    return out;
  }

  private static SluiceConfig.BridgeSpec one(String name, ConfigNode b) {
    int before = b.problemCount();
    TransactionalBridge.Builder t = TransactionalBridge.builder();
    set(b, null, () -> t.name(name));
    List<String> brokers = b.strings("brokers");
    if (brokers.isEmpty()) {
      b.problem("brokers", "is required: a list of host:port of the Kafka bootstrap servers");
    } else {
      set(b, "brokers", () -> t.bootstrapServers(String.join(",", brokers)));
    }
    String group = b.string("group_id", "sluice-bridge-" + name);
    set(b, "group_id", () -> t.groupId(group));
    String instance = b.string("instance_id", null);
    if (instance == null) {
      b.problem("instance_id", "is required: stable across restarts and unique in the group,"
          + " e.g. ${env:HOSTNAME}");
    } else {
      set(b, "instance_id", () -> t.instanceId(instance));
    }
    List<Signal> signals = new ArrayList<>();
    for (Signal s : Signal.values()) {
      if (!b.has(s.id())) {
        continue;
      }
      ConfigNode sig = b.section(s.id());
      String in = sig.string("input_topic", null);
      String outTopic = sig.string("output_topic", null);
      if (outTopic == null) {
        sig.problem("output_topic", "is required");
      } else {
        set(sig, "output_topic", () -> t.outputTopic(s, outTopic));
      }
      if (in != null) {
        set(sig, "input_topic", () -> t.inputTopic(s, in));
      }
      sig.rejectUnknownKeys();
      signals.add(s);
    }
    if (signals.isEmpty()) {
      b.problem(null, "needs at least one of traces, metrics, logs with an output_topic");
    } else {
      set(b, null, () -> t.signals(signals.toArray(new Signal[0])));
    }
    String transform = b.oneOf("transform", "rekey", "rekey", "route_by_tenant");
    if (transform.equals("route_by_tenant")) {
      String pattern = b.string("tenant_topic_pattern", "{topic}.{tenant}");
      set(b, "tenant_topic_pattern", () -> t.transform(BridgeTransform.routeByTenant(pattern)));
    } else {
      t.transform(BridgeTransform.rekey());
    }
    set(b, "max_records_per_transaction", () -> t.maxRecordsPerTransaction(
        b.integer("max_records_per_transaction", 1000, 1, 1_000_000)));
    set(b, "max_transaction_time", () -> t.maxTransactionTime(
        b.duration("max_transaction_time", Duration.ofMillis(100))));
    ConfigNode consumer = b.section("consumer");
    Map<String, Object> cp = properties(consumer);
    set(consumer, "properties", () -> t.consumerProperties(cp));
    consumer.rejectUnknownKeys();
    ConfigNode producer = b.section("producer");
    Map<String, Object> pp = properties(producer);
    set(producer, "properties", () -> t.producerProperties(pp));
    producer.rejectUnknownKeys();
    b.rejectUnknownKeys();
    if (b.problemCount() > before) {
      return null;
    }
    try {
      t.build(); // checks without connecting
    } catch (IllegalArgumentException ex) {
      b.problem(null, ex.getMessage());
      return null;
    }
    return new SluiceConfig.BridgeSpec(name + " (exactly-once " + transform + ", "
        + String.join(",", brokers) + ", group " + group + ")",
        registry -> t.meterRegistry(registry).build());
  }

  private static Map<String, Object> properties(ConfigNode section) {
    ConfigNode props = section.section("properties");
    Map<String, Object> out = new LinkedHashMap<>();
    for (String key : props.keys()) {
      out.put(key, props.string(key, ""));
    }
    return out;
  }

  private static void set(ConfigNode n, String key, Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException ex) {
      n.problem(key, ex.getMessage());
    }
  }
}
