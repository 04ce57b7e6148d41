package dev.sluice.app.config;

import dev.sluice.app.Version;
import dev.sluice.exporter.otlp.Compression;
import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.exporter.otlp.OtlpHttpExporter;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.http.upstream.CircuitBreakerSettings;
import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.http.upstream.UpstreamTls;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads an {@code otlphttp} exporter section, with the OpenTelemetry Collector's key names where it
 * has them ({@code endpoint}, {@code traces_endpoint}, {@code encoding}, {@code compression},
 * {@code headers}, {@code timeout}, {@code retry_on_failure.*}, {@code tls.*}).
 */
final class OtlpHttpExporterConfig {
  private OtlpHttpExporterConfig() {}

  /** Returns the exporter's spec, or null after recording the problems found. */
  static SluiceConfig.ExporterSpec read(String name, ConfigNode e, Path dataDir, boolean durable) {
    OtlpHttpExporter.Builder b = OtlpHttpExporter.builder().name(name).version(Version.get());
    int problemsBefore = e.problemCount();
    String endpoint = e.string("endpoint", null);
    List<String> endpoints = e.strings("endpoints");
    String traces = e.string("traces_endpoint", null);
    String metrics = e.string("metrics_endpoint", null);
    String logs = e.string("logs_endpoint", null);
    if (endpoint != null && !endpoints.isEmpty()) {
      e.problem("endpoints", "give either endpoint or endpoints, not both");
    }
    if (endpoint == null && endpoints.isEmpty() && traces == null && metrics == null
        && logs == null) {
      // Reported, and the rest still read: its own problems are worth knowing, and its keys must
      // not be reported as unknown.
      e.problem("endpoint", "is required (or endpoints, or traces_endpoint/metrics_endpoint/"
          + "logs_endpoint)");
    } else if (endpoint == null && endpoints.isEmpty()) {
      // Every exporter is handed every signal: one it has no URL for would fail for ever and hold
      // up its queue, so it is refused now.
      String[][] signalUrls = {{"traces_endpoint", traces}, {"metrics_endpoint", metrics},
          {"logs_endpoint", logs}};
      for (String[] s : signalUrls) {
        if (s[1] == null) {
          e.problem(s[0], "is required when neither endpoint nor endpoints is given: every"
              + " exporter receives traces, metrics and logs");
        }
      }
    }
    set(e, "endpoint", () -> {
      if (endpoint != null) {
        b.endpoint(endpoint);
      }
    });
    set(e, "endpoints", () -> {
      if (!endpoints.isEmpty()) {
        b.endpointUrls(endpoints);
      }
    });
    set(e, "traces_endpoint", () -> {
      if (traces != null) {
        b.tracesEndpoint(traces);
      }
    });
    set(e, "metrics_endpoint", () -> {
      if (metrics != null) {
        b.metricsEndpoint(metrics);
      }
    });
    set(e, "logs_endpoint", () -> {
      if (logs != null) {
        b.logsEndpoint(logs);
      }
    });
    String encoding = e.string("encoding", "proto");
    set(e, "encoding", () -> b.encoding(Encoding.of(encoding)));
    String compression = e.string("compression", "gzip");
    set(e, "compression", () -> b.compression(Compression.of(compression)));
    ConfigNode headers = e.section("headers");
    Map<String, String> h = new LinkedHashMap<>();
    for (String key : headers.keys()) {
      h.put(key, headers.string(key, ""));
    }
    set(e, "headers", () -> b.headers(h));
    b.timeout(e.duration("timeout", Duration.ofSeconds(30)));
    b.connectTimeout(e.duration("connect_timeout", Duration.ofSeconds(5)));
    set(e, "max_connections_per_endpoint",
        () -> b.maxConnectionsPerEndpoint(e.integer("max_connections_per_endpoint", 16, 1, 1024)));
    b.http2(e.bool("http2", false));
    String lb = e.oneOf("load_balancing", "round_robin", "round_robin", "least_requests",
        "consistent_hash");
    b.loadBalancing(LoadBalancing.valueOf(lb.toUpperCase(Locale.ROOT)));
    b.routeTracesByTraceId(e.bool("route_traces_by_trace_id", false));

    ConfigNode retry = e.section("retry_on_failure");
    RetrySettings dflt = RetrySettings.defaults();
    if (durable) {
      dflt = dflt.withMaxElapsedTime(Duration.ZERO); // the queue holds the data: retry forever
    }
    boolean enabled = retry.bool("enabled", true);
    Duration initial = retry.duration("initial_interval", dflt.initialInterval());
    Duration max = retry.duration("max_interval", dflt.maxInterval());
    // 0 means forever, as in the Collector.
    Duration elapsed = retry.durationOrZero("max_elapsed_time", dflt.maxElapsedTime());
    retry.rejectUnknownKeys();
    try {
      RetrySettings settings = dflt.withEnabled(enabled).withInitialInterval(initial)
          .withMaxInterval(max).withMaxElapsedTime(elapsed);
      b.retry(settings);
      // The exporter refuses this when it is built, at start; check finds it here.
      if (settings.enabled() && !settings.forever()
          && settings.maxElapsedTime().compareTo(settings.initialInterval()) < 0) {
        retry.problem("max_elapsed_time", "(" + elapsed.toMillis() + " ms) is shorter than"
            + " initial_interval (" + initial.toMillis() + " ms): no retry could ever happen;"
            + " 0 retries forever");
      }
    } catch (IllegalArgumentException ex) {
      retry.problem(null, ex.getMessage());
    }

    if (e.has("tls")) {
      UpstreamTls tls = TlsConfig.upstream(e.section("tls"));
      if (tls != null) {
        b.tls(tls);
      }
    }

    if (e.has("health_check")) {
      ConfigNode hc = e.section("health_check");
      HealthCheck d = HealthCheck.of("/");
      try {
        b.healthCheck(new HealthCheck(hc.string("path", "/"),
            hc.duration("interval", d.interval()), hc.duration("timeout", d.timeout()),
            hc.integer("healthy_threshold", d.healthyThreshold(), 1, 100),
            hc.integer("unhealthy_threshold", d.unhealthyThreshold(), 1, 100)));
      } catch (IllegalArgumentException ex) {
        hc.problem(null, ex.getMessage());
      }
      hc.rejectUnknownKeys();
    }
    ConfigNode pe = e.section("passive_ejection");
    PassiveEjection ped = PassiveEjection.defaults();
    try {
      b.passiveEjection(new PassiveEjection(
          pe.integer("consecutive_failures", ped.consecutiveFailures(), 1, 1000),
          pe.duration("base_ejection_time", ped.baseEjectionTime()),
          pe.integer("max_ejection_percent", ped.maxEjectionPercent(), 0, 100)));
    } catch (IllegalArgumentException ex) {
      pe.problem(null, ex.getMessage());
    }
    pe.rejectUnknownKeys();
    if (e.has("circuit_breaker")) {
      CircuitBreakerSettings cb = circuitBreaker(e.section("circuit_breaker"));
      if (cb != null) {
        b.circuitBreaker(cb);
      }
    }

    ConfigNode batch = e.section("batch");
    set(batch, "timeout", () -> b.batchTimeout(batch.durationOrZero("timeout", Duration.ofMillis(200))));
    set(batch, "max_items", () -> b.batchMaxItems(batch.integer("max_items", 8192, 1, 1 << 24)));
    set(batch, "max_bytes",
        () -> b.batchMaxBytes(batch.size("max_bytes", 2L << 20, 1024, 1L << 30)));
    batch.rejectUnknownKeys();
    set(e, "max_request_bytes",
        () -> b.maxRequestBytes(e.size("max_request_bytes", 4L << 20, 1024, 1L << 30)));
    set(e, "max_concurrent_requests",
        () -> b.maxConcurrentRequests(e.integer("max_concurrent_requests", 10, 1, 10_000)));
    Path deadLetters = Path.of(e.string("dead_letter_dir",
        dataDir.resolve("dead-letter").resolve(name.replace('/', '-')).toString()));
    b.deadLetterDirectory(deadLetters);
    e.rejectUnknownKeys();
    if (e.problemCount() > problemsBefore) {
      return null;
    }
    String target = endpoint != null ? endpoint
        : !endpoints.isEmpty() ? String.join(" ", endpoints)
        : String.join(" ", List.of(traces == null ? "" : traces, metrics == null ? "" : metrics,
            logs == null ? "" : logs)).trim();
    return new SluiceConfig.ExporterSpec(name, name + " (otlphttp, " + target + ")",
        registry -> b.meterRegistry(registry).build());
  }

  /** A {@code circuit_breaker} section, or null after recording its problems. */
  static CircuitBreakerSettings circuitBreaker(ConfigNode cb) {
    CircuitBreakerSettings d = CircuitBreakerSettings.defaults();
    CircuitBreakerSettings out = null;
    try {
      out = new CircuitBreakerSettings(
          cb.integer("failure_rate_threshold", (int) d.failureRateThreshold(), 1, 100),
          cb.integer("minimum_calls", d.minimumCalls(), 1, 100_000),
          cb.duration("window", d.window()), cb.duration("open_duration", d.openDuration()),
          cb.integer("half_open_calls", d.halfOpenCalls(), 1, 1000));
    } catch (IllegalArgumentException ex) {
      cb.problem(null, ex.getMessage());
    }
    cb.rejectUnknownKeys();
    return out;
  }

  private static void set(ConfigNode n, String key, Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException ex) {
      n.problem(key, ex.getMessage());
    }
  }
}
