package dev.sluice.pipeline;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Carries accepted batches from the receivers to every exporter, holding no more than a fixed
 * number of bytes in flight: past that limit a batch is refused at once with {@link
 * PipelineFullException}, so a slow exporter turns into 503 answers instead of growing memory.
 *
 * <p>The future of {@link #submit} completes when every exporter has the batch; only then may a
 * receiver answer the sender with success.
 */
public final class Pipeline implements TelemetrySink, AutoCloseable {
  private final List<Exporter> exporters;
  private final long maxInFlightBytes;
  private final AtomicLong inFlightBytes = new AtomicLong();
  private volatile boolean started;
  private volatile boolean closed;

  /**
   * @param exporters where every batch goes; at least one
   * @param maxInFlightBytes how many payload bytes may be handed over and not yet confirmed
   */
  public Pipeline(List<Exporter> exporters, long maxInFlightBytes) {
    if (exporters.isEmpty()) {
      throw new IllegalArgumentException("a pipeline needs at least one exporter");
    }
    if (maxInFlightBytes <= 0) {
      throw new IllegalArgumentException("maxInFlightBytes must be positive: " + maxInFlightBytes);
    }
    this.exporters = List.copyOf(exporters);
    this.maxInFlightBytes = maxInFlightBytes;
  }

  public void start() {
    exporters.forEach(Exporter::start);
    started = true;
  }

  public List<Exporter> exporters() {
    return exporters;
  }

  /** Payload bytes handed to exporters and not yet confirmed by all of them. */
  public long inFlightBytes() {
    return inFlightBytes.get();
  }

  public long maxInFlightBytes() {
    return maxInFlightBytes;
  }

  /** True while the pipeline takes new batches (it is started, not closed and not full). */
  @Override
  public boolean ready() {
    return started && !closed && inFlightBytes.get() < maxInFlightBytes;
  }

  /**
   * Hands a batch to every exporter. Takes ownership of the caller's reference. Never throws: a
   * refusal comes back as a future failed with {@link PipelineFullException}.
   */
  @Override
  public CompletableFuture<Void> submit(TelemetryBatch batch) {
    Objects.requireNonNull(batch, "batch");
    long size = batch.bytes();
    if (closed) {
      batch.release();
      return CompletableFuture.failedFuture(
          new PipelineFullException("the pipeline is shutting down", 5));
    }
    long now = inFlightBytes.addAndGet(size);
    // A single batch larger than the whole limit is still let through when nothing else is in
    // flight, so that the limit can never refuse a request forever.
    if (now > maxInFlightBytes && now != size) {
      inFlightBytes.addAndGet(-size);
      batch.release();
      return CompletableFuture.failedFuture(
          new PipelineFullException(
              "the pipeline is full (" + maxInFlightBytes + " bytes in flight); retry later", 1));
    }
    CompletableFuture<Void> done;
    if (exporters.size() == 1) {
      done = exportSafely(exporters.get(0), batch);
    } else {
      CompletableFuture<?>[] all = new CompletableFuture<?>[exporters.size()];
      batch.retain(exporters.size() - 1);
      for (int i = 0; i < all.length; i++) {
        all[i] = exportSafely(exporters.get(i), batch);
      }
      done = CompletableFuture.allOf(all);
    }
    return done.whenComplete((v, e) -> inFlightBytes.addAndGet(-size));
  }

  private static CompletableFuture<Void> exportSafely(Exporter exporter, TelemetryBatch batch) {
    try {
      return exporter.export(batch);
    } catch (RuntimeException e) {
      // An exporter that throws has not taken its reference (see Exporter#export): release it.
      batch.release();
      return CompletableFuture.failedFuture(e);
    }
  }

  /** Stops taking batches and closes the exporters, which finish what they were handed. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Exporter e : exporters) {
      e.close();
    }
  }
}
