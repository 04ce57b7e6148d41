package dev.sluice.http.upstream;

/**
 * A snapshot of one endpoint of an {@link UpstreamGroup}, for metrics and the admin API.
 *
 * @param healthy false while the active health check finds it unhealthy (always true without one)
 * @param ejected true while passive outlier detection keeps it out of rotation
 * @param circuit the circuit breaker's state (always CLOSED without a breaker)
 * @param outstandingRequests requests chosen for it and not finished, waiting ones included
 * @param pendingRequests of those, the ones waiting for a connection or stream
 * @param openConnections connections established now (HTTP/1.1 and HTTP/2), health checks' aside
 * @param totalRequests requests sent to it since the group was built
 * @param totalFailures of those, the failed ones: no response, or a 5xx
 * @param ejections how many times it was ejected
 */
public record EndpointStatus(Endpoint endpoint, boolean healthy, boolean ejected,
    CircuitState circuit, int outstandingRequests, int pendingRequests, int openConnections,
    long totalRequests, long totalFailures, int ejections) {

  /** Whether the endpoint may be chosen for a request now. */
  public boolean available() {
    return healthy && !ejected && circuit != CircuitState.OPEN;
  }
}
