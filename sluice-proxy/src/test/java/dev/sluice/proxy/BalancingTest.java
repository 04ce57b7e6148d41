package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** How requests spread over several backends, and how connections to them are reused. */
class BalancingTest {
  private final List<TestBackend> backends = new ArrayList<>();
  private ReverseProxy proxy;
  private final HttpClient client =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeEach
  void start() {
    for (int i = 1; i <= 3; i++) {
      backends.add(TestBackend.start("b" + i));
    }
  }

  @AfterEach
  void stop() {
    if (proxy != null) {
      proxy.close();
    }
    backends.forEach(TestBackend::close);
  }

  private void proxy(Consumer<TestProxies.UpstreamBuilder> upstream) {
    proxy(upstream, new SimpleMeterRegistry());
  }

  private void proxy(Consumer<TestProxies.UpstreamBuilder> upstream,
      SimpleMeterRegistry registry) {
    TestProxies.UpstreamBuilder u = TestProxies.upstream("backend");
    upstream.accept(u);
    ProxySettings s = TestProxies.proxy().upstream(u.build())
        .route(TestProxies.route("all", "backend").build()).build();
    proxy = ReverseProxy.builder(s).meterRegistry(registry).ioThreads(2).build().start();
  }

  private String url(int i) {
    return backends.get(i).url();
  }

  private HttpResponse<String> get(String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + proxy.localAddress().getPort() + path));
    if (headers.length > 0) {
      b.headers(headers);
    }
    HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return r;
  }

  private String backendOf(String path, String... headers) throws Exception {
    return get(path, headers).headers().firstValue("x-backend").orElseThrow();
  }

  private int[] counts() {
    return backends.stream().mapToInt(b -> b.requests.get()).toArray();
  }

  @Test
  void sequentialRequestsReuseFewUpstreamConnections() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    proxy(u -> u.urls(url(0)), registry);
    for (int i = 0; i < 50; i++) {
      get("/seq/" + i);
    }
    assertThat(backends.get(0).requests.get()).isEqualTo(50);
    assertThat(backends.get(0).connections.get()).isLessThanOrEqualTo(2);
    double ratio = registry.get("sluice.proxy.upstream.connection.reuse.ratio")
        .tag("upstream", "backend").gauge().value();
    assertThat(ratio).isGreaterThanOrEqualTo(0.95);
    assertThat(registry.get("sluice.proxy.upstream.connections.opened")
        .tag("upstream", "backend").functionCounter().count()).isLessThanOrEqualTo(2);
  }

  @Test
  void roundRobinSpreadsEvenlyAndByWeight() throws Exception {
    proxy(u -> u.urls(url(0), url(1), url(2)));
    for (int i = 0; i < 30; i++) {
      get("/rr");
    }
    assertThat(counts()).containsExactly(10, 10, 10);
    proxy.close();
    proxy = null;
    for (TestBackend b : backends) {
      b.requests.set(0);
    }
    proxy(u -> u.endpoint(url(0), 1).endpoint(url(1), 2).endpoint(url(2), 3));
    for (int i = 0; i < 60; i++) {
      get("/weighted");
    }
    assertThat(counts()).containsExactly(10, 20, 30);
  }

  /** Eight clients in a loop; the first backend answers 100 ms late. */
  private int[] underLoadWithASlowBackend() throws Exception {
    backends.get(0).delayMillis = 100;
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> work = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        work.add(pool.submit(() -> {
          for (int i = 0; i < 25; i++) {
            get("/load");
          }
          return null;
        }));
      }
      for (Future<?> f : work) {
        f.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    return counts();
  }

  @Test
  void leastRequestsSendsLessToTheSlowBackend() throws Exception {
    proxy(u -> u.urls(url(0), url(1), url(2)).lb(LoadBalancing.LEAST_REQUESTS));
    int[] c = underLoadWithASlowBackend();
    // round robin would give it a third (67 of 200)
    assertThat(c[0]).as("requests to the slow backend of %s", java.util.Arrays.toString(c))
        .isLessThan(40);
    assertThat(c[1]).isGreaterThan(40);
    assertThat(c[2]).isGreaterThan(40);
  }

  @Test
  void powerOfTwoChoicesSendsLessToTheSlowBackend() throws Exception {
    proxy(u -> u.urls(url(0), url(1), url(2)).lb(LoadBalancing.POWER_OF_TWO_CHOICES));
    int[] c = underLoadWithASlowBackend();
    assertThat(c[0]).as("requests to the slow backend of %s", java.util.Arrays.toString(c))
        .isLessThan(50);
    assertThat(c[1]).isGreaterThan(30);
    assertThat(c[2]).isGreaterThan(30);
  }

  @Test
  void consistentHashByHeaderKeepsAKeyOnOneBackend() throws Exception {
    proxy(u -> u.urls(url(0), url(1), url(2)).lb(LoadBalancing.CONSISTENT_HASH)
        .hashBy(new UpstreamSettings.HashKey(UpstreamSettings.HashKey.Source.HEADER, "x-user")));
    Set<String> used = new HashSet<>();
    for (int k = 0; k < 30; k++) {
      String first = backendOf("/h", "x-user", "user-" + k);
      used.add(first);
      for (int i = 0; i < 3; i++) {
        assertThat(backendOf("/h", "x-user", "user-" + k)).as("user-" + k).isEqualTo(first);
      }
    }
    assertThat(used).as("30 keys spread").hasSizeGreaterThan(1);
  }

  @Test
  void consistentHashByCookieKeepsASessionOnOneBackend() throws Exception {
    proxy(u -> u.urls(url(0), url(1), url(2)).lb(LoadBalancing.CONSISTENT_HASH)
        .hashBy(new UpstreamSettings.HashKey(UpstreamSettings.HashKey.Source.COOKIE,
            "session")));
    Set<String> used = new HashSet<>();
    for (int k = 0; k < 30; k++) {
      String cookie = "theme=dark; session=s" + k;
      String first = backendOf("/c", "cookie", cookie);
      used.add(first);
      for (int i = 0; i < 3; i++) {
        assertThat(backendOf("/c", "cookie", "session=s" + k + "; lang=fr")).isEqualTo(first);
      }
    }
    assertThat(used).hasSizeGreaterThan(1);
  }

  @Test
  void consistentHashByClientAddressKeepsAClientOnOneBackend() throws Exception {
    proxy(u -> u.urls(url(0), url(1), url(2)).lb(LoadBalancing.CONSISTENT_HASH)
        .hashBy(UpstreamSettings.HashKey.clientAddress()));
    String first = backendOf("/a");
    for (int i = 0; i < 20; i++) {
      assertThat(backendOf("/a?i=" + i)).isEqualTo(first);
    }
  }
}
