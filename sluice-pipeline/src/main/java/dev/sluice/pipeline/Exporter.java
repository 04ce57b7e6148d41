package dev.sluice.pipeline;

import java.util.concurrent.CompletableFuture;

/**
 * Takes accepted batches somewhere: a file, a log, later a backend or a Kafka topic.
 *
 * <p>{@link #export} is called on a receiver's thread and must not block: it hands the batch to the
 * exporter's own threads and returns a future completed when the exporter has the data (for the
 * file exporter: written to the file). The exporter owns the reference it is handed and releases it
 * exactly once, whether the export succeeds or fails; an exporter that throws instead of returning
 * a future has not taken the reference, and the caller releases it. A future failed with {@link
 * PipelineFullException} tells the sender to come back later.
 */
public interface Exporter extends AutoCloseable {

  /** The name given in the configuration, used in logs and metrics. */
  String name();

  /** Starts the exporter's threads; called once before the first export. */
  default void start() {}

  CompletableFuture<Void> export(TelemetryBatch batch);

  /**
   * Sends at once whatever the exporter holds back to merge with later batches. Called by a
   * pipeline that waits for the futures of what it handed over, so that they do not wait out a
   * batching timeout; exporters that do not batch need not implement it.
   */
  default void flush() {}

  /**
   * Finishes what was handed over and stops; idempotent. Batches exported after close fail with
   * {@link PipelineFullException}.
   */
  @Override
  void close();
}
