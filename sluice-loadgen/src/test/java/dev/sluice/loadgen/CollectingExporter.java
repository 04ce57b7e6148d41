package dev.sluice.loadgen;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The exporter of the tests' receiver: keeps a copy of every batch it accepts (released at once),
 * and can refuse the first batches with {@link PipelineFullException}, which the receiver answers
 * with 503 and {@code Retry-After}.
 */
final class CollectingExporter implements Exporter {
  /** A copy of one accepted batch. */
  record Batch(Signal signal, int items, byte[] payload) {
    Message request() {
      try {
        return signal.parseRequest(payload, 0, payload.length);
      } catch (InvalidProtocolBufferException e) {
        throw new AssertionError("an exported payload does not parse", e);
      }
    }
  }

  private final List<Batch> accepted = new CopyOnWriteArrayList<>();
  private final AtomicInteger refusals = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();
  private volatile int retryAfterSeconds;

  @Override
  public String name() {
    return "collecting";
  }

  /** Refuses the next {@code n} batches, asking for a retry after {@code seconds} (0: no header). */
  CollectingExporter refuse(int n, int seconds) {
    retryAfterSeconds = seconds;
    refusals.set(n);
    return this;
  }

  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    try {
      if (refusals.getAndUpdate(n -> n > 0 ? n - 1 : n) > 0) {
        refused.incrementAndGet();
        return CompletableFuture.failedFuture(
            new PipelineFullException("full (test)", retryAfterSeconds));
      }
      accepted.add(new Batch(batch.signal(), batch.items(), batch.payloadBytes()));
      return CompletableFuture.completedFuture(null);
    } finally {
      batch.release();
    }
  }

  List<Batch> batches() {
    return List.copyOf(accepted);
  }

  long items() {
    return accepted.stream().mapToLong(Batch::items).sum();
  }

  int refused() {
    return refused.get();
  }

  void clear() {
    accepted.clear();
  }

  @Override
  public void close() {}
}
