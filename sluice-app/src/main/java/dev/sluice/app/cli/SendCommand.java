package dev.sluice.app.cli;

import dev.sluice.app.Version;
import dev.sluice.loadgen.Compression;
import dev.sluice.loadgen.Durations;
import dev.sluice.loadgen.Encoding;
import dev.sluice.loadgen.LoadGenerator;
import dev.sluice.loadgen.LoadSettings;
import dev.sluice.loadgen.LoadSummary;
import dev.sluice.loadgen.ProgressPrinter;
import dev.sluice.otlp.Signal;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code sluice send}: the load generator. */
@Command(
    name = "send",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Sends synthetic traces, metrics or logs to an OTLP/HTTP endpoint and sums up what became of"
          + " them: sent, accepted, rejected (partial success), failed by status, retried,"
          + " throughput and latency P50/P95/P99/max.",
      "Each connection keeps one request in flight. Ids are a function of (seed, request index,"
          + " item index): the same --seed sends the same ids and bodies for the same request"
          + " indexes, so a receiver can check exactly what arrived; timestamps start at"
          + " 2024-09-17T12:00:00Z and move 1 ms per request.",
      "Shows a progress bar on a terminal and a plain line every 5 s otherwise. Exits 0 when"
          + " everything was accepted, 1 when anything failed or was rejected, 2 on usage errors."
    })
final class SendCommand implements Callable<Integer> {
  /** How often the plain (not a terminal) progress line is printed. */
  static final Duration PLAIN_INTERVAL = Duration.ofSeconds(5);

  @Spec CommandSpec spec;

  @Option(names = "--endpoint", paramLabel = "URL", defaultValue = LoadSettings.DEFAULT_ENDPOINT,
      description = "OTLP/HTTP endpoint; /v1/<signal> is appended unless the URL has a path"
          + " (default ${DEFAULT-VALUE})")
  String endpoint;

  @Option(names = "--signal", paramLabel = "SIGNAL", defaultValue = "traces",
      description = "traces, metrics or logs (default ${DEFAULT-VALUE})")
  String signal;

  /** How much to send: a number of requests or a duration, not both. */
  static final class Amount {
    @Option(names = "--requests", paramLabel = "N",
        description = "requests to send (default " + LoadSettings.DEFAULT_REQUESTS + ")")
    Long requests;

    @Option(names = "--duration", paramLabel = "DURATION",
        description = "send for this long instead, e.g. 30s, 500ms, 2m")
    String duration;
  }

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  Amount amount;

  @Option(names = "--rate", paramLabel = "R", defaultValue = "0",
      description = "requests per second over all connections; 0 sends as fast as answers come"
          + " (default ${DEFAULT-VALUE})")
  double rate;

  @Option(names = "--connections", paramLabel = "C", defaultValue = "4",
      description = "keep-alive connections (default ${DEFAULT-VALUE})")
  int connections;

  @Option(names = "--items", paramLabel = "N", defaultValue = "100",
      description = "spans, data points or log records per request (default ${DEFAULT-VALUE})")
  int items;

  @Option(names = "--attributes", paramLabel = "N", defaultValue = "10",
      description = "attributes per item (default ${DEFAULT-VALUE})")
  int attributes;

  @Option(names = "--encoding", paramLabel = "ENC", defaultValue = "protobuf",
      description = "protobuf or json (default ${DEFAULT-VALUE})")
  String encoding;

  @Option(names = "--compression", paramLabel = "C", defaultValue = "none",
      description = "none or gzip (default ${DEFAULT-VALUE})")
  String compression;

  @Option(names = {"-H", "--header"}, paramLabel = "'NAME: VALUE'",
      description = "a header for every request, e.g. 'Authorization: Bearer TOKEN'; repeatable")
  List<String> headers = new ArrayList<>();

  @Option(names = "--seed", paramLabel = "S", defaultValue = "1",
      description = "decides every id and value; the same seed sends the same payloads in the same"
          + " order (default ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--retries", paramLabel = "N", defaultValue = "3",
      description = "retries of a request answered 429, 502, 503 or 504, or that met a timeout or"
          + " a connection error, after Retry-After or an exponential backoff"
          + " (default ${DEFAULT-VALUE})")
  int retries;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "10s",
      description = "how long one attempt may take (default ${DEFAULT-VALUE})")
  String timeout;

  @Option(names = "--insecure",
      description = "https: trust any certificate and host name")
  boolean insecure;

  @Option(names = "--ca-file", paramLabel = "FILE",
      description = "https: trust the CAs in this PEM file instead of the JDK's")
  Path caFile;

  @Option(names = {"-q", "--quiet"},
      description = "no progress output; only the summary (and errors)")
  boolean quiet;

  @Override
  public Integer call() throws InterruptedException {
    LoadGenerator generator = generator();
    PrintStream out = System.out;
    boolean terminal = ProgressPrinter.isTerminal();
    if (!quiet) {
      out.println("sluice send: " + generator.settings().describe());
    }
    CountDownLatch summarised = new CountDownLatch(1);
    // Ctrl-C: stop sending, let the answers in flight arrive, print the summary, then exit.
    Thread onSignal = new Thread(() -> {
      generator.stop();
      try {
        summarised.await(generator.settings().timeout().toMillis() + 2000, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "sluice-send-stop");
    boolean hooked = addShutdownHook(onSignal);
    LoadSummary summary;
    try {
      ProgressPrinter progress = quiet ? null : ProgressPrinter.start(generator, out, terminal,
          terminal ? ProgressPrinter.MIN_TERMINAL_INTERVAL : PLAIN_INTERVAL);
      try {
        summary = generator.run();
      } finally {
        if (progress != null) {
          progress.close();
        }
      }
      out.print(summary.format());
      out.flush();
    } finally {
      summarised.countDown();
      if (hooked) {
        try {
          Runtime.getRuntime().removeShutdownHook(onSignal);
        } catch (IllegalStateException e) {
          // shutting down already: the hook is running
        }
      }
    }
    return summary.exitCode();
  }

  private static boolean addShutdownHook(Thread t) {
    try {
      Runtime.getRuntime().addShutdownHook(t);
      return true;
    } catch (IllegalStateException e) {
      return false;
    }
  }

  /** The generator for the flags; a bad value is a usage error (exit status 2). */
  private LoadGenerator generator() {
    try {
      return new LoadGenerator(settings());
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  private LoadSettings settings() {
    Signal s = Signal.byId(signal.toLowerCase(java.util.Locale.ROOT));
    if (s == null) {
      throw new IllegalArgumentException("--signal must be traces, metrics or logs, not "
          + signal);
    }
    Encoding enc = Encoding.byId(encoding);
    if (enc == null) {
      throw new IllegalArgumentException("--encoding must be protobuf or json, not " + encoding);
    }
    Compression comp = Compression.byId(compression);
    if (comp == null) {
      throw new IllegalArgumentException("--compression must be none or gzip, not "
          + compression);
    }
    LoadSettings.Builder b = LoadSettings.builder()
        .endpoint(endpoint).signal(s).rate(rate).connections(connections).items(items)
        .attributes(attributes).encoding(enc).compression(comp).seed(seed).retries(retries)
        .timeout(duration("--timeout", timeout)).insecure(insecure).caFile(caFile)
        .userAgent("sluice-send/" + Version.get());
    if (amount != null && amount.duration != null) {
      b.duration(duration("--duration", amount.duration));
    } else {
      b.requests(amount != null && amount.requests != null ? amount.requests
          : LoadSettings.DEFAULT_REQUESTS);
    }
    for (String h : headers) {
      b.header(h);
    }
    return b.build();
  }

  private static Duration duration(String flag, String text) {
    try {
      return Durations.parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(flag + ": " + e.getMessage());
    }
  }
}
