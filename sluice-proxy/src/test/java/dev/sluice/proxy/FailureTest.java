package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What clients see when upstreams fail, are slow, are full or come and go. */
class FailureTest {
  private final List<TestBackend> backends = new ArrayList<>();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private ReverseProxy proxy;
  private final HttpClient client = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

  @AfterEach
  void stop() {
    if (proxy != null) {
      proxy.close(Duration.ZERO);
    }
    backends.forEach(TestBackend::close);
  }

  private TestBackend backend(String name) {
    TestBackend b = TestBackend.start(name);
    backends.add(b);
    return b;
  }

  /** A URL where nothing listens: connections are refused. */
  private static String deadUrl() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return "http://127.0.0.1:" + s.getLocalPort();
    }
  }

  private void proxy(Consumer<TestProxies.UpstreamBuilder> upstream,
      Consumer<TestProxies.RouteBuilder> route) {
    TestProxies.UpstreamBuilder u = TestProxies.upstream("backend");
    upstream.accept(u);
    TestProxies.RouteBuilder r = TestProxies.route("all", "backend");
    route.accept(r);
    proxy = ReverseProxy.builder(TestProxies.proxy().upstream(u.build()).route(r.build()).build())
        .meterRegistry(registry).ioThreads(1).build().start();
  }

  private HttpResponse<String> send(String method, String path) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create(
        "http://127.0.0.1:" + proxy.localAddress().getPort() + path))
        .method(method, method.equals("POST") ? HttpRequest.BodyPublishers.ofString("payload")
            : HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int seen(List<TestBackend> bs, String path) {
    return bs.stream().mapToInt(b -> b.perPath.getOrDefault(path, new AtomicInteger()).get())
        .sum();
  }

  private double gauge(String name, TestBackend b) {
    return registry.get(name).tag("endpoint", "127.0.0.1:" + b.port()).gauge().value();
  }

  @Test
  void idempotentRequestsNeverFailWhileADeadEndpointIsRetriedAroundThenEjected()
      throws Exception {
    TestBackend alive = backend("alive");
    String dead = deadUrl();
    proxy(u -> u.urls(alive.url(), dead)
        .ejection(new PassiveEjection(3, Duration.ofSeconds(30), 50)), r -> { });
    for (int i = 0; i < 40; i++) {
      HttpResponse<String> r = send("GET", "/get/" + i);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }
    assertThat(alive.requests.get()).isEqualTo(40);
    assertThat(registry.get("sluice.proxy.upstream.endpoint.ejected")
        .tag("endpoint", URI.create(dead).getAuthority()).gauge().value()).isEqualTo(1.0);
    // ejected: no more tries on it, so no more retries
    double retries = registry.get("sluice.proxy.retries").counter().count();
    for (int i = 0; i < 10; i++) {
      assertThat(send("GET", "/after").statusCode()).isEqualTo(200);
    }
    assertThat(registry.get("sluice.proxy.retries").counter().count()).isEqualTo(retries);
  }

  @Test
  void aPostThatReachedTheUpstreamIsNotRetriedButAGetIs() throws Exception {
    TestBackend b1 = backend("b1");
    TestBackend b2 = backend("b2");
    proxy(u -> u.urls(b1.url(), b2.url()), r -> { });
    HttpResponse<String> post = send("POST", "/drop");
    assertThat(post.statusCode()).as(post.body()).isEqualTo(502);
    assertThat(seen(backends, "/drop")).as("tries of the POST").isEqualTo(1);
    HttpResponse<String> get = send("GET", "/drop");
    assertThat(get.statusCode()).isEqualTo(502);
    assertThat(seen(backends, "/drop") - 1).as("tries of the GET").isEqualTo(2);
    // the GET's second try went to the endpoint its first did not
    assertThat(b1.perPath.get("/drop").get()).isGreaterThanOrEqualTo(1);
    assertThat(b2.perPath.get("/drop").get()).isGreaterThanOrEqualTo(1);
  }

  @Test
  void aPostIsRetriedWhenItsConnectionFailedBeforeSending() throws Exception {
    TestBackend alive = backend("alive");
    String dead = deadUrl();
    proxy(u -> u.urls(dead, alive.url()), r -> { });
    for (int i = 0; i < 10; i++) {
      HttpResponse<String> r = send("POST", "/post/" + i);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertThat(Echoed.parse(r.body()).bodyBytes()).isEqualTo(7);
    }
    assertThat(alive.requests.get()).isEqualTo(10);
    assertThat(registry.get("sluice.proxy.retries").counter().count()).isGreaterThanOrEqualTo(5);
  }

  @Test
  void noRetryBeyondTheGroupsMaxActiveRetries() throws Exception {
    TestBackend b1 = backend("b1");
    TestBackend b2 = backend("b2");
    proxy(u -> u.urls(b1.url(), b2.url())
        .limits(new UpstreamSettings.Limits(1024, 1024, 1024, 0)), r -> { });
    assertThat(send("GET", "/drop").statusCode()).isEqualTo(502);
    assertThat(seen(backends, "/drop")).isEqualTo(1);
    // and a route's attempts bound them too
    proxy.close(Duration.ZERO);
    proxy(u -> u.urls(b1.url(), b2.url()), r -> r.retry(RouteSettings.Retry.none()));
    assertThat(send("GET", "/drop").statusCode()).isEqualTo(502);
    assertThat(seen(backends, "/drop")).isEqualTo(2);
  }

  @Test
  void connectRefusedIs502() throws Exception {
    String dead = deadUrl();
    proxy(u -> u.urls(dead), r -> r.retry(RouteSettings.Retry.none()));
    HttpResponse<String> r = send("GET", "/x");
    assertThat(r.statusCode()).isEqualTo(502);
    assertThat(r.body()).contains("502");
  }

  @Test
  void noHealthyEndpointIsAFast503() throws Exception {
    TestBackend b = backend("b");
    b.healthStatus = 503;
    proxy(u -> u.urls(b.url()).healthCheck(new HealthCheck("/health", Duration.ofMillis(100),
        Duration.ofSeconds(1), 1, 1)), r -> { });
    Await.until("the endpoint marked unhealthy", Duration.ofSeconds(20),
        () -> gauge("sluice.proxy.upstream.endpoint.healthy", b) == 0.0);
    long start = System.nanoTime();
    HttpResponse<String> r = send("GET", "/x");
    long millis = (System.nanoTime() - start) / 1_000_000;
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(r.body()).contains("healthy");
    assertThat(millis).isLessThan(2000);
    assertThat(b.perPath.get("/x")).isNull();
  }

  @Test
  void noResponseHeadInTimeIs504() throws Exception {
    TestBackend b = backend("b");
    proxy(u -> u.urls(b.url()),
        r -> r.firstByte(Duration.ofMillis(300)).retry(RouteSettings.Retry.none()));
    long start = System.nanoTime();
    HttpResponse<String> r = send("GET", "/delay/5000");
    assertThat(r.statusCode()).isEqualTo(504);
    assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(4000);
    assertThat(send("GET", "/delay/10").statusCode()).isEqualTo(200);
  }

  @Test
  void aTryPastItsDeadlineIsMadeAgainOnAnotherEndpoint() throws Exception {
    TestBackend slow = backend("slow");
    TestBackend fast = backend("fast");
    slow.delayMillis = 10_000;
    proxy(u -> u.urls(slow.url(), fast.url()), r -> r.retry(new RouteSettings.Retry(2,
        Duration.ofMillis(800), Set.of(502, 503, 504), 20, 3)));
    for (int i = 0; i < 4; i++) {
      HttpResponse<String> r = send("GET", "/t/" + i);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertThat(r.headers().firstValue("x-backend")).hasValue("fast");
    }
    assertThat(slow.requests.get()).isGreaterThanOrEqualTo(1);
  }

  @Test
  void beyondMaxActiveRequestsIsAFast503ThenServiceResumes() throws Exception {
    TestBackend b = backend("b");
    proxy(u -> u.urls(b.url()).limits(new UpstreamSettings.Limits(1024, 1024, 2, 3)),
        r -> r.retry(RouteSettings.Retry.none()));
    List<CompletableFuture<HttpResponse<String>>> slow = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      slow.add(client.sendAsync(HttpRequest.newBuilder(URI.create(
          "http://127.0.0.1:" + proxy.localAddress().getPort() + "/delay/3000?i=" + i)).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    Await.until("both slow requests at the backend", Duration.ofSeconds(10),
        () -> b.requests.get() == 2);
    long start = System.nanoTime();
    HttpResponse<String> refused = send("GET", "/x");
    assertThat(refused.statusCode()).as(refused.body()).isEqualTo(503);
    assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(1000);
    for (CompletableFuture<HttpResponse<String>> f : slow) {
      assertThat(f.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }
    assertThat(send("GET", "/x").statusCode()).isEqualTo(200);
  }

  @Test
  void httpHealthChecksTakeAnEndpointOutAndBackIn() throws Exception {
    TestBackend b1 = backend("b1");
    TestBackend b2 = backend("b2");
    proxy(u -> u.urls(b1.url(), b2.url()).healthCheck(new HealthCheck("/health",
        Duration.ofMillis(100), Duration.ofSeconds(1), 1, 1)), r -> { });
    b1.healthStatus = 500;
    Await.until("b1 marked unhealthy", Duration.ofSeconds(20),
        () -> gauge("sluice.proxy.upstream.endpoint.healthy", b1) == 0.0);
    int before = b1.perPath.getOrDefault("/work", new AtomicInteger()).get();
    for (int i = 0; i < 10; i++) {
      HttpResponse<String> r = send("GET", "/work");
      assertThat(r.headers().firstValue("x-backend")).hasValue("b2");
    }
    assertThat(b1.perPath.getOrDefault("/work", new AtomicInteger()).get()).isEqualTo(before);
    b1.healthStatus = 200;
    Await.until("b1 healthy again", Duration.ofSeconds(20),
        () -> gauge("sluice.proxy.upstream.endpoint.healthy", b1) == 1.0);
    Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < 10; i++) {
      seen.add(send("GET", "/work").headers().firstValue("x-backend").orElseThrow());
    }
    assertThat(seen).containsExactlyInAnyOrder("b1", "b2");
  }

  @Test
  void tcpHealthChecksFollowAnEndpointGoingAndComing() throws Exception {
    TestBackend b1 = backend("b1");
    TestBackend b2 = backend("b2");
    int port = b1.port();
    proxy(u -> u.urls(b1.url(), b2.url()).healthCheck(HealthCheck.tcp(Duration.ofMillis(100),
        Duration.ofSeconds(1), 1, 1)), r -> { });
    b1.close();
    backends.remove(b1);
    Await.until("b1 marked down", Duration.ofSeconds(20),
        () -> gauge("sluice.proxy.upstream.endpoint.healthy", b1) == 0.0);
    for (int i = 0; i < 6; i++) {
      assertThat(send("GET", "/w").headers().firstValue("x-backend")).hasValue("b2");
    }
    TestBackend again = TestBackend.start("b1-again", port);
    backends.add(again);
    Await.until("b1 back up", Duration.ofSeconds(20),
        () -> gauge("sluice.proxy.upstream.endpoint.healthy", b1) == 1.0);
    Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < 10; i++) {
      seen.add(send("GET", "/w").headers().firstValue("x-backend").orElseThrow());
    }
    assertThat(seen).containsExactlyInAnyOrder("b1-again", "b2");
  }
}
