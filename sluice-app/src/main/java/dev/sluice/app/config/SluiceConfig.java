package dev.sluice.app.config;

import dev.sluice.pipeline.Exporter;
import dev.sluice.receiver.otlp.OtlpHttpReceiverSettings;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;

/**
 * A checked configuration, ready to start: every value parsed, every default applied, every file it
 * names found. Made by {@link ConfigLoader}; the keys are documented in {@code
 * docs/configuration.md}.
 *
 * @param dataDir where Sluice keeps its data
 * @param admin where the admin endpoints (metrics, health) listen
 * @param receiver the OTLP/HTTP receiver, or null in a configuration with a {@code proxy} section
 *     and no {@code receivers.otlp}
 * @param kafkaReceiver the Kafka receiver, or null when none is configured
 * @param maxInFlightBytes with the memory queue: how many bytes may wait for the exporters
 * @param queue the queue between receivers and exporters
 * @param exporters every exporter, in the order configured
 * @param bridges exactly-once Kafka-to-Kafka bridges
 * @param proxy the reverse proxy, or null when none is configured
 */
public record SluiceConfig(
    Path dataDir,
    InetSocketAddress admin,
    OtlpHttpReceiverSettings receiver,
    KafkaReceiverSpec kafkaReceiver,
    long maxInFlightBytes,
    QueueSpec queue,
    List<ExporterSpec> exporters,
    List<BridgeSpec> bridges,
    ProxySpec proxy) {

  /**
   * The reverse proxy's settings.
   *
   * @param ioThreads event loops of the proxy; 0 for one per core
   */
  public record ProxySpec(dev.sluice.proxy.settings.ProxySettings settings, int ioThreads) {}

  /**
   * Whether anything feeds the pipeline: a receiver, or the proxy's spans. Without, no queue and
   * no exporter is started.
   */
  public boolean needsPipeline() {
    return receiver != null || kafkaReceiver != null
        || (proxy != null && proxy.settings().tracing());
  }

  /** A configured exactly-once Kafka bridge: a description and how to make it. */
  public record BridgeSpec(String description,
      Function<MeterRegistry, dev.sluice.kafka.bridge.TransactionalBridge> factory) {}

  /**
   * The queue between receivers and exporters.
   *
   * @param durable true for the write-ahead queue on disk, false for memory only
   * @param directory where the durable queue keeps its files
   * @param fsync {@code always}, {@code interval} or {@code none}
   * @param fsyncInterval how often {@code interval} forces the file to disk
   */
  public record QueueSpec(boolean durable, Path directory, long maxBytes, long segmentBytes,
      String fsync, java.time.Duration fsyncInterval) {}

  /** The configured Kafka receiver: a description and how to make it for a sink. */
  public record KafkaReceiverSpec(String description,
      java.util.function.BiFunction<dev.sluice.pipeline.TelemetrySink, MeterRegistry,
          dev.sluice.kafka.receiver.KafkaReceiver> factory) {}

  /** One configured exporter: its name, a one-line description, and how to make it. */
  public record ExporterSpec(String name, String description,
      Function<MeterRegistry, Exporter> factory) {
    @Override
    public String toString() {
      return description;
    }
  }
}
