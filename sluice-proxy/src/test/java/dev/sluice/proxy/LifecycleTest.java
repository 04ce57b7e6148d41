package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Reloads under load and graceful shutdown. */
class LifecycleTest {
  private final HttpClient client = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1).build();

  private static ProxySettings to(String upstream, String url) {
    return TestProxies.proxy().upstream(TestProxies.upstream(upstream).urls(url).build())
        .route(TestProxies.route("all", upstream).build()).build();
  }

  private HttpRequest get(ReverseProxy proxy, String path) {
    return HttpRequest.newBuilder(URI.create(
        "http://127.0.0.1:" + proxy.localAddress().getPort() + path))
        .timeout(Duration.ofSeconds(20)).build();
  }

  @Test
  void reloadUnderLoadLosesNoRequestAndLetsOldOnesFinish() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (TestBackend oldBackend = TestBackend.start("old");
        TestBackend newBackend = TestBackend.start("new");
        ReverseProxy proxy = ReverseProxy.builder(to("blue", oldBackend.url())).ioThreads(2)
            .meterRegistry(registry).build().start()) {
      AtomicBoolean running = new AtomicBoolean(true);
      ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
      AtomicInteger fromNew = new AtomicInteger();
      AtomicInteger done = new AtomicInteger();
      Thread[] loops = new Thread[3];
      for (int t = 0; t < loops.length; t++) {
        loops[t] = new Thread(() -> {
          while (running.get()) {
            try {
              HttpResponse<String> r = client.send(get(proxy, "/loop"),
                  HttpResponse.BodyHandlers.ofString());
              if (r.statusCode() != 200) {
                failures.add(r.statusCode() + " " + r.body());
              } else if ("new".equals(r.headers().firstValue("x-backend").orElse(""))) {
                fromNew.incrementAndGet();
              }
            } catch (IOException | InterruptedException e) {
              failures.add(e.toString());
            }
            done.incrementAndGet();
          }
        }, "reload-load-" + t);
        loops[t].start();
      }
      try {
        Await.until("traffic flowing", Duration.ofSeconds(10), () -> done.get() > 50);
        CompletableFuture<HttpResponse<String>> slow = client.sendAsync(
            get(proxy, "/delay/1500"), HttpResponse.BodyHandlers.ofString());
        Await.until("the slow request at the old backend", Duration.ofSeconds(10),
            () -> oldBackend.perPath.containsKey("/delay/1500"));
        proxy.reload(to("green", newBackend.url()));
        assertThat(proxy.settings().upstreams()).containsOnlyKeys("green");
        assertThat(registry.find("sluice.proxy.upstream.connection.reuse.ratio")
            .tag("upstream", "blue").gauge()).as("meters of the removed upstream").isNull();
        assertThat(registry.find("sluice.proxy.upstream.connection.reuse.ratio")
            .tag("upstream", "green").gauge()).isNotNull();
        Await.until("traffic on the new backend", Duration.ofSeconds(10),
            () -> fromNew.get() > 50);
        HttpResponse<String> old = slow.get(20, TimeUnit.SECONDS);
        assertThat(old.statusCode()).isEqualTo(200);
        assertThat(old.headers().firstValue("x-backend")).hasValue("old");
        int oldCount = oldBackend.requests.get();
        Await.until("more traffic", Duration.ofSeconds(10), () -> fromNew.get() > 150);
        assertThat(oldBackend.requests.get()).as("requests to the old backend after the switch")
            .isEqualTo(oldCount);
      } finally {
        running.set(false);
        for (Thread t : loops) {
          t.join(20_000);
        }
      }
      assertThat(failures).isEmpty();
    }
  }

  @Test
  void aReloadThatCannotApplyKeepsTheRunningSettings() throws Exception {
    try (TestBackend backend = TestBackend.start("b");
        ReverseProxy proxy = ReverseProxy.builder(to("blue", backend.url())).ioThreads(1)
            .build().start()) {
      ProxySettings moved = new ProxySettings(List.of(new dev.sluice.proxy.settings
          .ListenerSettings("other", TestProxies.listener().server())),
          to("blue", backend.url()).upstreams(), List.of(TestProxies.route("all", "blue")
          .build()), List.of(), "sluice", false, false, Duration.ofSeconds(1));
      assertThatThrownBy(() -> proxy.reload(moved))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("listener");
      assertThat(client.send(get(proxy, "/still"), HttpResponse.BodyHandlers.ofString())
          .statusCode()).isEqualTo(200);
    }
  }

  @Test
  void closeLetsAnInFlightRequestFinish() throws Exception {
    try (TestBackend backend = TestBackend.start("b")) {
      ReverseProxy proxy = ReverseProxy.builder(to("blue", backend.url())).ioThreads(1).build()
          .start();
      int port = proxy.localAddress().getPort();
      CompletableFuture<HttpResponse<String>> slow = client.sendAsync(
          get(proxy, "/delay/1000"), HttpResponse.BodyHandlers.ofString());
      Await.until("the request at the backend", Duration.ofSeconds(10),
          () -> backend.perPath.containsKey("/delay/1000"));
      long start = System.nanoTime();
      proxy.close(Duration.ofSeconds(10));
      long closeMillis = (System.nanoTime() - start) / 1_000_000;
      HttpResponse<String> r = slow.get(10, TimeUnit.SECONDS);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(Echoed.parse(r.body()).uri()).isEqualTo("/delay/1000");
      assertThat(closeMillis).as("close waited for the request, not the whole drain time")
          .isLessThan(8000);
      assertThatThrownBy(() -> new Socket("127.0.0.1", port).close())
          .isInstanceOf(IOException.class);
    }
  }
}
