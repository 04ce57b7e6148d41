package dev.sluice.loadgen;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.pipeline.Pipeline;
import dev.sluice.receiver.otlp.OtlpHttpReceiver;
import dev.sluice.receiver.otlp.OtlpHttpReceiverSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/**
 * A real {@link OtlpHttpReceiver} on 127.0.0.1 and a free port, whose pipeline's only exporter is
 * a {@link CollectingExporter}.
 */
final class TestReceiver implements AutoCloseable {
  final CollectingExporter exporter = new CollectingExporter();
  final Pipeline pipeline;
  final OtlpHttpReceiver receiver;

  private TestReceiver(Consumer<OtlpHttpReceiverSettings.Builder> receiverSettings,
      Consumer<HttpServerSettings.Builder> serverSettings) {
    pipeline = new Pipeline(List.of(exporter), 256L * 1024 * 1024);
    pipeline.start();
    HttpServerSettings.Builder server = HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0));
    serverSettings.accept(server);
    OtlpHttpReceiverSettings.Builder b = OtlpHttpReceiverSettings.builder().server(server.build());
    receiverSettings.accept(b);
    receiver = new OtlpHttpReceiver(b.build(), pipeline, new SimpleMeterRegistry()).start();
  }

  static TestReceiver start() {
    return new TestReceiver(b -> { }, b -> { });
  }

  static TestReceiver start(Consumer<OtlpHttpReceiverSettings.Builder> receiverSettings,
      Consumer<HttpServerSettings.Builder> serverSettings) {
    return new TestReceiver(receiverSettings, serverSettings);
  }

  int port() {
    return receiver.localAddress().getPort();
  }

  /** {@code http://127.0.0.1:PORT}, no path. */
  String url() {
    return "http://127.0.0.1:" + port();
  }

  @Override
  public void close() {
    receiver.close(Duration.ofSeconds(2));
    pipeline.close();
  }
}
