package dev.sluice.exporter.otlp.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.exporter.otlp.RetrySettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BackoffTest {
  private static final double MS = 1_000_000.0;

  private static List<Double> millis(Backoff b, int n) {
    List<Double> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(b.nextDelayNanos() / MS);
    }
    return out;
  }

  @Test
  void withoutJitterTheWaitsGrowByTheMultiplierUpToTheCap() {
    // Collector defaults: 5 s, x1.5, capped at 30 s; the midpoint of the jitter range (r = 0.5)
    // is the interval itself: 5, 7.5, 11.25, 16.875, 25.3125, then 30 for ever.
    Backoff b = new Backoff(RetrySettings.defaults(), () -> 0.5);
    assertThat(millis(b, 8)).containsExactly(5000.0, 7500.0, 11250.0, 16875.0, 25312.5, 30000.0,
        30000.0, 30000.0);
  }

  @Test
  void randomizationBoundsAreIntervalTimesOneMinusAndOnePlusTheFactor() {
    RetrySettings s = RetrySettings.defaults(); // factor 0.5
    List<Double> low = millis(new Backoff(s, () -> 0.0), 7);
    assertThat(low).containsExactly(2500.0, 3750.0, 5625.0, 8437.5, 12656.25, 15000.0, 15000.0);
    List<Double> high = millis(new Backoff(s, () -> 0.999_999_999), 7);
    double[] centres = {5000, 7500, 11250, 16875, 25312.5, 30000, 30000};
    for (int i = 0; i < centres.length; i++) {
      assertThat(high.get(i)).isCloseTo(centres[i] * 1.5, within(0.01));
    }
  }

  @Test
  void randomWaitsStayWithinTheirBoundsAndTheCapHolds() {
    RetrySettings s = new RetrySettings(true, Duration.ofMillis(100), Duration.ofMillis(1000),
        Duration.ZERO, 2.0, 0.25);
    Random r = new Random(42);
    Backoff b = new Backoff(s, r::nextDouble);
    double interval = 100;
    for (int i = 0; i < 50; i++) {
      double wait = b.nextDelayNanos() / MS;
      assertThat(wait).as("wait %d", i).isBetween(interval * 0.75, interval * 1.25);
      interval = Math.min(interval * 2, 1000);
    }
    assertThat(b.currentIntervalNanos()).isEqualTo(1_000_000_000L);
  }

  @Test
  void zeroRandomizationGivesExactIntervalsAndResetStartsOver() {
    RetrySettings s = new RetrySettings(true, Duration.ofMillis(50), Duration.ofMillis(200),
        Duration.ofSeconds(1), 3.0, 0.0);
    Backoff b = new Backoff(s, () -> 0.9);
    assertThat(millis(b, 4)).containsExactly(50.0, 150.0, 200.0, 200.0);
    b.reset();
    assertThat(millis(b, 2)).containsExactly(50.0, 150.0);
  }

  @Test
  void multiplierOneKeepsTheIntervalConstant() {
    RetrySettings s = new RetrySettings(true, Duration.ofMillis(70), Duration.ofMillis(70),
        Duration.ofSeconds(1), 1.0, 0.0);
    assertThat(millis(new Backoff(s, () -> 0.3), 5)).containsOnly(70.0);
  }
}
