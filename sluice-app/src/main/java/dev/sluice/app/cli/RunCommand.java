package dev.sluice.app.cli;

import dev.sluice.app.ConfigReloader;
import dev.sluice.app.Sluice;
import dev.sluice.app.config.ConfigException;
import dev.sluice.app.config.ConfigLoader;
import dev.sluice.app.config.SluiceConfig;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code sluice run}: starts the gateway and runs until interrupted. */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
      "Starts Sluice. Without --config it runs on the embedded defaults: OTLP/HTTP on "
          + ConfigLoader.DEFAULT_OTLP_ENDPOINT + ", admin on " + ConfigLoader.DEFAULT_ADMIN_ENDPOINT
          + ", data written as OTLP/JSON lines under ./data/export.",
      "Flags override the configuration file. Stop with Ctrl-C or SIGTERM: requests in progress"
          + " are finished and everything accepted is written before exit.",
      "With a proxy section, SIGHUP or a change of the file reloads the proxy's routes, upstreams"
          + " and certificates; a bad new file is logged and the running one stays."
    })
final class RunCommand implements Callable<Integer> {
  @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML configuration file")
  Path config;

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "OTLP/HTTP address (receivers.otlp.endpoint), default "
          + ConfigLoader.DEFAULT_OTLP_ENDPOINT)
  String listen;

  @Option(names = "--admin", paramLabel = "HOST:PORT",
      description = "Admin address for /metrics and /health (admin.endpoint), default "
          + ConfigLoader.DEFAULT_ADMIN_ENDPOINT)
  String admin;

  @Option(names = "--data-dir", paramLabel = "DIR",
      description = "Data directory (data_dir), default " + ConfigLoader.DEFAULT_DATA_DIR)
  String dataDir;

  @Option(names = "--forward", paramLabel = "URL",
      description = "Deliver to this OTLP/HTTP backend (base URL, /v1/<signal> is appended);"
          + " repeat for several, load balanced. Replaces the configured exporters.")
  java.util.List<String> forward = new java.util.ArrayList<>();

  @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "10s",
      description = "How long shutdown waits for requests in progress, default ${DEFAULT-VALUE}")
  String drainTimeout;

  @Override
  public Integer call() throws InterruptedException {
    SluiceConfig cfg;
    ConfigLoader loader = new ConfigLoader(System.getenv());
    ConfigLoader.Overrides overrides = new ConfigLoader.Overrides(listen, admin, dataDir, forward);
    try {
      cfg = loader.load(config, overrides);
    } catch (ConfigException e) {
      System.err.println("sluice: " + e.getMessage());
      return 2;
    }
    Duration drain = parseDuration(drainTimeout);
    if (drain == null) {
      System.err.println("sluice: --drain-timeout must look like 500ms, 10s or 1m, not "
          + drainTimeout);
      return 2;
    }
    return runUntilStopped(cfg, drain, config, () -> loader.load(config, overrides));
  }

  /**
   * Starts {@code cfg} and waits for SIGTERM or Ctrl-C. With a proxy and a configuration {@code
   * file}, SIGHUP and changes of the file reload the proxy from what {@code reload} loads.
   */
  static int runUntilStopped(SluiceConfig cfg, Duration drain, Path file,
      java.util.function.Supplier<SluiceConfig> reload) throws InterruptedException {
    Sluice sluice;
    try {
      sluice = Sluice.start(cfg);
    } catch (UncheckedIOException | IllegalArgumentException | IllegalStateException e) {
      // A port taken, a directory that cannot be created: say what, without a stack trace.
      System.err.println("sluice: " + e.getMessage());
      return 1;
    }
    ConfigReloader reloader = null;
    if (cfg.proxy() != null && file != null) {
      reloader = new ConfigReloader(file, reload, sluice::reloadProxy).start();
    }
    ConfigReloader watching = reloader;
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (watching != null) {
        watching.close();
      }
      sluice.close(drain);
      stopped.countDown();
    }, "sluice-shutdown"));
    stopped.await();
    return 0;
  }

  static Duration parseDuration(String s) {
    var m = java.util.regex.Pattern.compile("(\\d+)(ms|s|m)").matcher(s.trim());
    if (!m.matches()) {
      return null;
    }
    long n = Long.parseLong(m.group(1));
    return m.group(2).equals("ms") ? Duration.ofMillis(n)
        : m.group(2).equals("s") ? Duration.ofSeconds(n) : Duration.ofMinutes(n);
  }
}
