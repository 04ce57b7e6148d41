package dev.sluice.exporter.otlp;

import static dev.sluice.exporter.otlp.testdata.TestData.flatKeys;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.sluice.exporter.otlp.testdata.Backend;
import dev.sluice.exporter.otlp.testdata.Backend.Reply;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBufAllocator;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Retries, permanent refusals and dead letters, against real backends through a real group. */
class RetryAndDeadLetterTest {
  /** Short intervals so that the tests run in milliseconds. */
  private static final RetrySettings FAST = new RetrySettings(true, Duration.ofMillis(50),
      Duration.ofMillis(200), Duration.ofSeconds(10), 1.5, 0.5);

  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  @TempDir Path dir;

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private Backend backend() throws IOException {
    Backend b = Backend.start();
    closeables.add(b);
    return b;
  }

  private OtlpHttpExporter.Builder exporter(String url) {
    return OtlpHttpExporter.builder().name("r").endpoint(url).retry(FAST)
        .batchTimeout(Duration.ZERO).deadLetterDirectory(dir.resolve("dead"))
        .shutdownTimeout(Duration.ofSeconds(1)).meterRegistry(registry);
  }

  private OtlpHttpExporter start(OtlpHttpExporter.Builder b) {
    OtlpHttpExporter e = b.build();
    closeables.add(e);
    e.start();
    return e;
  }

  private double counter(String name, String... tags) {
    return registry.find(name).tags(tags).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  private static Throwable failure(CompletableFuture<Void> f) {
    try {
      f.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("the export succeeded");
  }

  @Test
  void dataWaitsForABackendThatIsDownAtFirst() throws Exception {
    int port = freePort();
    OtlpHttpExporter exporter = start(exporter("http://127.0.0.1:" + port));
    Message m = TestData.logs(1, 2, 5, 10);
    CompletableFuture<Void> f = exporter.export(TestData.batch(Signal.LOGS, m));
    Await.until("two retries", Duration.ofSeconds(5),
        () -> counter("sluice.exporter.retries", "signal", "logs") >= 2);
    assertThat(f).isNotDone();
    Backend backend = Backend.start(port);
    closeables.add(backend);
    f.get(10, TimeUnit.SECONDS);
    assertThat(backend.messages()).containsExactly(m);
  }

  @Test
  void retryAfterIsHonouredInSecondsAndAsADate() throws Exception {
    Backend backend = backend().responder(r -> {
      if (r.index() == 0) {
        return Reply.status(503).header("Retry-After", "1");
      }
      if (r.index() == 1) {
        String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(
            ZonedDateTime.now(ZoneOffset.UTC).plusSeconds(2));
        return Reply.status(503).header("Retry-After", date);
      }
      return null;
    });
    OtlpHttpExporter exporter = start(exporter(backend.url()));
    Message m = TestData.traces(1, 1, 4, 2, 0);
    exporter.export(TestData.batch(Signal.TRACES, m)).get(10, TimeUnit.SECONDS);
    List<Backend.Received> got = backend.received();
    assertThat(got).hasSize(3);
    assertThat(got.get(2).message()).isEqualTo(m);
    // The backoff alone would wait 25 to 75 ms.
    assertThat(Duration.ofNanos(got.get(1).nanoTime() - got.get(0).nanoTime()))
        .isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    assertThat(Duration.ofNanos(got.get(2).nanoTime() - got.get(1).nanoTime()))
        .isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    assertThat(counter("sluice.exporter.retries", "signal", "traces")).isEqualTo(2);
  }

  @Test
  void theBackoffWinsOverAShorterRetryAfter() throws Exception {
    Backend backend = backend().responder(r -> r.index() == 0
        ? Reply.status(429).header("Retry-After", "0") : null);
    OtlpHttpExporter exporter = start(exporter(backend.url()).retry(new RetrySettings(true,
        Duration.ofMillis(400), Duration.ofMillis(400), Duration.ofSeconds(5), 1.5, 0.0)));
    exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0)))
        .get(10, TimeUnit.SECONDS);
    List<Backend.Received> got = backend.received();
    assertThat(got).hasSize(2);
    assertThat(Duration.ofNanos(got.get(1).nanoTime() - got.get(0).nanoTime()))
        .isGreaterThanOrEqualTo(Duration.ofMillis(400));
  }

  @ParameterizedTest
  @ValueSource(ints = {429, 502, 503, 504})
  void retriableStatusesAreRetried(int status) throws Exception {
    Backend backend = backend().responder(r -> r.index() < 2 ? Reply.status(status) : null);
    OtlpHttpExporter exporter = start(exporter(backend.url()));
    Message m = TestData.metrics(1, 1, 3, 2);
    exporter.export(TestData.batch(Signal.METRICS, m)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isEqualTo(3);
    assertThat(backend.received()).allSatisfy(r -> assertThat(r.message()).isEqualTo(m));
    assertThat(counter("sluice.exporter.retries", "signal", "metrics")).isEqualTo(2);
    assertThat(counter("sluice.exporter.sent.items", "signal", "metrics")).isEqualTo(6);
  }

  @Test
  void aTimeoutIsRetried() throws Exception {
    Backend backend = backend();
    backend.responder(r -> {
      if (r.index() == 0) {
        backend.closing.await(5, TimeUnit.SECONDS); // no answer within the exporter's timeout
      }
      return null;
    });
    OtlpHttpExporter exporter = start(exporter(backend.url()).timeout(Duration.ofMillis(300)));
    Message m = TestData.logs(1, 1, 2, 0);
    exporter.export(TestData.batch(Signal.LOGS, m)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isEqualTo(2);
    assertThat(counter("sluice.exporter.retries", "signal", "logs")).isEqualTo(1);
  }

  @Test
  void aConnectionLostIsRetriedUntilMaxElapsedTime() throws Exception {
    // A server that reads each request and hangs up without an answer.
    ServerSocket server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    closeables.add(server);
    AtomicInteger connections = new AtomicInteger();
    Thread t = new Thread(() -> {
      while (!server.isClosed()) {
        try (Socket s = server.accept()) {
          connections.incrementAndGet();
          InputStream in = s.getInputStream();
          byte[] buf = new byte[8192];
          in.read(buf); // the start of the request
          s.setSoLinger(true, 0); // reset
        } catch (IOException e) {
          // closed
        }
      }
    }, "hang-up-server");
    t.setDaemon(true);
    t.start();
    OtlpHttpExporter exporter = start(exporter("http://127.0.0.1:" + server.getLocalPort())
        .retry(FAST.withMaxElapsedTime(Duration.ofMillis(600))));
    Throwable e = failure(exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 2, 0))));
    assertThat(e).isInstanceOf(ExportFailedException.class)
        .hasMessageContaining("CONNECTION_LOST");
    assertThat(((ExportFailedException) e).attempts()).isGreaterThan(1);
    assertThat(connections.get()).isGreaterThan(1);
  }

  @Test
  void maxElapsedTimeEndsRetriesWithExportFailedException() throws Exception {
    Backend backend = backend().responder(r -> Reply.status(503));
    OtlpHttpExporter exporter = start(exporter(backend.url())
        .retry(FAST.withMaxElapsedTime(Duration.ofMillis(400))));
    long t0 = System.nanoTime();
    Throwable e = failure(exporter.export(TestData.batch(Signal.TRACES,
        TestData.traces(1, 1, 3, 1, 0))));
    long took = System.nanoTime() - t0;
    assertThat(e).isInstanceOf(ExportFailedException.class);
    ExportFailedException f = (ExportFailedException) e;
    assertThat(f.retriable()).isTrue();
    assertThat(f.status()).isEqualTo(503);
    assertThat(f.attempts()).isEqualTo(backend.requests()).isGreaterThan(2);
    assertThat(Duration.ofNanos(took)).isLessThan(Duration.ofSeconds(2));
    assertThat(counter("sluice.exporter.failed.items", "reason", "retries_exhausted"))
        .isEqualTo(3);
    assertThat(Files.exists(dir.resolve("dead/traces.jsonl"))).as("not dead-lettered").isFalse();
  }

  @Test
  void withRetriesDisabledARetriableAnswerFailsAtOnce() throws Exception {
    Backend backend = backend().responder(r -> Reply.status(429));
    OtlpHttpExporter exporter = start(exporter(backend.url()).retry(RetrySettings.disabled()));
    Throwable e = failure(exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0))));
    assertThat(e).isInstanceOf(ExportFailedException.class);
    assertThat(((ExportFailedException) e).retriable()).isTrue();
    assertThat(backend.requests()).isEqualTo(1);
  }

  /** Top-level fields of a JSON line: scalars as text, objects as raw JSON. */
  static Map<String, String> fields(String line) throws IOException {
    Map<String, String> out = new LinkedHashMap<>();
    try (JsonParser p = new JsonFactory().createParser(line)) {
      p.nextToken();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken t = p.nextToken();
        if (t == JsonToken.START_OBJECT) {
          int start = (int) p.currentTokenLocation().getCharOffset();
          p.skipChildren();
          out.put(name, line.substring(start, (int) p.currentTokenLocation().getCharOffset() + 1));
        } else {
          out.put(name, p.getText());
        }
      }
    }
    return out;
  }

  @Test
  void aPermanentRefusalIsNotRetriedGoesToTheDeadLetterFileAndTheNextBatchFlows()
      throws Exception {
    Status status = Status.newBuilder().setCode(3).setMessage("span 2 has no name").build();
    Backend backend = backend().responder(r -> r.index() == 0
        ? Reply.status(400).body("application/x-protobuf", status.toByteArray()) : null);
    OtlpHttpExporter exporter = start(exporter(backend.url()));
    Message refused = TestData.traces(1, 2, 3, 2, 5);
    exporter.export(TestData.batch(Signal.TRACES, refused)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).as("not retried").isEqualTo(1);

    Path file = exporter.deadLetterFile(Signal.TRACES);
    assertThat(file).isEqualTo(dir.resolve("dead/traces.jsonl"));
    List<String> lines = Files.readAllLines(file);
    assertThat(lines).hasSize(1);
    Map<String, String> f = fields(lines.get(0));
    assertThat(f).containsEntry("exporter", "r").containsEntry("status", "400")
        .containsEntry("message", "span 2 has no name").containsEntry("items", "6")
        .containsEntry("endpoint", "127.0.0.1:" + backend.port() + "/v1/traces");
    assertThat(f.get("time")).isNotEmpty();
    byte[] json = f.get("request").getBytes(StandardCharsets.UTF_8);
    assertThat(OtlpJsonCodec.parse(json, 0, json.length, Signal.TRACES.requestPrototype()))
        .isEqualTo(refused);
    assertThat(counter("sluice.exporter.failed.items", "reason", "refused")).isEqualTo(6);
    assertThat(counter("sluice.exporter.dead_lettered.items", "signal", "traces")).isEqualTo(6);

    Message next = TestData.traces(1, 1, 2, 1, 0);
    exporter.export(TestData.batch(Signal.TRACES, next)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isEqualTo(2);
    assertThat(backend.received().get(1).message()).isEqualTo(next);
    assertThat(Files.readAllLines(file)).hasSize(1);
  }

  @ParameterizedTest
  @EnumSource(Compression.class)
  void aMergedRequestIsRetriedWholeAndDeadLetteredWhole(Compression compression)
      throws Exception {
    Backend backend = backend().responder(r -> r.index() == 0 ? Reply.status(503)
        : Reply.status(400));
    // Three batches merged into one request (sent as their buffers, not copied into one array).
    OtlpHttpExporter exporter = start(exporter(backend.url()).compression(compression)
        .batchTimeout(Duration.ofSeconds(30)).batchMaxItems(3 * 4));
    java.io.ByteArrayOutputStream concatenation = new java.io.ByteArrayOutputStream();
    List<TelemetryBatch> batches = new ArrayList<>();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Message m = TestData.logs(1, 1, 4, 10 + i);
      concatenation.writeBytes(m.toByteArray());
      TelemetryBatch b = TestData.batch(Signal.LOGS, m);
      batches.add(b);
      futures.add(exporter.export(b));
    }
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    Message merged = TestData.parse(Signal.LOGS, concatenation.toByteArray());

    assertThat(backend.requests()).as("a retry, then the refusal").isEqualTo(2);
    assertThat(backend.received()).allSatisfy(r -> {
      assertThat(r.error()).isNull();
      assertThat(r.message()).isEqualTo(merged);
      assertThat(r.header("Content-Encoding")).isEqualTo(compression.contentEncoding());
    });
    assertThat(batches).allSatisfy(b -> assertThat(b.refCnt()).isZero());
    Map<String, String> f = fields(Files.readAllLines(dir.resolve("dead/logs.jsonl")).get(0));
    assertThat(f).containsEntry("status", "400").containsEntry("items", "12");
    byte[] json = f.get("request").getBytes(StandardCharsets.UTF_8);
    assertThat(OtlpJsonCodec.parse(json, 0, json.length, Signal.LOGS.requestPrototype()))
        .isEqualTo(merged);
  }

  @Test
  void a500IsPermanentAndItsTextIsKeptShort() throws Exception {
    String text = "internal error " + "z".repeat(400);
    Backend backend = backend().responder(r -> Reply.status(500)
        .body("text/plain", text.getBytes(StandardCharsets.UTF_8)));
    OtlpHttpExporter exporter = start(exporter(backend.url()).encoding(Encoding.JSON)
        .compression(Compression.ZSTD));
    Message m = TestData.logs(2, 1, 3, 0);
    exporter.export(TestData.batch(Signal.LOGS, m)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isEqualTo(1);
    Map<String, String> f = fields(Files.readAllLines(dir.resolve("dead/logs.jsonl")).get(0));
    assertThat(f.get("status")).isEqualTo("500");
    assertThat(f.get("message")).isEqualTo(text.substring(0, 200));
    byte[] json = f.get("request").getBytes(StandardCharsets.UTF_8);
    assertThat(OtlpJsonCodec.parse(json, 0, json.length, Signal.LOGS.requestPrototype()))
        .isEqualTo(m);
  }

  @Test
  void aRequestThatCannotBeEncodedIsDeadLetteredAsBase64() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(exporter(backend.url()).encoding(Encoding.JSON));
    byte[] garbage = {0x0a, 0x03, 0x0a, 0x05, 0x00};
    TelemetryBatch bad = new TelemetryBatch(Signal.TRACES,
        ByteBufAllocator.DEFAULT.buffer().writeBytes(garbage), 1, "", 0);
    exporter.export(bad).get(10, TimeUnit.SECONDS);
    assertThat(bad.refCnt()).isZero();
    assertThat(backend.requests()).isZero();
    Map<String, String> f = fields(Files.readAllLines(dir.resolve("dead/traces.jsonl")).get(0));
    assertThat(f.get("status")).isEqualTo("0");
    assertThat(f.get("message")).contains("cannot encode");
    assertThat(java.util.Base64.getDecoder().decode(f.get("request_base64"))).isEqualTo(garbage);
  }

  @Test
  void withoutADeadLetterDirectoryRefusedDataIsCountedAndDropped() throws Exception {
    Backend backend = backend().responder(r -> Reply.status(413));
    OtlpHttpExporter exporter = start(exporter(backend.url()).deadLetterDirectory(null));
    exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 4, 0)))
        .get(10, TimeUnit.SECONDS);
    assertThat(counter("sluice.exporter.failed.items", "reason", "refused")).isEqualTo(4);
    assertThat(counter("sluice.exporter.dead_lettered.items")).isZero();
    assertThat(dir.resolve("dead")).doesNotExist();
  }

  @Test
  void piecesOfASplitBatchAreRetriedOnTheirOwn() throws Exception {
    // every other request is refused with 503 once
    Backend backend = backend().responder(r -> r.index() % 2 == 0 && r.index() < 6
        ? Reply.status(503) : null);
    OtlpHttpExporter exporter = start(exporter(backend.url()).maxRequestBytes(2048)
        .maxConcurrentRequests(1));
    Message big = TestData.traces(2, 2, 10, 4, 100);
    exporter.export(TestData.batch(Signal.TRACES, big)).get(10, TimeUnit.SECONDS);
    List<String> got = new ArrayList<>();
    for (Backend.Received r : backend.received()) {
      if (r.index() % 2 != 0 || r.index() >= 6) {
        got.addAll(flatKeys(r.message()));
      }
    }
    assertThat(got).containsExactlyInAnyOrderElementsOf(flatKeys(big));
  }

  @Test
  void theFutureIsNotCompletedBeforeTheBackendAnswers() throws Exception {
    Backend backend = backend();
    backend.responder(r -> {
      backend.closing.await(300, TimeUnit.MILLISECONDS);
      return null;
    });
    OtlpHttpExporter exporter = start(exporter(backend.url()));
    CompletableFuture<Void> f =
        exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0)));
    Await.until("the request arrives", Duration.ofSeconds(5), () -> backend.requests() == 1);
    assertThat(f).isNotDone();
    f.get(10, TimeUnit.SECONDS);
  }

  @Test
  void anUnconfiguredSignalIsRefused() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .tracesEndpoint(backend.url() + "/v1/traces"));
    TelemetryBatch b = TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0));
    assertThatThrownBy(() -> exporter.export(b).get(5, TimeUnit.SECONDS))
        .hasCauseInstanceOf(IllegalStateException.class)
        .hasMessageContaining("logs_endpoint");
    assertThat(b.refCnt()).isZero();
  }
}
