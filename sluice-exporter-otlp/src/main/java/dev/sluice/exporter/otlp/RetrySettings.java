package dev.sluice.exporter.otlp;

import java.time.Duration;
import java.util.Objects;

/**
 * How failed requests are retried, with the OpenTelemetry Collector's {@code retry_on_failure}
 * settings and defaults: exponential backoff with jitter, from {@code initial_interval} growing by
 * {@code multiplier} up to {@code max_interval}, each wait drawn at random within {@code
 * randomization_factor} of the current interval, for at most {@code max_elapsed_time} in all (0:
 * forever, for use behind the durable queue).
 */
public record RetrySettings(boolean enabled, Duration initialInterval, Duration maxInterval,
    Duration maxElapsedTime, double multiplier, double randomizationFactor) {

  public RetrySettings {
    Objects.requireNonNull(initialInterval, "retry_on_failure.initial_interval");
    Objects.requireNonNull(maxInterval, "retry_on_failure.max_interval");
    Objects.requireNonNull(maxElapsedTime, "retry_on_failure.max_elapsed_time");
    if (initialInterval.isNegative() || initialInterval.isZero()) {
      throw new IllegalArgumentException(
          "retry_on_failure.initial_interval must be positive: " + initialInterval);
    }
    if (maxInterval.compareTo(initialInterval) < 0) {
      throw new IllegalArgumentException("retry_on_failure.max_interval (" + maxInterval
          + ") must not be less than retry_on_failure.initial_interval (" + initialInterval + ")");
    }
    if (maxElapsedTime.isNegative()) {
      throw new IllegalArgumentException(
          "retry_on_failure.max_elapsed_time must not be negative (0 retries forever): "
              + maxElapsedTime);
    }
    if (!(multiplier >= 1.0) || Double.isInfinite(multiplier)) {
      throw new IllegalArgumentException(
          "retry_on_failure.multiplier must be a number of at least 1: " + multiplier);
    }
    if (!(randomizationFactor >= 0.0 && randomizationFactor <= 1.0)) {
      throw new IllegalArgumentException(
          "retry_on_failure.randomization_factor must be between 0 and 1: " + randomizationFactor);
    }
  }

  /** The Collector's defaults: enabled, 5 s, 30 s, 300 s, multiplier 1.5, randomization 0.5. */
  public static RetrySettings defaults() {
    return new RetrySettings(true, Duration.ofSeconds(5), Duration.ofSeconds(30),
        Duration.ofSeconds(300), 1.5, 0.5);
  }

  /** No retries: a retriable failure fails the export at once. */
  public static RetrySettings disabled() {
    return defaults().withEnabled(false);
  }

  /** True when failed requests are retried for ever ({@code max_elapsed_time} 0). */
  public boolean forever() {
    return maxElapsedTime.isZero();
  }

  public RetrySettings withEnabled(boolean enabled) {
    return new RetrySettings(enabled, initialInterval, maxInterval, maxElapsedTime, multiplier,
        randomizationFactor);
  }

  public RetrySettings withInitialInterval(Duration initialInterval) {
    return new RetrySettings(enabled, initialInterval, maxInterval, maxElapsedTime, multiplier,
        randomizationFactor);
  }

  public RetrySettings withMaxInterval(Duration maxInterval) {
    return new RetrySettings(enabled, initialInterval, maxInterval, maxElapsedTime, multiplier,
        randomizationFactor);
  }

  public RetrySettings withMaxElapsedTime(Duration maxElapsedTime) {
    return new RetrySettings(enabled, initialInterval, maxInterval, maxElapsedTime, multiplier,
        randomizationFactor);
  }

  public RetrySettings withMultiplier(double multiplier) {
    return new RetrySettings(enabled, initialInterval, maxInterval, maxElapsedTime, multiplier,
        randomizationFactor);
  }

  public RetrySettings withRandomizationFactor(double randomizationFactor) {
    return new RetrySettings(enabled, initialInterval, maxInterval, maxElapsedTime, multiplier,
        randomizationFactor);
  }

  /** Intervals with the field names of the Collector's configuration, for logs. */
  @Override
  public String toString() {
    return enabled
        ? "retry_on_failure{initial_interval=" + initialInterval + ", max_interval=" + maxInterval
            + ", max_elapsed_time=" + (forever() ? "0 (forever)" : maxElapsedTime.toString())
            + ", multiplier=" + multiplier + ", randomization_factor=" + randomizationFactor + "}"
        : "retry_on_failure{enabled=false}";
  }
}
