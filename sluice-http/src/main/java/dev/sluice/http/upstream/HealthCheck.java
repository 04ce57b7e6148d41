package dev.sluice.http.upstream;

import java.time.Duration;
import java.util.Objects;

/**
 * An active health check: every {@code interval} (counted from the end of the previous check),
 * {@code GET path} on each endpoint, over a connection of its own. A status in {@code
 * [expectedStatusFrom, expectedStatusTo]} within {@code timeout} is a success. An endpoint becomes
 * unhealthy after {@code unhealthyThreshold} failures in a row, and healthy again after {@code
 * healthyThreshold} successes in a row. Endpoints start healthy.
 *
 * <p>A TCP check ({@link #tcp}, {@code path} null) only opens a connection (and completes the TLS
 * handshake on an https endpoint): for upstreams that have no health path.
 */
public record HealthCheck(String path, Duration interval, Duration timeout, int healthyThreshold,
    int unhealthyThreshold, int expectedStatusFrom, int expectedStatusTo) {
  public HealthCheck {
    if (path != null && !path.startsWith("/")) {
      throw new IllegalArgumentException("health check path must start with '/': " + path);
    }
    PassiveEjection.positive(interval, "health check interval");
    PassiveEjection.positive(timeout, "health check timeout");
    if (healthyThreshold < 1 || unhealthyThreshold < 1) {
      throw new IllegalArgumentException("health check thresholds must be at least 1");
    }
    if (expectedStatusFrom < 100 || expectedStatusTo > 599
        || expectedStatusFrom > expectedStatusTo) {
      throw new IllegalArgumentException("expected status range " + expectedStatusFrom + "-"
          + expectedStatusTo + " is not a range of HTTP statuses");
    }
  }

  /** Expecting a 2xx. */
  public HealthCheck(String path, Duration interval, Duration timeout, int healthyThreshold,
      int unhealthyThreshold) {
    this(path, interval, timeout, healthyThreshold, unhealthyThreshold, 200, 299);
  }

  /** {@code GET path} every 10 s, 2 s timeout, healthy after 2 successes, unhealthy after 3 failures. */
  public static HealthCheck of(String path) {
    return new HealthCheck(path, Duration.ofSeconds(10), Duration.ofSeconds(2), 2, 3);
  }

  /**
   * A check that only connects, every {@code interval}: for upstreams without a health path.
   */
  public static HealthCheck tcp(Duration interval, Duration timeout, int healthyThreshold,
      int unhealthyThreshold) {
    return new HealthCheck(null, interval, timeout, healthyThreshold, unhealthyThreshold);
  }

  /** Whether the check only opens a connection rather than asking for {@link #path}. */
  public boolean isTcp() {
    return path == null;
  }

  boolean expected(int status) {
    return status >= expectedStatusFrom && status <= expectedStatusTo;
  }
}
