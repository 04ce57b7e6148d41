package dev.sluice.kafka.receiver.internal;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.otlp.json.OtlpJsonException;
import dev.sluice.otlp.validation.MalformedOtlpException;
import dev.sluice.otlp.validation.OtlpRequestFilter;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Objects;

/**
 * Turns the value of one Kafka message into the protobuf {@code Export*ServiceRequest} the
 * pipeline takes, checking and counting its items the way the OTLP/HTTP receiver does:
 *
 * <ul>
 *   <li>{@code otlp_proto}: the bytes are scanned without building objects; when every item is
 *       valid they are passed on as they are (no copy), otherwise parsed and the invalid items
 *       dropped ({@link OtlpRequestFilter});
 *   <li>{@code otlp_json}: parsed with {@link OtlpJsonCodec} (hex trace and span ids), filtered,
 *       and encoded as protobuf.
 * </ul>
 *
 * <p>Stateless and thread-safe.
 */
public final class RecordDecoder {

  /** Why a message cannot be forwarded; the value of the dead-letter header {@code sluice.error.kind}. */
  public enum Failure {
    /** The message has no value (a tombstone). */
    NO_VALUE("no_value"),
    /** The value is not a valid encoding of the signal's request. */
    DECODE_ERROR("decode_error"),
    /** The request decodes but every item in it breaks a rule. */
    INVALID("invalid");

    private final String id;

    Failure(String id) {
      this.id = id;
    }

    /** The label used in headers and metrics. */
    public String id() {
      return id;
    }
  }

  /**
   * The outcome of decoding one message: either a payload to forward (which may be null when the
   * request holds no items at all) with the scan result, or a failure with a reason.
   */
  public static final class Decoded {
    private final ByteBuf payload;
    private final ScanResult result;
    private final Failure failure;
    private final String reason;

    private Decoded(ByteBuf payload, ScanResult result, Failure failure, String reason) {
      this.payload = payload;
      this.result = result;
      this.failure = failure;
      this.reason = reason;
    }

    static Decoded ok(ByteBuf payload, ScanResult result) {
      return new Decoded(payload, result, null, null);
    }

    static Decoded failed(Failure failure, String reason) {
      return new Decoded(null, null, failure, reason);
    }

    /** True when the message can be forwarded (or holds nothing to forward). */
    public boolean ok() {
      return failure == null;
    }

    /**
     * The protobuf request holding the valid items, owned by the caller (release it or hand it
     * on); null when the message failed or holds no items.
     */
    public ByteBuf payload() {
      return payload;
    }

    /** Items found and rejected; null when the message failed. */
    public ScanResult result() {
      return result;
    }

    /** Why the message cannot be forwarded; null when it can. */
    public Failure failure() {
      return failure;
    }

    /** An English sentence saying why; null when the message can be forwarded. */
    public String reason() {
      return reason;
    }
  }

  private RecordDecoder() {}

  /**
   * Decodes and checks {@code value} as a request of {@code signal} in {@code encoding}. Never
   * throws for bad input: a failure is returned.
   */
  public static Decoded decode(Signal signal, KafkaEncoding encoding, byte[] value) {
    Objects.requireNonNull(signal, "signal");
    Objects.requireNonNull(encoding, "encoding");
    if (value == null) {
      return Decoded.failed(Failure.NO_VALUE, "the message has no value");
    }
    String requestName = signal.requestPrototype().getDescriptorForType().getName();
    ScanResult result;
    Message filtered = null;
    if (encoding == KafkaEncoding.OTLP_PROTO) {
      try {
        result = OtlpScanner.scan(signal, value, 0, value.length);
      } catch (MalformedOtlpException e) {
        return Decoded.failed(Failure.DECODE_ERROR, "the message is not a valid protobuf "
            + requestName + ": " + e.getMessage());
      }
      if (!result.allValid()) {
        Message parsed;
        try {
          parsed = signal.parseRequest(value, 0, value.length);
        } catch (InvalidProtocolBufferException e) {
          return Decoded.failed(Failure.DECODE_ERROR, "the message is not a valid protobuf "
              + requestName + ": " + e.getMessage());
        }
        filtered = OtlpRequestFilter.filter(signal, parsed).request();
      }
    } else {
      Message parsed;
      try {
        parsed = OtlpJsonCodec.parse(value, 0, value.length, signal.requestPrototype());
      } catch (OtlpJsonException e) {
        return Decoded.failed(Failure.DECODE_ERROR, "the message is not valid OTLP JSON for "
            + requestName + ": " + e.getMessage());
      }
      OtlpRequestFilter.Filtered f = OtlpRequestFilter.filter(signal, parsed);
      result = f.result();
      filtered = f.request();
    }
    if (result.items() == 0) {
      return Decoded.ok(null, result);
    }
    if (result.accepted() == 0) {
      return Decoded.failed(Failure.INVALID, "every item of the request is invalid: "
          + result.firstProblem());
    }
    ByteBuf payload = filtered == null ? Unpooled.wrappedBuffer(value)
        : Unpooled.wrappedBuffer(filtered.toByteArray());
    return Decoded.ok(payload, result);
  }
}
