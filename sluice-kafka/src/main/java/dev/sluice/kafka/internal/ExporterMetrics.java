package dev.sluice.kafka.internal;

import dev.sluice.otlp.Signal;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.Map;

/**
 * The Kafka exporter's meters, tagged {@code exporter} and {@code signal}:
 *
 * <ul>
 *   <li>{@code sluice.kafka.messages.sent}, {@code sluice.kafka.bytes.sent}: messages Kafka
 *       acknowledged and their key and value bytes;
 *   <li>{@code sluice.kafka.send.errors}: messages Kafka did not acknowledge;
 *   <li>{@code sluice.kafka.request.latency}: from handing a message to the producer to its
 *       acknowledgement (or failure);
 *   <li>{@code sluice.kafka.batch.items}, {@code sluice.kafka.batch.bytes}: size of the batches
 *       exported;
 *   <li>{@code sluice.kafka.records.split}: messages over {@code max_message_bytes} cut in pieces;
 *   <li>{@code sluice.kafka.dead.lettered.items}: items written to the dead-letter file;
 *   <li>{@code sluice.kafka.dropped.items}: items too large to send with no dead-letter directory.
 * </ul>
 */
public final class ExporterMetrics {
  /** The meters of one signal. */
  public static final class ForSignal {
    public final Counter messagesSent;
    public final Counter bytesSent;
    public final Counter sendErrors;
    public final Timer latency;
    public final DistributionSummary batchItems;
    public final DistributionSummary batchBytes;
    public final Counter recordsSplit;
    public final Counter deadLettered;
    public final Counter dropped;

    ForSignal(MeterRegistry registry, String exporter, Signal signal) {
      String[] tags = {"exporter", exporter, "signal", signal.id()};
      messagesSent = Counter.builder("sluice.kafka.messages.sent")
          .description("Messages Kafka acknowledged").tags(tags).register(registry);
      bytesSent = Counter.builder("sluice.kafka.bytes.sent").baseUnit("bytes")
          .description("Key and value bytes of the messages Kafka acknowledged").tags(tags)
          .register(registry);
      sendErrors = Counter.builder("sluice.kafka.send.errors")
          .description("Messages Kafka did not acknowledge").tags(tags).register(registry);
      latency = Timer.builder("sluice.kafka.request.latency")
          .description("From handing a message to the producer to Kafka's answer").tags(tags)
          .register(registry);
      batchItems = DistributionSummary.builder("sluice.kafka.batch.items")
          .description("Items (spans, data points, log records) per exported batch").tags(tags)
          .register(registry);
      batchBytes = DistributionSummary.builder("sluice.kafka.batch.bytes").baseUnit("bytes")
          .description("Protobuf bytes per exported batch").tags(tags).register(registry);
      recordsSplit = Counter.builder("sluice.kafka.records.split")
          .description("Messages over max_message_bytes cut into smaller ones").tags(tags)
          .register(registry);
      deadLettered = Counter.builder("sluice.kafka.dead.lettered.items")
          .description("Items too large for one message, written to the dead-letter file")
          .tags(tags).register(registry);
      dropped = Counter.builder("sluice.kafka.dropped.items")
          .description("Items too large for one message, dropped: no dead-letter directory")
          .tags(tags).register(registry);
    }
  }

  private final Map<Signal, ForSignal> bySignal = new EnumMap<>(Signal.class);

  public ExporterMetrics(MeterRegistry registry, String exporter) {
    for (Signal s : Signal.values()) {
      bySignal.put(s, new ForSignal(registry, exporter, s));
    }
  }

  public ForSignal of(Signal signal) {
    return bySignal.get(signal);
  }
}
