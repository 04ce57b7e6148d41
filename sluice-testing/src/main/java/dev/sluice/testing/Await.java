package dev.sluice.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits for a condition with a deadline, polling: the way tests synchronise, never a fixed sleep. */
public final class Await {
  private Await() {}

  /** Waits until {@code condition} holds, failing with {@code what} after {@code timeout}. */
  public static void until(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    long pauseMillis = 1;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      try {
        Thread.sleep(pauseMillis); // polling interval, not synchronisation: the condition decides
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what, e);
      }
      pauseMillis = Math.min(50, pauseMillis * 2);
    }
  }

  /** Waits until {@code supplier} returns a non-null value and returns it. */
  public static <T> T value(String what, Duration timeout, Supplier<T> supplier) {
    Object[] holder = new Object[1];
    until(what, timeout, () -> (holder[0] = supplier.get()) != null);
    @SuppressWarnings("unchecked")
    T t = (T) holder[0];
    return t;
  }
}
