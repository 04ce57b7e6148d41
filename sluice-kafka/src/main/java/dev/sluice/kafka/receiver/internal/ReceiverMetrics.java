package dev.sluice.kafka.receiver.internal;

import dev.sluice.otlp.Signal;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The Kafka receiver's meters, all tagged {@code receiver}:
 *
 * <ul>
 *   <li>{@code sluice.kafka.receiver.records}, {@code sluice.kafka.receiver.bytes} (tag {@code
 *       topic}): messages consumed and their key and value bytes;
 *   <li>{@code sluice.kafka.receiver.items} (tag {@code signal}): items (spans, data points, log
 *       records) the sink accepted;
 *   <li>{@code sluice.kafka.receiver.rejected.items} (tag {@code signal}): invalid items dropped
 *       from requests whose other items were forwarded;
 *   <li>{@code sluice.kafka.receiver.decode.failures} (tag {@code topic}): messages that are not
 *       a valid request in the receiver's encoding;
 *   <li>{@code sluice.kafka.receiver.dead.lettered} (tags {@code topic}, {@code reason}): messages
 *       written to the dead-letter topic; {@code sluice.kafka.receiver.dropped} the same when no
 *       dead-letter topic is configured;
 *   <li>{@code sluice.kafka.receiver.dead.letter.errors}: dead-letter writes that failed (and are
 *       retried);
 *   <li>{@code sluice.kafka.receiver.refusals} (tag {@code topic}): submissions the sink refused,
 *       each retried after a back-off;
 *   <li>{@code sluice.kafka.receiver.commit.latency} (timer), {@code
 *       sluice.kafka.receiver.commit.failures}: offset commits.
 * </ul>
 *
 * The gauges ({@code sluice.kafka.receiver.lag} per topic and partition, in-flight records and
 * bytes, paused and assigned partitions) are registered by the receiver itself.
 */
public final class ReceiverMetrics {
  private final MeterRegistry registry;
  private final String receiver;
  private final Map<Signal, Counter> items = new EnumMap<>(Signal.class);
  private final Map<Signal, Counter> rejectedItems = new EnumMap<>(Signal.class);
  private final Map<String, Counter> counters = new ConcurrentHashMap<>();
  private final Timer commitLatency;
  private final Counter commitFailures;
  private final Counter deadLetterErrors;

  public ReceiverMetrics(MeterRegistry registry, String receiver) {
    this.registry = registry;
    this.receiver = receiver;
    for (Signal s : Signal.values()) {
      items.put(s, Counter.builder("sluice.kafka.receiver.items")
          .description("Items (spans, data points, log records) the pipeline accepted")
          .tags("receiver", receiver, "signal", s.id()).register(registry));
      rejectedItems.put(s, Counter.builder("sluice.kafka.receiver.rejected.items")
          .description("Invalid items dropped from requests whose valid items were forwarded")
          .tags("receiver", receiver, "signal", s.id()).register(registry));
    }
    commitLatency = Timer.builder("sluice.kafka.receiver.commit.latency")
        .description("Time to commit consumer offsets").tag("receiver", receiver)
        .register(registry);
    commitFailures = Counter.builder("sluice.kafka.receiver.commit.failures")
        .description("Offset commits that failed (retried at the next commit)")
        .tag("receiver", receiver).register(registry);
    deadLetterErrors = Counter.builder("sluice.kafka.receiver.dead.letter.errors")
        .description("Dead-letter writes that failed; the message is retried")
        .tag("receiver", receiver).register(registry);
  }

  public MeterRegistry registry() {
    return registry;
  }

  public String receiver() {
    return receiver;
  }

  public Counter items(Signal signal) {
    return items.get(signal);
  }

  public Counter rejectedItems(Signal signal) {
    return rejectedItems.get(signal);
  }

  public Counter records(String topic) {
    return counter("sluice.kafka.receiver.records", "Messages consumed", null, "topic", topic);
  }

  public Counter bytes(String topic) {
    return counter("sluice.kafka.receiver.bytes", "Key and value bytes of the messages consumed",
        "bytes", "topic", topic);
  }

  public Counter decodeFailures(String topic) {
    return counter("sluice.kafka.receiver.decode.failures",
        "Messages that are not a valid request in the receiver's encoding", null, "topic", topic);
  }

  public Counter deadLettered(String topic, String reason) {
    return counter("sluice.kafka.receiver.dead.lettered",
        "Messages written to the dead-letter topic", null, "topic", topic, "reason", reason);
  }

  public Counter dropped(String topic, String reason) {
    return counter("sluice.kafka.receiver.dropped",
        "Messages that could not be forwarded, dropped: no dead-letter topic", null,
        "topic", topic, "reason", reason);
  }

  public Counter refusals(String topic) {
    return counter("sluice.kafka.receiver.refusals",
        "Submissions the pipeline refused (retried after a back-off)", null, "topic", topic);
  }

  public Timer commitLatency() {
    return commitLatency;
  }

  public Counter commitFailures() {
    return commitFailures;
  }

  public Counter deadLetterErrors() {
    return deadLetterErrors;
  }

  private Counter counter(String name, String description, String unit, String... tags) {
    StringBuilder key = new StringBuilder(name);
    for (String t : tags) {
      key.append('\u0000').append(t);
    }
    return counters.computeIfAbsent(key.toString(), k -> {
      Counter.Builder b = Counter.builder(name).description(description)
          .tag("receiver", receiver).tags(tags);
      if (unit != null) {
        b.baseUnit(unit);
      }
      return b.register(registry);
    });
  }
}
