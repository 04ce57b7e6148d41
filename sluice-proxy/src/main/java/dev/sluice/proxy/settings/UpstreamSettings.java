package dev.sluice.proxy.settings;

import dev.sluice.http.upstream.CircuitBreakerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.http.upstream.UpstreamTls;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * A named group of upstream endpoints and how the proxy uses them.
 *
 * @param hashBy what a consistent-hash group hashes (null: the client address)
 * @param healthCheck active checks, or null for none
 * @param passiveEjection ejection after consecutive failures, or null for none
 * @param circuitBreaker the per-endpoint failure-rate breaker, or null for none
 * @param limits the group's concurrency thresholds (Envoy's circuit-breaking limits)
 * @param tls TLS to the endpoints with an https URL
 * @param http2 true: HTTP/2 (prior knowledge on cleartext); false: HTTP/1.1 only; null: ALPN
 *     decides over TLS, HTTP/1.1 on cleartext
 */
public record UpstreamSettings(String name, List<Endpoint> endpoints, LoadBalancing loadBalancing,
    HashKey hashBy, HealthCheck healthCheck, PassiveEjection passiveEjection,
    CircuitBreakerSettings circuitBreaker, Limits limits, UpstreamTls tls, Boolean http2,
    Duration connectTimeout) {
  public UpstreamSettings {
    Names.check(name, "upstream");
    endpoints = List.copyOf(endpoints);
    if (endpoints.isEmpty()) {
      throw new IllegalArgumentException("upstream " + name + " has no endpoints");
    }
    Objects.requireNonNull(loadBalancing, "loadBalancing");
    Objects.requireNonNull(limits, "limits");
    Objects.requireNonNull(tls, "tls");
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    if (connectTimeout.isNegative() || connectTimeout.isZero()) {
      throw new IllegalArgumentException("upstream " + name + ": connect timeout must be positive");
    }
  }

  /** What a consistent hash is computed from. */
  public record HashKey(Source source, String name) {
    public enum Source { HEADER, COOKIE, CLIENT_ADDRESS }

    public HashKey {
      Objects.requireNonNull(source, "source");
      if (source != Source.CLIENT_ADDRESS && (name == null || name.isBlank())) {
        throw new IllegalArgumentException("hashing by " + source.name().toLowerCase()
            + " needs the " + source.name().toLowerCase() + "'s name");
      }
    }

    public static HashKey clientAddress() {
      return new HashKey(Source.CLIENT_ADDRESS, null);
    }
  }

  /**
   * Envoy's circuit-breaking thresholds for the group: beyond them a request is answered 503 at
   * once instead of waiting.
   *
   * @param maxConnectionsPerEndpoint connections open to each endpoint
   * @param maxPendingRequests requests waiting for a connection, across the group
   * @param maxActiveRequests requests in progress, across the group
   * @param maxActiveRetries retries in progress, across the group
   */
  public record Limits(int maxConnectionsPerEndpoint, int maxPendingRequests,
      int maxActiveRequests, int maxActiveRetries) {
    public Limits {
      if (maxConnectionsPerEndpoint < 1 || maxPendingRequests < 0 || maxActiveRequests < 1
          || maxActiveRetries < 0) {
        throw new IllegalArgumentException("upstream limits must be positive: " + this);
      }
    }

    /** 1024 connections per endpoint, 1024 pending, 1024 active requests, 3 retries. */
    public static Limits defaults() {
      return new Limits(1024, 1024, 1024, 3);
    }
  }
}
