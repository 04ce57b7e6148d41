package dev.sluice.queue;

import java.time.Duration;
import java.util.Objects;

/**
 * When {@link DurableQueue} forces appended records to stable storage, and so when an append's
 * future completes. See the class documentation of {@link DurableQueue} for the guarantees each
 * policy gives.
 *
 * <ul>
 *   <li>{@link #always()} (the default): every group of appends is written and then forced with
 *       one {@code fdatasync} before their futures complete; a completed append survives a
 *       process crash and a power loss.
 *   <li>{@link #interval(Duration)}: appends complete once written to the operating system; the
 *       queue forces the data at most the given time after it was written. A completed append
 *       survives a process crash; a power loss can take the last interval.
 *   <li>{@link #none()}: the queue never forces anything and leaves it to the operating system. A
 *       completed append survives a process crash only.
 * </ul>
 */
public final class FsyncPolicy {
  /** The kind of policy. */
  public enum Mode {
    ALWAYS,
    INTERVAL,
    NONE
  }

  private static final FsyncPolicy ALWAYS = new FsyncPolicy(Mode.ALWAYS, Duration.ZERO);
  private static final FsyncPolicy NONE = new FsyncPolicy(Mode.NONE, Duration.ZERO);

  private final Mode mode;
  private final Duration interval;

  private FsyncPolicy(Mode mode, Duration interval) {
    this.mode = mode;
    this.interval = interval;
  }

  /** Durable before the append's future completes: one fsync per group of appends. */
  public static FsyncPolicy always() {
    return ALWAYS;
  }

  /**
   * Futures complete after the write to the operating system; written data is forced at most
   * {@code every} later.
   */
  public static FsyncPolicy interval(Duration every) {
    Objects.requireNonNull(every, "every");
    if (every.isNegative() || every.isZero()) {
      throw new IllegalArgumentException("the fsync interval must be positive: " + every);
    }
    return new FsyncPolicy(Mode.INTERVAL, every);
  }

  /** Never forces data explicitly; the operating system writes it back when it chooses. */
  public static FsyncPolicy none() {
    return NONE;
  }

  public Mode mode() {
    return mode;
  }

  /** The fsync interval of an {@link Mode#INTERVAL} policy; zero for the others. */
  public Duration interval() {
    return interval;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FsyncPolicy p && p.mode == mode && p.interval.equals(interval);
  }

  @Override
  public int hashCode() {
    return mode.hashCode() * 31 + interval.hashCode();
  }

  @Override
  public String toString() {
    return mode == Mode.INTERVAL ? "interval(" + interval.toMillis() + "ms)" : mode.name().toLowerCase();
  }
}
