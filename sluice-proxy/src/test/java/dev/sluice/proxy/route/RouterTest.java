package dev.sluice.proxy.route;

import static dev.sluice.proxy.route.Routes.route;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.proxy.settings.RouteSettings;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Route selection: order, listeners, hosts, paths, methods and headers, and eager checks. */
class RouterTest {
  private static final HttpHeaders NO_HEADERS = new DefaultHttpHeaders();

  private static Router router(Routes... routes) {
    List<RouteSettings> settings = new ArrayList<>();
    for (Routes r : routes) {
      settings.add(r.settings());
    }
    return Router.of(settings);
  }

  private static String select(Router router, String host, String path) {
    Route r = router.select("main", "GET", host, path, NO_HEADERS);
    return r == null ? null : r.name();
  }

  @Test
  void theFirstMatchingRouteInOrderWins() {
    Router router = router(route("api").prefix("/api/"), route("v1").prefix("/api/v1/"),
        route("rest").prefix("/"));
    assertThat(select(router, "a", "/api/v1/x")).isEqualTo("api");
    assertThat(select(router, "a", "/other")).isEqualTo("rest");
    assertThat(router.routes()).extracting(Route::name).containsExactly("api", "v1", "rest");
  }

  @Test
  void noMatchingRouteGivesNull() {
    Router router = router(route("api").prefix("/api/"));
    assertThat(select(router, "a", "/web")).isNull();
    assertThat(Router.of(List.of()).select("main", "GET", "a", "/", NO_HEADERS)).isNull();
  }

  @Test
  void listenersRestrictTheRoute() {
    Router router = router(route("internal").listeners("admin", "ops"), route("all"));
    assertThat(router.select("admin", "GET", "h", "/", NO_HEADERS).name()).isEqualTo("internal");
    assertThat(router.select("ops", "GET", "h", "/", NO_HEADERS).name()).isEqualTo("internal");
    assertThat(router.select("public", "GET", "h", "/", NO_HEADERS).name()).isEqualTo("all");
    assertThat(router.select(null, "GET", "h", "/", NO_HEADERS).name()).isEqualTo("all");
  }

  @Test
  void exactHostsIgnoreCasePortAndTrailingDot() {
    Router router = router(route("api").hosts("api.example.com", "API2.example.com"));
    for (String host : List.of("api.example.com", "API.Example.COM", "api.example.com:8443",
        "api.example.com.", "Api.Example.Com.:80", "api2.example.com")) {
      assertThat(select(router, host, "/")).as(host).isEqualTo("api");
    }
    for (String host : List.of("example.com", "xapi.example.com", "api.example.co",
        "api.example.com.evil", "api.example.comm", ":8443", "", ".", "[api.example.com")) {
      assertThat(select(router, host, "/")).as(host).isNull();
    }
  }

  @Test
  void aRequestWithoutHostMatchesOnlyRoutesWithoutHostCondition() {
    Router router = router(route("named").hosts("example.com"), route("wild").hosts("*.a.b"),
        route("star").hosts("*"));
    assertThat(select(router, null, "/")).isEqualTo("star");
    assertThat(select(router, "x.a.b", "/")).isEqualTo("wild");
  }

  @Test
  void ipv6HostsAreComparedWithoutBracketsAndPort() {
    Router router = router(route("bracketed").hosts("[2001:DB8::1]"), route("bare").hosts("::1"));
    assertThat(select(router, "[2001:db8::1]", "/")).isEqualTo("bracketed");
    assertThat(select(router, "[2001:db8::1]:8080", "/")).isEqualTo("bracketed");
    assertThat(select(router, "2001:db8::1", "/")).isEqualTo("bracketed");
    assertThat(select(router, "[::1]:443", "/")).isEqualTo("bare");
    assertThat(select(router, "[::2]", "/")).isNull();
  }

  @Test
  void wildcardsTakeOneOrMoreLabelsButNotTheApex() {
    Router router = router(route("wild").hosts("*.example.com"));
    for (String host : List.of("a.example.com", "a.b.example.com", "A.EXAMPLE.COM:8080",
        "a.example.com.")) {
      assertThat(select(router, host, "/")).as(host).isEqualTo("wild");
    }
    for (String host : List.of("example.com", ".example.com", "badexample.com",
        "a.example.com.au", "example.com:80")) {
      assertThat(select(router, host, "/")).as(host).isNull();
    }
  }

  @Test
  void manyExactHostsAreAllFound() {
    List<String> hosts = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      hosts.add("host" + i + ".example.com");
    }
    Router router = router(route("many").hosts(hosts.toArray(new String[0])));
    for (int i = 0; i < 200; i++) {
      assertThat(select(router, "HOST" + i + ".example.com:1", "/")).isEqualTo("many");
      assertThat(select(router, "host" + (i + 200) + ".example.com", "/")).isNull();
    }
  }

  @Test
  void prefixIsAPlainStringPrefix() {
    Router router = router(route("api").prefix("/api"));
    assertThat(select(router, "h", "/api")).isEqualTo("api");
    assertThat(select(router, "h", "/api/x")).isEqualTo("api");
    assertThat(select(router, "h", "/apix")).isEqualTo("api");
    assertThat(select(router, "h", "/ap")).isNull();
    assertThat(select(router, "h", "/API")).isNull();
    assertThat(select(router, "h", null)).isNull();
  }

  @Test
  void exactPathMustBeEqual() {
    Router router = router(route("health").exact("/healthz"));
    assertThat(select(router, "h", "/healthz")).isEqualTo("health");
    assertThat(select(router, "h", "/healthz/")).isNull();
    assertThat(select(router, "h", "/healthzz")).isNull();
  }

  @Test
  void regexMustMatchTheWholePath() {
    Router router = router(route("users").regex("/users/[0-9]+"));
    assertThat(select(router, "h", "/users/42")).isEqualTo("users");
    assertThat(select(router, "h", "/users/42/posts")).isNull();
    assertThat(select(router, "h", "/v1/users/42")).isNull();
    assertThat(select(router, "h", "/users/x")).isNull();
  }

  @Test
  void regexRoutesAreSafeFromSeveralThreads() throws Exception {
    Router router = router(route("even").regex("/n/[0-9]*[02468]"), route("odd").regex("/n/.*"));
    List<Thread> threads = new ArrayList<>();
    List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
    for (int t = 0; t < 4; t++) {
      Thread thread = new Thread(() -> {
        for (int i = 0; i < 20_000; i++) {
          String expected = i % 2 == 0 ? "even" : "odd";
          String got = select(router, "h", "/n/" + i);
          if (!expected.equals(got)) {
            failures.add(new AssertionError("/n/" + i + " went to " + got));
            return;
          }
        }
      });
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) {
      thread.join();
    }
    assertThat(failures).isEmpty();
  }

  @Test
  void methodsAreCaseSensitive() {
    Router router = router(route("write").methods("POST", "PUT"), route("rest"));
    assertThat(router.select("m", "POST", "h", "/", NO_HEADERS).name()).isEqualTo("write");
    assertThat(router.select("m", "PUT", "h", "/", NO_HEADERS).name()).isEqualTo("write");
    assertThat(router.select("m", "post", "h", "/", NO_HEADERS).name()).isEqualTo("rest");
    assertThat(router.select("m", "GET", "h", "/", NO_HEADERS).name()).isEqualTo("rest");
  }

  @Test
  void headersArePresenceOrExactValue() {
    Router router = router(route("canary").header("X-Canary", "always").header("X-User", "*"),
        route("rest"));
    HttpHeaders h = new DefaultHttpHeaders().add("x-canary", "always").add("x-user", "");
    assertThat(router.select("m", "GET", "h", "/", h).name()).isEqualTo("canary");
    h.set("x-canary", "Always");
    assertThat(router.select("m", "GET", "h", "/", h).name()).isEqualTo("rest");
    h.set("x-canary", "never").add("x-canary", "always");
    assertThat(router.select("m", "GET", "h", "/", h).name()).as("any value").isEqualTo("canary");
    h.remove("x-user");
    assertThat(router.select("m", "GET", "h", "/", h).name()).isEqualTo("rest");
    assertThat(router.select("m", "GET", "h", "/", null).name()).isEqualTo("rest");
  }

  @Test
  void everyConditionMustHold() {
    Router router = router(route("all").listeners("main").hosts("*.example.com").prefix("/api/")
        .methods("GET").header("accept", "*"), route("rest"));
    HttpHeaders h = new DefaultHttpHeaders().add("accept", "*/*");
    assertThat(router.select("main", "GET", "a.example.com", "/api/x", h).name()).isEqualTo("all");
    assertThat(router.select("other", "GET", "a.example.com", "/api/x", h).name())
        .isEqualTo("rest");
    assertThat(router.select("main", "HEAD", "a.example.com", "/api/x", h).name())
        .isEqualTo("rest");
    assertThat(router.select("main", "GET", "example.com", "/api/x", h).name()).isEqualTo("rest");
    assertThat(router.select("main", "GET", "a.example.com", "/web", h).name()).isEqualTo("rest");
    assertThat(router.select("main", "GET", "a.example.com", "/api/x", NO_HEADERS).name())
        .isEqualTo("rest");
  }

  @Test
  void malformedPatternsAreRefusedNamingTheRoute() {
    assertRefused(route("r1").regex("/users/(["), "route r1", "path regex", "/users/([");
    assertRefused(route("r2").hosts("example.com:8080"), "route r2", "carries a port");
    assertRefused(route("r3").hosts("api.*.example.com"), "route r3", "wildcard out of place");
    assertRefused(route("r4").hosts("*example.com"), "route r4", "wildcard out of place");
    assertRefused(route("r5").hosts("a..example.com"), "route r5", "empty label");
    assertRefused(route("r6").hosts("bücher.example"), "route r6", "ASCII form");
    assertRefused(route("r7").hosts(""), "route r7", "is empty");
    assertRefused(route("r8").hosts("exa mple.com"), "route r8", "space");
    assertRefused(route("r9").hosts("[::1"), "route r9", "IPv6");
    assertRefused(route("r10").methods("GE T"), "route r10", "method");
    assertRefused(route("r11").header("bad header", "*"), "route r11", "bad header");
    assertRefused(route("r12").rewrite(new RouteSettings.PathRewrite("/a/(.*", "/")),
        "route r12", "path rewrite pattern");
    assertRefused(route("r13").rewrite(new RouteSettings.PathRewrite("/a/(.*)", "/$2")),
        "route r13", "replacement '/$2'");
    assertRefused(route("r14").rewrite(new RouteSettings.PathRewrite("/a/(?<rest>.*)",
        "/${other}")), "route r14", "replacement");
    assertRefused(route("r15").rewrite(new RouteSettings.PathRewrite("/a/", "/\\")),
        "route r15", "replacement");
    assertRefused(route("r16").requestHeaders(new RouteSettings.HeaderRules(
        java.util.Map.of("x-a", "one\r\nx-b: two"), java.util.Map.of(), List.of())),
        "route r16", "line break");
    assertRefused(route("r17").responseHeaders(new RouteSettings.HeaderRules(
        java.util.Map.of(), java.util.Map.of(), List.of("x:y"))), "route r17", "x:y");
    assertRefused(route("r18").responseHeaders(new RouteSettings.HeaderRules(
        java.util.Map.of(), java.util.Map.of(), List.of("Content-Length"))), "route r18",
        "response header 'Content-Length' cannot be edited", "framing and connection");
    assertRefused(route("r19").requestHeaders(new RouteSettings.HeaderRules(
        java.util.Map.of("Transfer-Encoding", "chunked"), java.util.Map.of(), List.of())),
        "route r19", "request header 'Transfer-Encoding'");
    assertRefused(route("r20").requestHeaders(new RouteSettings.HeaderRules(
        java.util.Map.of(), java.util.Map.of("connection", "close"), List.of())),
        "route r20", "request header 'connection'");
  }

  @Test
  void wellFormedPatternsAreAccepted() {
    Router router = router(route("ok").hosts("*.example.com.", "[::1]", "a_b.example", "x-1.io")
        .rewrite(new RouteSettings.PathRewrite("/a/(?<rest>.*)", "/${rest}/$1\\$")));
    assertThat(router.routes()).hasSize(1);
  }

  @Test
  void twoRoutesWithOneNameAreRefused() {
    assertThatThrownBy(() -> router(route("same"), route("same")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("same");
  }

  @Test
  void selectAllocatesNothing() {
    Router router = router(route("regex").regex("/users/[0-9]+"),
        route("hosts").hosts("a.example.com", "b.example.com", "*.example.org").prefix("/api/")
            .methods("GET", "POST").header("x-tenant", "t1").header("accept", "*"),
        route("rest").listeners("main"));
    HttpHeaders h = new DefaultHttpHeaders().add("x-tenant", "t1").add("accept", "*/*");
    String[] hosts = {"B.Example.com:8080", "x.y.example.org.", "[::1]:80", "c.example.com"};
    Runnable work = () -> {
      for (int i = 0; i < 1000; i++) {
        String host = hosts[i & 3];
        if (router.select("main", "GET", host, "/api/v1", h) == null) {
          throw new AssertionError(host);
        }
      }
    };
    for (int i = 0; i < 200; i++) {
      work.run(); // lets the JIT compile it
    }
    com.sun.management.ThreadMXBean mx =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long id = Thread.currentThread().getId();
    long before = mx.getThreadAllocatedBytes(id);
    for (int i = 0; i < 100; i++) {
      work.run();
    }
    long perSelect = (mx.getThreadAllocatedBytes(id) - before) / 100_000;
    assertThat(perSelect).as("bytes allocated per select").isZero();
    assertThat(router.select("main", "GET", "B.Example.com:8080", "/api/v1", h).name())
        .isEqualTo("hosts");
    assertThat(router.select("main", "GET", "c.example.com", "/api/v1", h).name())
        .isEqualTo("rest");
  }

  private static void assertRefused(Routes route, String... messageParts) {
    assertThatThrownBy(() -> Router.of(List.of(route.settings())))
        .isInstanceOf(IllegalArgumentException.class)
        .satisfies(e -> {
          for (String part : messageParts) {
            assertThat(e.getMessage()).contains(part);
          }
        });
  }
}
