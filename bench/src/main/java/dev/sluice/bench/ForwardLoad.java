package dev.sluice.bench;

import dev.sluice.bench.IngestLoad.Client;
import dev.sluice.bench.IngestLoad.Cores;
import dev.sluice.bench.IngestLoad.IngestResult;
import dev.sluice.bench.IngestLoad.Machine;
import dev.sluice.bench.IngestLoad.MachineLoad;
import dev.sluice.bench.IngestLoad.ProcCpu;
import dev.sluice.bench.IngestLoad.SluiceProcess;
import dev.sluice.http.transport.Transport;
import dev.sluice.loadgen.LoadGenerator;
import dev.sluice.loadgen.LoadSettings;
import dev.sluice.loadgen.LoadSummary;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The end-to-end forwarding benchmark: spans per second through receiver, durable queue ({@code
 * fsync: always}), otlphttp exporter and a fast sink, and the time from request to 200, set
 * against the ingest rate of the same Sluice build with the in-memory pipeline and the debug
 * exporter (what {@link IngestLoad} measures), both measured in the same run.
 *
 * <p>Three Sluice processes run side by side: the <em>baseline</em> ({@code
 * bench/ingest-debug.yaml}: memory queue, debug exporter), the <em>Sluice under test</em> ({@code
 * bench/forward-durable.yaml}: durable queue, one otlphttp exporter, no compression) and the
 * <em>sink</em> ({@code bench/forward-sink.yaml}: memory queue, debug exporter), which answers 200
 * at once and whose {@code sluice_receiver_items_total} counts what was delivered. Each round has
 * three phases, one after the other, each a warm-up and then a measured window:
 *
 * <ol>
 *   <li>A, baseline: {@link IngestLoad}'s client (C keep-alive connections, one request
 *       outstanding each, the same pre-encoded request) as fast as answers come, to the baseline;
 *       spans/s.
 *   <li>B, maximum rate: the same client, as fast as answers come, to the Sluice under test;
 *       spans/s answered 200, latency, spans/s delivered at the sink over the same window, and the
 *       queue at the end of it. Then the harness waits until the exporter has delivered the
 *       backlog (the drain), which also gives the delivery rate without competing ingest.
 *   <li>C, part rate: sluice-loadgen's {@link LoadGenerator} on C connections, capped at {@code
 *       --rate-percent} (50) of phase B's end-to-end rate (the lower of B's accepted and delivered
 *       spans/s), its requests evenly spaced in time (the capped mode of IngestLoad's client sends
 *       all connections' requests at the same instants); latency; then the drain again.
 * </ol>
 *
 * <p>During each measured window of B and C it samples both Sluices' /metrics, the CPU time of
 * the Sluice under test, the sink and the harness ({@code /proc/PID/stat}), the whole machine
 * ({@code /proc/stat}) and the block device the queue is on ({@code /proc/diskstats}: writes and
 * flushes, which count everything on that device).
 *
 * <p>After R rounds it prints a table and the medians, the ratios B/A, and checks that the sink
 * received at least every span the Sluice under test answered 200 (more is allowed: delivery is at
 * least once; the surplus is reported). Relative paths resolve against the working directory;
 * {@code bench/run-forward.sh} runs it from the repository's root.
 */
public final class ForwardLoad {
  private static final Pattern DATA_DIR = Pattern.compile("(?m)^data_dir:\\s*(\\S+)\\s*$");
  private static final Pattern QUEUE_DIRECTORY = Pattern.compile("(?m)^\\s+directory:");
  private static final String SINK_PORT_ENV = "SLUICE_BENCH_SINK_PORT";

  private ForwardLoad() {}

  /** The command line. */
  static final class Options {
    Path jar = Path.of("sluice-app/target/sluice.jar");
    Path baselineConfig = Path.of("bench/ingest-debug.yaml");
    Path durableConfig = Path.of("bench/forward-durable.yaml");
    Path sinkConfig = Path.of("bench/forward-sink.yaml");
    Path logDir = Path.of("bench/target");
    String host = "127.0.0.1";
    int sinkPort = sinkPortFromEnvironment();
    int connections = 8;
    int clientThreads = 1;
    double durationSeconds = 15;
    double maxRateDurationSeconds = 10;
    double warmupSeconds = 5;
    int rounds = 3;
    double ratePercent = 50;
    double drainTimeoutSeconds = 300;
    List<String> sluiceJvmArgs = new ArrayList<>();
    List<String> durableJvmArgs = new ArrayList<>();

    private static int sinkPortFromEnvironment() {
      String v = System.getenv(SINK_PORT_ENV);
      return v == null || v.isBlank() ? 14319 : Integer.parseInt(v.trim());
    }

    static Options parse(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        String v;
        int eq = a.indexOf('=');
        if (a.startsWith("--") && eq > 0) {
          v = a.substring(eq + 1);
          a = a.substring(0, eq);
        } else if (a.equals("-h") || a.equals("--help")) {
          usage(0);
          return o;
        } else if (i + 1 < args.length) {
          v = args[++i];
        } else {
          System.err.println("forward-load: " + a + " needs a value");
          usage(2);
          return o;
        }
        try {
          o.set(a, v);
        } catch (IllegalArgumentException e) {
          System.err.println("forward-load: " + a + " " + v + ": " + e.getMessage());
          usage(2);
        }
      }
      if (o.durationSeconds <= 0 || o.maxRateDurationSeconds <= 0) {
        System.err.println("forward-load: --duration and --max-rate-duration must be positive");
        usage(2);
      }
      return o;
    }

    private void set(String flag, String v) {
      switch (flag) {
        case "--jar": jar = Path.of(v); break;
        case "--baseline-config": baselineConfig = Path.of(v); break;
        case "--durable-config": durableConfig = Path.of(v); break;
        case "--sink-config": sinkConfig = Path.of(v); break;
        case "--log-dir": logDir = Path.of(v); break;
        case "--host": host = v; break;
        case "--sink-port": sinkPort = Integer.parseInt(v); break;
        case "--connections": connections = positive(Integer.parseInt(v)); break;
        case "--client-threads": clientThreads = positive(Integer.parseInt(v)); break;
        case "--duration": durationSeconds = seconds(v); break;
        case "--max-rate-duration": maxRateDurationSeconds = seconds(v); break;
        case "--warmup": warmupSeconds = seconds(v); break;
        case "--rounds": rounds = positive(Integer.parseInt(v)); break;
        case "--rate-percent": ratePercent = percent(Double.parseDouble(v)); break;
        case "--drain-timeout": drainTimeoutSeconds = seconds(v); break;
        case "--sluice-jvm-arg": sluiceJvmArgs.add(v); break;
        case "--durable-jvm-arg": durableJvmArgs.add(v); break;
        default: throw new IllegalArgumentException("unknown option");
      }
    }

    private static int positive(int n) {
      if (n <= 0) {
        throw new IllegalArgumentException("must be positive");
      }
      return n;
    }

    private static double percent(double p) {
      if (p <= 0 || p > 100) {
        throw new IllegalArgumentException("must be in (0, 100]");
      }
      return p;
    }

    /** {@code 15}, {@code 15s} or {@code 1500ms}. */
    private static double seconds(String v) {
      String t = v.trim().toLowerCase(Locale.ROOT);
      double s = t.endsWith("ms") ? Double.parseDouble(t.substring(0, t.length() - 2)) / 1000
          : t.endsWith("s") ? Double.parseDouble(t.substring(0, t.length() - 1))
          : Double.parseDouble(t);
      if (s < 0) {
        throw new IllegalArgumentException("must not be negative");
      }
      return s;
    }

    /** What {@link IngestLoad}'s process and client classes need, for one Sluice process. */
    IngestLoad.Options forProcess(Path config, String logName, List<String> extraJvmArgs) {
      IngestLoad.Options p = new IngestLoad.Options();
      p.jar = jar;
      p.config = config;
      p.log = logDir.resolve(logName);
      p.host = host;
      p.connections = connections;
      p.clientThreads = clientThreads;
      p.sluiceJvmArgs = new ArrayList<>(sluiceJvmArgs);
      p.sluiceJvmArgs.addAll(extraJvmArgs);
      return p;
    }

    private static void usage(int status) {
      System.err.println(String.join("\n",
          "usage: java -cp bench/target/benchmarks.jar dev.sluice.bench.ForwardLoad [options]",
          "  --jar PATH               Sluice jar (sluice-app/target/sluice.jar)",
          "  --baseline-config PATH   phase A's Sluice: memory queue, debug exporter",
          "                           (bench/ingest-debug.yaml)",
          "  --durable-config PATH    the Sluice under test: durable queue, otlphttp exporter to",
          "                           the sink (bench/forward-durable.yaml)",
          "  --sink-config PATH       the sink (bench/forward-sink.yaml)",
          "  --sink-port N            the sink's port; the durable config must forward there",
          "                           (env " + SINK_PORT_ENV + ", which forward-durable.yaml also",
          "                           reads; default 14319)",
          "  --log-dir PATH           where the three Sluice logs go (bench/target)",
          "  --host HOST              address everything listens on (127.0.0.1)",
          "  --connections N          keep-alive connections, one request outstanding each (8)",
          "  --client-threads N       client event-loop threads (1)",
          "  --duration SECONDS       measured load of phases A and C (15)",
          "  --max-rate-duration S    measured load of phase B (10): each second of it leaves a",
          "                           backlog that the exporter may need much longer to deliver",
          "  --warmup SECONDS         warm-up before each measured phase (5)",
          "  --rounds N               rounds of phases A, B, C (3)",
          "  --rate-percent P         phase C's rate, in percent of phase B's end-to-end rate (50)",
          "  --drain-timeout SECONDS  longest wait for the exporter to deliver the backlog (300)",
          "  --sluice-jvm-arg ARG     a JVM option for all three Sluice processes (repeatable)",
          "  --durable-jvm-arg ARG    a JVM option for the Sluice under test only (repeatable)"));
      System.exit(status);
    }
  }

  public static void main(String[] args) throws Exception {
    Options o = Options.parse(args);
    byte[] body = Payloads.traceRequestProtobuf();
    ScanResult scan = OtlpScanner.scan(Signal.TRACES, body, 0, body.length);
    if (scan.items() != Payloads.SPANS || !scan.allValid()) {
      throw new IllegalStateException("the payload does not scan as expected: " + scan);
    }
    Machine machine = Machine.describe();
    System.out.printf(Locale.ROOT, "machine: %s%n", machine);
    System.out.printf(Locale.ROOT,
        "payload: ExportTraceServiceRequest, %d spans x %d attributes, %d bytes protobuf%n",
        Payloads.SPANS, Payloads.ATTRIBUTES, body.length);
    System.out.printf(Locale.ROOT,
        "plan: %d round(s) of [A: baseline] [B: durable, max rate] [drain] [C: durable, %.0f%% of "
            + "B's end-to-end rate] [drain]; %d connection(s), %d client thread(s), %.0fs warm-up "
            + "+ %.0fs (B: %.0fs) per phase%n",
        o.rounds, o.ratePercent, o.connections, o.clientThreads, o.warmupSeconds,
        o.durationSeconds, o.maxRateDurationSeconds);

    Path queueDir = emptyQueue(o.durableConfig);
    DiskStats disk = DiskStats.forPath(queueDir.getParent());
    System.out.println("queue: " + queueDir + " (emptied), on " + disk);
    if (!portFree(o.host, o.sinkPort)) {
      throw new IOException(o.host + ":" + o.sinkPort + " is taken; the sink listens there. Pick "
          + "another port with " + SINK_PORT_ENV + "=N (which " + o.durableConfig + " reads too)");
    }
    if (o.sinkPort != 14319 && !String.valueOf(o.sinkPort).equals(System.getenv(SINK_PORT_ENV))) {
      System.out.println("warning: --sink-port " + o.sinkPort + " differs from " + SINK_PORT_ENV
          + "; the Sluice under test forwards wherever its configuration says");
    }

    IngestLoad.Options baselineOpts = o.forProcess(o.baselineConfig,
        "forward-baseline-sluice.log", List.of());
    IngestLoad.Options durableOpts = o.forProcess(o.durableConfig,
        "forward-durable-sluice.log", o.durableJvmArgs);
    IngestLoad.Options sinkOpts = o.forProcess(o.sinkConfig, "forward-sink-sluice.log",
        List.of());
    int baselinePort = freePort(o.host);
    int durablePort = freePort(o.host);
    List<SluiceProcess> started = new ArrayList<>();
    List<IngestLoad.Options> startedOpts = new ArrayList<>();
    Transport transport = Transport.best();
    EventLoopGroup group = transport.newGroup(o.clientThreads, "forward-client");
    int exit = 0;
    try {
      Node sink = Node.start(sinkOpts, o.sinkPort, o.host, started, startedOpts);
      Node durable = Node.start(durableOpts, durablePort, o.host, started, startedOpts);
      Node baseline = Node.start(baselineOpts, baselinePort, o.host, started, startedOpts);
      for (SluiceProcess p : started) {
        p.awaitReady(Duration.ofSeconds(60));
      }
      long sinkSpansBefore = sink.process.acceptedSpans();
      long durableSpansBefore = durable.process.acceptedSpans();
      Client baselineClient = new Client(baselineOpts, group, baselinePort, body);
      Client durableClient = new Client(durableOpts, group, durablePort, body);
      System.out.printf(Locale.ROOT, "client: %s, Content-Type application/x-protobuf, %d-byte "
          + "requests to /v1/traces%n", transport, baselineClient.requestBytes());
      System.out.println();

      List<Round> rounds = new ArrayList<>();
      long[] cOkSpans = {0};
      for (int r = 1; r <= o.rounds; r++) {
        IngestResult a = baselineClient.run(baseline.process, o.warmupSeconds, o.durationSeconds);
        System.out.printf(Locale.ROOT, "round %d A baseline: %s%n", r, a);

        Phase b = Phase.maxRate(durableClient, durable, sink, disk, o);
        System.out.printf(Locale.ROOT, "round %d B max rate: %s%n", r, b);
        Drain bDrain = Drain.await(durable, sink, o.drainTimeoutSeconds);
        System.out.printf(Locale.ROOT, "round %d B drain: %s%n", r, bDrain);

        // Requests/s over all connections; at least 1, since 0 would mean no cap.
        double cRate = Math.max(1,
            b.endToEndSpansPerSecond() * o.ratePercent / 100 / Payloads.SPANS);
        Phase c = Phase.partRate(durable, sink, disk, cRate, durablePort, o, cOkSpans);
        System.out.printf(Locale.ROOT, "round %d C %.0f%% rate: %s%n", r, o.ratePercent, c);
        Drain cDrain = Drain.await(durable, sink, o.drainTimeoutSeconds);
        System.out.printf(Locale.ROOT, "round %d C drain: %s%n", r, cDrain);
        rounds.add(new Round(r, a, b, bDrain, c, cDrain));
        if (!bDrain.drained || !cDrain.drained) {
          exit = 1;
        }
      }
      baselineClient.close();
      durableClient.close();
      long clientOkSpans = durableClient.totalOk * Payloads.SPANS + cOkSpans[0];

      System.out.println();
      report(rounds, o);
      exit = Math.max(exit,
          verify(durable, sink, durableSpansBefore, sinkSpansBefore, clientOkSpans));
    } catch (RuntimeException | IOException | InterruptedException e) {
      System.err.println("forward-load: " + e);
      for (int i = 0; i < started.size(); i++) {
        System.err.println("last lines of " + startedOpts.get(i).log + ":");
        System.err.println(started.get(i).logTail(20));
      }
      exit = 1;
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
      // In reverse order of start: the Sluice under test stops before the sink, which must still
      // answer while the exporter closes.
      for (int i = started.size() - 1; i >= 0; i--) {
        int status = started.get(i).stop();
        System.out.printf(Locale.ROOT, "stopped %s (exit status %d%s); its output is in %s%n",
            startedOpts.get(i).config, status, status == 143 ? ", that is after SIGTERM" : "",
            startedOpts.get(i).log);
      }
    }
    System.exit(exit);
  }

  /**
   * Deletes the queue directory of the durable configuration so that no backlog of an earlier run
   * is delivered during this one; only under {@code bench/target}.
   */
  private static Path emptyQueue(Path config) throws IOException {
    String yaml = Files.readString(config);
    if (QUEUE_DIRECTORY.matcher(yaml).find()) {
      throw new IOException(config + " sets a queue directory; the harness only handles "
          + "<data_dir>/queue");
    }
    Matcher m = DATA_DIR.matcher(yaml);
    if (!m.find()) {
      throw new IOException(config + " has no top-level data_dir");
    }
    Path queue = Path.of(m.group(1).replaceAll("^[\"']|[\"']$", "")).resolve("queue")
        .toAbsolutePath().normalize();
    Path target = Path.of("bench/target").toAbsolutePath().normalize();
    if (Files.exists(queue)) {
      if (!queue.startsWith(target)) {
        throw new IOException(queue + " exists and is not under " + target + "; empty it by hand");
      }
      try (Stream<Path> all = Files.walk(queue)) {
        for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    Files.createDirectories(queue);
    return queue;
  }

  // ---------------------------------------------------------------------------------------------
  // The processes

  /** A Sluice process and its /metrics. */
  static final class Node {
    final SluiceProcess process;
    final Metrics metrics;

    private Node(SluiceProcess process, Metrics metrics) {
      this.process = process;
      this.metrics = metrics;
    }

    static Node start(IngestLoad.Options p, int port, String host, List<SluiceProcess> started,
        List<IngestLoad.Options> startedOpts) throws IOException {
      int adminPort = freePort(host);
      SluiceProcess sp = SluiceProcess.start(p, port, adminPort);
      started.add(sp);
      startedOpts.add(p);
      return new Node(sp, new Metrics("http://" + host + ":" + adminPort + "/metrics"));
    }
  }

  /** Reads a Sluice's Prometheus text. */
  static final class Metrics {
    private final HttpClient http = HttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(2)).build();
    private final URI uri;

    Metrics(String uri) {
      this.uri = URI.create(uri);
    }

    Snapshot read() throws IOException, InterruptedException {
      String text = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
          BodyHandlers.ofString()).body();
      return new Snapshot(text.split("\n"), System.nanoTime());
    }
  }

  /** One scrape of /metrics. */
  record Snapshot(String[] lines, long nanos) {
    /** Sum of the samples of {@code name} whose labels contain every one of {@code labels}. */
    double sum(String name, String... labels) {
      double sum = 0;
      for (String line : lines) {
        if (!line.startsWith(name) || line.length() == name.length()) {
          continue;
        }
        char next = line.charAt(name.length());
        if (next != '{' && next != ' ') {
          continue;
        }
        boolean all = true;
        for (String l : labels) {
          all &= line.contains(l);
        }
        if (all) {
          sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
      }
      return sum;
    }

    double tracesAccepted() {
      return sum("sluice_receiver_items_total", "signal=\"traces\"", "status=\"200\"");
    }

    double tracesRequests(String status) {
      return sum("sluice_receiver_requests_total", "signal=\"traces\"",
          "status=\"" + status + "\"");
    }

    double allRequests() {
      return sum("sluice_receiver_requests_total", "signal=\"traces\"");
    }

    double exporterRequests() {
      return sum("sluice_exporter_request_duration_seconds_count");
    }

    double exporterSeconds() {
      return sum("sluice_exporter_request_duration_seconds_sum");
    }

    double exporterSentItems() {
      return sum("sluice_exporter_sent_items_total");
    }

    double lag() {
      return sum("sluice_pipeline_lag");
    }

    double queueBytes() {
      return sum("sluice_queue_bytes");
    }

    double oldestAgeSeconds() {
      return sum("sluice_queue_oldest_age_seconds");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Phases B and C

  /** What the client saw in a measured window. */
  record Load(double acceptedSpansPerSecond, double okPerSecond, double notOkPerSecond,
      double p50Millis, double p99Millis, double maxMillis) {
    static Load of(IngestResult r, double seconds) {
      return new Load(r.spansPerSecond(), r.ok() / seconds, r.errors() / seconds, r.p50Millis(),
          r.p99Millis(), r.maxMillis());
    }

    static Load of(LoadSummary s) {
      double secs = s.elapsed().toNanos() / 1e9;
      return new Load(s.itemsAccepted() / secs, s.requestsSucceeded() / secs,
          s.requestsFailed() / secs, s.p50Nanos() / 1e6, s.p99Nanos() / 1e6, s.maxNanos() / 1e6);
    }
  }

  /**
   * Metrics, CPU and disk counters taken at the start of a measured window; {@link #end} takes
   * them again and computes the phase.
   */
  static final class Window {
    private final Node durable;
    private final Node sink;
    private final DiskStats disk;
    private final Snapshot durableBefore;
    private final Snapshot sinkBefore;
    private final ProcCpu durableCpu;
    private final ProcCpu sinkCpu;
    private final ProcCpu clientCpu;
    private final MachineLoad.Sample machine;
    private final DiskStats.Sample diskBefore;
    private final long start;

    Window(Node durable, Node sink, DiskStats disk) throws IOException, InterruptedException {
      this.durable = durable;
      this.sink = sink;
      this.disk = disk;
      start = System.nanoTime();
      durableBefore = durable.metrics.read();
      sinkBefore = sink.metrics.read();
      durableCpu = durable.process.cpu();
      sinkCpu = sink.process.cpu();
      clientCpu = ProcCpu.self();
      machine = MachineLoad.sample();
      diskBefore = disk == null ? null : disk.sample();
    }

    Phase end(double targetRequestsPerSecond, Load load)
        throws IOException, InterruptedException {
      double secs = (System.nanoTime() - start) / 1e9;
      Cores durableCores = durable.process.cpu().since(durableCpu, secs);
      Cores sinkCores = sink.process.cpu().since(sinkCpu, secs);
      Cores clientCores = ProcCpu.self().since(clientCpu, secs);
      MachineLoad machineLoad = MachineLoad.since(machine);
      DiskStats.Delta diskDelta = disk == null ? null : disk.since(diskBefore);
      Snapshot d = durable.metrics.read();
      Snapshot s = sink.metrics.read();
      double dSecs = (d.nanos - durableBefore.nanos) / 1e9;
      double sSecs = (s.nanos - sinkBefore.nanos) / 1e9;
      double exporterRequests = d.exporterRequests() - durableBefore.exporterRequests();
      double sent = d.exporterSentItems() - durableBefore.exporterSentItems();
      double exporterSeconds = d.exporterSeconds() - durableBefore.exporterSeconds();
      return new Phase(targetRequestsPerSecond, load,
          (s.tracesAccepted() - sinkBefore.tracesAccepted()) / sSecs,
          (d.tracesRequests("200") - durableBefore.tracesRequests("200")) / dSecs,
          exporterRequests / dSecs,
          exporterRequests > 0 ? sent / exporterRequests : Double.NaN,
          exporterRequests > 0 ? exporterSeconds / exporterRequests * 1000 : Double.NaN,
          diskDelta, durableCores, sinkCores, clientCores, machineLoad.busyCores(),
          d.queueBytes() / (1 << 20), d.oldestAgeSeconds(), d.lag());
    }
  }

  /** One measured phase against the Sluice under test. */
  record Phase(
      double targetRequestsPerSecond,
      Load load,
      double deliveredSpansPerSecond,
      double appendsPerSecond,
      double exporterRequestsPerSecond,
      double spansPerExporterRequest,
      double exporterRequestMillis,
      DiskStats.Delta disk,
      Cores sluiceCores,
      Cores sinkCores,
      Cores clientCores,
      double machineBusyCores,
      double queueMiB,
      double oldestAgeSeconds,
      double lagRecords) {

    /** What went all the way through: the lower of accepted and delivered. */
    double endToEndSpansPerSecond() {
      return Math.min(load.acceptedSpansPerSecond(), deliveredSpansPerSecond);
    }

    /** Appended requests per device flush; NaN when the device's flushes are not known. */
    double appendsPerFlush() {
      return disk == null || disk.flushesPerSecond() <= 0 ? Double.NaN
          : appendsPerSecond / disk.flushesPerSecond();
    }

    /**
     * Phase B: {@link IngestLoad}'s client, as fast as answers come, with the metrics, CPU and
     * disk sampled at the edges of the client's measured window (which starts after its warm-up).
     */
    static Phase maxRate(Client client, Node durable, Node sink, DiskStats disk, Options o)
        throws IOException, InterruptedException {
      long t0 = System.nanoTime();
      long start = t0 + (long) (o.warmupSeconds * 1e9);
      long end = start + (long) (o.maxRateDurationSeconds * 1e9);
      CompletableFuture<IngestResult> run = CompletableFuture.supplyAsync(() -> {
        try {
          return client.run(durable.process, o.warmupSeconds, o.maxRateDurationSeconds);
        } catch (IOException | InterruptedException e) {
          throw new CompletionException(e);
        }
      }, r -> {
        Thread t = new Thread(r, "forward-phase-b");
        t.setDaemon(true);
        t.start();
      });
      sleepUntil(start);
      Window w = new Window(durable, sink, disk);
      sleepUntil(end);
      // The window closes before the client's last answers are in: those are counted by the
      // client only when they arrived within it, as IngestLoad does.
      Phase p = w.end(0, null);
      IngestResult r;
      try {
        r = run.join();
      } catch (CompletionException e) {
        Throwable c = e.getCause();
        if (c instanceof IOException io) {
          throw io;
        }
        if (c instanceof InterruptedException ie) {
          throw ie;
        }
        throw e;
      }
      return p.with(Load.of(r, o.maxRateDurationSeconds));
    }

    /**
     * Phase C: sluice-loadgen's {@link LoadGenerator} at {@code rate} requests/s, whose requests
     * go out evenly spaced (request k at start + k / rate) over the connections, first for the
     * warm-up, then, measured, for the duration. Returns the phase and the spans answered 200 in
     * both runs.
     */
    static Phase partRate(Node durable, Node sink, DiskStats disk, double rate, int port,
        Options o, long[] okSpans) throws IOException, InterruptedException {
      if (o.warmupSeconds > 0) {
        LoadSummary warm = generator(o, port, rate, o.warmupSeconds).run();
        okSpans[0] += warm.itemsAccepted();
      }
      LoadGenerator measured = generator(o, port, rate, o.durationSeconds);
      Window w = new Window(durable, sink, disk);
      LoadSummary s = measured.run();
      okSpans[0] += s.itemsAccepted();
      if (s.abortReason() != null) {
        throw new IOException("phase C stopped early: " + s.abortReason());
      }
      return w.end(rate, Load.of(s));
    }

    private static LoadGenerator generator(Options o, int port, double rate, double seconds) {
      return new LoadGenerator(LoadSettings.builder()
          .endpoint("http://" + o.host + ":" + port)
          .signal(Signal.TRACES)
          .items(Payloads.SPANS)
          .attributes(Payloads.ATTRIBUTES)
          .seed(Payloads.SEED)
          .connections(o.connections)
          .rate(rate)
          .duration(Duration.ofNanos((long) (seconds * 1e9)))
          .retries(0)
          .build());
    }

    Phase with(Load l) {
      return new Phase(targetRequestsPerSecond, l, deliveredSpansPerSecond, appendsPerSecond,
          exporterRequestsPerSecond, spansPerExporterRequest, exporterRequestMillis, disk,
          sluiceCores, sinkCores, clientCores, machineBusyCores, queueMiB, oldestAgeSeconds,
          lagRecords);
    }

    @Override
    public String toString() {
      Load c = load;
      return String.format(Locale.ROOT,
          "%s; accepted %s spans/s (%.0f x 200/s, %.0f other/s), latency p50 %.2f ms p99 %.2f "
              + "ms max %.2f ms; delivered at the sink %s spans/s; exporter %.1f requests/s of %s "
              + "spans, %.1f ms each; appends %.0f/s, disk %s, %.1f appends per flush; queue at "
              + "the end %.1f MiB, oldest %.1f s, lag %.0f records; CPU cores: Sluice %s, sink %s, "
              + "client %s, machine busy %.2f",
          targetRequestsPerSecond > 0
              ? String.format(Locale.ROOT, "capped at %.0f req/s", targetRequestsPerSecond)
              : "no cap",
          grouped(c.acceptedSpansPerSecond()), c.okPerSecond(), c.notOkPerSecond(),
          c.p50Millis(), c.p99Millis(), c.maxMillis(), grouped(deliveredSpansPerSecond),
          exporterRequestsPerSecond, grouped(spansPerExporterRequest), exporterRequestMillis,
          appendsPerSecond, disk == null ? "n/a" : disk.toString(), appendsPerFlush(), queueMiB,
          oldestAgeSeconds, lagRecords, sluiceCores, sinkCores, clientCores, machineBusyCores);
    }
  }

  /** Waiting until the exporter of the Sluice under test has confirmed everything queued. */
  record Drain(boolean drained, double seconds, double backlogSpans, double spansPerSecond) {
    static Drain await(Node durable, Node sink, double timeoutSeconds)
        throws IOException, InterruptedException {
      Snapshot d0 = durable.metrics.read();
      Snapshot s0 = sink.metrics.read();
      double backlog = d0.tracesAccepted() - s0.tracesAccepted();
      long t0 = System.nanoTime();
      long deadline = t0 + (long) (timeoutSeconds * 1e9);
      Snapshot d = d0;
      while (d.lag() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(100);
        d = durable.metrics.read();
      }
      Snapshot s = sink.metrics.read();
      double secs = (s.nanos - t0) / 1e9;
      double delivered = s.tracesAccepted() - s0.tracesAccepted();
      return new Drain(d.lag() == 0, secs, backlog, secs > 0 ? delivered / secs : 0);
    }

    @Override
    public String toString() {
      return drained
          ? String.format(Locale.ROOT, "backlog of %s spans delivered in %.1f s (%s spans/s)",
              grouped(backlogSpans), seconds, grouped(spansPerSecond))
          : String.format(Locale.ROOT, "NOT drained after %.0f s (backlog was %s spans)", seconds,
              grouped(backlogSpans));
    }
  }

  record Round(int round, IngestResult a, Phase b, Drain bDrain, Phase c, Drain cDrain) {}

  // ---------------------------------------------------------------------------------------------
  // The disk

  /**
   * The block device counters of the device a path is on, from /proc/diskstats: writes, sectors
   * and flushes completed. They count everything on that device, not only the queue.
   */
  static final class DiskStats {
    private final String device;

    private DiskStats(String device) {
      this.device = device;
    }

    /** Null when the path's device is not in /proc/diskstats (not Linux, overlay, tmpfs...). */
    static DiskStats forPath(Path path) {
      try {
        FileStore store = Files.getFileStore(path);
        String name = store.name();
        String dev = name.startsWith("/dev/") ? name.substring(5) : name;
        DiskStats d = new DiskStats(dev);
        return d.sample() != null ? d : null;
      } catch (IOException | RuntimeException e) {
        return null;
      }
    }

    record Sample(long writes, long sectors, long flushes, long flushMillis, long nanos) {}

    record Delta(double writesPerSecond, double mibPerSecond, double flushesPerSecond,
        double flushMillis) {
      @Override
      public String toString() {
        return String.format(Locale.ROOT, "%.0f writes/s, %.1f MiB/s, %.0f flushes/s (%.2f ms "
            + "each)", writesPerSecond, mibPerSecond, flushesPerSecond, flushMillis);
      }
    }

    Sample sample() {
      try {
        for (String line : Files.readAllLines(Path.of("/proc/diskstats"))) {
          String[] f = line.trim().split("\\s+");
          if (f.length >= 20 && f[2].equals(device)) {
            return new Sample(Long.parseLong(f[7]), Long.parseLong(f[9]), Long.parseLong(f[18]),
                Long.parseLong(f[19]), System.nanoTime());
          }
        }
      } catch (IOException | RuntimeException e) {
        // not Linux, or an old kernel without flush counters
      }
      return null;
    }

    Delta since(Sample before) {
      Sample now = sample();
      if (before == null || now == null) {
        return null;
      }
      double secs = (now.nanos - before.nanos) / 1e9;
      long flushes = now.flushes - before.flushes;
      return new Delta((now.writes - before.writes) / secs,
          (now.sectors - before.sectors) * 512.0 / (1 << 20) / secs, flushes / secs,
          flushes > 0 ? (double) (now.flushMillis - before.flushMillis) / flushes : 0);
    }

    @Override
    public String toString() {
      return "device " + device + " (/proc/diskstats)";
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Report and check

  private static void report(List<Round> rounds, Options o) {
    System.out.println("| round | phase | target req/s | accepted spans/s | other answers/s | "
        + "p50 ms | p99 ms | max ms | delivered spans/s | exporter req/s | spans per exporter "
        + "req | appends per flush | queue at end MiB / oldest s | Sluice cores | sink cores | "
        + "client cores | machine busy cores |");
    System.out.println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        + "---:|---:|---:|");
    for (Round r : rounds) {
      IngestResult a = r.a;
      System.out.printf(Locale.ROOT,
          "| %d | A baseline | - | %s | %.0f | %.2f | %.2f | %.2f | - | - | - | - | - | %.2f | - "
              + "| %.2f | %.2f |%n",
          r.round, grouped(a.spansPerSecond()), a.errors() / o.durationSeconds, a.p50Millis(),
          a.p99Millis(), a.maxMillis(), a.sluiceCores().total(), a.clientCores().total(),
          a.machine().busyCores());
      row(r.round, "B max rate", r.b);
      row(r.round, "C " + Math.round(o.ratePercent) + "% rate", r.c);
    }
    System.out.println();
    System.out.println("| round | B drain: backlog spans | seconds | spans/s | C drain: backlog "
        + "spans | seconds |");
    System.out.println("|---:|---:|---:|---:|---:|---:|");
    for (Round r : rounds) {
      System.out.printf(Locale.ROOT, "| %d | %s | %.1f%s | %s | %s | %.1f%s |%n", r.round,
          grouped(r.bDrain.backlogSpans), r.bDrain.seconds, r.bDrain.drained ? "" : " (NOT done)",
          grouped(r.bDrain.spansPerSecond), grouped(r.cDrain.backlogSpans), r.cDrain.seconds,
          r.cDrain.drained ? "" : " (NOT done)");
    }

    double a = median(rounds, r -> r.a.spansPerSecond());
    double bAccepted = median(rounds, r -> r.b.load.acceptedSpansPerSecond());
    double bDelivered = median(rounds, r -> r.b.deliveredSpansPerSecond);
    double bEnd = median(rounds, r -> r.b.endToEndSpansPerSecond());
    System.out.println();
    System.out.printf(Locale.ROOT, "median A, baseline (memory queue, debug exporter): %s spans/s,"
            + " p50 %.2f ms, p99 %.2f ms, Sluice %.2f cores%n", grouped(a),
        median(rounds, r -> r.a.p50Millis()), median(rounds, r -> r.a.p99Millis()),
        median(rounds, r -> r.a.sluiceCores().total()));
    System.out.printf(Locale.ROOT, "median B, durable + otlphttp, max rate: accepted %s spans/s "
            + "(%.0f other answers/s), delivered at the sink %s spans/s, end to end %s spans/s; "
            + "p50 %.2f ms, p99 %.2f ms (all answers); queue at the end %.1f MiB, oldest %.1f s; "
            + "Sluice %.2f cores, sink %.2f%n",
        grouped(bAccepted), median(rounds, r -> r.b.load.notOkPerSecond()), grouped(bDelivered),
        grouped(bEnd), median(rounds, r -> r.b.load.p50Millis()),
        median(rounds, r -> r.b.load.p99Millis()), median(rounds, r -> r.b.queueMiB),
        median(rounds, r -> r.b.oldestAgeSeconds),
        median(rounds, r -> r.b.sluiceCores.total()), median(rounds, r -> r.b.sinkCores.total()));
    System.out.printf(Locale.ROOT, "median B exporter: %.1f requests/s of %s spans, %.1f ms each; "
            + "%.0f appends/s, %.1f appends per device flush%n",
        median(rounds, r -> r.b.exporterRequestsPerSecond),
        grouped(median(rounds, r -> r.b.spansPerExporterRequest)),
        median(rounds, r -> r.b.exporterRequestMillis),
        median(rounds, r -> r.b.appendsPerSecond), median(rounds, r -> r.b.appendsPerFlush()));
    List<Round> backlogged = rounds.stream().filter(r -> r.bDrain.seconds >= 1).toList();
    System.out.printf(Locale.ROOT, "median drain after B: %s%n", backlogged.isEmpty()
        ? "none took a second or more (the exporter kept up)"
        : grouped(median(backlogged, r -> r.bDrain.spansPerSecond)) + " spans/s (delivery "
            + "without ingest; rounds with a drain of 1 s or more: " + backlogged.size() + ")");
    if (rounds.stream().anyMatch(r -> r.b.load.notOkPerSecond() > 0)) {
      System.out.println("warning: phase B got answers other than 200 (the queue filled? see "
          + "pipeline.queue.max_bytes): its latency figures mix them in");
    }
    System.out.printf(Locale.ROOT, "median C, %.0f%% of B's end-to-end rate (%.0f req/s): accepted "
            + "%s spans/s, delivered %s spans/s; p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
            + "%.1f appends per device flush; Sluice %.2f cores%n",
        o.ratePercent, median(rounds, r -> r.c.targetRequestsPerSecond),
        grouped(median(rounds, r -> r.c.load.acceptedSpansPerSecond())),
        grouped(median(rounds, r -> r.c.deliveredSpansPerSecond)),
        median(rounds, r -> r.c.load.p50Millis()), median(rounds, r -> r.c.load.p99Millis()),
        median(rounds, r -> r.c.load.maxMillis()), median(rounds, r -> r.c.appendsPerFlush()),
        median(rounds, r -> r.c.sluiceCores.total()));
    System.out.printf(Locale.ROOT, "ratio B end to end / A: %.4f (medians; median of the rounds' "
            + "ratios %.4f)%n", bEnd / a,
        median(rounds, r -> r.b.endToEndSpansPerSecond() / r.a.spansPerSecond()));
    System.out.printf(Locale.ROOT, "ratio B accepted / A: %.4f (medians; median of the rounds' "
            + "ratios %.4f)%n", bAccepted / a,
        median(rounds, r -> r.b.load.acceptedSpansPerSecond() / r.a.spansPerSecond()));
  }

  private static void row(int round, String name, Phase p) {
    Load c = p.load;
    System.out.printf(Locale.ROOT,
        "| %d | %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %s | %.1f | %s | %.1f | %.1f / %.1f | "
            + "%.2f | %.2f | %.2f | %.2f |%n",
        round, name, p.targetRequestsPerSecond > 0
            ? String.format(Locale.ROOT, "%.0f", p.targetRequestsPerSecond) : "-",
        grouped(c.acceptedSpansPerSecond()), c.notOkPerSecond(), c.p50Millis(), c.p99Millis(),
        c.maxMillis(), grouped(p.deliveredSpansPerSecond), p.exporterRequestsPerSecond,
        grouped(p.spansPerExporterRequest), p.appendsPerFlush(), p.queueMiB, p.oldestAgeSeconds,
        p.sluiceCores.total(), p.sinkCores.total(), p.clientCores.total(), p.machineBusyCores);
  }

  /**
   * The sink must have received at least every span the Sluice under test answered 200; more is
   * allowed (at least once) and reported. Returns the exit status.
   */
  private static int verify(Node durable, Node sink, long durableBefore, long sinkBefore,
      long clientOkSpans) throws IOException, InterruptedException {
    long accepted = durable.process.acceptedSpans() - durableBefore;
    long received = sink.process.acceptedSpans() - sinkBefore;
    Snapshot d = durable.metrics.read();
    double redelivered = d.sum("sluice_pipeline_redelivered_batches_total");
    double failed = d.sum("sluice_exporter_failed_items_total");
    double deadLettered = d.sum("sluice_exporter_dead_lettered_items_total");
    System.out.println();
    System.out.printf(Locale.ROOT, "check: the clients counted %d spans answered 200 by the Sluice "
            + "under test, which counted %d (sluice_receiver_items_total); the sink received %d: "
            + "%s%n",
        clientOkSpans, accepted, received,
        received == accepted ? "every span exactly once"
            : received > accepted ? String.format(Locale.ROOT, "every span, and %d more "
                + "(duplicates: delivered again)", received - accepted)
            : String.format(Locale.ROOT, "%d MISSING", accepted - received));
    System.out.printf(Locale.ROOT, "check: batches handed to the exporter again %.0f, spans the "
        + "exporter failed %.0f, dead-lettered %.0f%n", redelivered, failed, deadLettered);
    boolean ok = received >= accepted && accepted == clientOkSpans;
    return ok ? 0 : 1;
  }

  private static double median(List<Round> rounds, ToDoubleFunction<Round> f) {
    return IngestLoad.median(rounds.stream().mapToDouble(f).toArray());
  }

  private static String grouped(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%,.0f", v);
  }

  private static int freePort(String host) throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(host))) {
      return s.getLocalPort();
    }
  }

  private static boolean portFree(String host, int port) {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(host), port), 1);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static void sleepUntil(long deadlineNanos) {
    long left;
    while ((left = deadlineNanos - System.nanoTime()) > 0) {
      LockSupport.parkNanos(left);
    }
  }
}
