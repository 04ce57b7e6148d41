package dev.sluice.kafka;

import java.util.Locale;

/**
 * The compression the producer applies to record batches ({@code compression.type}). The default
 * is {@link #NONE}, as in the OpenTelemetry Collector's Kafka exporter.
 */
public enum KafkaCompression {
  NONE("none"),
  GZIP("gzip"),
  SNAPPY("snappy"),
  LZ4("lz4"),
  ZSTD("zstd");

  private final String id;

  KafkaCompression(String id) {
    this.id = id;
  }

  /** The value of Kafka's {@code compression.type}. */
  public String id() {
    return id;
  }

  /**
   * Looks a compression up by name, ignoring case.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static KafkaCompression fromId(String id) {
    String wanted = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
    for (KafkaCompression c : values()) {
      if (c.id.equals(wanted)) {
        return c;
      }
    }
    throw new IllegalArgumentException("unknown Kafka compression '" + id
        + "': expected none, gzip, snappy, lz4 or zstd");
  }

  @Override
  public String toString() {
    return id;
  }
}
