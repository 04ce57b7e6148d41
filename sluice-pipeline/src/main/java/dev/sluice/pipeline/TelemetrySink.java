package dev.sluice.pipeline;

import java.util.concurrent.CompletableFuture;

/**
 * Where receivers hand accepted batches: the in-memory {@link Pipeline} or the {@link
 * DurablePipeline}. A receiver answers its client with success only when the future completes.
 */
public interface TelemetrySink {
  /**
   * Takes ownership of the caller's reference to {@code batch}. Never throws: a refusal is a future
   * failed with {@link PipelineFullException}, which receivers answer with 503 and {@code
   * Retry-After}.
   */
  CompletableFuture<Void> submit(TelemetryBatch batch);

  /** True while the sink takes new batches. */
  boolean ready();
}
