package dev.sluice.bench;

import dev.sluice.client.QueueFullException;
import dev.sluice.client.SluiceOtlpClient;
import dev.sluice.client.otel.SluiceSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * CPU time and allocation per million spans of two OTLP/HTTP span exporters, in one run: the
 * OpenTelemetry Java SDK's {@link OtlpHttpSpanExporter} (its default OkHttp sender and reusable-data
 * memory mode) and Sluice's {@link SluiceSpanExporter} on a {@link SluiceOtlpClient}, sending the
 * same pre-generated {@link SpanData} in batches of 512 (what a {@code BatchSpanProcessor} hands
 * over) to the same sink, in alternating rounds.
 *
 * <p>The sink ({@link ExporterSink}) is a separate process answering 200 at once, so this process's
 * CPU time ({@code OperatingSystemMXBean.getProcessCpuTime}: every thread, GC and JIT included) is
 * the exporter's and the caller's. Allocation is the sum over threads of {@code
 * ThreadMXBean.getThreadAllocatedBytes}. A round ends when every span was answered: the SDK
 * exporter's results all completed, Sluice's {@code flush()} completed.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.sluice.bench.ExporterCpuBenchmark \
 *     [--spans=1000000] [--rounds=5] [--warmup=3] [--batch=512] [--distinct=131072] \
 *     [--compression=none,gzip] [--window=1]
 * </pre>
 *
 * {@code --distinct} spans are generated and sent over and over until {@code --spans} were sent
 * per round. {@code --window} is how many exports the SDK exporter may have unanswered; the
 * default 1 is what a {@code BatchSpanProcessor} does (it waits for each export's result). With
 * more, its OkHttp sender (a pool of max(5, CPUs) threads behind a {@code SynchronousQueue}) now
 * and then fails an export with "executor rejected"; the benchmark sends that batch again and
 * counts it in the last column. Sluice's exports return once queued; when its bounded queue is
 * full, the benchmark waits on {@code flush()}, offers the batch again and counts it.
 */
public final class ExporterCpuBenchmark {
  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  private ExporterCpuBenchmark() {}

  record Options(int spans, int rounds, int warmup, int batch, int distinct,
      List<String> compressions, int window, long sluiceBatchBytes) {
    static Options parse(String[] args) {
      Map<String, String> m = new HashMap<>();
      for (String a : args) {
        if (!a.startsWith("--") || !a.contains("=")) {
          throw new IllegalArgumentException("arguments are --name=value, not " + a);
        }
        m.put(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
      }
      Options o = new Options(Integer.parseInt(m.getOrDefault("spans", "1000000")),
          Integer.parseInt(m.getOrDefault("rounds", "5")),
          Integer.parseInt(m.getOrDefault("warmup", "3")),
          Integer.parseInt(m.getOrDefault("batch", "512")),
          Integer.parseInt(m.getOrDefault("distinct", "131072")),
          List.of(m.getOrDefault("compression", "none,gzip").split(",")),
          Integer.parseInt(m.getOrDefault("window", "1")),
          Long.parseLong(m.getOrDefault("sluice-batch-max-bytes", "0")));
      m.keySet().removeAll(List.of("spans", "rounds", "warmup", "batch", "distinct",
          "compression", "window", "sluice-batch-max-bytes"));
      if (!m.isEmpty()) {
        throw new IllegalArgumentException("unknown options " + m.keySet());
      }
      return o;
    }
  }

  /** One exporter's round. */
  record Sample(long spans, long cpuNanos, long allocBytes, long wallNanos, long requests,
      long bytes, long rejected, Map<String, Long> cpuByThreadGroup) {
    double cpuMsPerMillion() {
      return cpuNanos / 1e6 * 1e6 / spans;
    }

    double allocMbPerMillion() {
      return allocBytes / 1e6 * 1e6 / spans;
    }

    double spansPerSecond() {
      return spans * 1e9 / wallNanos;
    }
  }

  /** Sends a round's batches and returns when all were answered; returns rejections. */
  interface Driver {
    long send(List<List<SpanData>> batches, int count) throws Exception;
  }

  public static void main(String[] args) throws Exception {
    Options o = Options.parse(args);
    if (!THREADS.isThreadCpuTimeSupported() || !THREADS.isThreadAllocatedMemorySupported()) {
      throw new IllegalStateException("this JVM measures no per-thread CPU time or allocation");
    }
    THREADS.setThreadCpuTimeEnabled(true);
    THREADS.setThreadAllocatedMemoryEnabled(true);
    System.out.println(machine());
    List<SpanData> spans = BenchSpans.generate(o.distinct(), BenchSpans.SEED);
    List<List<SpanData>> batches = new ArrayList<>();
    for (int i = 0; i + o.batch() <= spans.size(); i += o.batch()) {
      batches.add(List.copyOf(spans.subList(i, i + o.batch())));
    }
    int count = o.spans() / o.batch();
    System.out.printf(Locale.ROOT, "%,d spans per round (%d batches of %d, cycling over %,d distinct"
            + " spans), %d warm-up + %d measured rounds, SDK window %d%n", (long) count * o.batch(),
        count, o.batch(), batches.size() * o.batch(), o.warmup(), o.rounds(), o.window());

    try (Sink sink = Sink.start()) {
      for (String compression : o.compressions()) {
        runConfiguration(o, compression, sink, batches, count);
      }
    }
  }

  private static void runConfiguration(Options o, String compression, Sink sink,
      List<List<SpanData>> batches, int count) throws Exception {
    SpanExporter sdk = OtlpHttpSpanExporter.builder()
        .setEndpoint(sink.url() + "/v1/traces")
        .setCompression(compression)
        .build();
    SluiceOtlpClient.Builder clientSettings = SluiceOtlpClient.builder()
        .endpoint(sink.url())
        .compression(compression);
    if (o.sluiceBatchBytes() > 0) {
      clientSettings.batchMaxBytes(o.sluiceBatchBytes());
    }
    SluiceOtlpClient client = clientSettings.build();
    SluiceSpanExporter sluice = SluiceSpanExporter.create(client);
    Driver sdkDriver = (bs, n) -> {
      ArrayDeque<Object[]> window = new ArrayDeque<>(); // {result, batch}
      long rejected = 0;
      for (int i = 0; i < n || !window.isEmpty(); i++) {
        if (i < n) {
          List<SpanData> batch = bs.get(i % bs.size());
          window.add(new Object[] {sdk.export(batch), batch});
        }
        while (!window.isEmpty() && (window.size() >= o.window() || i >= n)) {
          Object[] head = window.poll();
          CompletableResultCode r = (CompletableResultCode) head[0];
          r.join(120, TimeUnit.SECONDS);
          if (!r.isSuccess() && rejectedByExecutor(r.getFailureThrowable())) {
            // the OkHttp sender's pool refused the call (more than one export in flight): again
            rejected++;
            @SuppressWarnings("unchecked")
            List<SpanData> batch = (List<SpanData>) head[1];
            window.addFirst(new Object[] {sdk.export(batch), batch});
            continue;
          }
          await(r, "SDK export");
        }
      }
      return rejected;
    };
    Driver sluiceDriver = (bs, n) -> {
      long rejected = 0;
      for (int i = 0; i < n; i++) {
        CompletableResultCode r = sluice.export(bs.get(i % bs.size()));
        if (!r.isSuccess()) {
          if (!(r.getFailureThrowable() instanceof QueueFullException)) {
            throw new IllegalStateException("Sluice export failed", r.getFailureThrowable());
          }
          rejected++;
          await(sluice.flush(), "Sluice flush");
          i--; // offer the same batch again
        }
      }
      await(sluice.flush(), "Sluice flush");
      return rejected;
    };

    System.out.printf(Locale.ROOT, "%n## compression %s%n%n", compression);
    System.out.println("| round | exporter | CPU ms / M spans | MB alloc / M spans | wall ms "
        + "| spans/s | requests | body MB | re-sends / queue-full waits |");
    System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    List<Sample> sdkSamples = new ArrayList<>();
    List<Sample> sluiceSamples = new ArrayList<>();
    for (int round = 0; round < o.warmup() + o.rounds(); round++) {
      boolean measured = round >= o.warmup();
      String label = measured ? Integer.toString(round - o.warmup() + 1) : "warm-up";
      boolean sdkFirst = round % 2 == 0;
      for (int k = 0; k < 2; k++) {
        boolean isSdk = (k == 0) == sdkFirst;
        Sample s = measure(isSdk ? sdkDriver : sluiceDriver, batches, count, o.batch(), sink);
        (isSdk ? sdkSamples : sluiceSamples).add(measured ? s : null);
        System.out.printf(Locale.ROOT,
            "| %s | %s | %,.0f | %,.0f | %,.0f | %,.0f | %,d | %,.1f | %d |%n",
            label, isSdk ? "SDK" : "Sluice", s.cpuMsPerMillion(), s.allocMbPerMillion(),
            s.wallNanos() / 1e6, s.spansPerSecond(), s.requests(), s.bytes() / 1e6,
            s.rejected());
      }
    }
    sdk.shutdown().join(30, TimeUnit.SECONDS);
    sluice.shutdown().join(30, TimeUnit.SECONDS);
    sdkSamples.removeIf(s -> s == null);
    sluiceSamples.removeIf(s -> s == null);

    double sdkCpu = median(sdkSamples, Sample::cpuMsPerMillion);
    double sluiceCpu = median(sluiceSamples, Sample::cpuMsPerMillion);
    double sdkAlloc = median(sdkSamples, Sample::allocMbPerMillion);
    double sluiceAlloc = median(sluiceSamples, Sample::allocMbPerMillion);
    System.out.printf(Locale.ROOT, "%nMedians over %d rounds, compression %s:%n%n", o.rounds(),
        compression);
    System.out.println("| exporter | CPU ms / M spans | MB alloc / M spans | spans/s |");
    System.out.println("|---|---:|---:|---:|");
    System.out.printf(Locale.ROOT, "| OpenTelemetry SDK OtlpHttpSpanExporter | %,.0f | %,.0f | %,.0f |%n",
        sdkCpu, sdkAlloc, median(sdkSamples, Sample::spansPerSecond));
    System.out.printf(Locale.ROOT, "| Sluice SluiceSpanExporter | %,.0f | %,.0f | %,.0f |%n",
        sluiceCpu, sluiceAlloc, median(sluiceSamples, Sample::spansPerSecond));
    double ratio = sluiceCpu / sdkCpu;
    System.out.printf(Locale.ROOT, "%nCPU ratio Sluice / SDK: %.2f (target <= 0.50: %s); "
            + "allocation ratio %.2f%n", ratio, ratio <= 0.5 ? "met" : "NOT met",
        sluiceAlloc / sdkAlloc);
    System.out.printf(Locale.ROOT, "%nCPU ms per million spans by thread group (medians):%n%n");
    printGroups("SDK", sdkSamples);
    printGroups("Sluice", sluiceSamples);
  }

  private static void printGroups(String name, List<Sample> samples) {
    Map<String, List<Double>> byGroup = new TreeMap<>();
    for (Sample s : samples) {
      s.cpuByThreadGroup().forEach((g, nanos) -> byGroup.computeIfAbsent(g, k -> new ArrayList<>())
          .add(nanos / 1e6 * 1e6 / s.spans()));
    }
    String line = byGroup.entrySet().stream()
        .map(e -> Map.entry(e.getKey(), medianOf(e.getValue())))
        .filter(e -> e.getValue() >= 1)
        .sorted((a, b) -> Double.compare(b.getValue(), a.getValue()))
        .map(e -> String.format(Locale.ROOT, "%s %,.0f", e.getKey(), e.getValue()))
        .collect(Collectors.joining(", "));
    System.out.println("- " + name + ": " + line);
  }

  private static boolean rejectedByExecutor(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof java.util.concurrent.RejectedExecutionException) {
        return true;
      }
    }
    return false;
  }

  private static void await(CompletableResultCode r, String what) {
    r.join(120, TimeUnit.SECONDS);
    if (!r.isDone()) {
      throw new IllegalStateException(what + " did not complete within 120 s");
    }
    if (!r.isSuccess()) {
      throw new IllegalStateException(what + " failed", r.getFailureThrowable());
    }
  }

  private static Sample measure(Driver driver, List<List<SpanData>> batches, int count, int batch,
      Sink sink) throws Exception {
    System.gc();
    long[] sink0 = sink.counts();
    Map<String, Long> vmBefore = vmThreadTicks();
    Map<Long, ThreadSample> before = threads();
    long cpu0 = OS.getProcessCpuTime();
    long t0 = System.nanoTime();
    long rejected = driver.send(batches, count);
    long t1 = System.nanoTime();
    long cpu1 = OS.getProcessCpuTime();
    Map<Long, ThreadSample> after = threads();
    Map<String, Long> vmAfter = vmThreadTicks();
    long[] sink1 = sink.counts();
    long alloc = 0;
    long javaCpu = 0;
    Map<String, Long> groups = new LinkedHashMap<>();
    for (Map.Entry<Long, ThreadSample> e : after.entrySet()) {
      ThreadSample a = e.getValue();
      ThreadSample b = before.getOrDefault(e.getKey(), new ThreadSample(a.name, 0, 0));
      alloc += a.allocated - b.allocated;
      long cpu = a.cpu - b.cpu;
      javaCpu += cpu;
      groups.merge(group(a.name), cpu, Long::sum);
    }
    long cpu = cpu1 - cpu0;
    long vm = Math.max(0, cpu - javaCpu);
    groups.merge("JVM (GC, JIT)", vm, Long::sum);
    // Where the JVM's own time went, from the kernel's per-thread accounting (Linux only, 10 ms
    // ticks): the figures are approximate and are shown beside the total, not subtracted from it.
    vmAfter.forEach((g, ticks) -> groups.merge("(of JVM: " + g + ")",
        (ticks - vmBefore.getOrDefault(g, 0L)) * 10_000_000L, Long::sum));
    return new Sample((long) count * batch, cpu, alloc, t1 - t0, sink1[0] - sink0[0],
        sink1[1] - sink0[1], rejected, groups);
  }

  private record ThreadSample(String name, long cpu, long allocated) {}

  /**
   * CPU ticks (user + system) of the JVM's native threads by kind, from {@code
   * /proc/self/task/<tid>/stat}; empty where there is no such file.
   */
  private static Map<String, Long> vmThreadTicks() {
    Map<String, Long> out = new TreeMap<>();
    Path tasks = Path.of("/proc/self/task");
    if (!Files.isDirectory(tasks)) {
      return out;
    }
    try (var dirs = Files.list(tasks)) {
      for (Path t : (Iterable<Path>) dirs::iterator) {
        String stat;
        try {
          stat = Files.readString(t.resolve("stat"));
        } catch (IOException e) {
          continue; // the thread ended
        }
        int open = stat.indexOf('(');
        int close = stat.lastIndexOf(')');
        String comm = stat.substring(open + 1, close);
        String kind = comm.startsWith("GC Thread") || comm.startsWith("G1 ") ? "GC"
            : comm.startsWith("C1 Compiler") || comm.startsWith("C2 Compiler") ? "JIT"
            : comm.startsWith("VM Thread") ? "VM thread" : null;
        if (kind == null) {
          continue;
        }
        String[] f = stat.substring(close + 2).split(" ");
        // fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command
        out.merge(kind, Long.parseLong(f[11]) + Long.parseLong(f[12]), Long::sum);
      }
    } catch (IOException | RuntimeException e) {
      out.clear();
    }
    return out;
  }

  private static Map<Long, ThreadSample> threads() {
    long[] ids = THREADS.getAllThreadIds();
    long[] cpu = THREADS.getThreadCpuTime(ids);
    long[] alloc = THREADS.getThreadAllocatedBytes(ids);
    Map<Long, ThreadSample> out = new HashMap<>();
    java.lang.management.ThreadInfo[] infos = THREADS.getThreadInfo(ids);
    for (int i = 0; i < ids.length; i++) {
      if (infos[i] != null && cpu[i] >= 0 && alloc[i] >= 0) {
        out.put(ids[i], new ThreadSample(infos[i].getThreadName(), cpu[i], alloc[i]));
      }
    }
    return out;
  }

  /** Thread names without numbers and ports: "OkHttp http://127.0.0.1:#/...", "sluice-...-#". */
  static String group(String thread) {
    if (thread.equals("main")) {
      return "caller (encoding)";
    }
    if (thread.startsWith("OkHttp") || thread.toLowerCase(Locale.ROOT).contains("okhttp")) {
      return "OkHttp";
    }
    if (thread.startsWith("sluice-upstream")) {
      return "Sluice event loops";
    }
    if (thread.startsWith("sluice-otlphttp")) {
      return "Sluice workers";
    }
    return thread.replaceAll("[0-9]+", "#");
  }

  private static <T> double median(List<T> xs, java.util.function.ToDoubleFunction<T> f) {
    return medianOf(xs.stream().map(f::applyAsDouble).toList());
  }

  private static double medianOf(List<Double> values) {
    double[] v = values.stream().mapToDouble(Double::doubleValue).toArray();
    Arrays.sort(v);
    if (v.length == 0) {
      return Double.NaN;
    }
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  private static String machine() {
    String cpu = "unknown CPU";
    try {
      cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
          .filter(l -> l.startsWith("model name")).findFirst()
          .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse(cpu);
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    String gcs = ManagementFactory.getGarbageCollectorMXBeans().stream()
        .map(GarbageCollectorMXBean::getName).collect(Collectors.joining(", "));
    return String.format(Locale.ROOT, "%s, %d CPUs; %s %s %s; heap max %,d MB; GC %s",
        cpu, Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"),
        System.getProperty("os.arch"), System.getProperty("java.vm.name") + " "
            + System.getProperty("java.runtime.version"),
        Runtime.getRuntime().maxMemory() >> 20, gcs);
  }

  /** The sink process. */
  static final class Sink implements AutoCloseable {
    private final Process process;
    private final BufferedReader out;
    private final PrintWriter in;
    private final int port;

    private Sink(Process process) throws IOException {
      this.process = process;
      this.out = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8));
      this.in = new PrintWriter(new OutputStreamWriter(process.getOutputStream(),
          StandardCharsets.UTF_8), true);
      String line = out.readLine();
      if (line == null || !line.startsWith("PORT ")) {
        process.destroy();
        throw new IOException("the sink did not start: " + line);
      }
      this.port = Integer.parseInt(line.substring(5).trim());
    }

    static Sink start() throws IOException {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      Process p = new ProcessBuilder(java, "-Xmx256m", "-cp",
          System.getProperty("java.class.path"), ExporterSink.class.getName())
          .redirectError(ProcessBuilder.Redirect.INHERIT)
          .start();
      return new Sink(p);
    }

    String url() {
      return "http://127.0.0.1:" + port;
    }

    /** Requests the sink answered so far, and the body bytes it read. */
    long[] counts() throws IOException {
      in.println("?");
      String line = out.readLine();
      if (line == null || !line.startsWith("REQUESTS ")) {
        throw new IOException("the sink answered " + line);
      }
      String[] f = line.split(" ");
      return new long[] {Long.parseLong(f[1]), Long.parseLong(f[3])};
    }

    @Override
    public void close() throws Exception {
      in.close();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroy();
      }
    }
  }
}
