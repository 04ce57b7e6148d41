package dev.sluice.app;

import dev.sluice.app.admin.AdminServer;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.Pipeline;
import dev.sluice.pipeline.TelemetrySink;
import dev.sluice.queue.DurableQueue;
import dev.sluice.kafka.bridge.TransactionalBridge;
import dev.sluice.kafka.receiver.KafkaReceiver;
import dev.sluice.queue.FsyncPolicy;
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
  private final TelemetrySink pipeline;
  private final AutoCloseable pipelineCloser;
  private final OtlpHttpReceiver receiver;
  private final KafkaReceiver kafkaReceiver;
  private final List<TransactionalBridge> bridges;
  private final AdminServer admin;
  private volatile boolean closed;

  private Sluice(SluiceConfig config, PrometheusMeterRegistry registry, TelemetrySink pipeline,
      AutoCloseable pipelineCloser, OtlpHttpReceiver receiver, KafkaReceiver kafkaReceiver,
      List<TransactionalBridge> bridges, AdminServer admin) {
    this.config = config;
    this.registry = registry;
    this.pipeline = pipeline;
    this.pipelineCloser = pipelineCloser;
    this.kafkaReceiver = kafkaReceiver;
    this.bridges = bridges;
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
    TelemetrySink pipeline;
    AutoCloseable closer;
    Runnable startPipeline;
    if (config.queue().durable()) {
      DurableQueue queue = openQueue(config.queue(), exporters);
      DurablePipeline durable = DurablePipeline.builder().queue(queue).exporters(exporters)
          .meterRegistry(registry).build();
      pipeline = durable;
      closer = durable;
      startPipeline = durable::start;
    } else {
      Pipeline memory = new Pipeline(exporters, config.maxInFlightBytes());
      registry.gauge("sluice.pipeline.in_flight_bytes", memory, Pipeline::inFlightBytes);
      pipeline = memory;
      closer = memory;
      startPipeline = memory::start;
    }
    OtlpHttpReceiver receiver = null;
    KafkaReceiver kafka = null;
    List<TransactionalBridge> bridges = new ArrayList<>();
    AdminServer admin = null;
    try {
      startPipeline.run();
      receiver = new OtlpHttpReceiver(config.receiver(), pipeline, registry).start();
      if (config.kafkaReceiver() != null) {
        kafka = config.kafkaReceiver().factory().apply(pipeline, registry);
        kafka.start();
      }
      for (SluiceConfig.BridgeSpec spec : config.bridges()) {
        TransactionalBridge bridge = spec.factory().apply(registry);
        bridges.add(bridge);
        bridge.start();
      }
      admin = new AdminServer(config.admin(), registry, pipeline::ready).start();
      Sluice s = new Sluice(config, registry, pipeline, closer, receiver, kafka, bridges, admin);
      log.info(s.describe());
      return s;
    } catch (RuntimeException e) {
      if (admin != null) {
        admin.close();
      }
      bridges.forEach(TransactionalBridge::close);
      if (kafka != null) {
        kafka.close();
      }
      if (receiver != null) {
        receiver.close(Duration.ZERO);
      }
      closeQuietly(closer);
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
        + (config.receiver().auth() == null ? "" : ", auth on") + ")"
        + (config.kafkaReceiver() == null ? "" : ", receiving from Kafka "
            + config.kafkaReceiver().description())
        + (config.bridges().isEmpty() ? "" : ", bridges "
            + String.join(", ", config.bridges().stream().map(SluiceConfig.BridgeSpec::description)
                .toList()))
        + ", admin on http://"
        + admin.localAddress().getHostString() + ":" + admin.localAddress().getPort()
        + ", " + queueText() + ", exporting to " + out + ", data_dir "
        + config.dataDir().toAbsolutePath().normalize();
  }

  private String queueText() {
    SluiceConfig.QueueSpec q = config.queue();
    return q.durable()
        ? "durable queue in " + q.directory() + " (fsync " + q.fsync() + ", max " + q.maxBytes()
            + " bytes)"
        : "memory queue (max " + config.maxInFlightBytes() + " bytes in flight)";
  }

  public OtlpHttpReceiver receiver() {
    return receiver;
  }

  public AdminServer admin() {
    return admin;
  }

  public TelemetrySink pipeline() {
    return pipeline;
  }

  private static DurableQueue openQueue(SluiceConfig.QueueSpec spec, List<Exporter> exporters) {
    FsyncPolicy fsync = spec.fsync().equals("always") ? FsyncPolicy.always()
        : spec.fsync().equals("none") ? FsyncPolicy.none()
        : FsyncPolicy.interval(spec.fsyncInterval());
    try {
      return DurableQueue.builder().directory(spec.directory()).maxBytes(spec.maxBytes())
          .segmentBytes(spec.segmentBytes()).fsync(fsync).build();
    } catch (IOException e) {
      exporters.forEach(Exporter::close);
      throw new UncheckedIOException("cannot open the queue in " + spec.directory() + ": "
          + e.getMessage(), e);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("closing after a failed start: {}", e.toString());
    }
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
    bridges.forEach(TransactionalBridge::close);
    if (kafkaReceiver != null) {
      kafkaReceiver.close(); // commits what the pipeline has durably accepted
    }
    receiver.close(drain);
    closeQuietly(pipelineCloser);
    admin.close();
    registry.close();
    log.info("Sluice stopped");
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(10));
  }
}
