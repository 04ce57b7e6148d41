package dev.sluice.receiver.otlp.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import org.junit.jupiter.api.Test;

class AuthenticatorTest {
  static final String SECRET_A = "token-of-team-a-0123";
  static final String SECRET_B = "key-of-team-b-4567";
  private final Authenticator auth = new Authenticator(
      List.of(new Credential("team-a", SECRET_A), new Credential("team-b", SECRET_B)),
      "X-API-Key");

  static HttpHeaders headers(String... nameValues) {
    HttpHeaders h = new DefaultHttpHeaders();
    for (int i = 0; i < nameValues.length; i += 2) {
      h.add(nameValues[i], nameValues[i + 1]);
    }
    return h;
  }

  @Test
  void bearerTokenNamesItsTenant() {
    Authenticator.Result r = auth.authenticate(headers("Authorization", "Bearer " + SECRET_A));
    assertThat(r.ok()).isTrue();
    assertThat(r.tenant()).isEqualTo("team-a");
    assertThat(r.problem()).isNull();
  }

  @Test
  void bearerSchemeIsCaseInsensitive() {
    assertThat(auth.authenticate(headers("Authorization", "bearer " + SECRET_B)).tenant())
        .isEqualTo("team-b");
    assertThat(auth.authenticate(headers("authorization", "BEARER " + SECRET_B)).tenant())
        .isEqualTo("team-b");
  }

  @Test
  void apiKeyHeaderNamesItsTenantWhateverTheHeaderCase() {
    assertThat(auth.authenticate(headers("X-API-Key", SECRET_B)).tenant()).isEqualTo("team-b");
    assertThat(auth.authenticate(headers("x-api-key", SECRET_A)).tenant()).isEqualTo("team-a");
    assertThat(auth.apiKeyHeader()).isEqualTo("x-api-key");
  }

  @Test
  void missingCredentialsAreRefusedNamingBothWays() {
    Authenticator.Result r = auth.authenticate(headers("Content-Type", "application/json"));
    assertThat(r.ok()).isFalse();
    assertThat(r.tenant()).isNull();
    assertThat(r.problem()).contains("missing", "Bearer", "x-api-key");
    assertThat(auth.authenticate(headers("X-API-Key", "")).ok()).isFalse();
    assertThat(auth.authenticate(headers("Authorization", "Bearer ")).problem())
        .contains("missing");
  }

  @Test
  void wrongSecretsAreRefused() {
    for (String wrong : new String[] {SECRET_A + "x", SECRET_A.substring(1), "team-a",
        SECRET_A.toUpperCase(), SECRET_A + " x"}) {
      Authenticator.Result r = auth.authenticate(headers("Authorization", "Bearer " + wrong));
      assertThat(r.ok()).as(wrong).isFalse();
      assertThat(r.problem()).isEqualTo("invalid credentials");
      assertThat(auth.authenticate(headers("X-API-Key", wrong)).ok()).as(wrong).isFalse();
    }
  }

  @Test
  void otherAuthorizationSchemesAreRefusedEvenWithAGoodApiKey() {
    String basic = "Basic " + java.util.Base64.getEncoder().encodeToString(
        ("team-a:" + SECRET_A).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    Authenticator.Result r = auth.authenticate(headers("Authorization", basic,
        "X-API-Key", SECRET_B));
    assertThat(r.ok()).isFalse();
    assertThat(r.problem()).contains("Bearer");
    assertThat(auth.authenticate(headers("Authorization", SECRET_A)).ok())
        .as("a bare token without a scheme").isFalse();
  }

  @Test
  void challengeIsABearerChallenge() {
    assertThat(auth.challenge()).startsWith("Bearer ").contains("realm=");
  }

  @Test
  void configurationMistakesAreRefused() {
    assertThatThrownBy(() -> new Authenticator(List.of(), "X-API-Key"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no credentials");
    assertThatThrownBy(() -> new Credential("team-a", "short"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("8 characters");
    assertThatThrownBy(() -> new Credential(" ", SECRET_A))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tenant");
  }

  @Test
  void secretsNeverShowInToString() {
    Credential c = new Credential("team-a", SECRET_A);
    assertThat(c.toString()).contains("team-a").doesNotContain(SECRET_A);
    assertThat(auth.toString()).doesNotContain(SECRET_A).doesNotContain(SECRET_B);
  }
}
