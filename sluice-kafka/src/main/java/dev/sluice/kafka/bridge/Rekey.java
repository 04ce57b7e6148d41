package dev.sluice.kafka.bridge;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.internal.RequestSplitter;
import dev.sluice.kafka.internal.RequestSplitter.Piece;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.otlp.json.OtlpJsonException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.header.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The built-in re-keying transform, {@link BridgeTransform#rekey()}: keys (and cuts) records as
 * {@link dev.sluice.kafka.KafkaExporter} does, with the exporter's own {@link RequestSplitter}.
 */
public final class Rekey implements BridgeTransform {
  private static final Logger LOG = LoggerFactory.getLogger(Rekey.class);

  private final int maxMessageBytes;
  private final RequestSplitter proto;
  private final RequestSplitter json;
  private final AtomicLong passedOn = new AtomicLong();

  Rekey(int maxMessageBytes) {
    if (maxMessageBytes < 1024) {
      throw new IllegalArgumentException("max message bytes must be at least 1024: "
          + maxMessageBytes);
    }
    this.maxMessageBytes = maxMessageBytes;
    this.proto = new RequestSplitter(KafkaEncoding.OTLP_PROTO, maxMessageBytes);
    this.json = new RequestSplitter(KafkaEncoding.OTLP_JSON, maxMessageBytes);
  }

  /** Records passed on unchanged because they were no OTLP request or held nothing to key by. */
  public long passedOn() {
    return passedOn.get();
  }

  public int maxMessageBytes() {
    return maxMessageBytes;
  }

  @Override
  public List<BridgeRecord> apply(BridgeRecord record) {
    byte[] value = record.value();
    if (value == null || value.length == 0) {
      return passOn(record, "it has no value");
    }
    Signal signal = record.signal();
    KafkaEncoding encoding;
    Message request;
    boolean json = looksLikeJson(value);
    try {
      request = json ? parseJson(signal, value) : parseProto(signal, value);
      encoding = json ? KafkaEncoding.OTLP_JSON : KafkaEncoding.OTLP_PROTO;
    } catch (InvalidProtocolBufferException | OtlpJsonException first) {
      try {
        // The guess from the first byte was wrong: try the other encoding.
        request = json ? parseProto(signal, value) : parseJson(signal, value);
        encoding = json ? KafkaEncoding.OTLP_PROTO : KafkaEncoding.OTLP_JSON;
      } catch (InvalidProtocolBufferException | OtlpJsonException second) {
        return passOn(record, "it is not an OTLP " + signal.id() + " request: "
            + first.getMessage());
      }
    }
    int headerBytes = 0;
    for (Header h : record.headers()) {
      headerBytes += h.key().length() + (h.value() == null ? 0 : h.value().length) + 10;
    }
    RequestSplitter splitter = encoding == KafkaEncoding.OTLP_JSON ? this.json : this.proto;
    RequestSplitter.Result split = splitter.split(signal, request, headerBytes);
    List<Piece> pieces = new ArrayList<>(split.messages().size() + split.tooLarge().size());
    pieces.addAll(split.messages());
    // A single item over the limit goes on as it is: it came out of Kafka, so Kafka can take it.
    pieces.addAll(split.tooLarge());
    if (pieces.isEmpty()) {
      return passOn(record, "it holds no " + signal.itemNoun());
    }
    if (pieces.size() == 1) {
      // One trace or resource: keep the value as it was, byte for byte.
      return List.of(record.withKey(keyOf(pieces.get(0))));
    }
    List<BridgeRecord> out = new ArrayList<>(pieces.size());
    for (Piece p : pieces) {
      out.add(record.withKey(keyOf(p)).withValue(p.value()));
    }
    return out;
  }

  private static byte[] keyOf(Piece p) {
    return p.key().length == 0 ? null : p.key();
  }

  private List<BridgeRecord> passOn(BridgeRecord record, String why) {
    long n = passedOn.incrementAndGet();
    if (n == 1 || Long.bitCount(n) == 1) { // the 1st, 2nd, 4th, 8th... : bounded log volume
      LOG.warn("re-keying passed {} on unchanged because {} ({} record(s) so far)", record, why,
          n);
    }
    return List.of(record);
  }

  /** OTLP/JSON starts with '{' (after white space); a protobuf request never does. */
  static boolean looksLikeJson(byte[] value) {
    for (byte b : value) {
      if (b == ' ' || b == '\t' || b == '\r' || b == '\n') {
        continue;
      }
      return b == '{';
    }
    return false;
  }

  private static Message parseProto(Signal signal, byte[] value)
      throws InvalidProtocolBufferException {
    return signal.requestPrototype().getParserForType().parseFrom(value);
  }

  private static Message parseJson(Signal signal, byte[] value) {
    return OtlpJsonCodec.parse(value, 0, value.length, signal.requestPrototype());
  }

  @Override
  public String toString() {
    return "rekey(maxMessageBytes=" + maxMessageBytes + ")";
  }
}
