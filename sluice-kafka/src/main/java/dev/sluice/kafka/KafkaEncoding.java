package dev.sluice.kafka;

import java.util.Locale;

/**
 * How an OTLP request is written into a Kafka message: one {@code Export*ServiceRequest} per
 * message, with the names the OpenTelemetry Collector's Kafka exporter and receiver use.
 */
public enum KafkaEncoding {
  /** The protobuf encoding of the request (the default). */
  OTLP_PROTO("otlp_proto"),
  /** The request as OTLP/JSON: proto3 JSON with hex trace and span ids. */
  OTLP_JSON("otlp_json");

  private final String id;

  KafkaEncoding(String id) {
    this.id = id;
  }

  /** The configuration name: {@code otlp_proto} or {@code otlp_json}. */
  public String id() {
    return id;
  }

  /**
   * Looks an encoding up by its configuration name, ignoring case.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static KafkaEncoding fromId(String id) {
    String wanted = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
    for (KafkaEncoding e : values()) {
      if (e.id.equals(wanted)) {
        return e;
      }
    }
    throw new IllegalArgumentException("unknown Kafka encoding '" + id
        + "': expected otlp_proto or otlp_json");
  }

  @Override
  public String toString() {
    return id;
  }
}
