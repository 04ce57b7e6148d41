package dev.sluice.pipeline.export.file;

import static dev.sluice.pipeline.SampleRequests.batch;
import static dev.sluice.pipeline.SampleRequests.heapBatch;
import static dev.sluice.pipeline.SampleRequests.request;
import static dev.sluice.pipeline.SampleRequests.seqOf;
import static dev.sluice.pipeline.SampleRequests.traceIdHex;
import static dev.sluice.pipeline.SampleRequests.traces;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledHeapByteBuf;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileExporterTest {
  private static final Pattern BACKUP =
      Pattern.compile("(traces|metrics|logs)-(\\d{8}T\\d{6}\\.\\d{3}Z)(?:-(\\d+))?\\.jsonl");

  @TempDir Path dir;
  private final List<FileExporter> toClose = new ArrayList<>();

  @AfterEach
  void closeExporters() {
    toClose.forEach(FileExporter::close);
  }

  private FileExporter started(FileExporter.Builder builder) {
    FileExporter exporter = builder.build();
    toClose.add(exporter);
    exporter.start();
    return exporter;
  }

  private FileExporter started() {
    return started(FileExporter.builder().directory(dir));
  }

  @Test
  void writesEachSignalAsOneJsonLinePerBatchThatParsesBackToTheRequest() throws Exception {
    FileExporter exporter = started();
    for (Signal signal : Signal.values()) {
      List<Message> sent = new ArrayList<>();
      List<TelemetryBatch> batches = new ArrayList<>();
      List<CompletableFuture<Void>> futures = new ArrayList<>();
      for (int seq = 1; seq <= 4; seq++) {
        Message request = request(signal, seq, seq);
        sent.add(request);
        // Direct and heap buffers: the exporter reads the array of the one, copies the other.
        TelemetryBatch b = seq % 2 == 0 ? heapBatch(signal, request, seq)
            : batch(signal, request, seq, "");
        batches.add(b);
        futures.add(exporter.export(b));
      }
      for (CompletableFuture<Void> f : futures) {
        f.get(10, SECONDS);
      }
      assertThat(batches).allSatisfy(b -> assertThat(b.refCnt()).isZero());

      Path file = dir.resolve(signal.id()).resolve(signal.id() + ".jsonl");
      assertThat(exporter.file(signal)).isEqualTo(file);
      assertThat(parseLines(signal, file)).containsExactlyElementsOf(sent);
    }
  }

  @Test
  void writesTheOtlpJsonMappingWithHexIdsAndIntegerEnums() throws Exception {
    FileExporter exporter = started();
    TelemetryBatch b = batch(Signal.TRACES, traces(0x2a, 1), 1, "");
    exporter.export(b).get(10, SECONDS);

    List<String> lines = Files.readAllLines(exporter.file(Signal.TRACES), StandardCharsets.UTF_8);
    assertThat(lines).hasSize(1);
    assertThat(lines.get(0))
        .startsWith("{\"resourceSpans\":[")
        .contains("\"traceId\":\"" + traceIdHex(0x2a) + "\"")
        .contains("\"spanId\":\"ab00000000002a00\"")
        .contains("\"kind\":2");
    assertThat(b.refCnt()).isZero();
  }

  @Test
  void rotatesBySizeWithoutLosingOrSplittingALine() throws Exception {
    long maxBytes = 2000;
    FileExporter exporter = started(
        FileExporter.builder().directory(dir).maxBytes(maxBytes).maxBackups(0));
    int n = 60;
    List<Message> sent = new ArrayList<>();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int seq = 0; seq < n; seq++) {
      Message request = request(Signal.TRACES, seq, 1 + seq % 3);
      sent.add(request);
      futures.add(exporter.export(batch(Signal.TRACES, request, 1 + seq % 3, "")));
    }
    for (CompletableFuture<Void> f : futures) {
      f.get(10, SECONDS);
    }

    List<Path> files = filesOldestFirst(Signal.TRACES);
    assertThat(files).hasSizeGreaterThan(3);
    List<Message> written = new ArrayList<>();
    for (Path f : files) {
      assertThat(Files.size(f)).as("size of %s", f).isLessThanOrEqualTo(maxBytes);
      written.addAll(parseLines(Signal.TRACES, f));
    }
    // One writer per signal writes in the order of export(), across files too.
    assertThat(written).containsExactlyElementsOf(sent);
  }

  @Test
  void aLineLargerThanMaxBytesGetsAFileOfItsOwn() throws Exception {
    FileExporter exporter = started(
        FileExporter.builder().directory(dir).maxBytes(64).maxBackups(0));
    for (int seq = 0; seq < 5; seq++) {
      exporter.export(batch(Signal.LOGS, seq, 2)).get(10, SECONDS);
    }

    List<Path> files = filesOldestFirst(Signal.LOGS);
    assertThat(files).hasSize(5);
    for (int i = 0; i < files.size(); i++) {
      List<Message> lines = parseLines(Signal.LOGS, files.get(i));
      assertThat(lines).hasSize(1);
      assertThat(seqOf(lines.get(0))).isEqualTo(i);
    }
  }

  @Test
  void keepsOnlyTheNewestMaxBackupsRotatedFiles() throws Exception {
    FileExporter exporter = started(
        FileExporter.builder().directory(dir).maxBytes(64).maxBackups(2));
    for (int seq = 0; seq < 10; seq++) {
      exporter.export(batch(Signal.METRICS, seq, 1)).get(10, SECONDS);
    }

    List<Path> files = filesOldestFirst(Signal.METRICS);
    assertThat(files).hasSize(3);
    assertThat(files.get(0).getFileName().toString()).matches(BACKUP);
    assertThat(files.get(1).getFileName().toString()).matches(BACKUP);
    assertThat(files.get(2).getFileName().toString()).isEqualTo("metrics.jsonl");
    List<Long> seqs = new ArrayList<>();
    for (Path f : files) {
      parseLines(Signal.METRICS, f).forEach(m -> seqs.add(seqOf(m)));
    }
    assertThat(seqs).containsExactly(7L, 8L, 9L);
  }

  @Test
  void namesRotatedFilesWithTheUtcTimeAndACounterWhenTheNameIsTaken() throws Exception {
    Clock fixed = Clock.fixed(Instant.parse("2024-03-05T06:07:08.009Z"), ZoneOffset.UTC);
    FileExporter exporter = started(
        FileExporter.builder().directory(dir).maxBytes(64).maxBackups(0).clock(fixed));
    for (int seq = 0; seq < 4; seq++) {
      exporter.export(batch(Signal.TRACES, seq, 1)).get(10, SECONDS);
    }

    try (Stream<Path> files = Files.list(dir.resolve("traces"))) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder(
          "traces.jsonl",
          "traces-20240305T060708.009Z.jsonl",
          "traces-20240305T060708.009Z-1.jsonl",
          "traces-20240305T060708.009Z-2.jsonl");
    }
    assertThat(seqOf(parseLines(Signal.TRACES,
        dir.resolve("traces/traces-20240305T060708.009Z-2.jsonl")).get(0))).isEqualTo(2);
  }

  @Test
  void concurrentExportsKeepEveryLineWhole() throws Exception {
    FileExporter exporter = started(
        FileExporter.builder().directory(dir).maxBytes(16 * 1024).maxBackups(0));
    int threads = 6;
    int perThread = 150;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    List<Future<List<CompletableFuture<Void>>>> submitted = new ArrayList<>();
    try {
      for (int t = 0; t < threads; t++) {
        int thread = t;
        submitted.add(pool.submit(() -> {
          List<CompletableFuture<Void>> futures = new ArrayList<>();
          for (int i = 0; i < perThread; i++) {
            int seq = thread * perThread + i;
            Signal signal = Signal.values()[seq % 3];
            futures.add(exporter.export(batch(signal, seq, 1 + i % 4)));
          }
          return futures;
        }));
      }
      for (Future<List<CompletableFuture<Void>>> s : submitted) {
        for (CompletableFuture<Void> f : s.get(10, SECONDS)) {
          f.get(10, SECONDS);
        }
      }
    } finally {
      pool.shutdownNow();
    }

    Set<Long> seen = new HashSet<>();
    int lines = 0;
    for (Signal signal : Signal.values()) {
      for (Path f : filesOldestFirst(signal)) {
        for (Message m : parseLines(signal, f)) { // throws if a line is torn or interleaved
          lines++;
          assertThat(seqOf(m) % 3).isEqualTo(signal.ordinal());
          seen.add(seqOf(m));
        }
      }
    }
    assertThat(lines).isEqualTo(threads * perThread);
    assertThat(seen).hasSize(threads * perThread);
  }

  @Test
  void closeWritesEverythingQueuedFirst() throws Exception {
    FileExporter exporter = FileExporter.builder().directory(dir).build();
    exporter.start();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    List<TelemetryBatch> batches = new ArrayList<>();
    for (int seq = 0; seq < 300; seq++) {
      TelemetryBatch b = batch(Signal.values()[seq % 3], seq, 2);
      batches.add(b);
      futures.add(exporter.export(b));
    }
    exporter.close();

    // close() returns only after the writers finished: nothing left to wait for.
    assertThat(futures).allSatisfy(f -> assertThat(f).isCompleted());
    assertThat(batches).allSatisfy(b -> assertThat(b.refCnt()).isZero());
    int lines = 0;
    for (Signal signal : Signal.values()) {
      lines += parseLines(signal, dir.resolve(signal.id()).resolve(signal.id() + ".jsonl")).size();
    }
    assertThat(lines).isEqualTo(300);
  }

  @Test
  void exportsRacingWithCloseAreEitherWrittenOrRefusedAndAlwaysReleased() throws Exception {
    for (int round = 0; round < 5; round++) {
      Path roundDir = dir.resolve("round-" + round);
      FileExporter exporter = FileExporter.builder().directory(roundDir).build();
      exporter.start();
      int threads = 4;
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      List<Future<List<Object[]>>> submitted = new ArrayList<>();
      try {
        for (int t = 0; t < threads; t++) {
          int thread = t;
          submitted.add(pool.submit(() -> {
            List<Object[]> out = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
              TelemetryBatch b = batch(Signal.values()[i % 3], thread * 200 + i, 1);
              out.add(new Object[] {b, exporter.export(b)});
            }
            return out;
          }));
        }
        exporter.close();
        int written = 0;
        for (Future<List<Object[]>> s : submitted) {
          for (Object[] pair : s.get(10, SECONDS)) {
            TelemetryBatch b = (TelemetryBatch) pair[0];
            @SuppressWarnings("unchecked")
            CompletableFuture<Void> f = (CompletableFuture<Void>) pair[1];
            try {
              f.get(10, SECONDS);
              written++;
            } catch (ExecutionException e) {
              assertThat(e.getCause()).isInstanceOf(PipelineFullException.class);
            }
            assertThat(b.refCnt()).isZero();
          }
        }
        int lines = 0;
        for (Signal signal : Signal.values()) {
          Path f = roundDir.resolve(signal.id()).resolve(signal.id() + ".jsonl");
          lines += Files.exists(f) ? parseLines(signal, f).size() : 0;
        }
        assertThat(lines).as("lines written = futures completed normally").isEqualTo(written);
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void exportAfterCloseFailsWithPipelineFullAndReleases() {
    FileExporter exporter = started();
    exporter.close();
    exporter.close(); // idempotent

    TelemetryBatch b = batch(Signal.TRACES, 1, 1);
    CompletableFuture<Void> f = exporter.export(b);

    assertThat(b.refCnt()).isZero();
    assertThatThrownBy(() -> f.get(10, SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(PipelineFullException.class)
        .hasMessage("the file exporter is closed")
        .satisfies(e -> assertThat(((PipelineFullException) e).retryAfterSeconds()).isEqualTo(5));
  }

  @Test
  void exportBeforeStartFailsAndReleases() {
    FileExporter exporter = FileExporter.builder().directory(dir).build();
    toClose.add(exporter);
    TelemetryBatch b = batch(Signal.LOGS, 1, 1);

    CompletableFuture<Void> f = exporter.export(b);

    assertThat(b.refCnt()).isZero();
    assertThat(f).isCompletedExceptionally();
    assertThatThrownBy(f::join).hasMessageContaining("has not been started");
  }

  @Test
  void aDirectoryThatCannotBeWrittenFailsTheBatchNamingTheFileAndTheWriterRecovers()
      throws Exception {
    FileExporter exporter = started();
    Path tracesDir = dir.resolve("traces");
    Files.delete(tracesDir);
    Files.writeString(tracesDir, "a regular file where the directory should be");

    TelemetryBatch first = batch(Signal.TRACES, 1, 1);
    TelemetryBatch second = batch(Signal.TRACES, 2, 1);
    CompletableFuture<Void> f1 = exporter.export(first);
    CompletableFuture<Void> f2 = exporter.export(second);
    for (CompletableFuture<Void> f : List.of(f1, f2)) {
      assertThatThrownBy(() -> f.get(10, SECONDS))
          .isInstanceOf(ExecutionException.class)
          .cause()
          .isInstanceOf(IOException.class)
          .hasMessageContaining("cannot write traces to " + tracesDir.resolve("traces.jsonl"))
          .hasMessageContaining(tracesDir.toString());
    }
    assertThat(first.refCnt()).isZero();
    assertThat(second.refCnt()).isZero();

    // Other signals are not held up by the broken one.
    exporter.export(batch(Signal.LOGS, 3, 1)).get(10, SECONDS);

    // Once the directory can be made again, the same writer goes on with the next batch.
    Files.delete(tracesDir);
    exporter.export(batch(Signal.TRACES, 4, 1)).get(10, SECONDS);
    assertThat(parseLines(Signal.TRACES, tracesDir.resolve("traces.jsonl")))
        .extracting(m -> seqOf(m))
        .containsExactly(4L);
  }

  @Test
  void startFailsNamingTheDirectoryWhenItCannotBeCreated() throws Exception {
    Path notADir = dir.resolve("plain-file");
    Files.writeString(notADir, "x");
    FileExporter exporter = FileExporter.builder().directory(notADir).build();
    toClose.add(exporter);

    assertThatThrownBy(exporter::start)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(notADir.resolve("traces").toString());
  }

  @Test
  void aPayloadThatDoesNotParseFailsOnlyItsOwnBatch() throws Exception {
    FileExporter exporter = started();
    // Field 1, length-delimited, announcing 127 bytes that are not there.
    TelemetryBatch bad = new TelemetryBatch(Signal.TRACES,
        PooledByteBufAllocator.DEFAULT.buffer(2).writeBytes(new byte[] {0x0a, 0x7f}), 1, "", 0);
    TelemetryBatch good = batch(Signal.TRACES, 5, 1);

    CompletableFuture<Void> badDone = exporter.export(bad);
    CompletableFuture<Void> goodDone = exporter.export(good);

    assertThatThrownBy(() -> badDone.get(10, SECONDS))
        .cause()
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("not a valid ExportTraceServiceRequest");
    goodDone.get(10, SECONDS);
    assertThat(bad.refCnt()).isZero();
    assertThat(good.refCnt()).isZero();
    assertThat(parseLines(Signal.TRACES, exporter.file(Signal.TRACES))).hasSize(1);
  }

  @Test
  void anUnexpectedErrorFailsTheBatchAndTheWriterGoesOn() throws Exception {
    FileExporter exporter = started();
    // An Error where the writer reads the payload: stands for a bug or a class that fails to load.
    UnpooledHeapByteBuf broken = new UnpooledHeapByteBuf(UnpooledByteBufAllocator.DEFAULT, 8, 8) {
      @Override
      public boolean hasArray() {
        throw new AssertionError("boom");
      }
    };
    TelemetryBatch bad = new TelemetryBatch(Signal.METRICS, broken, 1, "", 0);

    CompletableFuture<Void> badDone = exporter.export(bad);

    assertThatThrownBy(() -> badDone.get(10, SECONDS))
        .cause().isInstanceOf(AssertionError.class).hasMessage("boom");
    assertThat(bad.refCnt()).isZero();
    exporter.export(batch(Signal.METRICS, 9, 1)).get(10, SECONDS);
    assertThat(parseLines(Signal.METRICS, exporter.file(Signal.METRICS))).hasSize(1);
  }

  @Test
  void appendsToAnExistingFileAndDoesNotJoinAPartialLastLine() throws Exception {
    Path file = dir.resolve("logs").resolve("logs.jsonl");
    Files.createDirectories(file.getParent());
    String before = new String(OtlpJsonCodec.toJsonBytes(request(Signal.LOGS, 1, 1)),
        StandardCharsets.UTF_8);
    Files.writeString(file, before + "\n{\"resourceLogs\":[{\"reso"); // cut short by a crash
    FileExporter exporter = started();

    exporter.export(batch(Signal.LOGS, 2, 1)).get(10, SECONDS);

    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    assertThat(lines).hasSize(3);
    assertThat(lines.get(0)).isEqualTo(before);
    assertThat(lines.get(1)).isEqualTo("{\"resourceLogs\":[{\"reso");
    assertThat(seqOf(parse(Signal.LOGS, lines.get(2)))).isEqualTo(2);
  }

  @Test
  void countsItemsBytesAndErrorsWhenGivenARegistry() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    FileExporter exporter = started(
        FileExporter.builder().name("archive").directory(dir).meterRegistry(registry));
    TelemetryBatch a = batch(Signal.TRACES, 1, 3);
    TelemetryBatch b = batch(Signal.TRACES, 2, 4);
    long bytes = a.bytes() + b.bytes();
    exporter.export(a).get(10, SECONDS);
    exporter.export(b).get(10, SECONDS);
    CompletableFuture<Void> bad = exporter.export(new TelemetryBatch(Signal.TRACES,
        PooledByteBufAllocator.DEFAULT.buffer(1).writeByte(0xff), 1, "", 0));
    assertThatThrownBy(() -> bad.get(10, SECONDS)).isInstanceOf(ExecutionException.class);

    assertThat(registry.get("sluice.exporter.items")
        .tag("exporter", "archive").tag("signal", "traces").counter().count()).isEqualTo(7);
    assertThat(registry.get("sluice.exporter.bytes")
        .tag("exporter", "archive").tag("signal", "traces").counter().count()).isEqualTo(bytes);
    assertThat(registry.get("sluice.exporter.errors")
        .tag("exporter", "archive").tag("signal", "traces").counter().count()).isEqualTo(1);
    assertThat(registry.get("sluice.exporter.items").tag("signal", "logs").counter().count())
        .isZero();
  }

  @Test
  void builderChecksEachSettingWhenItIsSet() {
    assertThatThrownBy(() -> FileExporter.builder().maxBytes(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxBytes");
    assertThatThrownBy(() -> FileExporter.builder().maxBackups(-1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxBackups");
    assertThatThrownBy(() -> FileExporter.builder().directory(null))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("directory");
    assertThatThrownBy(() -> FileExporter.builder().name(" "))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("name");
    assertThatThrownBy(() -> FileExporter.builder().build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("directory");

    FileExporter defaults = FileExporter.builder().directory(dir).build();
    assertThat(defaults.name()).isEqualTo("file");
    assertThat(defaults.maxBytes()).isEqualTo(100L * 1024 * 1024);
    assertThat(defaults.maxBackups()).isEqualTo(100);
    defaults.close(); // never started: nothing to stop
  }

  /** The signal's files, backups by their time and counter, then the current file. */
  private List<Path> filesOldestFirst(Signal signal) throws IOException {
    List<Path> backups = new ArrayList<>();
    Path current = null;
    try (Stream<Path> files = Files.list(dir.resolve(signal.id()))) {
      for (Path p : (Iterable<Path>) files::iterator) {
        String name = p.getFileName().toString();
        if (name.equals(signal.id() + ".jsonl")) {
          current = p;
        } else {
          assertThat(name).matches(BACKUP).startsWith(signal.id() + "-");
          backups.add(p);
        }
      }
    }
    backups.sort(Comparator.comparing((Path p) -> backupMatch(p).group(2))
        .thenComparingInt(p -> backupMatch(p).group(3) == null ? 0
            : Integer.parseInt(backupMatch(p).group(3))));
    if (current != null) {
      backups.add(current);
    }
    return backups;
  }

  private static Matcher backupMatch(Path p) {
    Matcher m = BACKUP.matcher(p.getFileName().toString());
    assertThat(m.matches()).isTrue();
    return m;
  }

  private static List<Message> parseLines(Signal signal, Path file) throws IOException {
    byte[] all = Files.readAllBytes(file);
    assertThat(all.length == 0 || all[all.length - 1] == '\n')
        .as("%s ends with a newline", file).isTrue();
    List<Message> out = new ArrayList<>();
    for (String line : new String(all, StandardCharsets.UTF_8).split("\n")) {
      if (!line.isEmpty()) {
        out.add(parse(signal, line));
      }
    }
    return out;
  }

  private static Message parse(Signal signal, String line) {
    byte[] bytes = line.getBytes(StandardCharsets.UTF_8);
    return OtlpJsonCodec.parse(bytes, 0, bytes.length, signal.requestPrototype());
  }
}
