package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.sluice.otlp.Signal;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A small body that decompresses to far more than max_request_body_size (specification: the limit
 * holds "including after decompression") is refused with 413 as soon as the limit is passed, fast,
 * and nothing reaches the pipeline.
 */
class CompressionBombTest {
  static final int LIMIT = 1024 * 1024;
  static final int EXPANDED = 50 * 1024 * 1024;
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.builder().receiver(b -> b.maxRequestBodySize(LIMIT)).start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  /** {@link #EXPANDED} zero bytes compressed, written in pieces to keep memory small. */
  static byte[] bomb(String coding) throws Exception {
    if (coding.equals("zstd")) {
      return com.github.luben.zstd.Zstd.compress(new byte[EXPANDED], 3);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream z = coding.equals("gzip") ? new GZIPOutputStream(out, 65536)
        : new DeflaterOutputStream(out)) {
      byte[] zeros = new byte[1 << 20];
      for (int i = 0; i < EXPANDED / zeros.length; i++) {
        z.write(zeros);
      }
    }
    return out.toByteArray();
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "deflate", "zstd"})
  void bombIsRefusedWith413Quickly(String coding) throws Exception {
    byte[] body = bomb(coding);
    assertThat(body.length).as("compressed size").isLessThan(LIMIT / 8);

    long start = System.nanoTime();
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, body, "Content-Encoding", coding);
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertThat(r.statusCode()).isEqualTo(413);
    Status s = Answers.status(r);
    assertThat(s.getMessage()).contains("decompressed", "max_request_body_size",
        Integer.toString(LIMIT));
    assertThat(took).as("time to refuse").isLessThan(Duration.ofSeconds(2));
    assertThat(f.exporter.batches()).isEmpty();

    // Still serving.
    Message good = OtlpSamples.traces();
    assertThat(f.post(Signal.TRACES, PROTOBUF, good.toByteArray()).statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(good);
    f.exporter.clear();
  }
}
