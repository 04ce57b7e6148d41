package dev.sluice.http.upstream;

import java.util.Arrays;

/**
 * One endpoint's circuit breaker (see {@link CircuitBreakerSettings}). Hand-written rather than
 * Resilience4j's: it lives on the group's control event loop, so it needs no atomics, and the
 * balancer must ask "would you allow a call?" of every endpoint without taking a half-open permit,
 * then take the permit only for the endpoint it picks; Resilience4j's {@code tryAcquirePermission}
 * does both at once. The sliding window is ten time buckets.
 *
 * <p>Outcomes are counted only for calls admitted in the current generation: a slow call admitted
 * while CLOSED that ends after the circuit opened does not count towards the half-open trial.
 * Control event loop only.
 */
final class Breaker {
  private static final int BUCKETS = 10;

  private final CircuitBreakerSettings settings;
  private final long bucketNanos;
  private final long openNanos;
  private final int[] calls = new int[BUCKETS];
  private final int[] failures = new int[BUCKETS];
  private long currentBucket;

  private CircuitState state = CircuitState.CLOSED;
  private long openedAt;
  private int generation;
  private int trialsIssued;
  private int trialsDone;
  private int trialsFailed;

  Breaker(CircuitBreakerSettings settings) {
    this.settings = settings;
    this.bucketNanos = Math.max(1, settings.window().toNanos() / BUCKETS);
    this.openNanos = settings.openDuration().toNanos();
  }

  /** The state now; an open circuit whose time is up becomes half-open. */
  CircuitState state(long now) {
    if (state == CircuitState.OPEN && now - openedAt >= openNanos) {
      state = CircuitState.HALF_OPEN;
      generation++;
      trialsIssued = 0;
      trialsDone = 0;
      trialsFailed = 0;
    }
    return state;
  }

  /** Whether a call would be let through now; takes nothing. */
  boolean allows(long now) {
    switch (state(now)) {
      case CLOSED:
        return true;
      case HALF_OPEN:
        return trialsIssued < settings.halfOpenCalls();
      default:
        return false;
    }
  }

  /** Admits a call that {@link #allows} let through; returns the generation to record it under. */
  int admit(long now) {
    if (state(now) == CircuitState.HALF_OPEN) {
      trialsIssued++;
    }
    return generation;
  }

  /** Records the outcome of a call admitted in {@code callGeneration}. */
  void record(int callGeneration, boolean failure, long now) {
    if (callGeneration != generation) {
      return;
    }
    if (state == CircuitState.CLOSED) {
      int b = roll(now);
      calls[b]++;
      if (failure) {
        failures[b]++;
      }
      int total = 0;
      int failed = 0;
      for (int i = 0; i < BUCKETS; i++) {
        total += calls[i];
        failed += failures[i];
      }
      if (total >= settings.minimumCalls()
          && failed * 100.0 >= settings.failureRateThreshold() * total) {
        open(now);
      }
    } else if (state == CircuitState.HALF_OPEN) {
      trialsDone++;
      if (failure) {
        trialsFailed++;
      }
      if (trialsDone >= settings.halfOpenCalls()) {
        if (trialsFailed * 100.0 >= settings.failureRateThreshold() * trialsDone) {
          open(now);
        } else {
          state = CircuitState.CLOSED;
          generation++;
          Arrays.fill(calls, 0);
          Arrays.fill(failures, 0);
        }
      }
    }
  }

  /** A call admitted in {@code callGeneration} ended without an outcome (cancelled, closed). */
  void abandon(int callGeneration) {
    if (callGeneration == generation && state == CircuitState.HALF_OPEN && trialsIssued > 0) {
      trialsIssued--;
    }
  }

  private void open(long now) {
    state = CircuitState.OPEN;
    openedAt = now;
    generation++;
  }

  /** Moves the window to {@code now}, clearing buckets that fell out; returns the current one. */
  private int roll(long now) {
    long bucket = now / bucketNanos;
    if (bucket != currentBucket) {
      long steps = Math.min(BUCKETS, bucket - currentBucket);
      for (long s = 1; s <= steps; s++) {
        int i = (int) Math.floorMod(currentBucket + s, (long) BUCKETS);
        calls[i] = 0;
        failures[i] = 0;
      }
      currentBucket = bucket;
    }
    return (int) Math.floorMod(bucket, (long) BUCKETS);
  }
}
