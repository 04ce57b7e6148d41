package dev.sluice.exporter.otlp.internal;

import dev.sluice.http.upstream.UpstreamRequest;
import dev.sluice.http.upstream.UpstreamResponse;
import java.util.concurrent.CompletableFuture;

/**
 * Where requests go: an {@code UpstreamGroup}'s {@code send}. Like it, never throws, fails the
 * future with an {@code UpstreamException} when there is no answer, and releases the request's body
 * exactly once.
 */
@FunctionalInterface
public interface Sender {
  CompletableFuture<UpstreamResponse> send(UpstreamRequest request);
}
