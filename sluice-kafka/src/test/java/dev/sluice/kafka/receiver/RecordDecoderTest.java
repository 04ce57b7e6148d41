package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.receiver.internal.RecordDecoder;
import dev.sluice.kafka.receiver.internal.RecordDecoder.Decoded;
import dev.sluice.kafka.receiver.internal.RecordDecoder.Failure;
import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Decoding and checking one message value, without a broker. */
class RecordDecoderTest {

  static List<Object[]> signalsAndEncodings() {
    List<Object[]> out = new java.util.ArrayList<>();
    for (Signal s : Signal.values()) {
      for (KafkaEncoding e : KafkaEncoding.values()) {
        out.add(new Object[] {s, e});
      }
    }
    return out;
  }

  private static Message payloadRequest(Signal signal, Decoded d) throws Exception {
    ByteBuf payload = d.payload();
    try {
      byte[] bytes = new byte[payload.readableBytes()];
      payload.getBytes(payload.readerIndex(), bytes);
      return signal.parseRequest(bytes, 0, bytes.length);
    } finally {
      payload.release();
    }
  }

  @ParameterizedTest
  @MethodSource("signalsAndEncodings")
  void aValidRequestIsForwardedWhole(Signal signal, KafkaEncoding encoding) throws Exception {
    Message request = Fixtures.request(signal, "r1", 3);

    Decoded d = RecordDecoder.decode(signal, encoding, Fixtures.encode(request, encoding));

    assertThat(d.ok()).isTrue();
    assertThat(d.result().items()).isEqualTo(3);
    assertThat(d.result().rejected()).isZero();
    assertThat(payloadRequest(signal, d)).isEqualTo(request);
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void validProtobufPassesAsTheSameBytes(Signal signal) {
    byte[] value = Fixtures.request(signal, "r2", 2).toByteArray();

    Decoded d = RecordDecoder.decode(signal, KafkaEncoding.OTLP_PROTO, value);

    try {
      byte[] out = new byte[d.payload().readableBytes()];
      d.payload().getBytes(d.payload().readerIndex(), out);
      assertThat(out).isEqualTo(value);
    } finally {
      d.payload().release();
    }
  }

  @ParameterizedTest
  @MethodSource("signalsAndEncodings")
  void invalidItemsAreDroppedAndCounted(Signal signal, KafkaEncoding encoding) throws Exception {
    Message request = Fixtures.partlyInvalid(signal, "r3", 2, 3);

    Decoded d = RecordDecoder.decode(signal, encoding, Fixtures.encode(request, encoding));

    assertThat(d.ok()).isTrue();
    assertThat(d.result().items()).isEqualTo(5);
    assertThat(d.result().rejected()).isEqualTo(3);
    assertThat(d.result().firstProblem()).contains("rejected 3 of 5");
    assertThat(Fixtures.itemIds(payloadRequest(signal, d)))
        .containsExactly("r3/v0", "r3/v1");
  }

  @ParameterizedTest
  @MethodSource("signalsAndEncodings")
  void aRequestOfOnlyInvalidItemsFails(Signal signal, KafkaEncoding encoding) {
    Decoded d = RecordDecoder.decode(signal, encoding,
        Fixtures.encode(Fixtures.partlyInvalid(signal, "r4", 0, 2), encoding));

    assertThat(d.ok()).isFalse();
    assertThat(d.failure()).isEqualTo(Failure.INVALID);
    assertThat(d.reason()).contains("every item").contains("rejected 2 of 2");
    assertThat(d.payload()).isNull();
  }

  @ParameterizedTest
  @MethodSource("signalsAndEncodings")
  void garbageIsADecodeError(Signal signal, KafkaEncoding encoding) {
    // A length-delimited field 1 claiming far more bytes than there are; not JSON either.
    byte[] garbage = {0x0a, (byte) 0xff, (byte) 0xff, 0x7f, 0x01, 0x02};

    Decoded d = RecordDecoder.decode(signal, encoding, garbage);

    assertThat(d.ok()).isFalse();
    assertThat(d.failure()).isEqualTo(Failure.DECODE_ERROR);
    assertThat(d.reason()).contains(
        signal.requestPrototype().getDescriptorForType().getName());
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void protobufReadAsJsonIsADecodeError(Signal signal) {
    byte[] proto = Fixtures.request(signal, "r5", 1).toByteArray();

    Decoded d = RecordDecoder.decode(signal, KafkaEncoding.OTLP_JSON, proto);

    assertThat(d.failure()).isEqualTo(Failure.DECODE_ERROR);
    assertThat(d.reason()).contains("not valid OTLP JSON");
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void jsonReadAsProtobufIsADecodeError(Signal signal) {
    byte[] json = "{\"resourceSpans\":[]}".getBytes(StandardCharsets.UTF_8);

    Decoded d = RecordDecoder.decode(signal, KafkaEncoding.OTLP_PROTO, json);

    assertThat(d.failure()).isEqualTo(Failure.DECODE_ERROR);
    assertThat(d.reason()).contains("not a valid protobuf");
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void aMessageWithoutValueFails(KafkaEncoding encoding) {
    Decoded d = RecordDecoder.decode(Signal.LOGS, encoding, null);

    assertThat(d.failure()).isEqualTo(Failure.NO_VALUE);
  }

  @ParameterizedTest
  @MethodSource("signalsAndEncodings")
  void anEmptyRequestHasNothingToForward(Signal signal, KafkaEncoding encoding) {
    byte[] value = Fixtures.encode(signal.requestPrototype(), encoding);

    Decoded d = RecordDecoder.decode(signal, encoding, value);

    assertThat(d.ok()).isTrue();
    assertThat(d.payload()).isNull();
    assertThat(d.result().items()).isZero();
  }
}
