package dev.sluice.kafka.receiver;

import java.util.Locale;

/**
 * Where a consumer group starts reading a partition it has no committed offset for: the Kafka
 * consumer's {@code auto.offset.reset}, called {@code initial_offset} as in the OpenTelemetry
 * Collector's Kafka receiver.
 */
public enum InitialOffset {
  /** From the oldest message the partition still holds. */
  EARLIEST("earliest"),
  /** From the messages written after the group first joined (the default, as in the Collector). */
  LATEST("latest");

  private final String id;

  InitialOffset(String id) {
    this.id = id;
  }

  /** The configuration name, also the value of {@code auto.offset.reset}. */
  public String id() {
    return id;
  }

  /**
   * Looks a value up by its configuration name, ignoring case.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static InitialOffset fromId(String id) {
    String wanted = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
    for (InitialOffset o : values()) {
      if (o.id.equals(wanted)) {
        return o;
      }
    }
    throw new IllegalArgumentException("unknown initial offset '" + id
        + "': expected earliest or latest");
  }

  @Override
  public String toString() {
    return id;
  }
}
