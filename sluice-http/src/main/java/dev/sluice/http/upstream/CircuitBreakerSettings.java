package dev.sluice.http.upstream;

import java.time.Duration;

/**
 * An endpoint's circuit breaker: CLOSED while the failure rate over the last {@code window} stays
 * under {@code failureRateThreshold} percent (judged once at least {@code minimumCalls} calls are
 * in the window); OPEN for {@code openDuration}, failing calls fast; then HALF_OPEN, letting {@code
 * halfOpenCalls} trial calls through, whose failure rate closes the circuit again (below the
 * threshold) or reopens it. A failure is a 5xx or no response at all.
 */
public record CircuitBreakerSettings(double failureRateThreshold, int minimumCalls,
    Duration window, Duration openDuration, int halfOpenCalls) {
  public CircuitBreakerSettings {
    if (!(failureRateThreshold > 0 && failureRateThreshold <= 100)) {
      throw new IllegalArgumentException("failure rate threshold must be in (0, 100]: "
          + failureRateThreshold);
    }
    if (minimumCalls < 1) {
      throw new IllegalArgumentException("minimum calls must be at least 1: " + minimumCalls);
    }
    PassiveEjection.positive(window, "window");
    PassiveEjection.positive(openDuration, "open duration");
    if (halfOpenCalls < 1) {
      throw new IllegalArgumentException("half-open calls must be at least 1: " + halfOpenCalls);
    }
  }

  /** 50% over at least 20 calls in 10 s; open 30 s; 3 trial calls. */
  public static CircuitBreakerSettings defaults() {
    return new CircuitBreakerSettings(50, 20, Duration.ofSeconds(10), Duration.ofSeconds(30), 3);
  }
}
