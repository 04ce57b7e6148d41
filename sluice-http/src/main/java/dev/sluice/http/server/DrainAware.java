package dev.sluice.http.server;

/** A connection handler that knows whether a request is in progress on its connection. */
public interface DrainAware {
  /** True when no request is being read or answered: the connection may be closed at once. */
  boolean idle();
}
