package dev.sluice.exporter.otlp.internal;

import dev.sluice.exporter.otlp.RetrySettings;
import java.util.function.DoubleSupplier;

/**
 * The waits between attempts of one request, as the Collector computes them (its backoff library's
 * exponential backoff): the n-th wait is drawn uniformly from {@code [i - f*i, i + f*i]}, where
 * {@code i = min(initial * multiplier^(n-1), max_interval)} and {@code f} is the randomization
 * factor. A drawn wait can thus exceed {@code max_interval} by up to the factor. Not thread-safe: one
 * per request.
 */
public final class Backoff {
  private final double initialNanos;
  private final double maxNanos;
  private final double multiplier;
  private final double randomization;
  private final DoubleSupplier random;
  private double currentNanos;

  /**
   * @param random uniform values in {@code [0, 1)}, e.g. {@code ThreadLocalRandom.current()::nextDouble}
   */
  public Backoff(RetrySettings settings, DoubleSupplier random) {
    this.initialNanos = settings.initialInterval().toNanos();
    this.maxNanos = settings.maxInterval().toNanos();
    this.multiplier = settings.multiplier();
    this.randomization = settings.randomizationFactor();
    this.random = random;
    this.currentNanos = initialNanos;
  }

  /** The next wait, in nanoseconds, and advances the interval. */
  public long nextDelayNanos() {
    double delta = randomization * currentNanos;
    double min = currentNanos - delta;
    double max = currentNanos + delta;
    double r = random.getAsDouble();
    long wait = (long) (min + r * (max - min));
    currentNanos = currentNanos >= maxNanos / multiplier ? maxNanos : currentNanos * multiplier;
    return Math.max(0, wait);
  }

  /** The interval the next wait is drawn around, in nanoseconds. */
  public long currentIntervalNanos() {
    return (long) currentNanos;
  }

  /** Starts again from the initial interval. */
  public void reset() {
    currentNanos = initialNanos;
  }
}
