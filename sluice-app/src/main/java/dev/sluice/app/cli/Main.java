package dev.sluice.app.cli;

import dev.sluice.app.Version;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code sluice} command: its subcommands are {@code run}, {@code proxy}, {@code check} and
 * {@code send}.
 */
@Command(
    name = "sluice",
    mixinStandardHelpOptions = true,
    versionProvider = Main.VersionProvider.class,
    description = "Telemetry gateway (receives OTLP/HTTP and delivers it to its exporters) and HTTP"
        + " reverse proxy.",
    subcommands = {
      RunCommand.class,
      ProxyCommand.class,
      CheckCommand.class,
      SendCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    // Netty's buffer leak detector samples allocations and tags buffers at every handler they
    // pass: about an eighth of the proxy's CPU per request. The test suite runs it on paranoid
    // and fails on any leak; in production it is off unless asked for
    // (-Dio.netty.leakDetection.level=simple). Set before any Netty class is loaded.
    if (System.getProperty("io.netty.leakDetection.level") == null
        && System.getProperty("io.netty.leakDetectionLevel") == null) {
      System.setProperty("io.netty.leakDetection.level", "disabled");
    }
    // Netty's pooled allocator (thread-local caches per event loop) costs the proxy about 0.5 us
    // less CPU per request than the adaptive one that is Netty 4.2's default
    // (docs/benchmarks.md); -Dio.netty.allocator.type=adaptive picks that one back.
    if (System.getProperty("io.netty.allocator.type") == null) {
      System.setProperty("io.netty.allocator.type", "pooled");
    }
    System.exit(commandLine().execute(args));
  }

  /** The command line, for tests that run it in-process. */
  public static CommandLine commandLine() {
    return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  static final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {
        "sluice " + Version.get(),
        "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name")
            + ")"
      };
    }
  }
}
