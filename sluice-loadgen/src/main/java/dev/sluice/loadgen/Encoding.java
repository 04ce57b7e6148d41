package dev.sluice.loadgen;

import java.util.Locale;

/** How a request body is encoded: OTLP protobuf or OTLP/JSON (hex ids, int64 as strings). */
public enum Encoding {
  PROTOBUF("application/x-protobuf"),
  JSON("application/json");

  private final String contentType;

  Encoding(String contentType) {
    this.contentType = contentType;
  }

  public String contentType() {
    return contentType;
  }

  /** {@code protobuf} or {@code json}, as the command line spells it. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Looks an encoding up by {@link #id()}, ignoring case; null when there is none. */
  public static Encoding byId(String id) {
    for (Encoding e : values()) {
      if (e.id().equalsIgnoreCase(id)) {
        return e;
      }
    }
    return null;
  }
}
