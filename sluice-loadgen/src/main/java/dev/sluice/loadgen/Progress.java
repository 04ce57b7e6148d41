package dev.sluice.loadgen;

import java.time.Duration;

/**
 * Where a run stands, from {@link LoadGenerator#progress()}: counts so far and the time since the
 * load started.
 *
 * @param elapsedNanos since the first request (0 before)
 * @param sent requests started, retries not counted again
 * @param completed requests finished: answered with success, failed for good, or given up
 * @param succeeded requests answered 2xx
 * @param failed requests that failed for good
 * @param retried retries so far
 * @param itemsAccepted items the server took
 * @param itemsRejected items the server refused in a partial success
 * @param bytesSent request bodies written, as sent (compressed), retries included
 * @param totalRequests the requests of the run, or 0 when it runs for a {@code duration}
 * @param duration the length of the run, or null when it sends {@code totalRequests}
 * @param ranToTheEnd the run is over and was not stopped early
 */
public record Progress(long elapsedNanos, long sent, long completed, long succeeded, long failed,
    long retried, long itemsAccepted, long itemsRejected, long bytesSent, long totalRequests,
    Duration duration, boolean ranToTheEnd) {

  /** How far the run is, from 0 to 1: requests completed, or time elapsed; 1 at its end. */
  public double fraction() {
    if (ranToTheEnd) {
      return 1.0;
    }
    if (totalRequests > 0) {
      return Math.min(1.0, (double) completed / totalRequests);
    }
    if (duration == null || duration.isZero()) {
      return 0;
    }
    return Math.min(1.0, (double) elapsedNanos / duration.toNanos());
  }
}
