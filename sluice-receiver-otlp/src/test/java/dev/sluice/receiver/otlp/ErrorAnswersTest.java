package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Mode;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every refusal: the right 4xx or 5xx status, a {@code google.rpc.Status} body in the request's
 * encoding whose message names the problem, never a 500, and the receiver keeps serving (the next
 * good request on the same client succeeds).
 */
class ErrorAnswersTest {
  static final int LIMIT = 64 * 1024;
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.builder().receiver(b -> b.maxRequestBodySize(LIMIT)).start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
    f.exporter.mode(Mode.ACCEPT);
  }

  /** After every refusal, the receiver still takes a good request from the same client. */
  @AfterEach
  void stillServing() {
    f.exporter.mode(Mode.ACCEPT);
    f.exporter.clear();
    Message good = OtlpSamples.logs();
    HttpResponse<byte[]> r = f.post(Signal.LOGS, PROTOBUF, good.toByteArray());
    assertThat(r.statusCode()).as("a good request after the refusal").isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(good);
  }

  /** Asserts the status and that the Status body's message contains every given word. */
  static Status assertRefused(HttpResponse<byte[]> r, int status, String... words) {
    assertThat(r.statusCode()).as("status; body %s", new String(r.body(),
        StandardCharsets.UTF_8)).isEqualTo(status);
    Status s = Answers.status(r);
    assertThat(s.getMessage()).contains(words);
    assertThat(s.getCode()).as("a google.rpc.Code, not OK").isPositive();
    return s;
  }

  // ---- 400: bodies that do not decode ---------------------------------------------------------

  @ParameterizedTest
  @EnumSource(Signal.class)
  void truncatedProtobufIs400(Signal signal) {
    byte[] whole = OtlpSamples.request(signal).toByteArray();
    for (int cut : new int[] {whole.length - 1, 5}) {
      HttpResponse<byte[]> r = f.post(signal, PROTOBUF, Arrays.copyOf(whole, cut));
      assertRefused(r, 400, "protobuf");
      assertThat(Answers.contentType(r)).isEqualTo(PROTOBUF);
    }
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"{not json", "{\"resourceSpans\":[{\"scopeSpans\":[", "[]", "\"text\"",
      "{\"resourceSpans\":[]}{}", "\u00ff\u00fe"})
  void malformedJsonIs400(String body) {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, JSON,
        body.getBytes(StandardCharsets.ISO_8859_1));
    assertRefused(r, 400, "JSON");
    assertThat(Answers.contentType(r)).isEqualTo(JSON);
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void truncatedJsonIs400(Signal signal) {
    byte[] whole = OtlpJsonCodec.toJsonBytes(OtlpSamples.request(signal));
    HttpResponse<byte[]> r = f.post(signal, JSON, Arrays.copyOf(whole, whole.length / 2));
    assertRefused(r, 400, "JSON");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"zz8efff798038103d269b633813fc60c", "5b8efff798038103d269b633813fc60",
      "5b8efff7-98038103d269b633813fc60"})
  void invalidHexIdInJsonIs400(String traceId) {
    String json = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" + traceId
        + "\",\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"x\"}]}]}]}";
    HttpResponse<byte[]> r = f.post(Signal.TRACES, JSON, json.getBytes(StandardCharsets.UTF_8));
    assertRefused(r, 400, "traceId", "hex");
    assertThat(f.exporter.batches()).isEmpty();
  }

  // ---- 404, 405, 415 --------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"/v1/trace", "/", "/v1/traces/", "/v2/logs", "/V1/TRACES"})
  void unknownPathIs404ListingTheEndpoints(String path) {
    HttpResponse<byte[]> r = f.send(f.request(path).header("Content-Type", PROTOBUF)
        .POST(BodyPublishers.ofByteArray(OtlpSamples.traces().toByteArray())).build());
    assertRefused(r, 404, path, "/v1/traces", "/v1/metrics", "/v1/logs");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void queryStringIsNotPartOfThePath() {
    HttpResponse<byte[]> r = f.send(f.request("/v1/traces?tenant=x")
        .header("Content-Type", PROTOBUF)
        .POST(BodyPublishers.ofByteArray(OtlpSamples.traces().toByteArray())).build());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().signal()).isEqualTo(Signal.TRACES);
  }

  @ParameterizedTest
  @ValueSource(strings = {"GET", "PUT", "DELETE", "PATCH"})
  void otherMethodsAre405WithAllow(String method) {
    HttpRequest.BodyPublisher body = method.equals("GET") || method.equals("DELETE")
        ? BodyPublishers.noBody()
        : BodyPublishers.ofByteArray(OtlpSamples.traces().toByteArray());
    HttpResponse<byte[]> r = f.send(f.request("/v1/traces").header("Content-Type", PROTOBUF)
        .method(method, body).build());
    assertRefused(r, 405, method);
    assertThat(r.headers().allValues("allow")).containsExactly("POST, OPTIONS");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"text/plain", "application/grpc", "application/x-www-form-urlencoded",
      "application/jsonx", "multipart/form-data; boundary=x"})
  void unsupportedContentTypeIs415(String contentType) {
    HttpResponse<byte[]> r = f.post(Signal.METRICS, contentType,
        OtlpSamples.metrics().toByteArray());
    assertRefused(r, 415, "Content-Type", contentType, "application/x-protobuf",
        "application/json");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void missingContentTypeIs415() {
    HttpResponse<byte[]> r = f.post(Signal.METRICS, null, OtlpSamples.metrics().toByteArray());
    assertRefused(r, 415, "Content-Type");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"br", "compress", "gzip, br", "snappy"})
  void unsupportedContentEncodingIs415(String coding) {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, OtlpSamples.traces().toByteArray(),
        "Content-Encoding", coding);
    assertRefused(r, 415, "Content-Encoding", coding);
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void jsonRequestsGetTheirErrorsInJson() {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, JSON, "{\"resourceSpans\":5}"
        .getBytes(StandardCharsets.UTF_8), "Content-Encoding", "br");
    assertThat(r.statusCode()).isEqualTo(415);
    assertThat(Answers.contentType(r)).isEqualTo(JSON);
    var node = Answers.json(r.body());
    assertThat(node.get("message").textValue()).contains("br");
    assertThat(node.get("code").isInt()).isTrue();
  }

  // ---- 413 -----------------------------------------------------------------------------------

  /** A traces request of exactly {@code size} bytes, one span whose attribute takes the slack. */
  static ExportTraceServiceRequest requestOfSize(int size) {
    Span span = OtlpSamples.span(new Random(9), 0);
    int base = padded(span, 0).getSerializedSize();
    for (int pad = size - base; pad >= 0; pad--) {
      ExportTraceServiceRequest r = padded(span, pad);
      if (r.getSerializedSize() == size) {
        return r;
      }
      if (r.getSerializedSize() < size) {
        throw new AssertionError("no request of exactly " + size + " bytes");
      }
    }
    throw new AssertionError();
  }

  private static ExportTraceServiceRequest padded(Span span, int pad) {
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().addScopeSpans(ScopeSpans.newBuilder()
            .addSpans(span.toBuilder().addAttributes(OtlpSamples.attr("pad",
                AnyValue.newBuilder().setStringValue("x".repeat(pad)).build())))))
        .build();
  }

  static ExportTraceServiceRequest requestAbout(int size) {
    ExportTraceServiceRequest r = requestOfSize(size);
    assertThat(r.getSerializedSize()).isEqualTo(size);
    return r;
  }

  @Test
  void bodyOfExactlyTheLimitIsAccepted() {
    ExportTraceServiceRequest request = requestAbout(LIMIT);
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, request.toByteArray());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void decompressedBodyOfExactlyTheLimitIsAccepted() {
    ExportTraceServiceRequest request = requestAbout(LIMIT);
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF,
        OtlpSamples.gzip(request.toByteArray()), "Content-Encoding", "gzip");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "deflate", "zstd"})
  void decompressedBodyOneByteOverTheLimitIs413(String coding) {
    byte[] body = OtlpSamples.encode(coding, requestAbout(LIMIT + 1).toByteArray());
    assertThat(body.length).isLessThan(LIMIT);
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, body, "Content-Encoding", coding);
    assertRefused(r, 413, "max_request_body_size");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void contentLengthOverTheLimitIs413BeforeTheBodyIsSent() throws Exception {
    // Only the head goes out first: the answer must come from the Content-Length alone. The body
    // sent afterwards is read and dropped, and the connection serves the next request.
    byte[] good = OtlpSamples.traces().toByteArray();
    try (RawHttp c = f.raw()) {
      c.write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
          + "Content-Length: " + (LIMIT + 1) + "\r\n\r\n");
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(413);
      assertThat(Answers.status(r).getMessage()).contains(Integer.toString(LIMIT + 1),
          "max_request_body_size");
      c.write(new byte[LIMIT + 1]);
      c.write(RawHttp.request("POST", "/v1/traces", good, "Content-Type", PROTOBUF));
      assertThat(c.read().status()).isEqualTo(200);
    }
    assertThat(f.exporter.only().payload()).isEqualTo(good);
  }

  @Test
  void bodyOverTheLimitSentInFullIsAnsweredNotReset() throws Exception {
    // Clients send the whole body before they read. Closing with unread bytes would reset the
    // connection and lose the 413 (and a client that sees a reset retries); so every attempt
    // must read a 413.
    byte[] body = new byte[8 * 1024 * 1024];
    for (int i = 0; i < 8; i++) {
      HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, body);
      assertRefused(r, 413, "max_request_body_size");
    }
    byte[] good = OtlpSamples.traces().toByteArray();
    try (RawHttp c = f.raw()) {
      c.write(RawHttp.concat(
          RawHttp.request("POST", "/v1/traces", new byte[LIMIT * 4], "Content-Type", PROTOBUF),
          RawHttp.request("POST", "/v1/traces", good, "Content-Type", PROTOBUF)));
      assertThat(c.read().status()).isEqualTo(413);
      assertThat(c.read().status()).as("the same connection goes on").isEqualTo(200);
    }
    assertThat(f.exporter.only().payload()).isEqualTo(good);
  }

  @Test
  void contentLengthFarOverTheLimitIs413AndClose() throws Exception {
    long huge = LIMIT + OtlpHttpHandler.DRAIN_PAST_LIMIT + 1;
    try (RawHttp c = f.raw()) {
      c.write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
          + "Content-Length: " + huge + "\r\n\r\n");
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(413);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.awaitClosed()).isTrue();
    }
  }

  @Test
  void contentLengthOverTheLimitIs413InsteadOf100Continue() throws Exception {
    // java.net.http.HttpClient of JDK 17 waits forever when Expect: 100-continue is answered with a
    // final status, so the client side is written by hand. The body will not come, so the
    // connection closes after the answer.
    try (RawHttp c = f.raw()) {
      c.write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
          + "Expect: 100-continue\r\nContent-Length: " + (LIMIT + 100) + "\r\n\r\n");
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(413);
      assertThat(Answers.status(r).getMessage()).contains("max_request_body_size");
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.awaitClosed()).isTrue();
    }
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void refusalInsteadOf100ContinueClosesTheConnection() throws Exception {
    try (RawHttp c = f.raw()) {
      c.write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
          + "Expect: 100-continue\r\nContent-Length: 50\r\n\r\n");
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(415);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.awaitClosed()).isTrue();
    }
  }

  @Test
  void expect100ContinueWithinTheLimitGetsTheBody() {
    ExportTraceServiceRequest request = requestAbout(LIMIT - 10);
    HttpResponse<byte[]> r = f.send(f.request("/v1/traces").header("Content-Type", PROTOBUF)
        .expectContinue(true).POST(BodyPublishers.ofByteArray(request.toByteArray())).build());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void chunkedBodyOverTheLimitIs413() {
    byte[] body = requestAbout(LIMIT + 1000).toByteArray();
    // ofInputStream has no known length, so the client sends it chunked.
    HttpResponse<byte[]> r = f.send(f.request("/v1/traces").header("Content-Type", PROTOBUF)
        .POST(BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build());
    assertThat(r.headers().firstValue("content-length")).isPresent();
    assertRefused(r, 413, "max_request_body_size");
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void chunkedBodyWithinTheLimitIsAccepted() {
    ExportTraceServiceRequest request = requestAbout(LIMIT);
    byte[] body = request.toByteArray();
    HttpResponse<byte[]> r = f.send(f.request("/v1/traces").header("Content-Type", PROTOBUF)
        .POST(BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  // ---- 400 for broken compression ------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "deflate", "zstd"})
  void corruptCompressedBodyIs400(String coding) {
    byte[] body = OtlpSamples.encode(coding, OtlpSamples.traces().toByteArray());
    byte[] corrupt = body.clone();
    for (int i = body.length / 3; i < body.length * 2 / 3; i++) {
      corrupt[i] ^= (byte) 0x5a;
    }
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, corrupt, "Content-Encoding", coding);
    assertRefused(r, 400, coding);
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "deflate", "zstd"})
  void truncatedCompressedBodyIs400(String coding) {
    byte[] body = OtlpSamples.encode(coding, OtlpSamples.traces().toByteArray());
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF,
        Arrays.copyOf(body, body.length - 12), "Content-Encoding", coding);
    assertRefused(r, 400, coding);
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"gzip", "deflate", "zstd"})
  void uncompressedBodyLabelledCompressedIs400(String coding) {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, OtlpSamples.traces().toByteArray(),
        "Content-Encoding", coding);
    assertRefused(r, 400, coding);
    assertThat(f.exporter.batches()).isEmpty();
  }

  // ---- 503 -----------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {PROTOBUF, JSON})
  void pipelineFullIs503WithRetryAfter(String contentType) {
    f.exporter.mode(Mode.FAIL_FULL);
    Message request = OtlpSamples.traces();
    byte[] body = contentType.equals(JSON) ? OtlpJsonCodec.toJsonBytes(request)
        : request.toByteArray();
    HttpResponse<byte[]> r = f.post(Signal.TRACES, contentType, body);
    assertRefused(r, 503, "full");
    assertThat(Answers.contentType(r)).isEqualTo(contentType);
    assertThat(r.headers().allValues("retry-after"))
        .containsExactly(Integer.toString(CapturingExporter.FULL_RETRY_AFTER_SECONDS));
  }

  @Test
  void failingExporterIs503WithItsMessage() {
    f.exporter.mode(Mode.FAIL_IO);
    HttpResponse<byte[]> r = f.post(Signal.METRICS, PROTOBUF, OtlpSamples.metrics().toByteArray());
    assertRefused(r, 503, "disk full (test)");
    assertThat(r.headers().firstValue("retry-after")).isPresent();
  }
}
