package dev.sluice.app;

import dev.sluice.app.admin.AdminServer;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.Pipeline;
import dev.sluice.receiver.otlp.OtlpHttpReceiver;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Sluice: the exporters, the pipeline, the OTLP/HTTP receiver and the admin listener,
 * started from a {@link SluiceConfig} and stopped in the reverse order so that nothing accepted is
 * left behind.
 */
public final class Sluice implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Sluice.class);

  private final SluiceConfig config;
  private final PrometheusMeterRegistry registry;
  private final Pipeline pipeline;
  private final OtlpHttpReceiver receiver;
  private final AdminServer admin;
  private volatile boolean closed;

  private Sluice(SluiceConfig config, PrometheusMeterRegistry registry, Pipeline pipeline,
      OtlpHttpReceiver receiver, AdminServer admin) {
    this.config = config;
    this.registry = registry;
    this.pipeline = pipeline;
    this.receiver = receiver;
    this.admin = admin;
  }

  /**
   * Starts everything the configuration describes.
   *
   * @throws UncheckedIOException when a port cannot be bound or the data directory not created
   */
  public static Sluice start(SluiceConfig config) {
    try {
      Files.createDirectories(config.dataDir());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create data_dir " + config.dataDir() + ": " + e, e);
    }
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    List<Exporter> exporters = new ArrayList<>();
    for (SluiceConfig.ExporterSpec spec : config.exporters()) {
      exporters.add(spec.factory().apply(registry));
    }
    Pipeline pipeline = new Pipeline(exporters, config.maxInFlightBytes());
    registry.gauge("sluice.pipeline.in_flight_bytes", pipeline, Pipeline::inFlightBytes);
    OtlpHttpReceiver receiver = null;
    AdminServer admin = null;
    try {
      pipeline.start();
      receiver = new OtlpHttpReceiver(config.receiver(), pipeline, registry).start();
      admin = new AdminServer(config.admin(), registry, pipeline::ready).start();
      Sluice s = new Sluice(config, registry, pipeline, receiver, admin);
      log.info(s.describe());
      return s;
    } catch (RuntimeException e) {
      if (admin != null) {
        admin.close();
      }
      if (receiver != null) {
        receiver.close(Duration.ZERO);
      }
      pipeline.close();
      registry.close();
      throw e;
    }
  }

  /** The start-up line: what listens where and where the data goes. */
  String describe() {
    var addr = receiver.localAddress();
    String scheme = config.receiver().server().tls() == null ? "http" : "https";
    StringJoiner paths = new StringJoiner(" ");
    for (Signal s : Signal.values()) {
      paths.add(config.receiver().path(s));
    }
    StringJoiner out = new StringJoiner(", ");
    config.exporters().forEach(e -> out.add(e.description()));
    return "Sluice " + Version.get() + " receiving OTLP/HTTP on " + scheme + "://"
        + addr.getHostString() + ":" + addr.getPort() + " (" + paths + ", " + receiver.transport()
        + (config.receiver().auth() == null ? "" : ", auth on") + "), admin on http://"
        + admin.localAddress().getHostString() + ":" + admin.localAddress().getPort()
        + ", exporting to " + out + ", data_dir " + config.dataDir().toAbsolutePath().normalize();
  }

  public OtlpHttpReceiver receiver() {
    return receiver;
  }

  public AdminServer admin() {
    return admin;
  }

  public Pipeline pipeline() {
    return pipeline;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /**
   * Stops taking requests, lets those in progress finish (up to {@code drain}), then lets the
   * exporters write everything they were handed. Idempotent.
   */
  public synchronized void close(Duration drain) {
    if (closed) {
      return;
    }
    closed = true;
    receiver.close(drain);
    pipeline.close();
    admin.close();
    registry.close();
    log.info("Sluice stopped");
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(10));
  }
}
