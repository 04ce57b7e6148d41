package dev.sluice.http.upstream;

/**
 * How an {@link UpstreamGroup} chooses an endpoint for a request, among the endpoints that may take
 * one (healthy, not ejected, circuit not open).
 */
public enum LoadBalancing {
  /**
   * Smooth weighted round robin, as nginx does it: over any run of requests as long as the sum of
   * the weights, each endpoint gets exactly its weight's share, interleaved rather than in bursts.
   */
  ROUND_ROBIN,
  /**
   * The endpoint with the fewest outstanding requests (sent or waiting for a connection) relative to
   * its weight, i.e. the least {@code outstanding / weight}; a full scan, with ties broken in
   * rotating order so that idle endpoints share the load. Not power-of-two-choices: groups are small
   * and the scan is exact.
   */
  LEAST_REQUESTS,
  /**
   * Power of two choices: two endpoints drawn at random (by weight), the one with fewer outstanding
   * requests per unit of weight wins. Nearly as even as {@link #LEAST_REQUESTS} and without its
   * herding when many balancers share the same endpoints.
   */
  POWER_OF_TWO_CHOICES,
  /**
   * A ketama ring (MD5, 100 points per unit of weight) keyed by {@link UpstreamRequest#hashKey()}:
   * the same key goes to the same endpoint, and an endpoint that goes away moves only its own keys.
   * An unavailable endpoint is skipped by walking the ring onwards; requests without a hash key are
   * balanced by weighted round robin.
   */
  CONSISTENT_HASH
}
