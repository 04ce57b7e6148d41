package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * OTLP/HTTP as the specification (opentelemetry-proto, docs/specification.md, "OTLP/HTTP") has it:
 * every signal in binary protobuf and JSON, with every compression the receiver offers, answered
 * 200 with an empty {@code Export*ServiceResponse} in the request's Content-Type, and the pipeline
 * handed exactly what was sent.
 */
class OtlpHttpConformanceTest {
  private static final Map<Signal, Message> EMPTY_RESPONSES = Map.of(
      Signal.TRACES, ExportTraceServiceResponse.getDefaultInstance(),
      Signal.METRICS, ExportMetricsServiceResponse.getDefaultInstance(),
      Signal.LOGS, ExportLogsServiceResponse.getDefaultInstance());

  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
  }

  static Stream<Arguments> matrix() {
    List<Arguments> out = new ArrayList<>();
    for (Signal s : Signal.values()) {
      for (String ct : List.of(PROTOBUF, JSON)) {
        for (String coding : List.of("none", "gzip", "deflate", "zstd")) {
          out.add(Arguments.of(s, ct, coding));
        }
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0} {1} Content-Encoding {2}")
  @MethodSource("matrix")
  void acceptsEverySignalInEveryEncodingAndCompression(Signal signal, String contentType,
      String coding) {
    Message request = OtlpSamples.request(signal);
    int items = OtlpSamples.countItems(request);
    assertThat(items).as("sample items").isGreaterThanOrEqualTo(6);
    boolean json = contentType.equals(JSON);
    byte[] encoded = json ? OtlpJsonCodec.toJsonBytes(request) : request.toByteArray();
    byte[] body = OtlpSamples.encode(coding, encoded);
    String[] headers = coding.equals("none") ? new String[0]
        : new String[] {"Content-Encoding", coding};

    HttpResponse<byte[]> r = f.post(signal, contentType, body, headers);

    assertThat(r.statusCode()).as("status; body %s", new String(r.body())).isEqualTo(200);
    assertThat(Answers.contentType(r)).isEqualTo(contentType);
    assertThat(r.headers().firstValue("content-encoding")).as("no Accept-Encoding was sent")
        .isEmpty();
    assertEmptyResponse(signal, json, r.body());

    Captured c = f.exporter.only();
    assertThat(c.signal()).isEqualTo(signal);
    assertThat(c.items()).isEqualTo(items);
    assertThat(c.tenant()).isEmpty();
    if (!json) {
      assertThat(c.payload()).as("a valid protobuf body is passed on as received")
          .isEqualTo(request.toByteArray());
    }
    assertThat(c.request()).isEqualTo(request);
  }

  /** Full success: partial_success unset, so protobuf is zero bytes and JSON is {}. */
  static void assertEmptyResponse(Signal signal, boolean json, byte[] body) {
    if (json) {
      assertThat(Answers.json(body).toString()).isEqualTo("{}");
    } else {
      assertThat(Answers.protobufResponse(signal, body)).isEqualTo(EMPTY_RESPONSES.get(signal));
      assertThat(body).as("an empty message encodes to no bytes").isEmpty();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"GZIP", "x-gzip", "Gzip", " gzip "})
  void contentCodingNamesAreCaseInsensitive(String coding) {
    Message request = OtlpSamples.traces();
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF,
        OtlpSamples.gzip(request.toByteArray()), "Content-Encoding", coding);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void identityContentEncodingMeansUncompressed() {
    Message request = OtlpSamples.logs();
    HttpResponse<byte[]> r = f.post(Signal.LOGS, PROTOBUF, request.toByteArray(),
        "Content-Encoding", "identity");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void rawDeflateWithoutTheZlibWrapperIsAcceptedToo() throws Exception {
    Message request = OtlpSamples.metrics();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    Deflater raw = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
    try (DeflaterOutputStream z = new DeflaterOutputStream(out, raw)) {
      z.write(request.toByteArray());
    } finally {
      raw.end();
    }
    HttpResponse<byte[]> r = f.post(Signal.METRICS, PROTOBUF, out.toByteArray(),
        "Content-Encoding", "deflate");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @ParameterizedTest
  @ValueSource(strings = {"application/json; charset=utf-8", "Application/JSON"})
  void jsonContentTypeWithParametersOrOtherCaseIsJson(String contentType) {
    Message request = OtlpSamples.traces();
    HttpResponse<byte[]> r = f.post(Signal.TRACES, contentType,
        OtlpJsonCodec.toJsonBytes(request));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(Answers.contentType(r)).isEqualTo(JSON);
    assertThat(Answers.json(r.body()).toString()).isEqualTo("{}");
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void emptyProtobufRequestSucceedsAndExportsNothing(Signal signal) {
    HttpResponse<byte[]> r = f.post(signal, PROTOBUF, new byte[0]);
    assertThat(r.statusCode()).isEqualTo(200);
    assertEmptyResponse(signal, false, r.body());
    assertThat(f.exporter.batches()).isEmpty();
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void emptyJsonRequestSucceedsAndExportsNothing(Signal signal) {
    HttpResponse<byte[]> r = f.post(signal, JSON, "{}".getBytes(StandardCharsets.UTF_8));
    assertThat(r.statusCode()).isEqualTo(200);
    assertEmptyResponse(signal, true, r.body());
    assertThat(f.exporter.batches()).isEmpty();
  }

  @Test
  void unknownJsonFieldsAreIgnored() {
    ExportTraceServiceRequest request = OtlpSamples.traces();
    String json = new String(OtlpJsonCodec.toJsonBytes(request), StandardCharsets.UTF_8);
    // An unknown key at the top, in a span (with an object value) and in a resource.
    String withUnknown = "{\"futureField\":[1,{\"x\":null}]," + json.substring(1)
        .replaceFirst("\"name\":\"GET /orders/0\"",
            "\"name\":\"GET /orders/0\",\"somethingNew\":{\"a\":[true,\"b\"]}")
        .replaceFirst("\"resource\":\\{", "\"resource\":{\"notYetDefined\":12,");
    assertThat(withUnknown).contains("somethingNew", "notYetDefined");

    HttpResponse<byte[]> r = f.post(Signal.TRACES, JSON,
        withUnknown.getBytes(StandardCharsets.UTF_8));
    assertThat(r.statusCode()).as(new String(r.body())).isEqualTo(200);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void unknownProtobufFieldsArePassedOnAsReceived() {
    ExportTraceServiceRequest request = OtlpSamples.traces();
    // Field 99, length-delimited, at the top level: unknown to this schema, kept by proto3.
    byte[] unknown = {(byte) 0x9a, 0x06, 3, 'a', 'b', 'c'};
    byte[] body = RawHttp.concat(request.toByteArray(), unknown);
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, body);
    assertThat(r.statusCode()).isEqualTo(200);
    Captured c = f.exporter.only();
    assertThat(c.payload()).isEqualTo(body);
    assertThat(c.items()).isEqualTo(OtlpSamples.countItems(request));
  }

  @Test
  void configuredPathsReplaceTheDefaults() {
    try (ReceiverFixture custom = ReceiverFixture.builder()
        .receiver(b -> b.path(Signal.TRACES, "/otlp/t").path(Signal.LOGS, "/ingest/logs"))
        .start()) {
      Message request = OtlpSamples.traces();
      HttpResponse<byte[]> r = custom.send(custom.request("/otlp/t")
          .header("Content-Type", PROTOBUF)
          .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(request.toByteArray()))
          .build());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(custom.exporter.only().request()).isEqualTo(request);

      HttpResponse<byte[]> old = custom.post(Signal.TRACES, PROTOBUF, request.toByteArray());
      assertThat(old.statusCode()).isEqualTo(404);
      assertThat(Answers.status(old).getMessage())
          .contains("/otlp/t", "/v1/metrics", "/ingest/logs");
    }
  }
}
