package dev.sluice.http.upstream;

/** The state of an endpoint's circuit breaker. */
public enum CircuitState {
  /** Calls flow; their outcomes are counted in the sliding window. */
  CLOSED,
  /** Calls fail fast with {@link UpstreamException.Kind#CIRCUIT_OPEN} until the open time ends. */
  OPEN,
  /** A few trial calls are let through; their outcome closes or reopens the circuit. */
  HALF_OPEN
}
