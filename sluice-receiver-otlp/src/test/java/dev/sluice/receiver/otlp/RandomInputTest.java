package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.ArrayValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.net.http.HttpResponse;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Garbage in: random bytes in every content type and coding, and valid requests with a few bytes
 * changed. The receiver answers each within the client's timeout with 400 or 200, never 500 and
 * never a hang, and what it accepts as protobuf is exactly what protobuf-java accepts, so nothing
 * unparseable reaches the pipeline.
 */
class RandomInputTest {
  private static final String[] CODINGS = {"none", "gzip", "deflate", "zstd"};
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.builder().receiver(b -> b.maxRequestBodySize(256 * 1024)).start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
  }

  @AfterEach
  void stillServing() {
    f.exporter.clear();
    Message good = OtlpSamples.traces();
    assertThat(f.post(Signal.TRACES, PROTOBUF, good.toByteArray()).statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(good);
  }

  private static HttpResponse<byte[]> post(Signal s, String ct, String coding, byte[] body) {
    return coding.equals("none") ? f.post(s, ct, body)
        : f.post(s, ct, body, "Content-Encoding", coding);
  }

  @Test
  void randomBytesAreAnswered400Or200() {
    Random rnd = new Random(0x5eed);
    int refused = 0;
    for (int i = 0; i < 48; i++) {
      Signal signal = Signal.values()[i % 3];
      String ct = (i / 3) % 2 == 0 ? PROTOBUF : JSON;
      String coding = CODINGS[(i / 6) % 4];
      byte[] raw = new byte[1 + rnd.nextInt(i < 24 ? 64 : 4000)];
      rnd.nextBytes(raw);
      // Half of the compressed cases are well-formed streams of random content.
      boolean wellCompressed = !coding.equals("none") && rnd.nextBoolean();
      byte[] body = wellCompressed ? OtlpSamples.encode(coding, raw) : raw;

      HttpResponse<byte[]> r = post(signal, ct, coding, body);

      String what = "input " + i + " (" + signal + ", " + ct + ", " + coding + ", "
          + raw.length + " bytes)";
      assertThat(r.statusCode()).as(what).isIn(200, 400);
      if (r.statusCode() == 400) {
        refused++;
        assertThat(Answers.status(r).getMessage()).as(what).isNotBlank();
      }
      for (Captured c : f.exporter.batches()) {
        c.request(); // must parse
      }
      f.exporter.clear();
    }
    assertThat(refused).as("random bytes are mostly refused").isGreaterThan(24);
  }

  /**
   * Valid protobuf requests with one to three bytes changed: 200 exactly when protobuf-java parses
   * the body, else 400; and whatever is exported parses.
   */
  @Test
  void mutatedProtobufIsAcceptedExactlyWhenProtobufJavaAcceptsIt() {
    Random rnd = new Random(42);
    int accepted = 0;
    int refused = 0;
    for (int i = 0; i < 60; i++) {
      Signal signal = Signal.values()[i % 3];
      byte[] body = OtlpSamples.request(signal).toByteArray();
      int changes = 1 + rnd.nextInt(3);
      for (int k = 0; k < changes; k++) {
        body[rnd.nextInt(body.length)] = (byte) rnd.nextInt(256);
      }
      boolean parses;
      try {
        signal.parseRequest(body, 0, body.length);
        parses = true;
      } catch (InvalidProtocolBufferException e) {
        parses = false;
      }

      HttpResponse<byte[]> r = f.post(signal, PROTOBUF, body);

      assertThat(r.statusCode()).as("mutation %d of %s; protobuf-java parses: %s; answer: %s", i,
          signal, parses, new String(r.body())).isEqualTo(parses ? 200 : 400);
      if (parses) {
        accepted++;
      } else {
        refused++;
      }
      for (Captured c : f.exporter.batches()) {
        assertThat(c.request()).isNotNull();
      }
      f.exporter.clear();
    }
    assertThat(accepted).as("mutations accepted").isPositive();
    assertThat(refused).as("mutations refused").isPositive();
  }

  /** Valid JSON with a few characters changed: 200 or 400, and what is exported parses. */
  @Test
  void mutatedJsonIsAnswered400Or200() {
    Random rnd = new Random(7);
    String alphabet = "{}[]\",:0123456789abcdefxyz-.eE \\";
    for (int i = 0; i < 45; i++) {
      Signal signal = Signal.values()[i % 3];
      byte[] body = OtlpJsonCodec.toJsonBytes(OtlpSamples.request(signal));
      int changes = 1 + rnd.nextInt(3);
      for (int k = 0; k < changes; k++) {
        body[rnd.nextInt(body.length)] = (byte) alphabet.charAt(rnd.nextInt(alphabet.length()));
      }
      HttpResponse<byte[]> r = f.post(signal, JSON, body);
      assertThat(r.statusCode()).as("JSON mutation %d of %s", i, signal).isIn(200, 400);
      for (Captured c : f.exporter.batches()) {
        assertThat(c.request()).isNotNull();
      }
      f.exporter.clear();
    }
  }

  /**
   * Nested attribute values around protobuf-java's recursion limit of 100: the receiver takes
   * exactly the depths the parser takes.
   */
  @Test
  void nestingDepthLimitMatchesProtobufJava() {
    // Each array level is two messages (AnyValue, ArrayValue) below request, resource, scope,
    // span and attribute: around 47 levels reach 100.
    boolean sawAccepted = false;
    boolean sawRefused = false;
    for (int depth = 40; depth <= 54; depth++) {
      AnyValue v = AnyValue.newBuilder().setStringValue("leaf").build();
      for (int k = 0; k < depth; k++) {
        v = AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder().addValues(v)).build();
      }
      ExportTraceServiceRequest req = ExportTraceServiceRequest.newBuilder()
          .addResourceSpans(ResourceSpans.newBuilder().addScopeSpans(ScopeSpans.newBuilder()
              .addSpans(OtlpSamples.span(new Random(depth), 0).toBuilder()
                  .addAttributes(OtlpSamples.attr("deep", v)))))
          .build();
      byte[] body = req.toByteArray();
      boolean parses;
      try {
        Signal.TRACES.parseRequest(body, 0, body.length);
        parses = true;
      } catch (InvalidProtocolBufferException e) {
        parses = false;
      }
      HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, body);
      assertThat(r.statusCode()).as("%d nested arrays; protobuf-java parses: %s; answer %s",
          depth, parses, new String(r.body())).isEqualTo(parses ? 200 : 400);
      sawAccepted |= parses;
      sawRefused |= !parses;
      f.exporter.clear();
    }
    assertThat(sawAccepted && sawRefused).as("the depths tried straddle the limit").isTrue();
  }
}
