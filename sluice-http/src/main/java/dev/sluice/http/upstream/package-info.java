/**
 * The upstream layer: the HTTP client side of the engine, shared by the OTLP exporter and the
 * reverse proxy. {@link dev.sluice.http.upstream.UpstreamGroup} balances {@link
 * dev.sluice.http.upstream.UpstreamRequest}s over {@link dev.sluice.http.upstream.Endpoint}s and
 * answers with whole {@link dev.sluice.http.upstream.UpstreamResponse}s or an {@link
 * dev.sluice.http.upstream.UpstreamException}.
 *
 * <p>Inside, per group: one control event loop owns all state ({@code Balancer}, {@code
 * EndpointState} with its {@code Breaker}, the {@code Pool}s and every {@code Exchange}); each
 * {@code Conn} runs its channel on any of the group's loops and reports back to the control loop by
 * posting. {@code WireCounter}, first in every connection's pipeline, counts the bytes that really
 * left, which is what proves that a failed write reached nothing and may be sent again.
 */
package dev.sluice.http.upstream;
