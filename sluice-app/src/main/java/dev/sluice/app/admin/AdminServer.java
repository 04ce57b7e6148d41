package dev.sluice.app.admin;

import dev.sluice.http.server.ErrorResponder;
import dev.sluice.http.server.HttpServer;
import dev.sluice.http.server.HttpServerSettings;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/** The admin listener: metrics and health endpoints, on the same HTTP engine as the receiver. */
public final class AdminServer implements AutoCloseable {
  private final HttpServer server;

  public AdminServer(InetSocketAddress address, PrometheusMeterRegistry registry,
      BooleanSupplier ready) {
    this.server = new HttpServer(
        HttpServerSettings.builder().address(address).http2(false).maxConnections(256)
            .ioThreads(1).build(),
        http2 -> new AdminHandler(registry, ready),
        ErrorResponder.PLAIN_TEXT);
  }

  public AdminServer start() {
    server.start();
    return this;
  }

  public InetSocketAddress localAddress() {
    return server.localAddress();
  }

  @Override
  public void close() {
    server.close(Duration.ofSeconds(1));
  }
}
