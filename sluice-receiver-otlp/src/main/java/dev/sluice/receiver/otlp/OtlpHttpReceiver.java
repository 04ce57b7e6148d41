package dev.sluice.receiver.otlp;

import dev.sluice.http.server.HttpServer;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.TelemetrySink;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.StringJoiner;

/**
 * The OTLP/HTTP receiver: serves {@code /v1/traces}, {@code /v1/metrics} and {@code /v1/logs} (or
 * the configured paths) in protobuf and JSON, uncompressed or with gzip, deflate or zstd, over
 * HTTP/1.1, h2c and TLS, and hands what it accepts to a {@link TelemetrySink}: the
 * in-memory pipeline or the durable one.
 *
 * <pre>{@code
 * OtlpHttpReceiver receiver = new OtlpHttpReceiver(OtlpHttpReceiverSettings.builder().build(),
 *     pipeline, meterRegistry).start();
 * }</pre>
 *
 * <p>It answers 200 only when the sink has the data (on disk, for the durable pipeline), 503 with {@code
 * Retry-After} when the pipeline is full, and a {@code google.rpc.Status} body naming the problem
 * for every other refusal.
 */
public final class OtlpHttpReceiver implements AutoCloseable {
  private final OtlpHttpReceiverSettings settings;
  private final TelemetrySink pipeline;
  private final ReceiverMetrics metrics;
  private final HttpServer server;
  private final String pathsText;

  public OtlpHttpReceiver(OtlpHttpReceiverSettings settings, TelemetrySink pipeline,
      MeterRegistry registry) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.pipeline = Objects.requireNonNull(pipeline, "pipeline");
    this.metrics = new ReceiverMetrics(registry);
    this.server = new HttpServer(settings.server(), http2 -> new OtlpHttpHandler(this, http2),
        OtlpResponses::error);
    StringJoiner j = new StringJoiner(", ");
    for (Signal s : Signal.values()) {
      j.add(settings.path(s));
    }
    this.pathsText = j.toString();
    metrics.gauge("sluice.receiver.connections", "Open connections to the receiver", server,
        HttpServer::openConnections);
    metrics.gauge("sluice.receiver.connections.refused",
        "Connections closed at once because max_connections was reached", server,
        HttpServer::refusedConnections);
  }

  /** Binds the port. */
  public OtlpHttpReceiver start() {
    server.start();
    return this;
  }

  public InetSocketAddress localAddress() {
    return server.localAddress();
  }

  /** The transport in use, {@code epoll} or {@code nio}. */
  public String transport() {
    return server.transport().toString();
  }

  public OtlpHttpReceiverSettings settings() {
    return settings;
  }

  TelemetrySink pipeline() {
    return pipeline;
  }

  ReceiverMetrics metrics() {
    return metrics;
  }

  String pathsText() {
    return pathsText;
  }

  Signal signalAt(String path) {
    for (Signal s : Signal.values()) {
      if (settings.path(s).equals(path)) {
        return s;
      }
    }
    return null;
  }

  /** Stops accepting and waits up to {@code drain} for requests in progress. Idempotent. */
  public void close(Duration drain) {
    server.close(drain);
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(10));
  }
}
