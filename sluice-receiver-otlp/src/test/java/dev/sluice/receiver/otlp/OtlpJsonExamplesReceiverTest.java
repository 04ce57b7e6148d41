package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The example payloads of the opentelemetry-proto repository (src/test/resources/otlp-json, see its
 * README), posted byte for byte as published: each is accepted, and the pipeline gets the same
 * content as the file.
 */
class OtlpJsonExamplesReceiverTest {
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

  static byte[] resource(String name) throws IOException {
    try (InputStream in = OtlpJsonExamplesReceiverTest.class.getResourceAsStream(
        "/otlp-json/" + name)) {
      assertThat(in).as(name).isNotNull();
      return in.readAllBytes();
    }
  }

  /** Items counted on the JSON text itself: the lengths of every spans/logRecords/dataPoints. */
  static int countInJson(JsonNode n, String arrayName) {
    int count = 0;
    if (n.isObject()) {
      for (var e : n.properties()) {
        if (e.getKey().equals(arrayName) && e.getValue().isArray()) {
          count += e.getValue().size();
        } else {
          count += countInJson(e.getValue(), arrayName);
        }
      }
    } else if (n.isArray()) {
      for (JsonNode c : n) {
        count += countInJson(c, arrayName);
      }
    }
    return count;
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "trace.json, TRACES, spans",
    "metrics.json, METRICS, dataPoints",
    "logs.json, LOGS, logRecords"
  })
  void examplePayloadIsAcceptedAsPublished(String file, Signal signal, String itemArray)
      throws IOException {
    byte[] json = resource(file);
    Message expected = OtlpJsonCodec.parse(json, 0, json.length, signal.requestPrototype());
    int items = countInJson(Answers.json(json), itemArray);
    assertThat(items).as("items in %s", file).isPositive();
    assertThat(OtlpSamples.countItems(expected)).isEqualTo(items);

    HttpResponse<byte[]> r = f.post(signal, JSON, json);

    assertThat(r.statusCode()).as(new String(r.body())).isEqualTo(200);
    assertThat(Answers.contentType(r)).isEqualTo(JSON);
    assertThat(Answers.json(r.body()).toString()).isEqualTo("{}");
    Captured c = f.exporter.only();
    assertThat(c.signal()).isEqualTo(signal);
    assertThat(c.items()).isEqualTo(items);
    assertThat(c.request()).isEqualTo(expected);
  }

  @org.junit.jupiter.api.Test
  void upperCaseHexIdsOfTheTraceExampleArriveAsTheirBytes() throws IOException {
    byte[] json = resource("trace.json");
    JsonNode span = Answers.json(json).at("/resourceSpans/0/scopeSpans/0/spans/0");
    assertThat(span.get("traceId").textValue()).isEqualTo("5B8EFFF798038103D269B633813FC60C");

    assertThat(f.post(Signal.TRACES, JSON, json).statusCode()).isEqualTo(200);

    var sent = (io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest)
        f.exporter.only().request();
    var got = sent.getResourceSpans(0).getScopeSpans(0).getSpans(0);
    assertThat(got.getTraceId().toByteArray()).isEqualTo(java.util.HexFormat.of()
        .parseHex(span.get("traceId").textValue()));
    assertThat(got.getSpanId().toByteArray()).isEqualTo(java.util.HexFormat.of()
        .parseHex(span.get("spanId").textValue()));
    assertThat(got.getParentSpanId().toByteArray()).isEqualTo(java.util.HexFormat.of()
        .parseHex(span.get("parentSpanId").textValue()));
    assertThat(got.getKindValue()).isEqualTo(span.get("kind").intValue());
    assertThat(got.getStartTimeUnixNano())
        .isEqualTo(Long.parseLong(span.get("startTimeUnixNano").textValue()));
  }
}
