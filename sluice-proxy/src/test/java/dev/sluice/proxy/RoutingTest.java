package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.settings.RouteSettings.Match;
import dev.sluice.proxy.settings.RouteSettings.PathMatch;
import dev.sluice.proxy.settings.RouteSettings.PathMatch.Kind;
import dev.sluice.proxy.settings.RouteSettings.RateLimit;
import dev.sluice.testing.Await;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Which route takes a request, end to end, and what a route refuses: access lists, rate limits. */
class RoutingTest {
  private static TestBackend a;
  private static TestBackend b;
  private static TestBackend c;
  private static ReverseProxy proxy;

  @BeforeAll
  static void start() {
    a = TestBackend.start("a");
    b = TestBackend.start("b");
    c = TestBackend.start("c");
    proxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("a").urls(a.url()).build())
        .upstream(TestProxies.upstream("b").urls(b.url()).build())
        .upstream(TestProxies.upstream("c").urls(c.url()).build())
        .route(TestProxies.route("limited", "a")
            .match(TestProxies.path(Kind.PREFIX, "/limited/"))
            .rateLimit(new RateLimit(1, 3, RateLimit.KeySource.ROUTE, null, 100)).build())
        .route(TestProxies.route("per-client", "a")
            .match(TestProxies.path(Kind.PREFIX, "/per-client/"))
            .rateLimit(new RateLimit(1, 2, RateLimit.KeySource.HEADER, "x-client", 100))
            .build())
        .route(TestProxies.route("denied", "a").match(TestProxies.path(Kind.PREFIX, "/admin"))
            .deny("127.0.0.0/8").build())
        .route(TestProxies.route("not-allowed", "a")
            .match(TestProxies.path(Kind.PREFIX, "/internal")).allow("10.0.0.0/8").build())
        .route(TestProxies.route("allowed", "b")
            .match(TestProxies.path(Kind.PREFIX, "/local")).allow("127.0.0.1").build())
        .route(TestProxies.route("canary", "a").onlyTo("a", 90).to("b", 10)
            .match(TestProxies.path(Kind.PREFIX, "/split")).build())
        .route(TestProxies.route("api-host", "a")
            .match(new Match(List.of("api.example.com"), null, Set.of(), Map.of())).build())
        .route(TestProxies.route("wildcard-host", "b")
            .match(new Match(List.of("*.example.org"), null, Set.of(), Map.of())).build())
        .route(TestProxies.route("exact", "c").match(TestProxies.path(Kind.EXACT, "/exact"))
            .build())
        .route(TestProxies.route("regex", "c")
            .match(TestProxies.path(Kind.REGEX, "^/orders/[0-9]+$")).build())
        .route(TestProxies.route("delete", "b").match(new Match(List.of(),
            new PathMatch(Kind.PREFIX, "/things"), Set.of("DELETE"), Map.of())).build())
        .route(TestProxies.route("header", "b").match(new Match(List.of(),
            new PathMatch(Kind.PREFIX, "/things"), Set.of(), Map.of("x-canary", "yes")))
            .build())
        .route(TestProxies.route("things", "a").match(TestProxies.path(Kind.PREFIX, "/things"))
            .build())
        .build()).ioThreads(1).build().start();
  }

  @AfterAll
  static void stop() {
    proxy.close();
    a.close();
    b.close();
    c.close();
  }

  private static RawHttp.Response send(String method, String host, String path,
      String... headers) throws IOException {
    StringBuilder sb = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: " + host
        + "\r\n");
    for (String h : headers) {
      sb.append(h).append("\r\n");
    }
    try (RawHttp raw = new RawHttp(proxy.localAddress())) {
      return raw.send(sb.append("\r\n").toString()).read();
    }
  }

  private static String backendOf(String method, String host, String path, String... headers)
      throws IOException {
    RawHttp.Response r = send(method, host, path, headers);
    assertThat(r.status()).as(r.toString()).isEqualTo(200);
    return r.header("x-backend");
  }

  @Test
  void hostsExactAndWildcard() throws Exception {
    assertThat(backendOf("GET", "api.example.com", "/")).isEqualTo("a");
    assertThat(backendOf("GET", "API.Example.com:8443", "/")).isEqualTo("a");
    assertThat(backendOf("GET", "shop.example.org", "/")).isEqualTo("b");
    assertThat(backendOf("GET", "a.b.example.org", "/")).isEqualTo("b");
    assertThat(send("GET", "example.org", "/").status()).isEqualTo(404);
    assertThat(send("GET", "other.example.com", "/").status()).isEqualTo(404);
  }

  @Test
  void pathsExactPrefixAndRegex() throws Exception {
    assertThat(backendOf("GET", "x", "/exact")).isEqualTo("c");
    assertThat(backendOf("GET", "x", "/exact?q=1")).isEqualTo("c");
    assertThat(send("GET", "x", "/exact/more").status()).isEqualTo(404);
    assertThat(backendOf("GET", "x", "/orders/42")).isEqualTo("c");
    assertThat(send("GET", "x", "/orders/forty-two").status()).isEqualTo(404);
    assertThat(backendOf("GET", "x", "/things/1")).isEqualTo("a");
  }

  @Test
  void methodsAndHeaders() throws Exception {
    assertThat(backendOf("DELETE", "x", "/things/1")).isEqualTo("b");
    assertThat(backendOf("GET", "x", "/things/1", "X-Canary: yes")).isEqualTo("b");
    assertThat(backendOf("GET", "x", "/things/1", "X-Canary: no")).isEqualTo("a");
  }

  @Test
  void nothingMatchingIs404() throws Exception {
    RawHttp.Response r = send("GET", "nowhere.test", "/nothing/here");
    assertThat(r.status()).isEqualTo(404);
    assertThat(r.text()).contains("no route");
  }

  @Test
  void weightedCanarySplit() throws Exception {
    int toB = 0;
    int n = 400;
    try (RawHttp raw = new RawHttp(proxy.localAddress())) {
      for (int i = 0; i < n; i++) {
        RawHttp.Response r = raw.send("GET /split HTTP/1.1\r\nHost: x\r\n\r\n").read();
        if ("b".equals(r.header("x-backend"))) {
          toB++;
        }
      }
    }
    // 10% of 400 is 40; the binomial's standard deviation is 6
    assertThat(toB).isBetween(16, 70);
  }

  @Test
  void accessListsRefuseWith403() throws Exception {
    RawHttp.Response denied = send("GET", "x", "/admin");
    assertThat(denied.status()).isEqualTo(403);
    assertThat(send("GET", "x", "/internal").status()).isEqualTo(403);
    assertThat(backendOf("GET", "x", "/local")).isEqualTo("b");
    assertThat(a.perPath).doesNotContainKeys("/admin", "/internal");
  }

  @Test
  void aRouteRateLimitAnswers429WithRetryAfterThenRecovers() throws Exception {
    int ok = 0;
    RawHttp.Response limited = null;
    for (int i = 0; i < 20 && limited == null; i++) {
      RawHttp.Response r = send("GET", "x", "/limited/" + i);
      if (r.status() == 429) {
        limited = r;
      } else {
        assertThat(r.status()).isEqualTo(200);
        ok++;
      }
    }
    assertThat(limited).as("a 429 within 20 quick requests").isNotNull();
    assertThat(ok).isBetween(3, 12); // the burst, and what refilled meanwhile on a slow machine
    assertThat(Integer.parseInt(limited.header("retry-after"))).isBetween(1, 2);
    Await.until("the bucket refilled", Duration.ofSeconds(10),
        () -> statusOf("/limited/again") == 200);
  }

  private static int statusOf(String path) {
    try {
      return send("GET", "x", path).status();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void aRateLimitPerClientKeyKeepsClientsApart() throws Exception {
    RawHttp.Response r = null;
    for (int i = 0; i < 10; i++) {
      r = send("GET", "x", "/per-client/" + i, "X-Client: greedy");
      if (r.status() == 429) {
        break;
      }
    }
    assertThat(r.status()).isEqualTo(429);
    assertThat(r.header("retry-after")).isNotNull();
    assertThat(send("GET", "x", "/per-client/1", "X-Client: modest").status()).isEqualTo(200);
  }

}
