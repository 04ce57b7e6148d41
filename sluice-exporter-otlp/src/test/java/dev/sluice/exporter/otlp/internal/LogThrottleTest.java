package dev.sluice.exporter.otlp.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LogThrottleTest {
  @Test
  void letsOneLinePerKeyPerIntervalThroughAndCountsTheOthers() {
    AtomicLong now = new AtomicLong(1_000);
    LogThrottle t = new LogThrottle(100, now::get);
    assertThat(t.acquire(400)).isZero();
    assertThat(t.acquire(400)).isEqualTo(-1);
    assertThat(t.acquire(413)).as("another key").isZero();
    now.addAndGet(99);
    assertThat(t.acquire(400)).isEqualTo(-1);
    now.addAndGet(1);
    assertThat(t.acquire(400)).as("two held back").isEqualTo(2);
    assertThat(t.acquire(400)).isEqualTo(-1);
  }
}
