package dev.sluice.bench;

import dev.sluice.http.transport.Transport;
import dev.sluice.loadgen.HttpConnection;
import dev.sluice.loadgen.HttpConnector;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * The end-to-end ingest benchmark: how many spans per second {@code sluice run} accepts over
 * OTLP/HTTP with only the {@code debug} exporter, set against how many spans per second
 * protobuf-java decodes on one thread, both measured in the same run so that a noisy machine
 * shifts both.
 *
 * <p>Each round has two phases, one after the other:
 *
 * <ol>
 *   <li>baseline: {@code ExportTraceServiceRequest.parseFrom(byte[])} of the payload in a loop on
 *       one thread, after a warm-up; spans/s;
 *   <li>ingest: C keep-alive HTTP/1.1 connections (sluice-loadgen's Netty {@link
 *       HttpConnection}, epoll when available) to a Sluice started as a separate process, each
 *       sending the pre-encoded protobuf request as soon as the previous answer arrives (one
 *       outstanding per connection); after a warm-up, for D
 *       seconds, it counts 200s and other answers and records each request's latency from the
 *       write to the end of the answer.
 * </ol>
 *
 * <p>After R rounds it prints a table, the medians and the ratio ingest/decode, then stops Sluice.
 * The payload is {@link Payloads#traceRequest()}: {@value Payloads#SPANS} spans of {@value
 * Payloads#ATTRIBUTES} attributes. Relative paths resolve against the working directory; {@code
 * bench/run-ingest.sh} runs it from the repository's root.
 */
public final class IngestLoad {
  private static final long HISTOGRAM_MAX_NANOS = TimeUnit.SECONDS.toNanos(60);
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private IngestLoad() {}

  /** The command line. */
  static final class Options {
    Path jar = Path.of("sluice-app/target/sluice.jar");
    Path config = Path.of("bench/ingest-debug.yaml");
    Path log = Path.of("bench/target/ingest-sluice.log");
    String host = "127.0.0.1";
    int port; // 0: a free port
    int adminPort; // 0: a free port
    int connections = 8;
    int clientThreads = 1;
    double durationSeconds = 15;
    double warmupSeconds = 5;
    int rounds = 3;
    double baselineSeconds = 10;
    double rate; // requests/s over all connections; 0: as fast as answers come
    List<String> sluiceJvmArgs = new ArrayList<>();

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
          System.err.println("ingest-load: " + a + " needs a value");
          usage(2);
          return o;
        }
        try {
          o.set(a, v);
        } catch (IllegalArgumentException e) {
          System.err.println("ingest-load: " + a + " " + v + ": " + e.getMessage());
          usage(2);
        }
      }
      if (o.durationSeconds <= 0 || o.baselineSeconds <= 0) {
        System.err.println("ingest-load: --duration and --baseline-seconds must be positive");
        usage(2);
      }
      return o;
    }

    private void set(String flag, String v) {
      switch (flag) {
        case "--jar": jar = Path.of(v); break;
        case "--config": config = Path.of(v); break;
        case "--log": log = Path.of(v); break;
        case "--host": host = v; break;
        case "--port": port = Integer.parseInt(v); break;
        case "--admin-port": adminPort = Integer.parseInt(v); break;
        case "--connections": connections = positive(Integer.parseInt(v)); break;
        case "--client-threads": clientThreads = positive(Integer.parseInt(v)); break;
        case "--duration": durationSeconds = seconds(v); break;
        case "--warmup": warmupSeconds = seconds(v); break;
        case "--rounds": rounds = positive(Integer.parseInt(v)); break;
        case "--baseline-seconds": baselineSeconds = seconds(v); break;
        case "--rate": rate = Double.parseDouble(v); break;
        case "--sluice-jvm-arg": sluiceJvmArgs.add(v); break;
        default: throw new IllegalArgumentException("unknown option");
      }
    }

    private static int positive(int n) {
      if (n <= 0) {
        throw new IllegalArgumentException("must be positive");
      }
      return n;
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

    private static void usage(int status) {
      System.err.println(String.join("\n",
          "usage: java -cp bench/target/benchmarks.jar dev.sluice.bench.IngestLoad [options]",
          "  --jar PATH               Sluice jar (sluice-app/target/sluice.jar)",
          "  --config PATH            Sluice config (bench/ingest-debug.yaml)",
          "  --log PATH               Sluice's output (bench/target/ingest-sluice.log)",
          "  --host HOST              address Sluice listens on (127.0.0.1)",
          "  --port N, --admin-port N receiver and admin ports, passed to Sluice as --listen and",
          "                           --admin (0 = a free port; default 0)",
          "  --connections N          keep-alive connections, one request outstanding each (8)",
          "  --client-threads N       client event-loop threads (1)",
          "  --duration SECONDS       measured load per round (15)",
          "  --warmup SECONDS         warm-up before each measured phase (5)",
          "  --baseline-seconds S     measured single-thread decode per round (10)",
          "  --rounds N               rounds of baseline + ingest (3)",
          "  --rate R                 cap at R requests/s over all connections (0 = no cap)",
          "  --sluice-jvm-arg ARG     a JVM option for the Sluice process (repeatable)"));
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
    int port = o.port != 0 ? o.port : freePort(o.host);
    int adminPort = o.adminPort != 0 ? o.adminPort : freePort(o.host);
    Machine machine = Machine.describe();
    System.out.printf(Locale.ROOT, "machine: %s%n", machine);
    System.out.printf(Locale.ROOT,
        "payload: ExportTraceServiceRequest, %d spans x %d attributes, %d bytes protobuf%n",
        Payloads.SPANS, Payloads.ATTRIBUTES, body.length);
    System.out.printf(Locale.ROOT,
        "plan: %d round(s) of [decode: %.0fs warm-up + %.0fs on 1 thread] then [ingest: %d "
            + "connection(s), %d client thread(s), %.0fs warm-up + %.0fs%s]%n",
        o.rounds, o.warmupSeconds, o.baselineSeconds, o.connections, o.clientThreads,
        o.warmupSeconds, o.durationSeconds,
        o.rate > 0 ? String.format(Locale.ROOT, ", capped at %.0f req/s", o.rate) : "");

    SluiceProcess sluice = SluiceProcess.start(o, port, adminPort);
    Transport transport = Transport.best();
    EventLoopGroup group = transport.newGroup(o.clientThreads, "ingest-client");
    List<RoundResult> results = new ArrayList<>();
    int exit = 0;
    try {
      sluice.awaitReady(Duration.ofSeconds(60));
      long sluiceItemsBefore = sluice.acceptedSpans();
      Client client = new Client(o, group, port, body);
      System.out.printf(Locale.ROOT, "client: %s, Content-Type application/x-protobuf, %d-byte "
          + "requests to http://%s:%d/v1/traces%n", transport, client.requestBytes(), o.host, port);
      System.out.println();
      for (int r = 1; r <= o.rounds; r++) {
        DecodeResult decode = Baseline.run(body, o.warmupSeconds, o.baselineSeconds);
        System.out.printf(Locale.ROOT, "round %d decode: %s%n", r, decode);
        IngestResult ingest = client.run(sluice, o.warmupSeconds, o.durationSeconds);
        System.out.printf(Locale.ROOT, "round %d ingest: %s%n", r, ingest);
        results.add(new RoundResult(r, decode, ingest));
      }
      client.close();
      long sluiceItems = sluice.acceptedSpans() - sluiceItemsBefore;
      System.out.println();
      report(results, o);
      System.out.printf(Locale.ROOT,
          "check: Sluice counted %d spans accepted (sluice_receiver_items_total); the client "
              + "counted %d x %d = %d spans answered 200%n",
          sluiceItems, client.totalOk, Payloads.SPANS, client.totalOk * Payloads.SPANS);
      if (results.stream().anyMatch(x -> x.ingest.errors > 0)) {
        exit = 1;
      }
    } catch (RuntimeException | IOException | InterruptedException e) {
      System.err.println("ingest-load: " + e);
      System.err.println("last lines of " + o.log + ":");
      System.err.println(sluice.logTail(30));
      exit = 1;
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
      int status = sluice.stop();
      System.out.printf(Locale.ROOT, "Sluice stopped (exit status %d%s); its output is in %s%n",
          status, status == 143 ? ", that is after SIGTERM" : "", o.log);
    }
    System.exit(exit);
  }

  private static void report(List<RoundResult> results, Options o) {
    System.out.println("| round | decode spans/s | decode thread CPU | decode spans/CPU-s | ingest "
        + "spans/s | req/s | p50 ms | p99 ms | max ms | non-200 | Sluice cores | client cores | "
        + "machine busy cores (decode / ingest) | ingest / decode | ingest / decode per CPU-s |");
    System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (RoundResult r : results) {
      IngestResult i = r.ingest;
      DecodeResult d = r.decode;
      System.out.printf(Locale.ROOT,
          "| %d | %s | %.0f%% | %s | %s | %.0f | %.2f | %.2f | %.2f | %d | %.2f | %.2f | %.2f / %.2f "
              + "| %.2f | %.2f |%n",
          r.round, grouped(d.spansPerSecond), d.threadCpuShare * 100, grouped(d.perCpuSecond()),
          grouped(i.spansPerSecond), i.requestsPerSecond, i.p50Millis, i.p99Millis, i.maxMillis,
          i.errors, i.sluiceCores.total(), i.clientCores.total(), d.machine.busyCores,
          i.machine.busyCores, i.spansPerSecond / d.spansPerSecond,
          i.spansPerSecond / d.perCpuSecond());
    }
    double decode = median(results, r -> r.decode.spansPerSecond);
    double decodeCpu = median(results, r -> r.decode.perCpuSecond());
    double ingest = median(results, r -> r.ingest.spansPerSecond);
    double ingestCpu = median(results, r -> r.ingest.spansPerSecond / r.ingest.sluiceCores.total());
    double ratio = ingest / decode;
    double ratioCpu = ingest / decodeCpu;
    System.out.println();
    System.out.printf(Locale.ROOT, "median decode (protobuf-java, 1 thread): %s spans/s; %s spans "
        + "per CPU-second of the decoding thread%n", grouped(decode), grouped(decodeCpu));
    System.out.printf(Locale.ROOT, "median ingest (sluice run, debug exporter, %d connections): "
            + "%s spans/s, %.0f req/s, p50 %.2f ms, p99 %.2f ms%n", o.connections, grouped(ingest),
        median(results, r -> r.ingest.requestsPerSecond), median(results, r -> r.ingest.p50Millis),
        median(results, r -> r.ingest.p99Millis));
    System.out.printf(Locale.ROOT, "median CPU during ingest: Sluice %.2f cores (user %.2f, "
            + "kernel %.2f), client %.2f cores, whole machine %.2f cores busy%n",
        median(results, r -> r.ingest.sluiceCores.total()),
        median(results, r -> r.ingest.sluiceCores.user()),
        median(results, r -> r.ingest.sluiceCores.system()),
        median(results, r -> r.ingest.clientCores.total()),
        median(results, r -> r.ingest.machine.busyCores));
    System.out.printf(Locale.ROOT, "median ingest spans per Sluice CPU-second: %s (%.2f x the "
        + "decode spans per CPU-second)%n", grouped(ingestCpu), ingestCpu / decodeCpu);
    System.out.printf(Locale.ROOT,
        "ratio ingest/decode: %.2f (medians, as measured; median of the rounds' ratios %.2f)%n",
        ratio, median(results, r -> r.ingest.spansPerSecond / r.decode.spansPerSecond));
    System.out.printf(Locale.ROOT,
        "ratio ingest/decode per CPU-second: %.2f (medians; against a full core even when the "
            + "decoding thread got less; median of the rounds' ratios %.2f)%n",
        ratioCpu, median(results, r -> r.ingest.spansPerSecond / r.decode.perCpuSecond()));
    System.out.printf(Locale.ROOT, "target ingest >= 1.5 x single-core decode: %s%n",
        o.rate > 0 ? "not assessed, the load was capped with --rate"
            : ratio >= 1.5 && ratioCpu >= 1.5 ? "met on both ratios"
            : ratio >= 1.5 || ratioCpu >= 1.5 ? "met on one ratio only" : "NOT met");
  }

  private static double median(List<RoundResult> results,
      java.util.function.ToDoubleFunction<RoundResult> f) {
    return median(results.stream().mapToDouble(f).toArray());
  }

  static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    int n = v.length;
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

  private static String grouped(double v) {
    return String.format(Locale.ROOT, "%,.0f", v);
  }

  private static int freePort(String host) throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(host))) {
      return s.getLocalPort();
    }
  }

  private static void sleepUntil(long deadlineNanos) {
    long left;
    while ((left = deadlineNanos - System.nanoTime()) > 0) {
      LockSupport.parkNanos(left);
    }
  }

  /** CPU time of a process so far, split into user and kernel time, from /proc/PID/stat. */
  record ProcCpu(long userNanos, long systemNanos) {
    private static final long NANOS_PER_TICK = 10_000_000L; // USER_HZ 100 on Linux

    static ProcCpu of(long pid) {
      try {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        // after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime ...
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new ProcCpu(Long.parseLong(f[11]) * NANOS_PER_TICK,
            Long.parseLong(f[12]) * NANOS_PER_TICK);
      } catch (IOException | RuntimeException e) {
        return new ProcCpu(Long.MIN_VALUE / 4, 0); // not Linux: shows as a negative figure
      }
    }

    static ProcCpu self() {
      return of(ProcessHandle.current().pid());
    }

    /** Cores used between {@code before} and this sample, {@code seconds} apart. */
    Cores since(ProcCpu before, double seconds) {
      return new Cores((userNanos - before.userNanos) / 1e9 / seconds,
          (systemNanos - before.systemNanos) / 1e9 / seconds);
    }
  }

  /** CPU use over a window in cores: user and kernel time. */
  record Cores(double user, double system) {
    double total() {
      return user + system;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%.2f (user %.2f, kernel %.2f)", total(), user, system);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Results

  record RoundResult(int round, DecodeResult decode, IngestResult ingest) {}

  /** One baseline phase. */
  record DecodeResult(double spansPerSecond, double threadCpuShare, MachineLoad machine) {
    /** Spans per second of CPU the decoding thread got: the rate of one whole core. */
    double perCpuSecond() {
      return spansPerSecond / threadCpuShare;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT,
          "%s spans/s on 1 thread; the thread had %.0f%% of a core, so %s spans per CPU-second "
              + "(machine busy %.2f cores, steal %.2f)",
          grouped(spansPerSecond), threadCpuShare * 100, grouped(perCpuSecond()),
          machine.busyCores, machine.stealCores);
    }
  }

  /** One measured ingest phase. */
  record IngestResult(double spansPerSecond, double requestsPerSecond, long ok, long errors,
      double p50Millis, double p99Millis, double maxMillis, Cores sluiceCores,
      Cores clientCores, MachineLoad machine) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT,
          "%s spans/s, %.0f req/s, %d x 200, %d other, latency p50 %.2f ms p99 %.2f ms max "
              + "%.2f ms; CPU cores: Sluice %s, client %s, machine busy %.2f, steal %.2f",
          grouped(spansPerSecond), requestsPerSecond, ok, errors, p50Millis, p99Millis,
          maxMillis, sluiceCores, clientCores, machine.busyCores, machine.stealCores);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Phase 1: protobuf-java on one thread

  static final class Baseline {
    /** Keeps the parsed messages observable so the JIT cannot drop the work. */
    static volatile int sink;

    static DecodeResult run(byte[] body, double warmupSeconds, double seconds) throws IOException {
      loop(body, System.nanoTime() + (long) (warmupSeconds * 1e9));
      MachineLoad.Sample machineBefore = MachineLoad.sample();
      long cpuBefore = THREADS.getCurrentThreadCpuTime();
      long start = System.nanoTime();
      long n = loop(body, start + (long) (seconds * 1e9));
      long elapsed = System.nanoTime() - start;
      long cpu = THREADS.getCurrentThreadCpuTime() - cpuBefore;
      MachineLoad machine = MachineLoad.since(machineBefore);
      return new DecodeResult(n * Payloads.SPANS * 1e9 / elapsed, (double) cpu / elapsed, machine);
    }

    private static long loop(byte[] body, long deadline) throws IOException {
      long n = 0;
      int acc = 0;
      do {
        ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(body);
        acc += req.getResourceSpans(0).getScopeSpans(0).getSpansCount();
        n++;
      } while (System.nanoTime() < deadline);
      sink = acc;
      return n;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Phase 2: the HTTP/1.1 client

  /** The measurement window shared by every connection of one ingest phase. */
  static final class Window {
    final long start;
    final long end;
    final long intervalNanos; // per connection, 0 for no cap
    final CountDownLatch done;

    Window(long start, long end, long intervalNanos, int connections) {
      this.start = start;
      this.end = end;
      this.intervalNanos = intervalNanos;
      this.done = new CountDownLatch(connections);
    }
  }

  static final class Client {
    private final Options options;
    private final HttpConnector connector;
    private final byte[] request;
    private final List<Connection> connections = new ArrayList<>();
    long totalOk;

    Client(Options options, EventLoopGroup group, int port, byte[] body)
        throws InterruptedException {
      this.options = options;
      String head = "POST /v1/traces HTTP/1.1\r\n"
          + "Host: " + options.host + ":" + port + "\r\n"
          + "Content-Type: application/x-protobuf\r\n"
          + "Content-Length: " + body.length + "\r\n"
          + "\r\n";
      byte[] h = head.getBytes(StandardCharsets.US_ASCII);
      request = Arrays.copyOf(h, h.length + body.length);
      System.arraycopy(body, 0, request, h.length, body.length);
      connector = new HttpConnector(group, options.host, port, null, Duration.ofSeconds(10));
      for (int i = 0; i < options.connections; i++) {
        connections.add(connect());
      }
    }

    int requestBytes() {
      return request.length;
    }

    private Connection connect() throws InterruptedException {
      try {
        return new Connection(connector.connect().get(10, TimeUnit.SECONDS), request);
      } catch (ExecutionException | TimeoutException e) {
        throw new IllegalStateException("cannot connect to " + options.host + ":"
            + connector.port() + ": " + (e.getCause() != null ? e.getCause() : e), e);
      }
    }

    IngestResult run(SluiceProcess sluice, double warmupSeconds, double seconds)
        throws InterruptedException, IOException {
      for (int i = 0; i < connections.size(); i++) {
        Connection c = connections.get(i);
        if (!c.http.isActive()) {
          c.release();
          connections.set(i, connect());
        }
      }
      long now = System.nanoTime();
      long start = now + (long) (warmupSeconds * 1e9);
      long end = start + (long) (seconds * 1e9);
      long interval = options.rate > 0 ? (long) (1e9 * connections.size() / options.rate) : 0;
      Window w = new Window(start, end, interval, connections.size());
      for (Connection c : connections) {
        c.http.eventLoop().execute(() -> c.begin(w));
      }
      sleepUntil(start);
      MachineLoad.Sample machineBefore = MachineLoad.sample();
      ProcCpu sluiceCpuBefore = sluice.cpu();
      ProcCpu clientCpuBefore = ProcCpu.self();
      sleepUntil(end);
      double secs = (end - start) / 1e9;
      Cores sluiceCores = sluice.cpu().since(sluiceCpuBefore, secs);
      Cores clientCores = ProcCpu.self().since(clientCpuBefore, secs);
      MachineLoad machine = MachineLoad.since(machineBefore);
      if (!w.done.await(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException("requests still unanswered 60 s after the end of the run");
      }
      Histogram all = new Histogram(HISTOGRAM_MAX_NANOS, 3);
      long ok = 0;
      long errors = 0;
      for (Connection c : connections) {
        ok += c.okInWindow;
        errors += c.errorsInWindow;
        totalOk += c.okTotal;
        c.okTotal = 0;
        all.add(c.latency);
      }
      return new IngestResult(ok * Payloads.SPANS / secs, (ok + errors) / secs, ok, errors,
          all.getValueAtPercentile(50) / 1e6, all.getValueAtPercentile(99) / 1e6,
          all.getMaxValue() / 1e6, sluiceCores, clientCores, machine);
    }

    void close() {
      for (Connection c : connections) {
        c.http.close().syncUninterruptibly();
        c.release();
      }
    }
  }

  /**
   * Drives one keep-alive {@link HttpConnection} of sluice-loadgen: sends the request, waits for the
   * whole answer, sends again. All fields belong to the connection's event loop while a window
   * runs; the main thread reads them after {@link Window#done} counted this connection down.
   */
  static final class Connection implements HttpConnection.Listener {
    final HttpConnection http;
    /** This connection's copy of the encoded request; resent without copying. */
    private final ByteBuf request;
    final Histogram latency = new Histogram(HISTOGRAM_MAX_NANOS, 3);
    private Window window;
    private long nextDue;
    long okInWindow;
    long errorsInWindow;
    long okTotal;

    Connection(HttpConnection http, byte[] encoded) {
      this.http = http;
      request = Unpooled.directBuffer(encoded.length).writeBytes(encoded);
    }

    void begin(Window w) {
      window = w;
      latency.reset();
      okInWindow = 0;
      errorsInWindow = 0;
      nextDue = System.nanoTime();
      send();
    }

    private void send() {
      ByteBuf out;
      if (request.refCnt() == 1) {
        // The previous write is done with it: resend the same bytes, nothing allocated.
        out = request.retain().readerIndex(0);
      } else {
        out = request.retainedDuplicate().readerIndex(0);
      }
      http.send(out, 0, this);
    }

    private void next() {
      Window w = window;
      long now = System.nanoTime();
      if (now >= w.end) {
        window = null;
        w.done.countDown();
        return;
      }
      if (w.intervalNanos == 0) {
        send();
        return;
      }
      nextDue += w.intervalNanos;
      if (nextDue <= now) {
        send();
      } else {
        http.eventLoop().schedule(this::send, nextDue - now, TimeUnit.NANOSECONDS);
      }
    }

    @Override
    public void onResponse(int status, HttpHeaders headers, ByteBuf body, long latencyNanos) {
      long now = System.nanoTime();
      Window w = window;
      if (status == 200) {
        okTotal++;
      }
      if (w != null && now >= w.start && now <= w.end) {
        latency.recordValue(Math.min(latencyNanos, HISTOGRAM_MAX_NANOS));
        if (status == 200) {
          okInWindow++;
        } else {
          errorsInWindow++;
        }
      }
      if (w != null) {
        next();
      }
    }

    @Override
    public void onFailure(Throwable cause) {
      System.err.println("ingest-load: connection failed during a run: " + cause);
      Window w = window;
      if (w != null) {
        errorsInWindow++;
        window = null;
        w.done.countDown();
      }
    }

    void release() {
      if (request.refCnt() > 0) {
        request.release(request.refCnt());
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The Sluice process

  static final class SluiceProcess {
    private final Process process;
    private final Path log;
    private final String adminBase;
    private final HttpClient http = HttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(2)).build();

    private SluiceProcess(Process process, Path log, String adminBase) {
      this.process = process;
      this.log = log;
      this.adminBase = adminBase;
    }

    static SluiceProcess start(Options o, int port, int adminPort) throws IOException {
      if (!Files.isRegularFile(o.jar)) {
        throw new IOException(o.jar.toAbsolutePath() + " not found; build it with ./mvnw "
            + "-DskipTests package -pl sluice-app -am");
      }
      if (!Files.isRegularFile(o.config)) {
        throw new IOException(o.config.toAbsolutePath() + " not found");
      }
      List<String> cmd = new ArrayList<>();
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      cmd.addAll(o.sluiceJvmArgs);
      cmd.addAll(List.of("-jar", o.jar.toString(), "run", "--config", o.config.toString(),
          "--listen", o.host + ":" + port, "--admin", o.host + ":" + adminPort));
      Path log = o.log.toAbsolutePath();
      Files.createDirectories(log.getParent());
      System.out.println("sluice: " + String.join(" ", cmd));
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(log.toFile()).start();
      Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly, "sluice-killer"));
      return new SluiceProcess(p, log, "http://" + o.host + ":" + adminPort);
    }

    void awaitReady(Duration timeout) throws IOException, InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      HttpRequest ready = HttpRequest.newBuilder(URI.create(adminBase + "/health/ready"))
          .timeout(Duration.ofSeconds(2)).build();
      long t0 = System.nanoTime();
      while (true) {
        if (!process.isAlive()) {
          throw new IOException("Sluice exited with status " + process.exitValue());
        }
        try {
          if (http.send(ready, BodyHandlers.discarding()).statusCode() == 200) {
            System.out.printf(Locale.ROOT, "sluice: ready after %.1f s (pid %d)%n",
                (System.nanoTime() - t0) / 1e9, process.pid());
            return;
          }
        } catch (IOException e) {
          // not listening yet
        }
        if (System.nanoTime() > deadline) {
          throw new IOException("Sluice not ready after " + timeout.toSeconds() + " s");
        }
        Thread.sleep(100);
      }
    }

    /** CPU time of the Sluice process so far, from the OS. */
    ProcCpu cpu() {
      return ProcCpu.of(process.pid());
    }

    /** Sum of {@code sluice_receiver_items_total} for traces answered 200, from /metrics. */
    long acceptedSpans() throws IOException, InterruptedException {
      String text = http.send(HttpRequest.newBuilder(URI.create(adminBase + "/metrics"))
          .timeout(Duration.ofSeconds(5)).build(), BodyHandlers.ofString()).body();
      double sum = 0;
      for (String line : text.split("\n")) {
        if (line.startsWith("sluice_receiver_items_total{") && line.contains("signal=\"traces\"")
            && line.contains("status=\"200\"")) {
          sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
      }
      return (long) sum;
    }

    String logTail(int lines) {
      try {
        List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
      } catch (IOException | RuntimeException e) {
        return "(cannot read " + log + ": " + e + ")";
      }
    }

    /** SIGTERM, up to 30 s for a clean exit, then SIGKILL; returns the exit status. */
    int stop() {
      process.destroy();
      try {
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          process.destroyForcibly();
          process.waitFor();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
      return process.isAlive() ? -1 : process.exitValue();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The machine

  /** The host as the report names it. */
  record Machine(int cpus, String model, String jdk) {
    static Machine describe() {
      String model = "unknown CPU";
      try {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
          if (line.startsWith("model name")) {
            model = line.substring(line.indexOf(':') + 1).trim();
            break;
          }
        }
      } catch (IOException e) {
        // not Linux
      }
      return new Machine(Runtime.getRuntime().availableProcessors(), model,
          System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
    }

    @Override
    public String toString() {
      return cpus + " CPUs, " + model + ", " + jdk;
    }
  }

  /** How busy all CPUs of the machine were over a window, from /proc/stat, in cores. */
  record MachineLoad(double busyCores, double stealCores) {
    record Sample(long busy, long steal, long nanos) {}

    private static final double TICKS_PER_SECOND = 100; // USER_HZ on Linux

    static Sample sample() {
      try {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        // cpu user nice system idle iowait irq softirq steal ...
        long busy = Long.parseLong(f[1]) + Long.parseLong(f[2]) + Long.parseLong(f[3])
            + Long.parseLong(f[6]) + Long.parseLong(f[7]);
        long steal = f.length > 8 ? Long.parseLong(f[8]) : 0;
        return new Sample(busy, steal, System.nanoTime());
      } catch (IOException | RuntimeException e) {
        return new Sample(-1, -1, System.nanoTime());
      }
    }

    static MachineLoad since(Sample before) {
      Sample now = sample();
      if (before.busy < 0 || now.busy < 0) {
        return new MachineLoad(Double.NaN, Double.NaN);
      }
      double secs = (now.nanos - before.nanos) / 1e9;
      return new MachineLoad((now.busy - before.busy) / TICKS_PER_SECOND / secs,
          (now.steal - before.steal) / TICKS_PER_SECOND / secs);
    }
  }
}
