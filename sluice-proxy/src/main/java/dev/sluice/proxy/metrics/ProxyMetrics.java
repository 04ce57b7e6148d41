package dev.sluice.proxy.metrics;

import dev.sluice.http.upstream.CircuitState;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.EndpointStatus;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The reverse proxy's meters: per route and upstream ({@link RouteMeters}), and per upstream group
 * and endpoint (bound with {@link #bindUpstream}).
 *
 * <pre>{@code
 * ProxyMetrics metrics = new ProxyMetrics(registry);
 * RouteMeters api = metrics.route("api", "backend");   // keep it with the route
 * api.request(200, System.nanoTime() - started);
 * metrics.bindUpstream("backend", group::status, group::connectionsOpened, group::reusedRequests);
 * }</pre>
 *
 * <p>Per route and upstream (tags {@code route}, {@code upstream}; {@code none} for a null name):
 * {@code sluice.proxy.requests} (also tagged {@code status_class}: {@code 1xx} to {@code 5xx}, or
 * {@code error} when no response was sent), {@code sluice.proxy.request.duration} (a timer with a
 * percentile histogram, for {@code histogram_quantile} across instances), {@code
 * sluice.proxy.request.latency} (the same times as P50, P95 and P99 of the last minute), {@code
 * sluice.proxy.retries}, {@code sluice.proxy.rate_limited}, {@code sluice.proxy.denied}, {@code
 * sluice.proxy.upstream.failures}.
 *
 * <p>Per endpoint (tags {@code upstream}, {@code endpoint} = {@code host:port}): the gauges {@code
 * sluice.proxy.upstream.endpoint.healthy} and {@code .ejected} (1 or 0), {@code .circuit} ({@value
 * #CIRCUIT_CLOSED} closed, {@value #CIRCUIT_HALF_OPEN} half-open, {@value #CIRCUIT_OPEN} open),
 * {@code .outstanding} (requests chosen for it and not finished), {@code .connections} (open), and
 * the counter {@code .ejections}. Per upstream (tag {@code upstream}): the counters {@code
 * sluice.proxy.upstream.connections.opened} and {@code sluice.proxy.upstream.requests.reused}, and
 * the gauge {@code sluice.proxy.upstream.connection.reuse.ratio} = reused / (reused + opened), 0
 * before the first request.
 *
 * <p>Per proxy: the counter {@code sluice.proxy.http1.handovers}, HTTP/1.1 connections the raw
 * fast path gave to the standard HTTP handlers (at a request it does not take: an upgrade, a
 * chunked body, a route whose header rules name traceparent or Expect, an HTTP/2 upstream, a
 * malformed request), and the
 * counter {@code sluice.proxy.http2.streams.standard}, HTTP/2 streams the raw fast path left to the
 * standard per-stream handlers (for the same reasons, or a request it does not take: no route, a
 * header it cannot judge, an {@code Expect}).
 */
public final class ProxyMetrics {
  /** {@code sluice.proxy.upstream.endpoint.circuit} of a closed circuit: calls flow. */
  public static final int CIRCUIT_CLOSED = 0;

  /** {@code sluice.proxy.upstream.endpoint.circuit} of a half-open circuit: trial calls. */
  public static final int CIRCUIT_HALF_OPEN = 1;

  /** {@code sluice.proxy.upstream.endpoint.circuit} of an open circuit: calls fail fast. */
  public static final int CIRCUIT_OPEN = 2;

  /** The tag value standing for a null route or upstream name. */
  public static final String NONE = "none";

  // A scrape reads every gauge of an upstream within moments; one status snapshot serves them all.
  private static final long SNAPSHOT_MAX_AGE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

  private final MeterRegistry registry;
  private final ConcurrentHashMap<RouteKey, RouteMeters> routes = new ConcurrentHashMap<>();
  private final Map<String, List<Meter>> upstreams = new HashMap<>(); // guarded by itself

  private final Counter handOvers;
  private final Counter standardStreams;

  /** Proxy meters registered in {@code registry}. */
  public ProxyMetrics(MeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.handOvers = Counter.builder("sluice.proxy.http1.handovers")
        .description("HTTP/1.1 connections the fast path gave to the standard HTTP handlers")
        .register(registry);
    this.standardStreams = Counter.builder("sluice.proxy.http2.streams.standard")
        .description("HTTP/2 streams the fast path left to the standard HTTP handlers")
        .register(registry);
  }

  /** An HTTP/1.1 connection left the fast path. */
  public void handedOver() {
    handOvers.increment();
  }

  /** An HTTP/2 stream was left to the standard handlers. */
  public void streamLeftToStandard() {
    standardStreams.increment();
  }

  /**
   * The meters of a route and upstream pair, made on first use and the same object afterwards;
   * keep it rather than call this per request.
   */
  public RouteMeters route(String route, String upstream) {
    return routes.computeIfAbsent(new RouteKey(orNone(route), orNone(upstream)),
        k -> new RouteMeters(registry, k.route, k.upstream));
  }

  /**
   * Removes the meters of a route and upstream pair that a reload took away; a request still in
   * flight on them records into meters no longer published.
   */
  public void removeRoute(String route, String upstream) {
    RouteMeters m = routes.remove(new RouteKey(orNone(route), orNone(upstream)));
    if (m != null) {
      m.removeFrom(registry);
    }
  }

  /**
   * Registers the meters of an upstream group, replacing those bound under {@code name} before.
   * The endpoints are those {@code status} lists now; bind again when they change.
   *
   * @param name the upstream group's name, the {@code upstream} tag
   * @param status a snapshot of every endpoint; called on scrapes, at most every 200 ms
   * @param connectionsOpened connections the group's pools opened so far
   * @param requestsOnReusedConnections requests sent on a connection that served one before
   */
  public void bindUpstream(String name, Supplier<List<EndpointStatus>> status,
      LongSupplier connectionsOpened, LongSupplier requestsOnReusedConnections) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(status, "status");
    Objects.requireNonNull(connectionsOpened, "connectionsOpened");
    Objects.requireNonNull(requestsOnReusedConnections, "requestsOnReusedConnections");
    synchronized (upstreams) {
      unbindUpstream(name);
      Snapshots snapshots = new Snapshots(status);
      Tags upstreamTags = Tags.of("upstream", name);
      List<Meter> meters = new ArrayList<>();
      for (EndpointStatus initial : status.get()) {
        Endpoint endpoint = initial.endpoint();
        Tags tags = upstreamTags.and("endpoint", endpoint.authority());
        meters.add(gauge("sluice.proxy.upstream.endpoint.healthy",
            "1 while the health check finds the endpoint healthy", tags, snapshots,
            endpoint, s -> s.healthy() ? 1 : 0));
        meters.add(gauge("sluice.proxy.upstream.endpoint.ejected",
            "1 while outlier detection keeps the endpoint out of rotation", tags, snapshots,
            endpoint, s -> s.ejected() ? 1 : 0));
        meters.add(gauge("sluice.proxy.upstream.endpoint.circuit",
            "The endpoint's circuit breaker: 0 closed, 1 half-open, 2 open", tags, snapshots,
            endpoint, s -> circuit(s.circuit())));
        meters.add(gauge("sluice.proxy.upstream.endpoint.outstanding",
            "Requests chosen for the endpoint and not finished", tags, snapshots, endpoint,
            EndpointStatus::outstandingRequests));
        meters.add(gauge("sluice.proxy.upstream.endpoint.connections",
            "Connections open to the endpoint", tags, snapshots, endpoint,
            EndpointStatus::openConnections));
        meters.add(FunctionCounter.builder("sluice.proxy.upstream.endpoint.ejections", snapshots,
                s -> value(s.of(endpoint), EndpointStatus::ejections))
            .description("Times the endpoint was ejected by outlier detection")
            .tags(tags)
            .register(registry));
      }
      meters.add(FunctionCounter.builder("sluice.proxy.upstream.connections.opened",
              connectionsOpened, LongSupplier::getAsLong)
          .description("Connections opened to the upstream's endpoints")
          .tags(upstreamTags)
          .register(registry));
      meters.add(FunctionCounter.builder("sluice.proxy.upstream.requests.reused",
              requestsOnReusedConnections, LongSupplier::getAsLong)
          .description("Requests sent on a connection that had served one before")
          .tags(upstreamTags)
          .register(registry));
      LongSupplier[] counts = {connectionsOpened, requestsOnReusedConnections};
      meters.add(Gauge.builder("sluice.proxy.upstream.connection.reuse.ratio", counts,
              ProxyMetrics::reuseRatio)
          .description("Requests on reused connections / (those + connections opened)")
          .tags(upstreamTags)
          .strongReference(true)
          .register(registry));
      upstreams.put(name, meters);
    }
  }

  /** Removes the meters bound under {@code name}, if any; for reloads that drop or change it. */
  public void unbindUpstream(String name) {
    synchronized (upstreams) {
      List<Meter> meters = upstreams.remove(name);
      if (meters != null) {
        meters.forEach(registry::remove);
      }
    }
  }

  private Gauge gauge(String name, String description, Tags tags, Snapshots snapshots,
      Endpoint endpoint, ToDoubleFunction<EndpointStatus> value) {
    return Gauge.builder(name, snapshots, s -> value(s.of(endpoint), value))
        .description(description)
        .tags(tags)
        .strongReference(true)
        .register(registry);
  }

  private static double value(EndpointStatus status, ToDoubleFunction<EndpointStatus> f) {
    return status == null ? Double.NaN : f.applyAsDouble(status);
  }

  private static double circuit(CircuitState state) {
    return switch (state) {
      case CLOSED -> CIRCUIT_CLOSED;
      case HALF_OPEN -> CIRCUIT_HALF_OPEN;
      case OPEN -> CIRCUIT_OPEN;
    };
  }

  private static double reuseRatio(LongSupplier[] counts) {
    double opened = counts[0].getAsLong();
    double reused = counts[1].getAsLong();
    return reused + opened == 0 ? 0 : reused / (reused + opened);
  }

  private static String orNone(String s) {
    return s == null ? NONE : s;
  }

  private record RouteKey(String route, String upstream) {}

  /** The latest status of an upstream's endpoints, taken again when older than 200 ms. */
  private static final class Snapshots {
    private final Supplier<List<EndpointStatus>> source;
    private volatile Snapshot last;

    Snapshots(Supplier<List<EndpointStatus>> source) {
      this.source = source;
    }

    EndpointStatus of(Endpoint endpoint) {
      long now = System.nanoTime();
      Snapshot s = last;
      if (s == null || now - s.takenNanos > SNAPSHOT_MAX_AGE_NANOS) {
        Map<Endpoint, EndpointStatus> byEndpoint = new HashMap<>();
        for (EndpointStatus e : source.get()) {
          byEndpoint.put(e.endpoint(), e);
        }
        s = new Snapshot(now, byEndpoint);
        last = s;
      }
      return s.byEndpoint.get(endpoint);
    }
  }

  private record Snapshot(long takenNanos, Map<Endpoint, EndpointStatus> byEndpoint) {}
}
