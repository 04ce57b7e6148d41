package dev.sluice.proxy.route;

import static dev.sluice.proxy.route.Routes.route;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.proxy.settings.RouteSettings.HeaderRules;
import dev.sluice.proxy.settings.RouteSettings.PathRewrite;
import dev.sluice.proxy.settings.RouteSettings.RateLimit;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a route does to a request: upstream choice, path rewrite, header edits, rate limit. */
class RouteTest {

  @Test
  void upstreamsAreChosenInProportionToTheirWeights() {
    Route route = route("split").target("stable", 90).target("canary", 10).target("off", 0)
        .target("third", 20).build();
    int picks = 600_000;
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i < picks; i++) {
      counts.merge(route.pickUpstream(), 1, Integer::sum);
    }
    assertThat(counts).doesNotContainKey("off");
    // Binomial standard deviation is at most sqrt(600000 * 0.25) ≈ 390 picks, 0.07 %; 0.5 % is
    // more than seven of them.
    assertThat(counts.get("stable") / (double) picks).isCloseTo(90 / 120.0, within(0.005));
    assertThat(counts.get("canary") / (double) picks).isCloseTo(10 / 120.0, within(0.005));
    assertThat(counts.get("third") / (double) picks).isCloseTo(20 / 120.0, within(0.005));
  }

  @Test
  void aSingleWeightedUpstreamIsAlwaysChosen() {
    Route route = route("one").target("off", 0).target("only", 3).build();
    for (int i = 0; i < 1000; i++) {
      assertThat(route.pickUpstream()).isEqualTo("only");
    }
  }

  @Test
  void withoutRewriteTheSameUriComesBack() {
    Route route = route("plain").build();
    String uri = "/api/users?x=1";
    assertThat(route.rewriteUri(uri)).isSameAs(uri);
  }

  @Test
  void aPrefixRewriteKeepsTheQuery() {
    Route route = route("api").rewrite(PathRewrite.prefix("/api/", "/")).build();
    assertThat(route.rewriteUri("/api/users?x=1&y=/api/")).isEqualTo("/users?x=1&y=/api/");
    assertThat(route.rewriteUri("/api/users")).isEqualTo("/users");
    assertThat(route.rewriteUri("/api/?q")).isEqualTo("/?q");
    String other = "/web/api/x?y";
    assertThat(route.rewriteUri(other)).as("no match").isSameAs(other);
  }

  @Test
  void aRewriteThatEmptiesThePathLeavesASlash() {
    Route route = route("api").rewrite(PathRewrite.prefix("/api", "")).build();
    assertThat(route.rewriteUri("/api")).isEqualTo("/");
    assertThat(route.rewriteUri("/api?x=1")).isEqualTo("/?x=1");
    assertThat(route.rewriteUri("/api/v1")).isEqualTo("/v1");
    Route slashless = route("api2").rewrite(PathRewrite.prefix("/api/", "")).build();
    assertThat(slashless.rewriteUri("/api/users?x")).isEqualTo("/users?x");
  }

  @Test
  void aRegexRewriteUsesGroups() {
    Route route = route("users")
        .rewrite(new PathRewrite("^/u/(?<id>[0-9]+)/(.*)$", "/users/${id}/$2")).build();
    assertThat(route.rewriteUri("/u/42/posts?page=2")).isEqualTo("/users/42/posts?page=2");
    Route first = route("first").rewrite(new PathRewrite("//+", "/")).build();
    assertThat(first.rewriteUri("/a//b///c?d//e")).as("only the first match")
        .isEqualTo("/a/b///c?d//e");
  }

  @Test
  void anAbsoluteFormTargetHasOnlyItsPathRewritten() {
    Route route = route("api").rewrite(PathRewrite.prefix("/api/", "/v2/")).build();
    assertThat(route.rewriteUri("http://example.com:8080/api/x?y=1"))
        .isEqualTo("http://example.com:8080/v2/x?y=1");
    Route root = route("root").rewrite(PathRewrite.prefix("/", "/base/")).build();
    assertThat(root.rewriteUri("http://example.com?y")).isEqualTo("http://example.com/base/?y");
    assertThat(root.rewriteUri("*")).isEqualTo("*");
    assertThat(root.rewriteUri("example.com:443")).isEqualTo("example.com:443");
  }

  @Test
  void headerEditsRemoveThenSetThenAdd() {
    Route route = route("edit")
        .requestHeaders(new HeaderRules(Map.of("X-Env", "prod", "x-dropped", "again"),
            Map.of("Via-Edge", "edge-1", "x-env", "extra"), List.of("x-dropped", "Cookie")))
        .build();
    HttpHeaders h = new DefaultHttpHeaders()
        .add("x-env", "dev").add("x-env", "test")
        .add("x-dropped", "1").add("cookie", "secret").add("via-edge", "client");
    route.editRequestHeaders(h);
    assertThat(h.getAll("x-env")).containsExactly("prod", "extra");
    assertThat(h.getAll("x-dropped")).as("set after remove").containsExactly("again");
    assertThat(h.contains("cookie")).isFalse();
    assertThat(h.getAll("via-edge")).containsExactly("client", "edge-1");
  }

  @Test
  void responseEditsAreTheirOwn() {
    Route route = route("edit")
        .responseHeaders(new HeaderRules(Map.of("cache-control", "no-store"), Map.of(),
            List.of("server")))
        .build();
    HttpHeaders response = new DefaultHttpHeaders().add("server", "backend/1.0")
        .add("cache-control", "max-age=60");
    route.editResponseHeaders(response);
    assertThat(response.contains("server")).isFalse();
    assertThat(response.getAll("cache-control")).containsExactly("no-store");
    HttpHeaders request = new DefaultHttpHeaders().add("server", "x");
    route.editRequestHeaders(request);
    assertThat(request.get("server")).isEqualTo("x");
  }

  @Test
  void rateLimiterIsBuiltOnlyWhenSet() {
    assertThat(route("free").build().rateLimiter()).isNull();
    RateLimit limit = new RateLimit(10, 5, RateLimit.KeySource.ROUTE, null, 100);
    Route limited = route("limited").rateLimit(limit).build();
    assertThat(limited.rateLimiter()).isNotNull();
    assertThat(limited.rateLimiter().settings()).isEqualTo(limit);
    assertThat(limited.name()).isEqualTo("limited");
    assertThat(limited.settings().rateLimit()).isEqualTo(limit);
  }
}
