package dev.sluice.exporter.otlp.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeadLetterWriterTest {
  private static final Clock CLOCK =
      Clock.fixed(Instant.parse("2024-05-06T07:08:09.123Z"), ZoneOffset.UTC);

  @TempDir Path dir;

  /** Top-level fields of a JSON line: scalars as text, objects as their raw JSON. */
  static Map<String, String> fields(String line) throws IOException {
    Map<String, String> out = new LinkedHashMap<>();
    try (JsonParser p = new JsonFactory().createParser(line)) {
      assertThat(p.nextToken()).isEqualTo(JsonToken.START_OBJECT);
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
          int start = (int) p.currentTokenLocation().getCharOffset();
          p.skipChildren();
          int end = (int) p.currentTokenLocation().getCharOffset() + 1;
          out.put(name, line.substring(start, end));
        } else {
          out.put(name, p.getText());
        }
      }
    }
    return out;
  }

  @Test
  void writesOneJsonLinePerRequestWithTheRequestAsOtlpJson() throws IOException {
    DeadLetterWriter w = new DeadLetterWriter(dir.resolve("dead"), "backend-a", CLOCK);
    ExportTraceServiceRequest req = TestData.traces(1, 1, 3, 1, 0);
    w.write(Signal.TRACES, "127.0.0.1:4318/v1/traces", 400, "bad \"span\"\nid", 3,
        req.toByteArray(), null);
    w.write(Signal.TRACES, "127.0.0.1:4318/v1/traces", 413, "too large", 3,
        req.toByteArray(), null);
    List<String> lines = Files.readAllLines(dir.resolve("dead/traces.jsonl"));
    assertThat(lines).hasSize(2);
    Map<String, String> f = fields(lines.get(0));
    assertThat(f).containsEntry("time", "2024-05-06T07:08:09.123Z")
        .containsEntry("exporter", "backend-a")
        .containsEntry("signal", "traces")
        .containsEntry("endpoint", "127.0.0.1:4318/v1/traces")
        .containsEntry("status", "400")
        .containsEntry("message", "bad \"span\"\nid")
        .containsEntry("items", "3");
    byte[] json = f.get("request").getBytes(StandardCharsets.UTF_8);
    assertThat(OtlpJsonCodec.parse(json, 0, json.length,
        ExportTraceServiceRequest.getDefaultInstance())).isEqualTo(req);
    assertThat(fields(lines.get(1))).containsEntry("status", "413");
  }

  @Test
  void requestsThatCannotBeConvertedAreKeptAsBase64() throws IOException {
    DeadLetterWriter w = new DeadLetterWriter(dir, "x", CLOCK);
    byte[] garbage = {0x0a, 0x10, 0x01, 0x02};
    w.write(Signal.LOGS, "h:1", 0, "BAD_RESPONSE", 0, garbage, null);
    Map<String, String> f = fields(Files.readAllLines(dir.resolve("logs.jsonl")).get(0));
    assertThat(f).doesNotContainKey("request");
    assertThat(Base64.getDecoder().decode(f.get("request_base64"))).isEqualTo(garbage);
    assertThat(f.get("request_error")).contains("not valid protobuf");
  }

  @Test
  void givenJsonIsWrittenAsItIs() throws IOException {
    DeadLetterWriter w = new DeadLetterWriter(dir, "x", CLOCK);
    byte[] json = OtlpJsonCodec.toJsonBytes(TestData.logs(1, 1, 2, 0));
    w.write(Signal.LOGS, "h:1", 500, "", 2, null, json);
    Map<String, String> f = fields(Files.readAllLines(dir.resolve("logs.jsonl")).get(0));
    assertThat(f.get("request")).isEqualTo(new String(json, StandardCharsets.UTF_8));
  }
}
