package dev.sluice.loadgen;

import java.util.Locale;

/** How a request body is compressed on the wire ({@code Content-Encoding}). */
public enum Compression {
  NONE,
  GZIP;

  /** {@code none} or {@code gzip}, as the command line spells it. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Looks a compression up by {@link #id()}, ignoring case; null when there is none. */
  public static Compression byId(String id) {
    for (Compression c : values()) {
      if (c.id().equalsIgnoreCase(id)) {
        return c;
      }
    }
    return null;
  }
}
