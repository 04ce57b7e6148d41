package dev.sluice.http.upstream;

/**
 * Why an upstream exchange produced no response. {@link #reachedUpstream()} tells whether any byte
 * of the request may have been processed by the upstream, which decides whether a non-idempotent
 * request may be retried.
 */
public final class UpstreamException extends RuntimeException {
  /** What went wrong. */
  public enum Kind {
    /** The connection could not be made (refused, unreachable, connect timeout, TLS failure). */
    CONNECT_FAILED,
    /** The request or response did not complete within the deadline. */
    TIMEOUT,
    /** The connection closed or was reset before the response was complete. */
    CONNECTION_LOST,
    /** The endpoint's circuit breaker is open. */
    CIRCUIT_OPEN,
    /** No endpoint is healthy, or every one is ejected. */
    NO_HEALTHY_ENDPOINT,
    /** The group is closed. */
    CLOSED,
    /** The response was malformed or too large. */
    BAD_RESPONSE,
    /**
     * The group's pending-request queue is full (every connection busy and {@code
     * maxPendingRequests} requests already waiting); nothing was sent.
     */
    OVERLOADED
  }

  private final Kind kind;
  private final Endpoint endpoint;
  private final boolean reachedUpstream;

  public UpstreamException(Kind kind, Endpoint endpoint, boolean reachedUpstream, String message,
      Throwable cause) {
    super(message, cause);
    this.kind = kind;
    this.endpoint = endpoint;
    this.reachedUpstream = reachedUpstream;
  }

  public Kind kind() {
    return kind;
  }

  /** The endpoint tried, or null when none was chosen. */
  public Endpoint endpoint() {
    return endpoint;
  }

  public boolean reachedUpstream() {
    return reachedUpstream;
  }

  @Override
  public String toString() {
    return "UpstreamException(" + kind + (endpoint == null ? "" : ", " + endpoint.authority())
        + (reachedUpstream ? ", reached upstream" : "") + "): " + getMessage();
  }
}
