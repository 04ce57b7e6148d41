package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.Answers.PartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.net.http.HttpResponse;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * "If the request header Accept-Encoding: gzip is present in the request the server MAY
 * gzip-encode the response and set Content-Encoding: gzip": when it does, the body must be gzip
 * that decodes to the answer; when the client does not accept gzip, it must not.
 */
class ResponseCompressionTest {
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  /** Three spans, one with a short trace id: the answer has a partial_success to look at. */
  static ExportTraceServiceRequest partlyInvalid() {
    Random r = new Random(11);
    return ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans.newBuilder()
        .addScopeSpans(ScopeSpans.newBuilder()
            .addSpans(OtlpSamples.span(r, 0))
            .addSpans(OtlpSamples.span(r, 1).toBuilder().setTraceId(ByteString.copyFrom(
                new byte[] {1, 2, 3})))
            .addSpans(OtlpSamples.span(r, 2))))
        .build();
  }

  static boolean isGzip(byte[] b) {
    return b.length >= 2 && (b[0] & 0xff) == 0x1f && (b[1] & 0xff) == 0x8b;
  }

  @ParameterizedTest
  @ValueSource(strings = {PROTOBUF, JSON})
  void gzipIsUsedWhenAccepted(String contentType) {
    Message request = partlyInvalid();
    byte[] body = contentType.equals(JSON) ? OtlpJsonCodec.toJsonBytes(request)
        : request.toByteArray();
    HttpResponse<byte[]> r = f.post(Signal.TRACES, contentType, body, "Accept-Encoding", "gzip");

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().allValues("content-encoding")).containsExactly("gzip");
    assertThat(isGzip(r.body())).as("gzip magic").isTrue();
    assertThat(r.headers().firstValueAsLong("content-length")).hasValue(r.body().length);
    PartialSuccess ps = Answers.partialSuccess(Signal.TRACES, contentType,
        Answers.gunzip(r.body()));
    assertThat(ps.rejected()).isEqualTo(1);
    assertThat(ps.errorMessage()).contains("trace_id");
  }

  @Test
  void emptySuccessAnswerGzippedStillDecodes() {
    HttpResponse<byte[]> r = f.post(Signal.LOGS, JSON,
        OtlpJsonCodec.toJsonBytes(OtlpSamples.logs()), "Accept-Encoding", "deflate, gzip, br");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-encoding")).hasValue("gzip");
    assertThat(Answers.json(Answers.gunzip(r.body())).toString()).isEqualTo("{}");
  }

  @Test
  void errorAnswersAreGzippedToo() {
    HttpResponse<byte[]> r = f.post(Signal.LOGS, PROTOBUF, new byte[] {1, 2, 3},
        "Accept-Encoding", "gzip");
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.headers().firstValue("content-encoding")).hasValue("gzip");
    assertThat(Answers.status(r).getMessage()).contains("protobuf");
  }

  @ParameterizedTest
  @ValueSource(strings = {"GZIP", "gzip;q=0.5", "deflate, gzip;q=0.1", "br, gzip ; q=1"})
  void acceptedGzipSpelledOtherwise(String acceptEncoding) {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, partlyInvalid().toByteArray(),
        "Accept-Encoding", acceptEncoding);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-encoding")).hasValue("gzip");
    assertThat(Answers.partialSuccess(Signal.TRACES, r).rejected()).isEqualTo(1);
  }

  @ParameterizedTest
  @ValueSource(strings = {"identity", "br", "deflate", "gzip;q=0", "gzip; q=0.0", "gzip;q=0.000",
      "x-gzipped", "br, gzip;q=0"})
  void noGzipUnlessAccepted(String acceptEncoding) {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, partlyInvalid().toByteArray(),
        "Accept-Encoding", acceptEncoding);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-encoding")).isEmpty();
    assertThat(isGzip(r.body())).isFalse();
    assertThat(Answers.partialSuccess(Signal.TRACES, PROTOBUF, r.body()).rejected()).isEqualTo(1);
  }
}
