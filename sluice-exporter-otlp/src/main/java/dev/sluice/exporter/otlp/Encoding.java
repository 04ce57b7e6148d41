package dev.sluice.exporter.otlp;

import java.util.Locale;

/** How requests are encoded: the Collector's {@code encoding} setting. */
public enum Encoding {
  /** Binary protobuf, the default: the received bytes are sent as they are. */
  PROTOBUF("proto", "application/x-protobuf"),
  /** OTLP/JSON, converted from the protobuf bytes. */
  JSON("json", "application/json");

  private final String id;
  private final String contentType;

  Encoding(String id, String contentType) {
    this.id = id;
    this.contentType = contentType;
  }

  /** The name in the configuration: proto or json. */
  public String id() {
    return id;
  }

  public String contentType() {
    return contentType;
  }

  /**
   * Reads a configuration value: {@code proto} (also {@code protobuf}) or {@code json}.
   *
   * @throws IllegalArgumentException naming the accepted values
   */
  public static Encoding of(String value) {
    String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
    switch (v) {
      case "proto":
      case "protobuf":
        return PROTOBUF;
      case "json":
        return JSON;
      default:
        throw new IllegalArgumentException("encoding must be proto or json, not '" + value + "'");
    }
  }
}
