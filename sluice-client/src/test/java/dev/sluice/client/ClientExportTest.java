package dev.sluice.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.exporter.otlp.ExportFailedException;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Exports of each signal, and the settings as they show on the wire, against a real backend. */
class ClientExportTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private Backend backend() throws Exception {
    Backend b = new Backend();
    closeables.add(b);
    return b;
  }

  private SluiceOtlpClient client(SluiceOtlpClient.Builder b) {
    SluiceOtlpClient c = b.build();
    closeables.add(c);
    return c;
  }

  private static void await(CompletableFuture<Void> f) throws Exception {
    f.get(10, TimeUnit.SECONDS);
  }

  @Test
  void eachSignalArrivesIntactAtItsPath() throws Exception {
    Backend backend = backend();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url() + "/otlp")
        .batchTimeout(Duration.ZERO));
    ExportTraceServiceRequest traces = Requests.traces("t", 3);
    ExportMetricsServiceRequest metrics = Requests.metrics("m");
    ExportLogsServiceRequest logs = Requests.logs("l", 2);

    await(client.export(traces));
    await(client.export(metrics));
    await(client.export(logs));

    assertThat(backend.received()).extracting(Backend.Received::path)
        .containsExactlyInAnyOrder("/otlp/v1/traces", "/otlp/v1/metrics", "/otlp/v1/logs");
    assertThat(backend.messages()).containsExactlyInAnyOrder(traces, metrics, logs);
    assertThat(backend.received()).allSatisfy(r -> {
      assertThat(r.header("content-type")).isEqualTo("application/x-protobuf");
      assertThat(r.header("content-encoding")).isNull(); // none by default, as the spec says
    });
    assertThat(client.queuedRequests()).isZero();
    assertThat(client.queuedBytes()).isZero();
  }

  @Test
  void rawProtobufBytesAreSentAsTheyAre() throws Exception {
    Backend backend = backend();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO));
    byte[] bytes = Requests.logs("raw", 4).toByteArray();

    await(client.export(Signal.LOGS, bytes, 4));

    assertThat(backend.received()).singleElement().satisfies(r -> {
      assertThat(r.path()).isEqualTo("/v1/logs");
      assertThat(r.body()).isEqualTo(bytes);
    });
  }

  @Test
  void environmentSettingsShowOnTheWire() throws Exception {
    Backend backend = backend();
    Map<String, String> env = Map.of(
        "OTEL_EXPORTER_OTLP_ENDPOINT", backend.url() + "/base/",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", backend.url() + "/custom/traces",
        "OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0k3n,x-tenant=acme",
        "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none");
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().fromEnvironment(env)
        .batchTimeout(Duration.ZERO));
    ExportTraceServiceRequest traces = Requests.traces("env", 2);
    ExportMetricsServiceRequest metrics = Requests.metrics("env");
    ExportLogsServiceRequest logs = Requests.logs("env", 3);

    await(client.export(traces));
    await(client.export(metrics));
    await(client.export(logs));

    Map<String, Backend.Received> byPath = new java.util.HashMap<>();
    backend.received().forEach(r -> byPath.put(r.path(), r));
    assertThat(byPath).containsOnlyKeys("/custom/traces", "/base/v1/metrics", "/base/v1/logs");
    for (Backend.Received r : byPath.values()) {
      assertThat(r.error()).isNull();
      assertThat(r.header("authorization")).isEqualTo("Bearer t0k3n");
      assertThat(r.header("x-tenant")).isEqualTo("acme");
    }
    Backend.Received t = byPath.get("/custom/traces");
    assertThat(t.header("content-encoding")).isEqualTo("gzip");
    assertThat(t.body()[0] & 0xff).isEqualTo(0x1f); // the gzip magic, not protobuf
    assertThat(t.message()).isEqualTo(traces);
    assertThat(byPath.get("/base/v1/metrics").message()).isEqualTo(metrics);
    Backend.Received l = byPath.get("/base/v1/logs");
    assertThat(l.header("content-type")).isEqualTo("application/json");
    assertThat(l.header("content-encoding")).isNull();
    assertThat(new String(l.body(), StandardCharsets.UTF_8)).startsWith("{\"resourceLogs\"");
    assertThat(l.message()).isEqualTo(logs);
  }

  @Test
  void exportsWithinTheBatchTimeoutLeaveAsOneRequest() throws Exception {
    Backend backend = backend();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ofSeconds(30)).batchMaxItems(6));
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    List<ExportTraceServiceRequest> sent = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ExportTraceServiceRequest r = Requests.traces("b" + i, 2);
      sent.add(r);
      futures.add(client.export(r));
    }
    // 6 spans reach batchMaxItems: sent now, long before the 30 s timeout
    CompletableFuture.allOf(futures.toArray(new CompletableFuture<?>[0])).get(10, TimeUnit.SECONDS);

    assertThat(backend.received()).hasSize(1);
    ExportTraceServiceRequest merged = (ExportTraceServiceRequest) backend.messages().get(0);
    List<ResourceSpans> expected = new ArrayList<>();
    sent.forEach(r -> expected.addAll(r.getResourceSpansList()));
    assertThat(merged.getResourceSpansList()).containsExactlyElementsOf(expected);
  }

  @Test
  void aRequestTheBackendRefusesForGoodSettlesWithoutRetries() throws Exception {
    Backend backend = backend(); // answers 400 to a body it cannot decode
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO));
    byte[] notProtobuf = {(byte) 0xff, (byte) 0xff, (byte) 0xff};

    await(client.export(Signal.TRACES, notProtobuf, 1));

    assertThat(backend.received()).singleElement()
        .satisfies(r -> assertThat(r.error()).isNotNull());
    assertThat(client.queuedRequests()).isZero();
  }

  @Test
  void aRequestOverTheTimeoutFails() throws Exception {
    Backend backend = backend().hold();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .timeout(Duration.ofMillis(300)).retry(RetrySettings.disabled())
        .batchTimeout(Duration.ZERO));
    long start = System.nanoTime();

    CompletableFuture<Void> f = client.export(Requests.traces("slow", 1));

    Throwable error = failure(f);
    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(error).isInstanceOf(ExportFailedException.class);
    assertThat(tookMillis).isBetween(250L, 5_000L);
    assertThat(backend.received()).hasSize(1); // it was sent, and the answer never came in time
  }

  @Test
  void flushWaitsForBatchedExports() throws Exception {
    Backend backend = backend();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ofSeconds(1)));
    CompletableFuture<Void> f = client.export(Requests.metrics("flush"));
    assertThat(f).isNotDone(); // waiting in the batch

    client.flush().get(10, TimeUnit.SECONDS);

    assertThat(f).isCompleted();
    assertThat(backend.messages()).containsExactly(Requests.metrics("flush"));
    Await.until("the queue to empty", Duration.ofSeconds(5), () -> client.queuedRequests() == 0);
  }

  static Throwable failure(CompletableFuture<Void> f) throws Exception {
    try {
      f.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("the export succeeded");
  }
}
