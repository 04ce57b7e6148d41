package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code Expect: 100-continue}: the receiver sends 100 Continue for a body it will read, then
 * answers as usual; and the body deadline still holds after the 100.
 */
class ExpectContinueTest {
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.builder().server(b -> b.bodyTimeout(Duration.ofMillis(300))).start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
  }

  static String head(int length, boolean expect) {
    return "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: " + PROTOBUF + "\r\n"
        + (expect ? "Expect: 100-continue\r\n" : "") + "Content-Length: " + length + "\r\n\r\n";
  }

  @Test
  void continueThenBodyThenAnswer() throws Exception {
    Message request = OtlpSamples.traces();
    byte[] body = request.toByteArray();
    try (RawHttp c = f.raw()) {
      c.write(head(body.length, true));
      RawHttp.Response cont = c.read();
      assertThat(cont.status()).isEqualTo(100);
      c.write(body);
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(200);
    }
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void bodyThatNeverComesIsAnswered408() throws Exception {
    try (RawHttp c = f.raw()) {
      c.write(head(100, false));
      long start = System.nanoTime();
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(408);
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
      assertThat(Answers.status(r).getMessage()).contains("body");
    }
  }

  @Test
  void bodyThatNeverComesAfter100ContinueIsAnswered408() throws Exception {
    try (RawHttp c = f.raw()) {
      c.write(head(100, true));
      assertThat(c.read().status()).isEqualTo(100);
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(408);
      assertThat(Answers.status(r).getMessage()).contains("body");
    }
  }
}
