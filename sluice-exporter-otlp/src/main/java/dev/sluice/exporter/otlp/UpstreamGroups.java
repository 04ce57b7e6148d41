package dev.sluice.exporter.otlp;

import dev.sluice.exporter.otlp.internal.Upstream;
import dev.sluice.http.upstream.CircuitState;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.EndpointStatus;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.UpstreamGroup;
import dev.sluice.http.upstream.UpstreamRequest;
import dev.sluice.http.upstream.UpstreamResponse;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/** Makes the exporter's upstream groups from its settings. */
final class UpstreamGroups {
  private UpstreamGroups() {}

  static Upstream create(String groupName, List<Endpoint> endpoints, boolean consistentHash,
      OtlpHttpExporter.Builder s) {
    UpstreamGroup.Builder b = UpstreamGroup.builder()
        .name(groupName)
        .endpoints(endpoints)
        .loadBalancing(consistentHash ? LoadBalancing.CONSISTENT_HASH : s.loadBalancing())
        .connectTimeout(s.connectTimeout())
        .requestTimeout(s.timeout())
        .maxConnectionsPerEndpoint(s.maxConnectionsPerEndpoint())
        .tls(s.tls())
        .healthCheck(s.healthCheck())
        .passiveEjection(s.passiveEjection())
        .circuitBreaker(s.circuitBreaker());
    if (s.http2() != null) {
      b.http2(s.http2());
    }
    if (s.eventLoopGroup() != null) {
      b.eventLoopGroup(s.eventLoopGroup());
    }
    return new GroupUpstream(b.build());
  }

  /** An {@link UpstreamGroup} as the exporter uses it, with its status as gauges. */
  static final class GroupUpstream implements Upstream {
    private static final long STATUS_TTL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final UpstreamGroup group;
    private List<EndpointStatus> status; // guarded by this
    private long statusAt;

    GroupUpstream(UpstreamGroup group) {
      this.group = group;
    }

    @Override
    public CompletableFuture<UpstreamResponse> send(UpstreamRequest request) {
      return group.send(request);
    }

    /** The group's status, at most a second old: gauges are read one by one. */
    private synchronized EndpointStatus status(int index) {
      long now = System.nanoTime();
      if (status == null || now - statusAt > STATUS_TTL_NANOS) {
        status = group.status();
        statusAt = now;
      }
      return status.get(index);
    }

    @Override
    public void registerMetrics(MeterRegistry registry, String exporter) {
      List<Endpoint> endpoints = group.endpoints();
      for (int i = 0; i < endpoints.size(); i++) {
        int index = i;
        String endpoint = endpoints.get(i).authority();
        gauge(registry, "sluice.exporter.endpoint.healthy",
            "1 while the endpoint is healthy and not ejected, else 0", exporter, endpoint,
            u -> {
              EndpointStatus st = u.status(index);
              return st.healthy() && !st.ejected() ? 1 : 0;
            });
        gauge(registry, "sluice.exporter.endpoint.circuit.state",
            "The endpoint's circuit breaker: 0 closed, 1 half-open, 2 open", exporter, endpoint,
            u -> circuit(u.status(index).circuit()));
        gauge(registry, "sluice.exporter.endpoint.outstanding.requests",
            "Requests sent to the endpoint or waiting for one of its connections", exporter,
            endpoint, u -> u.status(index).outstandingRequests());
      }
    }

    private void gauge(MeterRegistry registry, String name, String description, String exporter,
        String endpoint, ToDoubleFunction<GroupUpstream> f) {
      Gauge.builder(name, this, f).description(description)
          .tag("exporter", exporter).tag("endpoint", endpoint).tag("group", group.name())
          .register(registry);
    }

    static int circuit(CircuitState state) {
      switch (state) {
        case OPEN:
          return 2;
        case HALF_OPEN:
          return 1;
        default:
          return 0;
      }
    }

    @Override
    public void close() {
      group.close();
    }
  }
}
