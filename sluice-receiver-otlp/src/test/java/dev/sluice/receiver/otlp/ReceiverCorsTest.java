package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.cors.CorsPolicy;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CORS for browser exporters, over a raw socket so the exact headers are seen: preflights of
 * allowed origins (exact and wildcard) get 204 with the Access-Control headers, others 403 with a
 * Status; answers to allowed origins, successes and errors alike, carry Access-Control-Allow-Origin
 * and Vary: Origin.
 */
class ReceiverCorsTest {
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.builder().receiver(b -> b.cors(new CorsPolicy(
        List.of("https://app.example.com", "https://*.example.org"), List.of(), 600))).start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
  }

  static RawHttp.Response exchange(byte[] request) throws IOException {
    try (RawHttp c = f.raw()) {
      c.write(request);
      return c.read();
    }
  }

  static RawHttp.Response preflight(String origin, String method, String headers)
      throws IOException {
    return exchange(RawHttp.request("OPTIONS", "/v1/traces", null, "Origin", origin,
        "Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers));
  }

  static void assertVaryOrigin(RawHttp.Response r) {
    List<String> vary = new java.util.ArrayList<>();
    for (String v : r.headers("vary")) {
      for (String part : v.split(",")) {
        vary.add(part.trim().toLowerCase());
      }
    }
    assertThat(vary).as("Vary").containsExactly("origin");
  }

  @ParameterizedTest
  @ValueSource(strings = {"https://app.example.com", "https://x.example.org",
      "https://deep.sub.example.org"})
  void preflightOfAnAllowedOriginIs204WithTheCorsHeaders(String origin) throws IOException {
    RawHttp.Response r = preflight(origin, "POST", "content-type");
    assertThat(r.status()).isEqualTo(204);
    assertThat(r.headers("access-control-allow-origin")).containsExactly(origin);
    assertThat(r.headers("access-control-allow-methods")).singleElement()
        .satisfies(v -> assertThat(v).contains("POST"));
    assertThat(r.header("access-control-allow-headers").toLowerCase()).contains("content-type");
    assertThat(r.header("access-control-max-age")).isEqualTo("600");
    assertVaryOrigin(r);
    assertThat(r.body()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"https://example.org.evil.com", "https://evil.com",
      "https://example.org", "http://app.example.com"})
  void preflightOfAnotherOriginIs403WithStatus(String origin) throws IOException {
    RawHttp.Response r = preflight(origin, "POST", "content-type");
    assertThat(r.status()).isEqualTo(403);
    assertThat(r.header("access-control-allow-origin")).isNull();
    assertThat(Answers.status(r).getMessage()).contains("CORS", origin);
  }

  @Test
  void preflightAskingForAnotherMethodOrHeaderIs403() throws IOException {
    RawHttp.Response m = preflight("https://app.example.com", "DELETE", "content-type");
    assertThat(m.status()).isEqualTo(403);
    assertThat(Answers.status(m).getMessage()).contains("DELETE");
    RawHttp.Response h = preflight("https://app.example.com", "POST", "content-type, x-secret");
    assertThat(h.status()).isEqualTo(403);
    assertThat(Answers.status(h).getMessage()).contains("x-secret");
  }

  @Test
  void postFromAnAllowedOriginCarriesTheCorsHeaders() throws IOException {
    Message request = OtlpSamples.traces();
    RawHttp.Response r = exchange(RawHttp.request("POST", "/v1/traces", request.toByteArray(),
        "Content-Type", PROTOBUF, "Origin", "https://x.example.org"));
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.headers("access-control-allow-origin")).containsExactly("https://x.example.org");
    assertVaryOrigin(r);
    assertThat(f.exporter.only().request()).isEqualTo(request);
  }

  @Test
  void errorAnswerToAnAllowedOriginCarriesTheCorsHeadersToo() throws IOException {
    RawHttp.Response r = exchange(RawHttp.request("POST", "/v1/traces",
        "hello".getBytes(java.nio.charset.StandardCharsets.UTF_8),
        "Content-Type", "text/plain", "Origin", "https://app.example.com"));
    assertThat(r.status()).isEqualTo(415);
    assertThat(r.headers("access-control-allow-origin"))
        .containsExactly("https://app.example.com");
    assertVaryOrigin(r);
    assertThat(Answers.status(r).getMessage()).contains("text/plain");
  }

  @Test
  void retryAfterIsExposedToBrowsersOn503() throws IOException {
    f.exporter.mode(CapturingExporter.Mode.FAIL_FULL);
    try {
      RawHttp.Response r = exchange(RawHttp.request("POST", "/v1/logs",
          OtlpJsonCodec.toJsonBytes(OtlpSamples.logs()), "Content-Type", JSON,
          "Origin", "https://app.example.com"));
      assertThat(r.status()).isEqualTo(503);
      assertThat(r.header("retry-after")).isNotNull();
      assertThat(r.header("access-control-allow-origin")).isEqualTo("https://app.example.com");
      assertThat(r.header("access-control-expose-headers").toLowerCase()).contains("retry-after");
    } finally {
      f.exporter.mode(CapturingExporter.Mode.ACCEPT);
    }
  }

  @Test
  void postFromAnotherOriginGetsNoCorsHeaders() throws IOException {
    RawHttp.Response r = exchange(RawHttp.request("POST", "/v1/traces",
        OtlpSamples.traces().toByteArray(), "Content-Type", PROTOBUF,
        "Origin", "https://example.org.evil.com"));
    assertThat(r.status()).as("CORS is enforced by the browser, not by refusing").isEqualTo(200);
    assertThat(r.header("access-control-allow-origin")).isNull();
  }

  @Test
  void optionsWithoutOriginIsAPlain204WithAllow() throws IOException {
    RawHttp.Response r = exchange(RawHttp.request("OPTIONS", "/v1/metrics", null));
    assertThat(r.status()).isEqualTo(204);
    assertThat(r.header("allow")).isEqualTo("POST, OPTIONS");
    assertThat(r.header("access-control-allow-origin")).isNull();
  }
}
