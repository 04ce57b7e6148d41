package dev.sluice.loadgen;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations as the command line writes them: {@code 500ms}, {@code 30s}, {@code 1.5s}, {@code 2m}, {@code 1h}. */
public final class Durations {
  private static final Pattern FORMAT = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)");

  private Durations() {}

  /**
   * Parses {@code text}; a number needs its unit.
   *
   * @throws IllegalArgumentException when it is not a duration
   */
  public static Duration parse(String text) {
    Matcher m = FORMAT.matcher(text == null ? "" : text.trim().toLowerCase(Locale.ROOT));
    if (!m.matches()) {
      throw new IllegalArgumentException("not a duration: '" + text
          + "'; write it like 500ms, 30s, 1.5s, 2m or 1h");
    }
    double n = Double.parseDouble(m.group(1));
    double nanosPerUnit;
    switch (m.group(2)) {
      case "ms":
        nanosPerUnit = 1e6;
        break;
      case "s":
        nanosPerUnit = 1e9;
        break;
      case "m":
        nanosPerUnit = 60e9;
        break;
      default:
        nanosPerUnit = 3600e9;
    }
    double nanos = n * nanosPerUnit;
    if (nanos > Long.MAX_VALUE / 2.0) {
      throw new IllegalArgumentException("duration too long: " + text);
    }
    return Duration.ofNanos(Math.round(nanos));
  }

  /** {@code 850 ms}, {@code 12.3 s}, {@code 4m05s}, {@code 1h02m}: short, for people. */
  public static String format(Duration d) {
    long ms = d.toMillis();
    if (ms < 1000) {
      return ms + " ms";
    }
    if (ms < 60_000) {
      return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }
    long s = d.getSeconds();
    if (s < 3600) {
      return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
    return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
  }
}
