package dev.sluice.receiver.otlp;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A test {@link Exporter} that records every batch it is handed and answers as told.
 *
 * <p>Each batch is copied out ({@link Captured}: signal, item count, tenant, payload bytes) and
 * released at once, so nothing it records can leak. What the returned future does depends on
 * {@link #mode(Mode)}:
 *
 * <ul>
 *   <li>{@link Mode#ACCEPT} (the default): completes at once, so the receiver answers 200;
 *   <li>{@link Mode#HOLD}: keeps the future uncompleted until {@link #completeHeld()} or {@link
 *       #failHeld(Throwable)} (the request hangs, and its bytes stay in flight in the pipeline);
 *   <li>{@link Mode#FAIL_FULL}: fails with {@link PipelineFullException} (retry after 7 s);
 *   <li>{@link Mode#FAIL_IO}: fails with an {@link IOException} ("disk full (test)").
 * </ul>
 *
 * <p>Batches are recorded in every mode, before the future is completed, so a test that has its
 * answer can look at {@link #batches()} without waiting. Thread-safe.
 */
public final class CapturingExporter implements Exporter {

  /** How {@link #export} answers. */
  public enum Mode {
    ACCEPT,
    HOLD,
    FAIL_FULL,
    FAIL_IO
  }

  /** The retry-after that {@link Mode#FAIL_FULL} asks for. */
  public static final int FULL_RETRY_AFTER_SECONDS = 7;

  /** A copy of one exported batch. */
  public record Captured(Signal signal, int items, String tenant, byte[] payload) {
    /** The payload parsed as the signal's {@code Export*ServiceRequest}. */
    public Message request() {
      try {
        return signal.parseRequest(payload, 0, payload.length);
      } catch (InvalidProtocolBufferException e) {
        throw new AssertionError("the exported payload is not a valid " + signal.id()
            + " request: " + e.getMessage(), e);
      }
    }
  }

  private final List<Captured> batches = new CopyOnWriteArrayList<>();
  private final List<CompletableFuture<Void>> held = new ArrayList<>();
  private volatile Mode mode = Mode.ACCEPT;

  @Override
  public String name() {
    return "capturing";
  }

  /** Sets how the next batches are answered; batches already held stay held. */
  public CapturingExporter mode(Mode mode) {
    this.mode = mode;
    return this;
  }

  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    Captured c;
    try {
      c = new Captured(batch.signal(), batch.items(), batch.tenant(), batch.payloadBytes());
    } finally {
      batch.release();
    }
    batches.add(c);
    switch (mode) {
      case HOLD:
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (held) {
          held.add(f);
        }
        return f;
      case FAIL_FULL:
        return CompletableFuture.failedFuture(
            new PipelineFullException("the test exporter is full", FULL_RETRY_AFTER_SECONDS));
      case FAIL_IO:
        return CompletableFuture.failedFuture(new IOException("disk full (test)"));
      default:
        return CompletableFuture.completedFuture(null);
    }
  }

  /** Every batch exported so far, in order. */
  public List<Captured> batches() {
    return List.copyOf(batches);
  }

  /** The one batch exported so far; fails when there is not exactly one. */
  public Captured only() {
    List<Captured> all = batches();
    if (all.size() != 1) {
      throw new AssertionError("expected exactly one exported batch but got " + all.size());
    }
    return all.get(0);
  }

  /** Forgets the batches recorded so far. */
  public void clear() {
    batches.clear();
  }

  /** How many futures are held now (mode HOLD). */
  public int heldCount() {
    synchronized (held) {
      return held.size();
    }
  }

  /** Completes every held future with success. */
  public void completeHeld() {
    for (CompletableFuture<Void> f : takeHeld()) {
      f.complete(null);
    }
  }

  /** Fails every held future with {@code error}. */
  public void failHeld(Throwable error) {
    for (CompletableFuture<Void> f : takeHeld()) {
      f.completeExceptionally(error);
    }
  }

  private List<CompletableFuture<Void>> takeHeld() {
    synchronized (held) {
      List<CompletableFuture<Void>> out = new ArrayList<>(held);
      held.clear();
      return out;
    }
  }

  /** Fails whatever is still held, as an exporter that shuts down would. */
  @Override
  public void close() {
    failHeld(new PipelineFullException("the test exporter is closed", 1));
  }
}
