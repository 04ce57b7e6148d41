package dev.sluice.http.upstream;

import io.netty.util.concurrent.ScheduledFuture;

/**
 * What a group knows of one endpoint: its pools, health, ejection, circuit breaker and counters.
 * Control event loop only.
 */
final class EndpointState {
  final Endpoint endpoint;
  final int weight;
  /** The endpoint's base path without a trailing slash ("" for none). */
  final String basePath;
  /** The Host header for it: host, and the port when it is not the scheme's default. */
  final String hostHeader;
  /** The host to dial and to name in SNI, without IPv6 brackets. */
  final String host;
  final Pool pool;
  /** The health checks' own pool of one connection, or null without checks. */
  final Pool healthPool;
  final Breaker breaker;

  boolean healthy = true;
  int checkSuccesses;
  int checkFailures;
  ScheduledFuture<?> nextCheck;

  boolean ejected;
  int consecutiveFailures;
  int ejections;
  /** Ejection time multiplier (Envoy's ejection count), decaying while in rotation. */
  int ejectionMultiplier;
  long unejectedAt;
  ScheduledFuture<?> uneject;

  int outstanding;
  long totalRequests;
  long totalFailures;

  EndpointState(UpstreamGroup group, Endpoint endpoint, CircuitBreakerSettings breaker,
      boolean healthChecks) {
    this.endpoint = endpoint;
    this.weight = endpoint.weight();
    String path = endpoint.uri().getRawPath();
    if (path == null) {
      path = "";
    }
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    this.basePath = path;
    String uriHost = endpoint.uri().getHost();
    this.hostHeader = endpoint.uri().getPort() < 0 ? uriHost : uriHost + ":" + endpoint.port();
    this.host = uriHost.startsWith("[") && uriHost.endsWith("]")
        ? uriHost.substring(1, uriHost.length() - 1) : uriHost;
    this.breaker = breaker == null ? null : new Breaker(breaker);
    this.pool = new Pool(group, this, false);
    this.healthPool = healthChecks ? new Pool(group, this, true) : null;
  }

  CircuitState circuit(long now) {
    return breaker == null ? CircuitState.CLOSED : breaker.state(now);
  }

  /** Healthy and not ejected: a candidate, circuit aside. */
  boolean inRotation() {
    return healthy && !ejected;
  }

  /** The request target for {@code path} on this endpoint. */
  String target(String path) {
    if (path.isEmpty() || path.charAt(0) != '/') {
      path = "/" + path;
    }
    return basePath + path;
  }

  EndpointStatus status(long now) {
    return new EndpointStatus(endpoint, healthy, ejected, circuit(now), outstanding,
        pool.pendingCount(), pool.openConnections(), totalRequests, totalFailures, ejections);
  }
}
