package dev.sluice.receiver.otlp;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.TelemetryBatch;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The end of the pipeline in the transport tests: copies each batch's payload out, releases the
 * batch and confirms it at once.
 */
final class TransportCapturingExporter implements Exporter {
  /** What one batch carried. */
  static final class Batch {
    final Signal signal;
    final int items;
    final byte[] payload;

    Batch(Signal signal, int items, byte[] payload) {
      this.signal = signal;
      this.items = items;
      this.payload = payload;
    }
  }

  private final List<Batch> batches = new CopyOnWriteArrayList<>();

  @Override
  public String name() {
    return "transport-capture";
  }

  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    try {
      batches.add(new Batch(batch.signal(), batch.items(), batch.payloadBytes()));
    } finally {
      batch.release();
    }
    return CompletableFuture.completedFuture(null);
  }

  List<Batch> batches() {
    return batches;
  }

  @Override
  public void close() {}
}
