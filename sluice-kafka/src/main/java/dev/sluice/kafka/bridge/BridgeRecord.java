package dev.sluice.kafka.bridge;

import dev.sluice.kafka.KafkaExporter;
import dev.sluice.otlp.Signal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * One record going through a {@link TransactionalBridge}: what a {@link BridgeTransform} is given
 * and what it returns. Immutable apart from the byte arrays, which transforms must not change in
 * place (make a copy and use {@link #withValue}/{@link #withKey}).
 *
 * <p>{@link #topic()} is where the record is written. The bridge hands a transform each input
 * record with the output topic of its signal as topic (see {@link
 * TransactionalBridge.Builder#outputTopic}), so a transform that does not touch it writes to that
 * topic; where the record came from is in {@link #sourceTopic()}, {@link #sourcePartition()} and
 * {@link #sourceOffset()} (-1 for records a transform made up with {@link #of}).
 *
 * <p>The output keeps the input's timestamp ({@link #timestamp()}) and headers unless the
 * transform changes them; Kafka picks the partition from the key.
 */
public final class BridgeRecord {
  /** The header carrying a batch's tenant, as the Kafka exporter writes it. */
  public static final String TENANT_HEADER = KafkaExporter.TENANT_HEADER;

  private final Signal signal;
  private final String topic;
  private final byte[] key;
  private final byte[] value;
  private final List<Header> headers;
  private final long timestamp;
  private final String sourceTopic;
  private final int sourcePartition;
  private final long sourceOffset;

  private BridgeRecord(Signal signal, String topic, byte[] key, byte[] value,
      List<Header> headers, long timestamp, String sourceTopic, int sourcePartition,
      long sourceOffset) {
    this.signal = Objects.requireNonNull(signal, "signal");
    this.topic = requireTopic(topic);
    this.key = key;
    this.value = value;
    this.headers = headers;
    this.timestamp = timestamp;
    this.sourceTopic = sourceTopic;
    this.sourcePartition = sourcePartition;
    this.sourceOffset = sourceOffset;
  }

  /**
   * A new record for {@code topic}, without headers, source or timestamp (Kafka stamps it when it
   * is sent).
   *
   * @param key may be null (Kafka then spreads such records over the partitions)
   * @param value may be null
   */
  public static BridgeRecord of(Signal signal, String topic, byte[] key, byte[] value) {
    return new BridgeRecord(signal, topic, key, value, List.of(), -1, null, -1, -1);
  }

  /** The record the bridge hands a transform for an input record. */
  static BridgeRecord input(Signal signal, String outputTopic, byte[] key, byte[] value,
      Iterable<Header> headers, long timestamp, String sourceTopic, int sourcePartition,
      long sourceOffset) {
    List<Header> h = new ArrayList<>();
    for (Header header : headers) {
      h.add(header);
    }
    return new BridgeRecord(signal, outputTopic, key, value, Collections.unmodifiableList(h),
        timestamp, sourceTopic, sourcePartition, sourceOffset);
  }

  /** The signal of the input topic the record came from. */
  public Signal signal() {
    return signal;
  }

  /** The topic the record is written to. */
  public String topic() {
    return topic;
  }

  /** The key, or null. */
  public byte[] key() {
    return key;
  }

  /** The value (an {@code Export*ServiceRequest} in the topics Sluice writes), or null. */
  public byte[] value() {
    return value;
  }

  /** The headers, in order, unmodifiable. */
  public List<Header> headers() {
    return headers;
  }

  /** Milliseconds since the epoch, or -1 to let Kafka stamp the record. */
  public long timestamp() {
    return timestamp;
  }

  /** The input topic, or null for a record a transform made. */
  public String sourceTopic() {
    return sourceTopic;
  }

  /** The input partition, or -1. */
  public int sourcePartition() {
    return sourcePartition;
  }

  /** The input offset, or -1. */
  public long sourceOffset() {
    return sourceOffset;
  }

  /** The value of the last header named {@code name} as UTF-8, or null when there is none. */
  public String header(String name) {
    for (int i = headers.size() - 1; i >= 0; i--) {
      Header h = headers.get(i);
      if (h.key().equals(name)) {
        return h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
      }
    }
    return null;
  }

  /** The tenant from the {@value #TENANT_HEADER} header; null when there is none or it is empty. */
  public String tenant() {
    String t = header(TENANT_HEADER);
    return t == null || t.isEmpty() ? null : t;
  }

  /** This record written to another topic. */
  public BridgeRecord withTopic(String topic) {
    return new BridgeRecord(signal, topic, key, value, headers, timestamp, sourceTopic,
        sourcePartition, sourceOffset);
  }

  /** This record with another key (null for none). */
  public BridgeRecord withKey(byte[] key) {
    return new BridgeRecord(signal, topic, key, value, headers, timestamp, sourceTopic,
        sourcePartition, sourceOffset);
  }

  /** This record with another value. */
  public BridgeRecord withValue(byte[] value) {
    return new BridgeRecord(signal, topic, key, value, headers, timestamp, sourceTopic,
        sourcePartition, sourceOffset);
  }

  /**
   * This record with the headers named {@code name} replaced by one with {@code headerValue}
   * (UTF-8).
   */
  public BridgeRecord withHeader(String name, String headerValue) {
    Objects.requireNonNull(headerValue, "headerValue");
    List<Header> h = new ArrayList<>(headers.size() + 1);
    for (Header header : headers) {
      if (!header.key().equals(name)) {
        h.add(header);
      }
    }
    h.add(new RecordHeader(name, headerValue.getBytes(StandardCharsets.UTF_8)));
    return new BridgeRecord(signal, topic, key, value, Collections.unmodifiableList(h), timestamp,
        sourceTopic, sourcePartition, sourceOffset);
  }

  /** This record without the headers named {@code name}. */
  public BridgeRecord withoutHeader(String name) {
    List<Header> h = new ArrayList<>(headers.size());
    for (Header header : headers) {
      if (!header.key().equals(name)) {
        h.add(header);
      }
    }
    return new BridgeRecord(signal, topic, key, value, Collections.unmodifiableList(h), timestamp,
        sourceTopic, sourcePartition, sourceOffset);
  }

  private static String requireTopic(String topic) {
    if (!Topics.valid(topic)) {
      throw new IllegalArgumentException("'" + topic + "' is not a valid Kafka topic name"
          + " (1 to 249 of a-z A-Z 0-9 . _ -)");
    }
    return topic;
  }

  @Override
  public String toString() {
    return "BridgeRecord{" + signal.id() + " -> " + topic
        + (sourceTopic == null ? "" : " from " + sourceTopic + "-" + sourcePartition + "@"
            + sourceOffset)
        + ", key " + (key == null ? "none" : key.length + " bytes")
        + ", value " + (value == null ? "null" : value.length + " bytes")
        + ", " + headers.size() + " header(s)}";
  }
}
