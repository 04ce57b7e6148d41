package dev.sluice.exporter.otlp.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class RetryAfterTest {
  /** 30 s before the date used in RFC 9110's example. */
  private static final Clock CLOCK =
      Clock.fixed(Instant.parse("2015-10-21T07:27:30Z"), ZoneOffset.UTC);

  @Test
  void secondsAreReadAsSeconds() {
    assertThat(RetryAfter.parse("1", CLOCK)).isEqualTo(Duration.ofSeconds(1));
    assertThat(RetryAfter.parse(" 120 ", CLOCK)).isEqualTo(Duration.ofSeconds(120));
    assertThat(RetryAfter.parse("0", CLOCK)).isEqualTo(Duration.ZERO);
  }

  @Test
  void hugeSecondsAreCappedAtADay() {
    assertThat(RetryAfter.parse("99999999999999999999", CLOCK)).isEqualTo(Duration.ofDays(1));
    assertThat(RetryAfter.parse("172800", CLOCK)).isEqualTo(Duration.ofDays(1));
  }

  @Test
  void imfFixdateIsMeasuredFromNow() {
    assertThat(RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", CLOCK))
        .isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void obsoleteDateFormsAreAccepted() {
    assertThat(RetryAfter.parse("Wednesday, 21-Oct-15 07:28:00 GMT", CLOCK))
        .isEqualTo(Duration.ofSeconds(30));
    assertThat(RetryAfter.parse("Wed Oct 21 07:28:00 2015", CLOCK))
        .isEqualTo(Duration.ofSeconds(30));
    assertThat(RetryAfter.parse("Thu Oct  1 07:28:00 2015",
        Clock.fixed(Instant.parse("2015-10-01T07:27:00Z"), ZoneOffset.UTC)))
        .isEqualTo(Duration.ofSeconds(60));
  }

  @Test
  void aDateInThePastMeansNow() {
    assertThat(RetryAfter.parse("Tue, 20 Oct 2015 07:28:00 GMT", CLOCK)).isEqualTo(Duration.ZERO);
  }

  @Test
  void absentOrUnreadableValuesGiveNull() {
    assertThat(RetryAfter.parse(null, CLOCK)).isNull();
    assertThat(RetryAfter.parse("", CLOCK)).isNull();
    assertThat(RetryAfter.parse("-1", CLOCK)).isNull();
    assertThat(RetryAfter.parse("1.5", CLOCK)).isNull();
    assertThat(RetryAfter.parse("soon", CLOCK)).isNull();
    assertThat(RetryAfter.parse("Wed, 32 Oct 2015 07:28:00 GMT", CLOCK)).isNull();
  }
}
