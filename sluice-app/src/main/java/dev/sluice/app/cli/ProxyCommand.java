package dev.sluice.app.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.app.config.ConfigException;
import dev.sluice.app.config.ConfigLoader;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.proxy.settings.ProxySettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code sluice proxy}: a reverse proxy from flags alone ({@code --listen} and {@code --to}), or
 * the proxy section of a configuration file ({@code --config}).
 */
@Command(
    name = "proxy",
    mixinStandardHelpOptions = true,
    description = {
      "Runs a reverse proxy. With --to: every request on --listen goes to the given upstreams,"
          + " round robin, with TCP health checks every 5s (HTTP with --health-check), passive"
          + " ejection of failing endpoints and retries of idempotent requests.",
      "With --config: runs the file's proxy section (and its admin listener) only, reloaded on"
          + " SIGHUP or when the file changes; receivers and bridges in the file are not started."
          + " The whole file is checked all the same.",
      "Stop with Ctrl-C or SIGTERM: requests in progress are finished first."
    })
final class ProxyCommand implements Callable<Integer> {
  static final String DEFAULT_LISTEN = "127.0.0.1:8080";
  /** Not the gateway's 8888, so that a gateway and a proxy can run side by side. */
  static final String DEFAULT_ADMIN = "127.0.0.1:8889";

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "Address to accept requests on, default " + DEFAULT_LISTEN)
  String listen;

  @Option(names = "--to", paramLabel = "URL",
      description = "Upstream base URL (http:// or https://); repeat for several")
  List<String> to = new ArrayList<>();

  @Option(names = {"-c", "--config"}, paramLabel = "FILE",
      description = "YAML configuration file whose proxy section to run, instead of --listen"
          + " and --to")
  Path config;

  @Option(names = "--admin", paramLabel = "HOST:PORT",
      description = "Admin address for /metrics and /health, default " + DEFAULT_ADMIN
          + " (with --config: the file's admin.endpoint)")
  String admin;

  @Option(names = "--io-threads", paramLabel = "N",
      description = "Event loop threads, default one per core")
  Integer ioThreads;

  @Option(names = "--health-check", paramLabel = "PATH",
      description = "Check each upstream with GET PATH every 5s instead of only connecting")
  String healthCheck;

  @Option(names = "--lb", paramLabel = "POLICY",
      description = "round_robin (default), least_requests, power_of_two_choices or"
          + " consistent_hash (by client address)")
  String lb;

  @Option(names = "--access-log", description = "Log one line per request")
  boolean accessLog;

  @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "10s",
      description = "How long shutdown waits for requests in progress, default ${DEFAULT-VALUE}")
  String drainTimeout;

  /** Problems are reported with the flag that gave the value, not the key it became. */
  private static final String[][] FLAG_OF_KEY = {
    {"proxy.listeners[0].address", "--listen"},
    {"proxy.upstreams.default.endpoints", "--to"},
    {"proxy.upstreams.default.load_balancing", "--lb"},
    {"proxy.upstreams.default.health_check", "--health-check"},
    {"proxy.drain_timeout", "--drain-timeout"},
    {"proxy.io_threads", "--io-threads"},
    {"admin.endpoint", "--admin"},
  };

  @Override
  public Integer call() throws InterruptedException {
    Duration drain = RunCommand.parseDuration(drainTimeout);
    if (drain == null) {
      System.err.println("sluice: --drain-timeout must look like 500ms, 10s or 1m, not "
          + drainTimeout);
      return 2;
    }
    if (ioThreads != null && (ioThreads < 1 || ioThreads > 1024)) {
      System.err.println("sluice: --io-threads must be between 1 and 1024, not " + ioThreads);
      return 2;
    }
    return config != null ? fromFile(drain) : fromFlags(drain);
  }

  private int fromFlags(Duration drain) throws InterruptedException {
    if (to.isEmpty()) {
      System.err.println("sluice: give at least one --to URL (or --config FILE)");
      return 2;
    }
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    root.putObject("admin").put("endpoint", admin == null ? DEFAULT_ADMIN : admin);
    ObjectNode proxy = root.putObject("proxy");
    proxy.putArray("listeners").addObject()
        .put("address", listen == null ? DEFAULT_LISTEN : listen);
    ObjectNode upstream = proxy.putObject("upstreams").putObject("default");
    ArrayNode endpoints = upstream.putArray("endpoints");
    to.forEach(endpoints::add);
    if (lb != null) {
      upstream.put("load_balancing", lb);
    }
    ObjectNode check = upstream.putObject("health_check");
    if (healthCheck != null) {
      check.put("type", "http").put("path", healthCheck);
    } else {
      check.put("type", "tcp");
    }
    proxy.putArray("routes").addObject().put("name", "default").put("to", "default");
    proxy.put("access_log", accessLog);
    proxy.put("drain_timeout", drainTimeout);
    if (ioThreads != null) {
      proxy.put("io_threads", ioThreads);
    }
    SluiceConfig cfg;
    try {
      cfg = new ConfigLoader(System.getenv()).loadTree(root, ConfigLoader.Overrides.NONE);
    } catch (ConfigException e) {
      System.err.println("sluice: " + (e.problems().size() == 1 ? "" : e.problems().size()
          + " problems:\n  ") + String.join("\n  ", e.problems().stream()
              .map(ProxyCommand::withFlagNames).toList()));
      return 2;
    }
    return RunCommand.runUntilStopped(cfg, drain, null, null);
  }

  private int fromFile(Duration drain) throws InterruptedException {
    if (listen != null || !to.isEmpty() || healthCheck != null || lb != null) {
      System.err.println("sluice: --config runs the file's proxy section; --listen, --to,"
          + " --health-check and --lb are for running without a file");
      return 2;
    }
    ConfigLoader loader = new ConfigLoader(System.getenv());
    ConfigLoader.Overrides overrides = new ConfigLoader.Overrides(null, admin, null);
    UnaryOperator<SluiceConfig> adjust = c -> {
      if (c.proxy() == null) {
        throw new ConfigException(List.of(config + ": there is no proxy section to run (sluice"
            + " run starts the rest)"));
      }
      ProxySettings p = c.proxy().settings();
      SluiceConfig.ProxySpec spec = new SluiceConfig.ProxySpec(accessLog
          ? new ProxySettings(p.listeners(), p.upstreams(), p.routes(), p.trustedProxies(),
              p.via(), true, p.tracing(), p.drainTimeout())
          : p, ioThreads != null ? ioThreads : c.proxy().ioThreads());
      return new SluiceConfig(c.dataDir(), c.admin(), null, null, c.maxInFlightBytes(), c.queue(),
          c.exporters(), List.of(), spec);
    };
    SluiceConfig cfg;
    try {
      cfg = adjust.apply(loader.load(config, overrides));
    } catch (ConfigException e) {
      System.err.println("sluice: " + e.getMessage());
      return 2;
    }
    return RunCommand.runUntilStopped(cfg, drain, config,
        () -> adjust.apply(loader.load(config, overrides)));
  }

  static String withFlagNames(String problem) {
    for (String[] m : FLAG_OF_KEY) {
      if (problem.startsWith(m[0])) {
        String rest = problem.substring(m[0].length());
        // "proxy.upstreams.default.endpoints[1]: ..." becomes "--to: ..."
        return m[1] + rest.replaceFirst("^(\\[\\d+\\])?(\\.[a-z_]+)?" + Pattern.quote(":"), ":");
      }
    }
    return problem;
  }
}
