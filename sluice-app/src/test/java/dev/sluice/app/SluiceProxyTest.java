package dev.sluice.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.app.config.ConfigLoader;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway and the reverse proxy in one {@link Sluice}: the proxy forwards to a real backend,
 * its spans arrive in the export files through the gateway's pipeline, its meters show on the
 * admin listener, and a reload moves its route to another backend.
 */
class SluiceProxyTest {
  private static final Duration DEADLINE = Duration.ofSeconds(30);

  @TempDir Path tmp;

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();
  private Sluice sluice;

  @AfterEach
  void stop() {
    if (sluice != null) {
      sluice.close(Duration.ofSeconds(5));
    }
  }

  private String config(String backendUrl, boolean receiver) {
    return "data_dir: '" + tmp.resolve("data") + "'\n"
        + "admin: {endpoint: 127.0.0.1:0}\n"
        + (receiver ? "receivers:\n  otlp: {endpoint: 127.0.0.1:0}\n" : "")
        + "pipeline:\n  queue: {type: memory}\n"
        + "exporters:\n  file: {path: '" + tmp.resolve("export") + "'}\n"
        + "proxy:\n"
        + "  listeners: [{name: web, address: 127.0.0.1:0}]\n"
        + "  upstreams:\n    app: {endpoints: [\"" + backendUrl + "\"]}\n"
        + "  routes: [{name: all, to: app}]\n"
        + "  tracing: true\n"
        + "  drain_timeout: 2s\n";
  }

  private static SluiceConfig load(String yaml) {
    return new ConfigLoader(Map.of()).load("test.yaml", yaml, ConfigLoader.Overrides.NONE);
  }

  private HttpResponse<String> get(URI uri) {
    try {
      return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static URI at(InetSocketAddress a, String path) {
    return URI.create("http://127.0.0.1:" + a.getPort() + path);
  }

  @Test
  void gatewayAndProxyInOneProcess() throws Exception {
    try (EchoBackend a = new EchoBackend("a"); EchoBackend b = new EchoBackend("b")) {
      sluice = Sluice.start(load(config(a.url(), true)));
      assertThat(sluice.describe()).contains("receiving OTLP/HTTP on http://127.0.0.1:",
          "proxying on http://127.0.0.1:", "(web) to app (" + a.url() + ", round_robin); 1 route",
          "tracing on");
      InetSocketAddress proxy = sluice.proxy().localAddresses().get("web");

      HttpResponse<String> r = get(at(proxy, "/hello?x=1"));
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).startsWith("a GET /hello?x=1");

      // The gateway still takes OTLP/HTTP beside the proxy.
      String otlp = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
          + "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
          + "\"name\":\"from-a-client\"}]}]}]}";
      HttpResponse<String> accepted = http.send(HttpRequest.newBuilder(
          at(sluice.receiver().localAddress(), "/v1/traces"))
          .header("Content-Type", "application/json").timeout(Duration.ofSeconds(10))
          .POST(HttpRequest.BodyPublishers.ofString(otlp)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(accepted.statusCode()).isEqualTo(200);

      // The proxy's own span of the GET arrives through the same pipeline.
      Path export = tmp.resolve("export");
      Await.until("the client's and the proxy's spans in the export", DEADLINE, () -> {
        List<String> names = spanNames(ExportFiles.traces(export));
        return names.contains("from-a-client") && names.contains("GET all");
      });

      HttpResponse<String> metrics = get(at(sluice.admin().localAddress(), "/metrics"));
      assertThat(metrics.body()).contains("sluice_proxy_requests_total{", "route=\"all\"",
          "sluice_proxy_spans_pipeline_accepted_total");

      // A reload moves the route to backend b; the listener stays where it is.
      sluice.reloadProxy(load(config(b.url(), true)));
      assertThat(sluice.proxy().localAddresses().get("web")).isEqualTo(proxy);
      Await.until("requests reach the new backend", DEADLINE,
          () -> get(at(proxy, "/after")).body().startsWith("b GET /after"));
    }
  }

  @Test
  void aProxyAloneStartsNeitherReceiverNorPipeline() throws Exception {
    try (EchoBackend a = new EchoBackend("a")) {
      sluice = Sluice.start(load(config(a.url(), false).replace("  tracing: true\n", "")));
      assertThat(sluice.receiver()).isNull();
      assertThat(sluice.pipeline()).isNull();
      assertThat(tmp.resolve("data")).doesNotExist();
      assertThat(sluice.describe()).doesNotContain("receiving", "queue", "exporting")
          .contains("proxying on", "admin on");
      InetSocketAddress proxy = sluice.proxy().localAddresses().get("web");
      assertThat(get(at(proxy, "/x")).body()).startsWith("a GET /x");
      assertThat(get(at(sluice.admin().localAddress(), "/health/ready")).statusCode())
          .isEqualTo(200);
    }
  }

  @Test
  void aReloadWithoutAProxySectionIsRefusedAndTheRunningOneStays() throws Exception {
    try (EchoBackend a = new EchoBackend("a")) {
      sluice = Sluice.start(load(config(a.url(), true)));
      InetSocketAddress proxy = sluice.proxy().localAddresses().get("web");
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> sluice.reloadProxy(load(
          "receivers:\n  otlp: {endpoint: 127.0.0.1:0}\n")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("no proxy section");
      assertThat(get(at(proxy, "/still")).body()).startsWith("a GET /still");
    }
  }

  private static List<String> spanNames(List<ExportTraceServiceRequest> requests) {
    return requests.stream().flatMap(r -> r.getResourceSpansList().stream())
        .flatMap(rs -> rs.getScopeSpansList().stream())
        .flatMap(ss -> ss.getSpansList().stream()).map(Span::getName).toList();
  }
}
