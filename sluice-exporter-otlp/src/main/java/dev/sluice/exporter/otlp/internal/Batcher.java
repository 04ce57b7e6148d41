package dev.sluice.exporter.otlp.internal;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.TelemetryBatch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Collects the batches of one signal (and tenant) until enough have come to send them as one
 * request: by item count, by bytes, or, driven from outside, by time ({@link #drain()} when the
 * flush timeout fires). Merging needs no decoding, since the concatenation of two encodings of an
 * {@code Export*ServiceRequest} is the encoding of their merge (field 1 is repeated); nor copying,
 * when the payloads are sent as a composite buffer ({@link Pending#mergeBuffers}).
 *
 * <p>A batch that would carry the pending bytes over {@code maxRequestBytes} sends what is pending
 * first, so that merging never makes a request the splitter has to cut. Not thread-safe: the caller
 * holds a lock.
 */
public final class Batcher {
  private final int flushItems;
  private final long flushBytes;
  private final long maxRequestBytes;
  private Pending pending;
  private long generation;

  /**
   * @param flushItems send when this many items are pending
   * @param flushBytes send when this many bytes are pending
   * @param maxRequestBytes the largest request the backend takes
   */
  public Batcher(int flushItems, long flushBytes, long maxRequestBytes) {
    if (flushItems < 1 || flushBytes < 1 || maxRequestBytes < 1) {
      throw new IllegalArgumentException("limits must be positive");
    }
    this.flushItems = flushItems;
    this.flushBytes = Math.min(flushBytes, maxRequestBytes);
    this.maxRequestBytes = maxRequestBytes;
  }

  /**
   * Adds a batch and the future to complete when it is delivered; returns what is to be sent now,
   * oldest first (none, one, or two when the batch did not fit the pending request).
   */
  public List<Pending> add(TelemetryBatch batch, CompletableFuture<Void> future) {
    List<Pending> out = List.of();
    if (pending != null && pending.bytes + batch.bytes() > maxRequestBytes) {
      out = new ArrayList<>(2);
      out.add(drain());
    }
    if (pending == null) {
      pending = new Pending(batch.signal(), batch.tenant());
    }
    pending.add(batch, future);
    if (pending.items >= flushItems || pending.bytes >= flushBytes) {
      if (out.isEmpty()) {
        return List.of(drain());
      }
      out.add(drain());
    }
    return out;
  }

  /** Takes what is pending, or null when nothing is. */
  public Pending drain() {
    Pending p = pending;
    pending = null;
    generation++;
    return p;
  }

  public boolean isEmpty() {
    return pending == null;
  }

  /**
   * Changes each time the pending request is taken: a flush timer armed for one generation does
   * nothing when it fires in another.
   */
  public long generation() {
    return generation;
  }

  /** Pending bytes. */
  public long bytes() {
    return pending == null ? 0 : pending.bytes;
  }

  /** Batches that leave together, with the futures to complete when they are delivered. */
  public static final class Pending {
    private final Signal signal;
    private final String tenant;
    private final List<TelemetryBatch> batches = new ArrayList<>();
    private final List<CompletableFuture<Void>> futures = new ArrayList<>();
    private int items;
    private long bytes;

    Pending(Signal signal, String tenant) {
      this.signal = signal;
      this.tenant = tenant;
    }

    /** A request of a single batch. */
    public static Pending of(TelemetryBatch batch, CompletableFuture<Void> future) {
      Pending p = new Pending(batch.signal(), batch.tenant());
      p.add(batch, future);
      return p;
    }

    private void add(TelemetryBatch batch, CompletableFuture<Void> future) {
      batches.add(batch);
      futures.add(future);
      items += batch.items();
      bytes += batch.bytes();
    }

    public Signal signal() {
      return signal;
    }

    public String tenant() {
      return tenant;
    }

    public int items() {
      return items;
    }

    public long bytes() {
      return bytes;
    }

    public int size() {
      return batches.size();
    }

    public List<CompletableFuture<Void>> futures() {
      return futures;
    }

    /**
     * The merged request: the batches' bytes one after the other. Releases the batches; call once,
     * or {@link #release()} instead.
     */
    public byte[] merge() {
      try {
        if (bytes > Integer.MAX_VALUE - 16) {
          throw new IllegalStateException("a merged request of " + bytes + " bytes");
        }
        byte[] out = new byte[(int) bytes];
        int p = 0;
        for (TelemetryBatch b : batches) {
          int n = b.bytes();
          b.payload().getBytes(b.payload().readerIndex(), out, p, n);
          p += n;
        }
        return out;
      } finally {
        release();
      }
    }

    /**
     * The merged request without copying a byte: the batch's own payload when there is one, else
     * a composite of the batches' payloads in order. Releases the batches; the caller owns the
     * returned buffer, which holds the payloads until it is released. Call once, or {@link
     * #merge()} or {@link #release()} instead.
     */
    public ByteBuf mergeBuffers(ByteBufAllocator alloc) {
      try {
        if (batches.size() == 1) {
          return batches.get(0).payload().retainedSlice();
        }
        // As many components as batches: a composite that outgrows its maximum consolidates
        // (copies) its components.
        CompositeByteBuf out = alloc.compositeBuffer(Math.max(2, batches.size()));
        try {
          for (TelemetryBatch b : batches) {
            out.addComponent(true, b.payload().retainedSlice());
          }
        } catch (RuntimeException e) {
          out.release();
          throw e;
        }
        return out;
      } finally {
        release();
      }
    }

    /** Releases the batches. */
    public void release() {
      for (TelemetryBatch b : batches) {
        b.release();
      }
      batches.clear();
    }
  }
}
