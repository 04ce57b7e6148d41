package dev.sluice.exporter.otlp.internal;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Locale;

/**
 * Reads an HTTP {@code Retry-After} value (RFC 9110, 10.2.3): a number of seconds, or an HTTP-date
 * in the preferred IMF-fixdate form or either obsolete form (RFC 850, asctime).
 */
public final class RetryAfter {
  /** Longer answers are taken as this: a day is more than any retry policy waits. */
  static final Duration MAX = Duration.ofDays(1);

  private static final DateTimeFormatter RFC_850 =
      DateTimeFormatter.ofPattern("EEEE, dd-MMM-yy HH:mm:ss 'GMT'", Locale.ENGLISH);
  private static final DateTimeFormatter ASCTIME =
      DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ENGLISH);

  private RetryAfter() {}

  /**
   * The wait the value asks for, measured from {@code clock}'s now; zero for a date in the past;
   * null when the value is absent or not understood.
   */
  public static Duration parse(String value, Clock clock) {
    if (value == null) {
      return null;
    }
    String v = value.trim();
    if (v.isEmpty()) {
      return null;
    }
    if (v.chars().allMatch(c -> c >= '0' && c <= '9')) {
      if (v.length() > 9) {
        return MAX;
      }
      Duration d = Duration.ofSeconds(Long.parseLong(v));
      return d.compareTo(MAX) > 0 ? MAX : d;
    }
    Instant at = date(v);
    if (at == null) {
      return null;
    }
    Duration d = Duration.between(clock.instant(), at);
    if (d.isNegative()) {
      return Duration.ZERO;
    }
    return d.compareTo(MAX) > 0 ? MAX : d;
  }

  private static Instant date(String v) {
    try {
      return ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
    } catch (DateTimeParseException e) {
      // not the preferred form
    }
    try {
      // Two-digit years: RFC 9110 asks to read a year more than 50 years ahead as the past.
      LocalDateTime t = LocalDateTime.parse(v, RFC_850);
      if (t.getYear() > LocalDateTime.now(ZoneOffset.UTC).getYear() + 50) {
        t = t.minusYears(100);
      }
      return t.toInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      // not RFC 850
    }
    try {
      return LocalDateTime.parse(v, ASCTIME).toInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      return null;
    }
  }
}
