package dev.sluice.app.cli;

import dev.sluice.app.config.ConfigException;
import dev.sluice.app.config.ConfigLoader;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code sluice check}: validates a configuration without starting anything. */
@Command(
    name = "check",
    mixinStandardHelpOptions = true,
    description = "Checks a configuration file and prints every problem with its key path. Exits 0"
        + " when it is valid, 2 when it is not. Starts nothing and binds no port.")
final class CheckCommand implements Callable<Integer> {
  @Option(names = {"-c", "--config"}, paramLabel = "FILE", required = true,
      description = "YAML configuration file")
  Path config;

  @Override
  public Integer call() {
    try {
      SluiceConfig cfg = new ConfigLoader(System.getenv()).load(config, ConfigLoader.Overrides.NONE);
      System.out.println(config + ": valid");
      if (cfg.receiver() != null) {
        System.out.println("  receiver: " + cfg.receiver().server()
            + (cfg.receiver().auth() == null ? "" : " with auth"));
      }
      System.out.println("  admin:    http://" + cfg.admin().getHostString() + ":"
          + cfg.admin().getPort());
      if (cfg.kafkaReceiver() != null) {
        System.out.println("  receiver: " + cfg.kafkaReceiver().description());
      }
      if (cfg.needsPipeline()) {
        System.out.println("  data_dir: " + cfg.dataDir());
        SluiceConfig.QueueSpec q = cfg.queue();
        System.out.println("  queue:    " + (q.durable()
            ? "durable in " + q.directory() + " (fsync " + q.fsync() + ", max " + q.maxBytes()
                + " bytes)"
            : "memory (max " + cfg.maxInFlightBytes() + " bytes in flight)"));
        cfg.exporters().forEach(e -> System.out.println("  exporter: " + e.description()));
      }
      cfg.bridges().forEach(b -> System.out.println("  bridge:   " + b.description()));
      if (cfg.proxy() != null) {
        ProxySettings p = cfg.proxy().settings();
        p.listeners().forEach(l -> System.out.println("  listener: " + l.name() + " "
            + l.server()));
        p.upstreams().values().stream().sorted(Comparator.comparing(UpstreamSettings::name))
            .forEach(u -> System.out.println("  upstream: " + u.name() + " " + u.endpoints()
                .stream().map(e -> e.uri().toString()).collect(Collectors.joining(" "))
                + " (" + u.loadBalancing().name().toLowerCase(Locale.ROOT) + ")"));
        p.routes().forEach(r -> System.out.println("  route:    " + r.name() + " -> "
            + r.targets().stream().map(t -> r.targets().size() == 1 ? t.upstream()
                : t.upstream() + " (weight " + t.weight() + ")")
                .collect(Collectors.joining(", "))));
      }
      return 0;
    } catch (ConfigException e) {
      System.err.println(config + ": " + e.getMessage());
      return 2;
    }
  }
}
