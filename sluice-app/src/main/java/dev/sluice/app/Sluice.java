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
import dev.sluice.proxy.ReverseProxy;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.receiver.otlp.OtlpHttpReceiver;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Sluice: the exporters, the pipeline, the OTLP/HTTP receiver, the reverse proxy and the
 * admin listener, started from a {@link SluiceConfig} and stopped in the reverse order so that
 * nothing accepted is left behind: the proxy drains first, then the receivers, then the pipeline.
 * Without a receiver (and without proxy spans to export) no pipeline is started at all.
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
  private final ReverseProxy proxy;
  private final AdminServer admin;
  private volatile boolean closed;

  private Sluice(SluiceConfig config, PrometheusMeterRegistry registry, TelemetrySink pipeline,
      AutoCloseable pipelineCloser, OtlpHttpReceiver receiver, KafkaReceiver kafkaReceiver,
      List<TransactionalBridge> bridges, ReverseProxy proxy, AdminServer admin) {
    this.config = config;
    this.proxy = proxy;
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
    boolean withPipeline = config.needsPipeline();
    if (withPipeline || !config.bridges().isEmpty()) {
      try {
        Files.createDirectories(config.dataDir());
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create data_dir " + config.dataDir() + ": " + e, e);
      }
    }
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    TelemetrySink pipeline = null;
    AutoCloseable closer = () -> {};
    Runnable startPipeline = () -> {};
    if (withPipeline) {
      List<Exporter> exporters = new ArrayList<>();
      for (SluiceConfig.ExporterSpec spec : config.exporters()) {
        exporters.add(spec.factory().apply(registry));
      }
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
    }
    OtlpHttpReceiver receiver = null;
    KafkaReceiver kafka = null;
    List<TransactionalBridge> bridges = new ArrayList<>();
    ReverseProxy proxy = null;
    AdminServer admin = null;
    try {
      startPipeline.run();
      if (config.receiver() != null) {
        receiver = new OtlpHttpReceiver(config.receiver(), pipeline, registry).start();
      }
      if (config.kafkaReceiver() != null) {
        kafka = config.kafkaReceiver().factory().apply(pipeline, registry);
        kafka.start();
      }
      for (SluiceConfig.BridgeSpec spec : config.bridges()) {
        TransactionalBridge bridge = spec.factory().apply(registry);
        bridges.add(bridge);
        bridge.start();
      }
      if (config.proxy() != null) {
        proxy = startProxy(config.proxy(), registry, pipeline);
      }
      TelemetrySink readySink = pipeline;
      admin = new AdminServer(config.admin(), registry,
          readySink == null ? () -> true : readySink::ready).start();
      Sluice s = new Sluice(config, registry, pipeline, closer, receiver, kafka, bridges, proxy,
          admin);
      log.info(s.describe());
      return s;
    } catch (RuntimeException e) {
      if (admin != null) {
        admin.close();
      }
      if (proxy != null) {
        proxy.close(Duration.ZERO);
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

  private static ReverseProxy startProxy(SluiceConfig.ProxySpec spec,
      PrometheusMeterRegistry registry, TelemetrySink pipeline) {
    ReverseProxy.Builder b = ReverseProxy.builder(spec.settings()).meterRegistry(registry);
    if (spec.ioThreads() > 0) {
      b.ioThreads(spec.ioThreads());
    }
    if (spec.settings().tracing() && pipeline != null) {
      b.spanSink(new ProxySpans(pipeline, registry));
    }
    return b.build().start();
  }

  /**
   * Applies the proxy section of {@code next}: routes, upstream groups and certificates. Requests
   * in flight finish on the settings they started with. Other sections are not reloaded.
   *
   * @throws IllegalArgumentException when {@code next} has no proxy section, or its proxy cannot
   *     be applied (a listener's address changed, say); the running settings stay
   * @throws IllegalStateException when no proxy runs
   */
  public void reloadProxy(SluiceConfig next) {
    if (proxy == null) {
      throw new IllegalStateException("no proxy runs: the configuration it started from has no"
          + " proxy section");
    }
    if (next.proxy() == null) {
      throw new IllegalArgumentException("the new configuration has no proxy section");
    }
    if (next.proxy().settings().tracing() && pipeline == null) {
      throw new IllegalArgumentException("proxy.tracing cannot be turned on by a reload when"
          + " nothing else feeds the pipeline; restart instead");
    }
    proxy.reload(next.proxy().settings());
  }

  /** The reverse proxy, or null when the configuration has none. */
  public ReverseProxy proxy() {
    return proxy;
  }

  /** The start-up line: what listens where and where the data goes. */
  String describe() {
    List<String> parts = new ArrayList<>();
    if (receiver != null) {
      var addr = receiver.localAddress();
      String scheme = config.receiver().server().tls() == null ? "http" : "https";
      StringJoiner paths = new StringJoiner(" ");
      for (Signal s : Signal.values()) {
        paths.add(config.receiver().path(s));
      }
      parts.add("receiving OTLP/HTTP on " + scheme + "://" + addr.getHostString() + ":"
          + addr.getPort() + " (" + paths + ", " + receiver.transport()
          + (config.receiver().auth() == null ? "" : ", auth on") + ")");
    }
    if (config.kafkaReceiver() != null) {
      parts.add("receiving from Kafka " + config.kafkaReceiver().description());
    }
    if (!config.bridges().isEmpty()) {
      parts.add("bridges " + String.join(", ",
          config.bridges().stream().map(SluiceConfig.BridgeSpec::description).toList()));
    }
    if (proxy != null) {
      parts.add(proxyText());
    }
    parts.add("admin on http://" + admin.localAddress().getHostString() + ":"
        + admin.localAddress().getPort());
    if (pipeline != null) {
      StringJoiner out = new StringJoiner(", ");
      config.exporters().forEach(e -> out.add(e.description()));
      parts.add(queueText());
      parts.add("exporting to " + out);
      parts.add("data_dir " + config.dataDir().toAbsolutePath().normalize());
    }
    return "Sluice " + Version.get() + " " + String.join(", ", parts);
  }

  /**
   * "proxying on http://127.0.0.1:8080 (web) to api (http://10.0.0.1:8080 http://10.0.0.2:8080,
   * round_robin); 2 routes".
   */
  private String proxyText() {
    var settings = config.proxy().settings();
    Map<String, InetSocketAddress> bound = proxy.localAddresses();
    StringJoiner listeners = new StringJoiner(", ");
    for (ListenerSettings l : settings.listeners()) {
      InetSocketAddress a = bound.getOrDefault(l.name(), l.server().address());
      listeners.add((l.server().tls() == null ? "http" : "https") + "://" + a.getHostString()
          + ":" + a.getPort() + (l.name().equals("default") ? "" : " (" + l.name() + ")"));
    }
    StringJoiner upstreams = new StringJoiner(", ");
    settings.upstreams().values().stream()
        .sorted(java.util.Comparator.comparing(UpstreamSettings::name))
        .forEach(u -> {
          StringJoiner eps = new StringJoiner(" ");
          u.endpoints().forEach(e -> eps.add(e.uri().toString()));
          upstreams.add(u.name() + " (" + eps + ", "
              + u.loadBalancing().name().toLowerCase(Locale.ROOT) + ")");
        });
    int routes = settings.routes().size();
    return "proxying on " + listeners + " to " + upstreams + "; " + routes
        + (routes == 1 ? " route" : " routes")
        + (settings.accessLog() ? ", access log on" : "")
        + (settings.tracing() ? ", tracing on" : "");
  }

  private String queueText() {
    SluiceConfig.QueueSpec q = config.queue();
    return q.durable()
        ? "durable queue in " + q.directory() + " (fsync " + q.fsync() + ", max " + q.maxBytes()
            + " bytes)"
        : "memory queue (max " + config.maxInFlightBytes() + " bytes in flight)";
  }

  /** The OTLP/HTTP receiver, or null when the configuration runs none. */
  public OtlpHttpReceiver receiver() {
    return receiver;
  }

  public AdminServer admin() {
    return admin;
  }

  /** The pipeline, or null when nothing feeds one. */
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
   * Stops taking requests, lets those in progress finish (up to {@code drain} for the receiver,
   * {@code proxy.drain_timeout} for the proxy), then lets the exporters write everything they were
   * handed. Idempotent.
   */
  public synchronized void close(Duration drain) {
    if (closed) {
      return;
    }
    closed = true;
    if (proxy != null) {
      // First, so that the spans of its last requests still find the pipeline open.
      proxy.close(config.proxy().settings().drainTimeout());
    }
    bridges.forEach(TransactionalBridge::close);
    if (kafkaReceiver != null) {
      kafkaReceiver.close(); // commits what the pipeline has durably accepted
    }
    if (receiver != null) {
      receiver.close(drain);
    }
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
