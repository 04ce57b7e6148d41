package dev.sluice.exporter.otlp;

import java.util.Locale;

/** How request bodies are compressed: the Collector's {@code compression} setting. */
public enum Compression {
  /** Sent as they are. */
  NONE("none", null),
  /** gzip, the default, as in the Collector. */
  GZIP("gzip", "gzip"),
  /** Zstandard. */
  ZSTD("zstd", "zstd");

  private final String id;
  private final String contentEncoding;

  Compression(String id, String contentEncoding) {
    this.id = id;
    this.contentEncoding = contentEncoding;
  }

  /** The name in the configuration: none, gzip, zstd. */
  public String id() {
    return id;
  }

  /** The {@code Content-Encoding} header value, or null for none. */
  public String contentEncoding() {
    return contentEncoding;
  }

  /**
   * Reads a configuration value: {@code none} (or empty), {@code gzip}, {@code zstd}.
   *
   * @throws IllegalArgumentException naming the accepted values
   */
  public static Compression of(String value) {
    String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
    switch (v) {
      case "":
      case "none":
        return NONE;
      case "gzip":
        return GZIP;
      case "zstd":
        return ZSTD;
      default:
        throw new IllegalArgumentException(
            "compression must be none, gzip or zstd, not '" + value + "'");
    }
  }
}
