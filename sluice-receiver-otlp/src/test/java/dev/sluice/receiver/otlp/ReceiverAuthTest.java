package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.JSON;
import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import dev.sluice.receiver.otlp.auth.Authenticator;
import dev.sluice.receiver.otlp.auth.Credential;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A receiver with auth on: 401 with a challenge without valid credentials, tenants with. */
class ReceiverAuthTest {
  static final String TOKEN_A = "token-of-team-a-0123";
  static final String KEY_B = "key-of-team-b-4567";
  private static ReceiverFixture f;
  private static ReceiverFixture custom;

  static Authenticator authenticator(String header) {
    return new Authenticator(
        List.of(new Credential("team-a", TOKEN_A), new Credential("team-b", KEY_B)), header);
  }

  @BeforeAll
  static void start() {
    f = ReceiverFixture.builder().receiver(b -> b.auth(authenticator("X-API-Key"))).start();
    custom = ReceiverFixture.builder().receiver(b -> b.auth(authenticator("X-Sluice-Token")))
        .start();
  }

  @AfterAll
  static void stop() {
    f.close();
    custom.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
    custom.exporter.clear();
  }

  static void assertUnauthorized(ReceiverFixture fx, HttpResponse<byte[]> r, String... words) {
    assertThat(r.statusCode()).isEqualTo(401);
    assertThat(r.headers().allValues("www-authenticate")).hasSize(1)
        .allSatisfy(v -> assertThat(v).startsWith("Bearer"));
    Status s = Answers.status(r);
    assertThat(s.getMessage()).isNotBlank();
    if (words.length > 0) {
      assertThat(s.getMessage()).contains(words);
    }
    assertThat(fx.exporter.batches()).isEmpty();
  }

  @Test
  void noCredentialsIs401WithChallenge() {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, OtlpSamples.traces().toByteArray());
    assertUnauthorized(f, r, "missing credentials");
    assertThat(Answers.contentType(r)).isEqualTo(PROTOBUF);
  }

  @Test
  void jsonRequestGetsItsJsonStatus() {
    HttpResponse<byte[]> r = f.post(Signal.LOGS, JSON,
        OtlpJsonCodec.toJsonBytes(OtlpSamples.logs()));
    assertUnauthorized(f, r, "missing credentials");
    assertThat(Answers.contentType(r)).isEqualTo(JSON);
  }

  @ParameterizedTest
  @ValueSource(strings = {"Bearer wrong-token-000", "Bearer " + KEY_B + "0", "Bearer"})
  void wrongTokenIs401(String authorization) {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, OtlpSamples.traces().toByteArray(),
        "Authorization", authorization);
    assertThat(r.statusCode()).isEqualTo(401);
    assertUnauthorized(f, r);
  }

  @Test
  void wrongApiKeyIs401() {
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, OtlpSamples.traces().toByteArray(),
        "X-API-Key", TOKEN_A + "-not");
    assertUnauthorized(f, r, "invalid credentials");
  }

  @Test
  void basicAuthIs401() {
    String basic = "Basic " + Base64.getEncoder().encodeToString(
        ("team-a:" + TOKEN_A).getBytes(StandardCharsets.UTF_8));
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, OtlpSamples.traces().toByteArray(),
        "Authorization", basic);
    assertUnauthorized(f, r, "Bearer");
  }

  @Test
  void bearerTokenOfTeamAIsAcceptedAsTeamA() {
    Message request = OtlpSamples.traces();
    HttpResponse<byte[]> r = f.post(Signal.TRACES, PROTOBUF, request.toByteArray(),
        "Authorization", "Bearer " + TOKEN_A);
    assertThat(r.statusCode()).isEqualTo(200);
    Captured c = f.exporter.only();
    assertThat(c.tenant()).isEqualTo("team-a");
    assertThat(c.request()).isEqualTo(request);
  }

  @Test
  void apiKeyOfTeamBIsAcceptedAsTeamB() {
    Message request = OtlpSamples.metrics();
    HttpResponse<byte[]> r = f.post(Signal.METRICS, JSON, OtlpJsonCodec.toJsonBytes(request),
        "X-API-Key", KEY_B);
    assertThat(r.statusCode()).isEqualTo(200);
    Captured c = f.exporter.only();
    assertThat(c.tenant()).isEqualTo("team-b");
    assertThat(c.request()).isEqualTo(request);
  }

  @Test
  void customApiKeyHeaderIsUsedAndTheDefaultOneIsNot() {
    Message request = OtlpSamples.logs();
    HttpResponse<byte[]> r = custom.post(Signal.LOGS, PROTOBUF, request.toByteArray(),
        "X-Sluice-Token", KEY_B);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(custom.exporter.only().tenant()).isEqualTo("team-b");
    custom.exporter.clear();

    HttpResponse<byte[]> other = custom.post(Signal.LOGS, PROTOBUF, request.toByteArray(),
        "X-API-Key", KEY_B);
    assertUnauthorized(custom, other, "x-sluice-token");
  }

  @Test
  void tenantsOfSuccessiveRequestsOnOneConnectionDoNotLeak() throws Exception {
    // Keep-alive: the second request, without credentials, must not inherit team-a.
    byte[] body = OtlpSamples.traces().toByteArray();
    try (RawHttp c = f.raw()) {
      c.write(RawHttp.request("POST", "/v1/traces", body, "Content-Type", PROTOBUF,
          "Authorization", "Bearer " + TOKEN_A));
      assertThat(c.read().status()).isEqualTo(200);
      c.write(RawHttp.request("POST", "/v1/traces", body, "Content-Type", PROTOBUF));
      RawHttp.Response second = c.read();
      assertThat(second.status()).isEqualTo(401);
      c.write(RawHttp.request("POST", "/v1/traces", body, "Content-Type", PROTOBUF,
          "X-API-Key", KEY_B));
      assertThat(c.read().status()).isEqualTo(200);
    }
    assertThat(f.exporter.batches()).extracting(Captured::tenant)
        .containsExactly("team-a", "team-b");
  }

  @Test
  void preflightNeedsNoCredentials() {
    HttpResponse<byte[]> r = f.send(f.request("/v1/traces")
        .method("OPTIONS", java.net.http.HttpRequest.BodyPublishers.noBody()).build());
    assertThat(r.statusCode()).isEqualTo(204);
  }
}
