package dev.sluice.kafka.bridge;

import dev.sluice.kafka.KafkaExporter;
import dev.sluice.otlp.Signal;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * What a {@link TransactionalBridge} does with each input record: zero, one or more output
 * records, written in the same transaction as the input's offset. Return {@code List.of(record)}
 * to pass a record on, an empty list to drop it.
 *
 * <p>A transform runs on the bridge's one thread and must be deterministic and free of side
 * effects outside Kafka: after an aborted transaction (or a crash) the bridge hands it the same
 * input records again, and only the outputs of committed transactions are ever seen by
 * {@code read_committed} consumers. A transform that throws stops the bridge (the open
 * transaction is aborted, so nothing of it is visible): skipping the record would lose it, and
 * retrying would fail the same way. Handle bad input inside the transform, as the built-in ones
 * do.
 *
 * <p>Built in: {@link #rekey()} (keys as the Kafka exporter writes them) and {@link
 * #routeByTenant(String)} (per-tenant topics); combine them with {@link #then}.
 */
@FunctionalInterface
public interface BridgeTransform {

  /**
   * The records to write for {@code record}; never null. The record's {@link BridgeRecord#topic()}
   * is the output topic of its signal.
   */
  List<BridgeRecord> apply(BridgeRecord record);

  /** This transform, then {@code next} on each of its outputs. */
  default BridgeTransform then(BridgeTransform next) {
    Objects.requireNonNull(next, "next");
    BridgeTransform first = this;
    return record -> {
      List<BridgeRecord> out = new ArrayList<>();
      for (BridgeRecord r : first.apply(record)) {
        out.addAll(next.apply(r));
      }
      return out;
    };
  }

  /** A transform from a plain function. */
  static BridgeTransform of(Function<BridgeRecord, List<BridgeRecord>> function) {
    Objects.requireNonNull(function, "function");
    return function::apply;
  }

  /** Copies every record as it is (key, value, headers, timestamp) to its output topic. */
  static BridgeTransform identity() {
    return List::of;
  }

  /**
   * Re-keys records the way {@link KafkaExporter} keys them, so that topics written by other
   * systems can be partitioned like Sluice's own: traces by trace id as 32 lowercase hex
   * characters, one message per trace; metrics and logs by a hash of the resource attributes, one
   * message per resource. The value's encoding ({@code otlp_proto} or {@code otlp_json}) is
   * recognised per record and kept.
   *
   * <p>A record that holds one trace (or one resource) keeps its value byte for byte and only
   * gets the new key; one that holds several is cut into one message per trace (resource), each
   * keeping its resource and scope envelopes, and pieces over 1 MiB are cut further, as the
   * exporter does. Records that are not an OTLP request of their topic's signal, and requests
   * without any item to key by, are passed on unchanged (key included), and counted in {@link
   * Rekey#passedOn()}.
   */
  static Rekey rekey() {
    return new Rekey(KafkaExporter.DEFAULT_MAX_MESSAGE_BYTES);
  }

  /**
   * {@link #rekey()} cutting messages at {@code maxMessageBytes} (key, headers and Kafka's record
   * overhead included) instead of 1 MiB.
   */
  static Rekey rekey(int maxMessageBytes) {
    return new Rekey(maxMessageBytes);
  }

  /**
   * Writes each record with a tenant (header {@value BridgeRecord#TENANT_HEADER}) to a topic of
   * its own, named by {@code pattern}: {@code {tenant}} stands for the tenant, {@code {topic}}
   * for the record's topic so far (the signal's output topic), {@code {signal}} for {@code
   * traces}, {@code metrics} or {@code logs}. For instance {@code "{topic}.{tenant}"} writes
   * tenant {@code acme}'s spans to {@code otlp_spans.acme} when the traces output topic is {@code
   * otlp_spans}. Records without a tenant keep their topic (the default topic), and so do records
   * whose tenant makes no valid topic name (characters other than a-z A-Z 0-9 . _ -, or too
   * long), with a warning logged once per such tenant.
   *
   * <p>The per-tenant topics must exist (or the brokers create topics on demand): writing to a
   * missing topic fails the transaction after the producer's {@code max.block.ms}, and the bridge
   * retries it.
   *
   * @throws IllegalArgumentException when the pattern has no {@code {tenant}}, an unknown
   *     placeholder, or characters a topic name cannot have
   */
  static BridgeTransform routeByTenant(String pattern) {
    Map<Signal, String> patterns = new EnumMap<>(Signal.class);
    for (Signal s : Signal.values()) {
      patterns.put(s, pattern);
    }
    return new TenantRouter(patterns);
  }

  /**
   * {@link #routeByTenant(String)} with a pattern per signal, e.g. {@code TRACES ->
   * "otlp_spans.{tenant}"}; records of a signal without a pattern keep their topic.
   */
  static BridgeTransform routeByTenant(Map<Signal, String> patterns) {
    return new TenantRouter(patterns);
  }
}
