package dev.sluice.app;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The promise of the durable queue, end to end: after a kill -9 at any moment, every span whose
 * request was answered 200 is exported once the program runs again. The real program runs in a
 * JVM of its own on the default durable queue (fsync always) and the default file exporter; a few
 * client threads send a stream of trace requests, the program is killed with SIGKILL while
 * requests are in flight, restarted on the same data_dir, and the export must then hold every
 * acknowledged span. Three kill/restart cycles, the stream continuing across them.
 */
class CrashRecoveryProcessTest {
  private static final int CLIENTS = 4;
  private static final int SPANS_PER_REQUEST = 5;
  private static final int CYCLES = 3;
  /** Acknowledged requests in each cycle before its kill (varied, so the kills land apart). */
  private static final int[] ACKS_BEFORE_KILL = {200, 320, 250};
  private static final Duration START_TIMEOUT = Duration.ofSeconds(20);
  private static final HexFormat HEX = HexFormat.of();

  @TempDir Path tmp;

  private final List<Process> processes = new ArrayList<>();
  private final List<Thread> clientThreads = new ArrayList<>();

  /** Span ids (hex) of every span whose request got a 200. */
  private final Set<String> acknowledged = ConcurrentHashMap.newKeySet();
  /** Next request number of each client; the stream goes on across restarts. */
  private final int[] nextSeq = new int[CLIENTS];
  /** Where a file ended in part of a line when the program was killed: file name -> offsets. */
  private final Map<String, Set<Long>> tornTails = new HashMap<>();

  @AfterEach
  void cleanUp() throws InterruptedException {
    for (Process p : processes) {
      if (p.isAlive()) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    }
    for (Thread t : clientThreads) {
      t.interrupt();
      t.join(10_000);
    }
  }

  private record Program(Process process, Path stderrFile, int port) {
    String stderr() {
      try {
        return Files.readString(stderrFile, StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "[cannot read " + stderrFile + ": " + e + "]";
      }
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  /** Starts the program on {@code dataDir} with fresh ports and waits for its start-up line. */
  private Program start(Path dataDir, int run) throws IOException {
    int port = freePort();
    int adminPort = freePort();
    Path config = tmp.resolve("sluice-" + run + ".yaml");
    Files.writeString(config, String.join("\n",
        "data_dir: \"" + dataDir + "\"",
        "receivers:",
        "  otlp:",
        "    endpoint: \"127.0.0.1:" + port + "\"",
        "admin:",
        "  endpoint: \"127.0.0.1:" + adminPort + "\"",
        "pipeline:",
        "  queue:",
        "    type: durable",
        "    fsync: always",
        ""));
    List<String> cmd = List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"),
        "dev.sluice.app.cli.Main", "run", "--config", config.toString());
    Path stderr = tmp.resolve("stderr-" + run + ".txt");
    Process p = new ProcessBuilder(cmd).directory(tmp.toFile())
        .redirectOutput(tmp.resolve("stdout-" + run + ".txt").toFile())
        .redirectError(stderr.toFile())
        .start();
    processes.add(p);
    Program program = new Program(p, stderr, port);
    Await.until("the start-up line of run " + run, START_TIMEOUT, () -> {
      assertThat(p.isAlive()).as("sluice exited early:\n" + program.stderr()).isTrue();
      return program.stderr().contains("receiving OTLP/HTTP on");
    });
    return program;
  }

  // ---------------------------------------------------------------------------------------------
  // The clients

  private static byte[] spanId(int client, int seq, int span) {
    return new byte[] {0x5c, (byte) client, (byte) (seq >>> 24), (byte) (seq >>> 16),
        (byte) (seq >>> 8), (byte) seq, 0, (byte) span};
  }

  private static byte[] traceId(int client, int seq) {
    byte[] id = new byte[16];
    id[0] = (byte) 0xc0;
    id[1] = (byte) 0xde;
    id[11] = (byte) client;
    id[12] = (byte) (seq >>> 24);
    id[13] = (byte) (seq >>> 16);
    id[14] = (byte) (seq >>> 8);
    id[15] = (byte) seq;
    return id;
  }

  private static ExportTraceServiceRequest request(int client, int seq) {
    ScopeSpans.Builder scope = ScopeSpans.newBuilder()
        .setScope(InstrumentationScope.newBuilder().setName("crash-test"));
    long t0 = 1_700_000_000_000_000_000L + seq * 1_000_000L;
    for (int i = 0; i < SPANS_PER_REQUEST; i++) {
      scope.addSpans(Span.newBuilder()
          .setTraceId(ByteString.copyFrom(traceId(client, seq)))
          .setSpanId(ByteString.copyFrom(spanId(client, seq, i)))
          .setName("client " + client + " request " + seq + " span " + i)
          .setKind(Span.SpanKind.SPAN_KIND_CLIENT)
          .setStartTimeUnixNano(t0 + i)
          .setEndTimeUnixNano(t0 + i + 500_000)
          .addAttributes(KeyValue.newBuilder().setKey("padding")
              .setValue(AnyValue.newBuilder().setStringValue("x".repeat(200)))));
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(Resource.newBuilder().addAttributes(KeyValue.newBuilder()
                .setKey("service.name")
                .setValue(AnyValue.newBuilder().setStringValue("client-" + client))))
            .addScopeSpans(scope))
        .build();
  }

  /** One cycle's client threads and what they saw. */
  private final class Clients {
    final AtomicInteger acks = new AtomicInteger();
    final AtomicInteger failedAfterKill = new AtomicInteger();
    final List<String> unexpected = new ArrayList<>();
    volatile boolean killed;
    final List<Thread> threads = new ArrayList<>();

    Clients(int port) {
      URI uri = URI.create("http://127.0.0.1:" + port + "/v1/traces");
      for (int c = 0; c < CLIENTS; c++) {
        int client = c;
        Thread t = new Thread(() -> run(client, uri), "crash-client-" + c);
        t.setDaemon(true);
        threads.add(t);
      }
      clientThreads.addAll(threads);
      threads.forEach(Thread::start);
    }

    private void run(int client, URI uri) {
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5)).build();
      boolean json = client % 2 == 0; // half the clients send OTLP/JSON, half protobuf
      while (!killed && !Thread.currentThread().isInterrupted()) {
        int seq = nextSeq[client]++;
        ExportTraceServiceRequest req = request(client, seq);
        byte[] body = json ? OtlpJsonCodec.toJsonBytes(req) : req.toByteArray();
        HttpRequest r = HttpRequest.newBuilder(uri)
            .header("Content-Type", json ? "application/json" : "application/x-protobuf")
            .timeout(Duration.ofSeconds(10))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        try {
          HttpResponse<String> response = http.send(r, HttpResponse.BodyHandlers.ofString());
          if (response.statusCode() == 200) {
            for (int i = 0; i < SPANS_PER_REQUEST; i++) {
              acknowledged.add(HEX.formatHex(spanId(client, seq, i)));
            }
            acks.incrementAndGet();
          } else {
            unexpected("client " + client + " request " + seq + ": " + response.statusCode()
                + " " + response.body());
          }
        } catch (IOException e) {
          if (killed) {
            failedAfterKill.incrementAndGet();
          } else {
            unexpected("client " + client + " request " + seq + ": " + e);
          }
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    private synchronized void unexpected(String what) {
      unexpected.add(what);
    }

    synchronized List<String> unexpected() {
      return new ArrayList<>(unexpected);
    }

    void stop() throws InterruptedException {
      killed = true;
      for (Thread t : threads) {
        t.join(15_000);
        assertThat(t.isAlive()).as("%s stopped after the kill", t.getName()).isFalse();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading the export

  private static List<Path> exportFiles(Path dataDir) {
    Path dir = dataDir.resolve("export").resolve("traces");
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.getFileName().toString().endsWith(".jsonl")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Notes where each export file ends in part of a line, right after a kill. */
  private void noteTornTails(Path dataDir) throws IOException {
    for (Path f : exportFiles(dataDir)) {
      byte[] bytes = Files.readAllBytes(f);
      if (bytes.length > 0 && bytes[bytes.length - 1] != '\n') {
        int start = bytes.length - 1;
        while (start > 0 && bytes[start - 1] != '\n') {
          start--;
        }
        tornTails.computeIfAbsent(f.getFileName().toString(), k -> new HashSet<>())
            .add((long) start);
      }
    }
  }

  /** What the export holds: how often each span id occurs, and the lines skipped as torn. */
  private record Export(Map<String, Integer> spans, int tornLines, int lines) {}

  private Export readExport(Path dataDir) {
    Map<String, Integer> spans = new HashMap<>();
    int torn = 0;
    int lines = 0;
    for (Path f : exportFiles(dataDir)) {
      byte[] bytes;
      try {
        bytes = Files.readAllBytes(f);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      Set<Long> tornHere = tornTails.getOrDefault(f.getFileName().toString(), Set.of());
      int start = 0;
      for (int i = 0; i < bytes.length; i++) {
        if (bytes[i] != '\n') {
          continue;
        }
        if (i > start) {
          ExportTraceServiceRequest req;
          try {
            req = OtlpJsonCodec.parse(bytes, start, i - start,
                ExportTraceServiceRequest.getDefaultInstance());
          } catch (RuntimeException e) {
            // Only the line a kill cut short may be broken; the program's recovery ended it.
            assertThat(tornHere).as("a line that does not parse in %s at byte %d (%s): %s", f,
                start, e, new String(bytes, start, Math.min(200, i - start),
                    StandardCharsets.UTF_8)).contains((long) start);
            torn++;
            start = i + 1;
            continue;
          }
          lines++;
          for (ResourceSpans rs : req.getResourceSpansList()) {
            for (ScopeSpans ss : rs.getScopeSpansList()) {
              for (Span s : ss.getSpansList()) {
                spans.merge(HEX.formatHex(s.getSpanId().toByteArray()), 1, Integer::sum);
              }
            }
          }
        }
        start = i + 1;
      }
      // A last line without its newline is still being written: not looked at yet.
    }
    return new Export(spans, torn, lines);
  }

  // ---------------------------------------------------------------------------------------------

  @Test
  void everyAcknowledgedSpanSurvivesKillDashNine() throws Exception {
    long began = System.nanoTime();
    Path dataDir = tmp.resolve("data");
    int run = 0;
    Program sluice = start(dataDir, run++);
    int failedInFlight = 0;
    List<String> report = new ArrayList<>();

    for (int cycle = 1; cycle <= CYCLES; cycle++) {
      Clients clients = new Clients(sluice.port());
      Program current = sluice;
      int cycleNo = cycle;
      int acksBeforeKill = ACKS_BEFORE_KILL[cycle - 1];
      Await.until("cycle " + cycle + ": " + acksBeforeKill + " acknowledged requests",
          Duration.ofSeconds(30), () -> {
            assertThat(current.process().isAlive()).as("sluice died:\n" + current.stderr())
                .isTrue();
            assertThat(clients.unexpected()).as("cycle %d", cycleNo).isEmpty();
            return clients.acks.get() >= acksBeforeKill;
          });

      clients.killed = true; // before the kill: what fails from here on is the kill's doing
      sluice.process().toHandle().destroyForcibly(); // SIGKILL, requests in flight
      assertThat(sluice.process().waitFor(10, TimeUnit.SECONDS)).isTrue();
      assertThat(sluice.process().exitValue()).as("killed by SIGKILL").isEqualTo(128 + 9);
      clients.stop();
      assertThat(clients.unexpected()).as("cycle %d", cycle).isEmpty();
      failedInFlight += clients.failedAfterKill.get();
      noteTornTails(dataDir);
      int ackedSpans = acknowledged.size();

      sluice = start(dataDir, run++);
      Program restarted = sluice;
      Set<String> expected = new HashSet<>(acknowledged);
      Export[] last = new Export[1];
      try {
        Await.until("cycle " + cycle + ": all " + expected.size()
            + " acknowledged spans in the export after the restart", Duration.ofSeconds(30),
            () -> {
              assertThat(restarted.process().isAlive()).as("sluice died:\n" + restarted.stderr())
                  .isTrue();
              last[0] = readExport(dataDir);
              return last[0].spans().keySet().containsAll(expected);
            });
      } catch (AssertionError e) {
        Set<String> missing = new TreeSet<>(expected);
        if (last[0] != null) {
          missing.removeAll(last[0].spans().keySet());
        }
        throw new AssertionError(e.getMessage() + "; " + missing.size() + " missing, e.g. "
            + missing.stream().limit(10).toList() + "\nstderr after the restart:\n"
            + restarted.stderr(), e);
      }
      Export export = last[0];
      long duplicates = export.spans().values().stream().mapToLong(n -> n - 1).sum();
      long unacknowledged = export.spans().keySet().stream()
          .filter(id -> !acknowledged.contains(id)).count();
      String line = String.format("cycle %d: %d requests acknowledged in the cycle, %d failed by"
              + " the kill; %d acknowledged spans in all, all exported; export: %d lines, %d"
              + " distinct spans, %d duplicate span copies, %d spans exported without a 200,"
              + " %d torn lines skipped",
          cycle, clients.acks.get(), clients.failedAfterKill.get(), ackedSpans,
          export.lines(), export.spans().size(), duplicates, unacknowledged,
          export.tornLines());
      report.add(line);
      System.out.println(line);
    }

    // The stream goes on after the last restart, and the program stops cleanly.
    Clients last = new Clients(sluice.port());
    Program current = sluice;
    Await.until("requests acknowledged after the last restart", Duration.ofSeconds(20),
        () -> {
          assertThat(current.process().isAlive()).isTrue();
          return last.acks.get() >= 20;
        });
    last.killed = true; // stops the clients; what fails from here on is the stop's doing
    last.stop();
    assertThat(last.unexpected()).isEmpty();
    Set<String> expected = new HashSet<>(acknowledged);
    Await.until("the last requests exported", Duration.ofSeconds(20),
        () -> readExport(dataDir).spans().keySet().containsAll(expected));
    sluice.process().destroy(); // SIGTERM
    assertThat(sluice.process().waitFor(15, TimeUnit.SECONDS)).isTrue();
    assertThat(sluice.stderr()).contains("Sluice stopped");

    int tornTailCount = tornTails.values().stream().mapToInt(Set::size).sum();
    System.out.println("requests failed in flight by the kills: " + failedInFlight
        + "; files left ending in part of a line by a kill: " + tornTailCount
        + "; acknowledged spans: " + acknowledged.size() + "; took "
        + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began) + " ms");
    assertThat(failedInFlight).as("the kills found requests in flight").isPositive();
  }
}
