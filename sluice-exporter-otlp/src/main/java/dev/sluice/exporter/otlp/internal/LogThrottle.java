package dev.sluice.exporter.otlp.internal;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Lets through at most one log line per key (an HTTP status, say) per interval, and counts the
 * lines it held back so the next one can say how many. Thread-safe.
 */
public final class LogThrottle {
  private final long intervalNanos;
  private final LongSupplier nanoTime;
  private final ConcurrentHashMap<Object, Slot> slots = new ConcurrentHashMap<>();

  public LogThrottle(long intervalNanos, LongSupplier nanoTime) {
    this.intervalNanos = intervalNanos;
    this.nanoTime = nanoTime;
  }

  /**
   * Returns -1 when a line for {@code key} was let through within the interval (this one is held
   * back), else how many were held back since the last one let through.
   */
  public long acquire(Object key) {
    Slot slot = slots.computeIfAbsent(key, k -> new Slot());
    long now = nanoTime.getAsLong();
    synchronized (slot) {
      if (slot.used && now - slot.lastNanos < intervalNanos) {
        slot.suppressed.incrementAndGet();
        return -1;
      }
      slot.used = true;
      slot.lastNanos = now;
      return slot.suppressed.getAndSet(0);
    }
  }

  private static final class Slot {
    boolean used;
    long lastNanos;
    final AtomicLong suppressed = new AtomicLong();
  }
}
