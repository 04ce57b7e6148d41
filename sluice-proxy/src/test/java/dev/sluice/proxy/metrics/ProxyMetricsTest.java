package dev.sluice.proxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.upstream.CircuitState;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.EndpointStatus;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.HistogramSnapshot;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ProxyMetricsTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final Endpoint A = Endpoint.of("http://10.0.0.1:8080");
  private static final Endpoint B = Endpoint.of("https://backend-b.internal");

  private final MeterRegistry registry = new SimpleMeterRegistry();
  private final ProxyMetrics metrics = new ProxyMetrics(registry);

  @Test
  void routeMetersAreMadeOncePerRouteAndUpstream() {
    RouteMeters api = metrics.route("api", "backend");

    assertThat(metrics.route("api", "backend")).isSameAs(api);
    assertThat(metrics.route("api", "other")).isNotSameAs(api);
    assertThat(metrics.route(null, null)).isSameAs(metrics.route("none", "none"));
  }

  @Test
  void countsRequestsByStatusClassAndTimesThem() {
    RouteMeters api = metrics.route("api", "backend");
    int[] statuses = {101, 200, 204, 299, 301, 404, 429, 500, 503, 0, 600, 99};
    for (int status : statuses) {
      api.request(status, TimeUnit.MILLISECONDS.toNanos(status % 7 + 1));
    }

    assertThat(requests("api", "backend", "1xx")).isEqualTo(1);
    assertThat(requests("api", "backend", "2xx")).isEqualTo(3);
    assertThat(requests("api", "backend", "3xx")).isEqualTo(1);
    assertThat(requests("api", "backend", "4xx")).isEqualTo(2);
    assertThat(requests("api", "backend", "5xx")).isEqualTo(2);
    assertThat(requests("api", "backend", "error")).isEqualTo(3);
    Timer timer = registry.get("sluice.proxy.request.duration")
        .tags("route", "api", "upstream", "backend").timer();
    assertThat(timer.count()).isEqualTo(statuses.length);
    assertThat(timer.max(TimeUnit.MILLISECONDS)).isEqualTo(7);
    HistogramSnapshot snapshot = registry.get("sluice.proxy.request.latency")
        .tags("route", "api", "upstream", "backend").timer().takeSnapshot();
    assertThat(Arrays.stream(snapshot.percentileValues()).map(ValueAtPercentile::percentile))
        .containsExactly(0.5, 0.95, 0.99);
    assertThat(snapshot.percentileValues()[2].value(TimeUnit.MILLISECONDS)).isBetween(6.0, 8.0);
  }

  @Test
  void aRemovedRouteLeavesNoMetersBehind() {
    metrics.route("old", "backend").request(200, 1_000_000);
    metrics.route("kept", "backend").request(200, 1_000_000);
    metrics.removeRoute("old", "backend");
    assertThat(registry.find("sluice.proxy.requests").tag("route", "old").meters()).isEmpty();
    assertThat(registry.find("sluice.proxy.request.latency").tag("route", "old").meters())
        .isEmpty();
    assertThat(requests("kept", "backend", "2xx")).isEqualTo(1);
    // Made again on demand, from zero.
    metrics.route("old", "backend").request(500, 1_000_000);
    assertThat(requests("old", "backend", "5xx")).isEqualTo(1);
    assertThat(requests("old", "backend", "2xx")).isEqualTo(0);
  }

  @Test
  void countsRetriesRefusalsAndUpstreamFailuresPerRoute() {
    RouteMeters api = metrics.route("api", "backend");
    RouteMeters web = metrics.route("web", null);
    api.retried();
    api.retried();
    api.rateLimited();
    web.denied();
    web.denied();
    web.denied();
    api.upstreamFailure();

    assertThat(count("sluice.proxy.retries", "api", "backend")).isEqualTo(2);
    assertThat(count("sluice.proxy.rate_limited", "api", "backend")).isEqualTo(1);
    assertThat(count("sluice.proxy.denied", "web", "none")).isEqualTo(3);
    assertThat(count("sluice.proxy.denied", "api", "backend")).isZero();
    assertThat(count("sluice.proxy.upstream.failures", "api", "backend")).isEqualTo(1);
  }

  @Test
  void upstreamGaugesFollowTheEndpointsStatus() {
    AtomicReference<List<EndpointStatus>> status = new AtomicReference<>(List.of(
        new EndpointStatus(A, true, false, CircuitState.CLOSED, 3, 1, 2, 100, 5, 1),
        new EndpointStatus(B, false, true, CircuitState.OPEN, 0, 0, 0, 10, 10, 4)));
    AtomicLong opened = new AtomicLong(4);
    AtomicLong reused = new AtomicLong(12);

    metrics.bindUpstream("backend", status::get, opened::get, reused::get);

    assertThat(endpointGauge("healthy", A)).isEqualTo(1);
    assertThat(endpointGauge("ejected", A)).isEqualTo(0);
    assertThat(endpointGauge("circuit", A)).isEqualTo(ProxyMetrics.CIRCUIT_CLOSED);
    assertThat(endpointGauge("outstanding", A)).isEqualTo(3);
    assertThat(endpointGauge("connections", A)).isEqualTo(2);
    assertThat(endpointGauge("healthy", B)).isEqualTo(0);
    assertThat(endpointGauge("ejected", B)).isEqualTo(1);
    assertThat(endpointGauge("circuit", B)).isEqualTo(ProxyMetrics.CIRCUIT_OPEN);
    assertThat(registry.get("sluice.proxy.upstream.endpoint.ejections")
        .tags("upstream", "backend", "endpoint", "backend-b.internal:443").functionCounter()
        .count()).isEqualTo(4);
    assertThat(upstreamValue("sluice.proxy.upstream.connection.reuse.ratio")).isEqualTo(0.75);
    assertThat(registry.get("sluice.proxy.upstream.connections.opened").tags("upstream", "backend")
        .functionCounter().count()).isEqualTo(4);
    assertThat(registry.get("sluice.proxy.upstream.requests.reused").tags("upstream", "backend")
        .functionCounter().count()).isEqualTo(12);

    status.set(List.of(
        new EndpointStatus(A, true, false, CircuitState.HALF_OPEN, 7, 0, 5, 100, 5, 1),
        new EndpointStatus(B, true, false, CircuitState.CLOSED, 0, 0, 1, 10, 10, 4)));
    opened.set(10);
    reused.set(30);

    Await.until("the gauges to read the new status", WAIT,
        () -> endpointGauge("circuit", A) == ProxyMetrics.CIRCUIT_HALF_OPEN);
    assertThat(endpointGauge("outstanding", A)).isEqualTo(7);
    assertThat(endpointGauge("connections", A)).isEqualTo(5);
    assertThat(endpointGauge("healthy", B)).isEqualTo(1);
    assertThat(upstreamValue("sluice.proxy.upstream.connection.reuse.ratio")).isEqualTo(0.75);
    opened.set(30);
    assertThat(upstreamValue("sluice.proxy.upstream.connection.reuse.ratio")).isEqualTo(0.5);

    // An endpoint that left the snapshot reads as unknown rather than as its last value.
    status.set(List.of(status.get().get(1)));
    Await.until("endpoint A to read as unknown", WAIT,
        () -> Double.isNaN(endpointGauge("outstanding", A)));
  }

  @Test
  void reuseRatioIsZeroBeforeTheFirstRequest() {
    metrics.bindUpstream("backend", List::of, () -> 0, () -> 0);

    assertThat(upstreamValue("sluice.proxy.upstream.connection.reuse.ratio")).isZero();
  }

  @Test
  void unbindRemovesAnUpstreamsMetersAndBindReplacesThem() {
    List<EndpointStatus> status = List.of(
        new EndpointStatus(A, true, false, CircuitState.CLOSED, 1, 0, 1, 1, 0, 0));
    metrics.bindUpstream("backend", () -> status, () -> 1, () -> 1);
    metrics.bindUpstream("other", () -> status, () -> 1, () -> 1);
    metrics.bindUpstream("backend", () -> status, () -> 2, () -> 6);

    assertThat(registry.find("sluice.proxy.upstream.endpoint.healthy").tag("upstream", "backend")
        .gauges()).hasSize(1);
    assertThat(upstreamValue("sluice.proxy.upstream.connection.reuse.ratio")).isEqualTo(0.75);

    metrics.unbindUpstream("backend");
    metrics.unbindUpstream("never-bound");

    assertThat(registry.getMeters()).noneMatch(m -> "backend".equals(m.getId().getTag("upstream")));
    assertThat(registry.find("sluice.proxy.upstream.endpoint.healthy").tag("upstream", "other")
        .gauge()).isNotNull();
  }

  /**
   * Prometheus gets the percentile histogram (for histogram_quantile across instances) and, from a
   * timer of their own, the P50/P95/P99 quantiles.
   */
  @Test
  void prometheusShowsTheHistogramAndTheQuantiles() {
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    ProxyMetrics onPrometheus = new ProxyMetrics(prometheus);
    RouteMeters api = onPrometheus.route("api", "backend");
    for (int i = 1; i <= 100; i++) {
      api.request(200, TimeUnit.MILLISECONDS.toNanos(i));
    }
    api.request(0, TimeUnit.MILLISECONDS.toNanos(1));
    onPrometheus.bindUpstream("backend", () -> List.of(
        new EndpointStatus(A, true, false, CircuitState.CLOSED, 1, 0, 1, 1, 0, 2)), () -> 1,
        () -> 3);

    String scrape = prometheus.scrape();

    assertThat(scrape).containsPattern(
        "sluice_proxy_request_duration_seconds_bucket\\{[^}]*le=\"0.050331646\"[^}]*} 51\n");
    assertThat(scrape).contains(
        "sluice_proxy_request_duration_seconds_count{route=\"api\",upstream=\"backend\"} 101");
    assertThat(scrape).contains(
        "sluice_proxy_request_duration_seconds_max{route=\"api\",upstream=\"backend\"} 0.1");
    assertThat(scrape).containsPattern(
        "sluice_proxy_request_duration_seconds_bucket\\{[^}]*le=\"\\+Inf\"[^}]*} 101");
    assertThat(scrape).containsPattern(
        "sluice_proxy_request_latency_seconds\\{route=\"api\",upstream=\"backend\","
            + "quantile=\"0.99\"} 0\\.1");
    assertThat(scrape).contains(
        "sluice_proxy_requests_total{route=\"api\",status_class=\"2xx\",upstream=\"backend\"} 100");
    assertThat(scrape).contains(
        "sluice_proxy_requests_total{route=\"api\",status_class=\"error\",upstream=\"backend\"} 1");
    assertThat(scrape).contains(
        "sluice_proxy_upstream_connection_reuse_ratio{upstream=\"backend\"} 0.75");
    assertThat(scrape).contains("sluice_proxy_upstream_endpoint_ejections_total{endpoint=\""
        + "10.0.0.1:8080\",upstream=\"backend\"} 2");
  }

  private double requests(String route, String upstream, String statusClass) {
    return registry.get("sluice.proxy.requests")
        .tags("route", route, "upstream", upstream, "status_class", statusClass).counter().count();
  }

  private double count(String name, String route, String upstream) {
    return registry.get(name).tags("route", route, "upstream", upstream).counter().count();
  }

  private double endpointGauge(String suffix, Endpoint endpoint) {
    return registry.get("sluice.proxy.upstream.endpoint." + suffix)
        .tags("upstream", "backend", "endpoint", endpoint.authority()).gauge().value();
  }

  private double upstreamValue(String name) {
    return registry.get(name).tags("upstream", "backend").gauge().value();
  }
}
