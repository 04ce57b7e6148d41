package dev.sluice.http.upstream;

import java.time.Duration;
import java.util.Objects;

/**
 * Passive outlier detection, after Envoy's: an endpoint whose requests fail {@code
 * consecutiveFailures} times in a row (a 5xx, or no response at all: connect failure, timeout,
 * connection lost, bad response) is ejected from rotation for {@code baseEjectionTime} times the
 * number of times it has been ejected, capped at {@code maxEjectionTime}. The multiplier drops by
 * one for each base ejection time the endpoint spends in rotation. At most {@code
 * floor(endpoints × maxEjectionPercent / 100)} endpoints are ejected at once, so a group of one
 * endpoint with the default 50% never ejects it (its circuit breaker, if any, still protects it).
 */
public record PassiveEjection(int consecutiveFailures, Duration baseEjectionTime,
    int maxEjectionPercent, Duration maxEjectionTime) {
  public PassiveEjection {
    if (consecutiveFailures < 1) {
      throw new IllegalArgumentException("consecutive failures must be at least 1: "
          + consecutiveFailures);
    }
    positive(baseEjectionTime, "base ejection time");
    positive(maxEjectionTime, "max ejection time");
    if (maxEjectionPercent < 0 || maxEjectionPercent > 100) {
      throw new IllegalArgumentException("max ejection percent must be 0 to 100: "
          + maxEjectionPercent);
    }
  }

  /** With the longest ejection ten base ejection times, or five minutes if that is longer. */
  public PassiveEjection(int consecutiveFailures, Duration baseEjectionTime,
      int maxEjectionPercent) {
    this(consecutiveFailures, baseEjectionTime, maxEjectionPercent,
        max(Objects.requireNonNull(baseEjectionTime, "base ejection time").multipliedBy(10),
            Duration.ofMinutes(5)));
  }

  /** 5 consecutive failures, 30 s base ejection, at most 50% ejected, at most 5 minutes. */
  public static PassiveEjection defaults() {
    return new PassiveEjection(5, Duration.ofSeconds(30), 50);
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  static void positive(Duration d, String what) {
    Objects.requireNonNull(d, what);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + " must be positive: " + d);
    }
  }
}
