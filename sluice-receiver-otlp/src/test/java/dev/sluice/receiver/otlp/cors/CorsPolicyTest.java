package dev.sluice.receiver.otlp.cors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CorsPolicyTest {
  private final CorsPolicy policy = new CorsPolicy(
      List.of("https://app.example.com", "https://*.example.org"), List.of("X-Custom"), 600);

  @ParameterizedTest
  @ValueSource(strings = {"https://app.example.com", "https://x.example.org",
      "https://a.b.example.org", "HTTPS://APP.EXAMPLE.COM"})
  void allowedOrigins(String origin) {
    assertThat(policy.allows(origin)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {"https://example.org.evil.com", "https://example.org",
      "http://app.example.com", "https://app.example.com.evil.com", "https://evil.com",
      "https://app.example.com:8443", "https://x.example.org/path", "https://evilexample.org",
      "null", ""})
  void refusedOrigins(String origin) {
    assertThat(policy.allows(origin)).isFalse();
  }

  @Test
  void nullOriginAndDisabledPolicyAllowNothing() {
    assertThat(policy.allows(null)).isFalse();
    CorsPolicy off = CorsPolicy.disabled();
    assertThat(off.enabled()).isFalse();
    assertThat(off.allows("https://app.example.com")).isFalse();
    HttpHeaders out = new DefaultHttpHeaders();
    off.decorate("https://app.example.com", out);
    assertThat(out.isEmpty()).isTrue();
  }

  @Test
  void starAllowsAnyOrigin() {
    CorsPolicy any = new CorsPolicy(List.of("*"), List.of(), 0);
    assertThat(any.enabled()).isTrue();
    assertThat(any.allows("https://whatever.test")).isTrue();
  }

  @Test
  void malformedAllowedOriginIsAConfigurationError() {
    for (String bad : new String[] {"app.example.com", "https://app.example.com/", "https://"}) {
      assertThatThrownBy(() -> new CorsPolicy(List.of(bad), List.of(), 0))
          .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(bad);
    }
  }

  static HttpHeaders preflight(String origin, String method, String headers) {
    HttpHeaders h = new DefaultHttpHeaders().add("Origin", origin)
        .add("Access-Control-Request-Method", method);
    if (headers != null) {
      h.add("Access-Control-Request-Headers", headers);
    }
    return h;
  }

  @Test
  void preflightAnswerHeaders() {
    HttpHeaders out = new DefaultHttpHeaders();
    String problem = policy.preflight(
        preflight("https://x.example.org", "POST", "Content-Type, content-encoding, x-custom"),
        out);
    assertThat(problem).isNull();
    assertThat(out.get("Access-Control-Allow-Origin")).isEqualTo("https://x.example.org");
    assertThat(out.get("Access-Control-Allow-Methods")).isEqualTo("POST");
    assertThat(out.get("Access-Control-Allow-Headers").toLowerCase())
        .contains("content-type", "content-encoding", "x-custom");
    assertThat(out.get("Access-Control-Max-Age")).isEqualTo("600");
    assertThat(out.getAll("Vary")).singleElement()
        .satisfies(v -> assertThat(v).isEqualToIgnoringCase("Origin"));
  }

  @Test
  void preflightRefusals() {
    assertThat(policy.preflight(preflight("https://evil.com", "POST", null),
        new DefaultHttpHeaders())).contains("https://evil.com");
    assertThat(policy.preflight(preflight("https://app.example.com", "PUT", null),
        new DefaultHttpHeaders())).contains("PUT");
    assertThat(policy.preflight(preflight("https://app.example.com", "POST", "x-other"),
        new DefaultHttpHeaders())).contains("x-other");
  }

  @Test
  void noMaxAgeWhenNotConfigured() {
    CorsPolicy p = new CorsPolicy(List.of("https://app.example.com"), List.of(), 0);
    HttpHeaders out = new DefaultHttpHeaders();
    assertThat(p.preflight(preflight("https://app.example.com", "POST", null), out)).isNull();
    assertThat(out.contains("Access-Control-Max-Age")).isFalse();
  }

  @Test
  void starHeadersEchoTheRequestedOnes() {
    CorsPolicy p = new CorsPolicy(List.of("https://app.example.com"), List.of("*"), 0);
    HttpHeaders out = new DefaultHttpHeaders();
    assertThat(p.preflight(preflight("https://app.example.com", "POST", "x-anything, traceparent"),
        out)).isNull();
    assertThat(out.get("Access-Control-Allow-Headers")).isEqualTo("x-anything, traceparent");
  }

  @Test
  void decorateAddsOriginAndVaryOnlyForAllowedOrigins() {
    HttpHeaders out = new DefaultHttpHeaders();
    policy.decorate("https://app.example.com", out);
    assertThat(out.get("Access-Control-Allow-Origin")).isEqualTo("https://app.example.com");
    assertThat(out.getAll("Vary")).singleElement()
        .satisfies(v -> assertThat(v).isEqualToIgnoringCase("Origin"));
    assertThat(out.get("Access-Control-Expose-Headers")).contains("Retry-After");

    HttpHeaders none = new DefaultHttpHeaders();
    policy.decorate("https://evil.com", none);
    policy.decorate(null, none);
    assertThat(none.isEmpty()).isTrue();
  }

  @Test
  void decorateAfterPreflightKeepsASingleVary() {
    HttpHeaders out = new DefaultHttpHeaders();
    assertThat(policy.preflight(preflight("https://app.example.com", "POST", null), out)).isNull();
    policy.decorate("https://app.example.com", out);
    policy.decorate("https://app.example.com", out);
    assertThat(out.getAll("Vary")).hasSize(1);
    assertThat(out.getAll("Access-Control-Allow-Origin")).hasSize(1);
  }

  @Test
  void decorateKeepsOtherVaryValues() {
    HttpHeaders out = new DefaultHttpHeaders().add("Vary", "Accept-Encoding");
    policy.decorate("https://app.example.com", out);
    assertThat(String.join(",", out.getAll("Vary")).toLowerCase())
        .contains("accept-encoding", "origin");
  }
}
