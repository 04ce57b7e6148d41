package dev.sluice.exporter.otlp;

import static dev.sluice.exporter.otlp.testdata.TestData.flatKeys;
import static dev.sluice.exporter.otlp.testdata.TestData.hex;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.testdata.Backend;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Sends real requests through a real upstream group to backends that decode what they get. */
class OtlpHttpExporterTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private Backend backend() throws Exception {
    Backend b = Backend.start();
    closeables.add(b);
    return b;
  }

  private OtlpHttpExporter start(OtlpHttpExporter.Builder b) {
    OtlpHttpExporter e = b.meterRegistry(registry).shutdownTimeout(Duration.ofSeconds(2)).build();
    closeables.add(e);
    e.start();
    return e;
  }

  private double counter(String name, String... tags) {
    var c = registry.find(name).tags(tags).counters();
    return c.stream().mapToDouble(x -> x.count()).sum();
  }

  static List<Arguments> encodings() {
    List<Arguments> out = new ArrayList<>();
    for (Signal s : Signal.values()) {
      for (Encoding e : Encoding.values()) {
        for (Compression c : Compression.values()) {
          out.add(Arguments.of(s, e, c));
        }
      }
    }
    return out;
  }

  @ParameterizedTest(name = "{0} {1} {2}")
  @MethodSource("encodings")
  void theBackendReceivesExactlyWhatWasExported(Signal signal, Encoding encoding,
      Compression compression) throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .name("test")
        .endpoint(backend.url())
        .encoding(encoding)
        .compression(compression)
        .version("1.2.3")
        .headers(Map.of("X-Api-Key", "secret-1", "X-Scope-OrgID", "tenant-a"))
        .batchTimeout(Duration.ZERO));
    Message request = TestData.request(signal, 1, 25);
    exporter.export(TestData.batch(signal, request)).get(10, TimeUnit.SECONDS);

    assertThat(backend.received()).hasSize(1);
    Backend.Received r = backend.received().get(0);
    assertThat(r.error()).isNull();
    assertThat(r.path()).isEqualTo("/v1/" + signal.id());
    assertThat(r.message()).isEqualTo(request);
    assertThat(r.header("User-Agent")).isEqualTo("Sluice/1.2.3");
    assertThat(r.header("X-Api-Key")).isEqualTo("secret-1");
    assertThat(r.header("X-Scope-OrgID")).isEqualTo("tenant-a");
    assertThat(r.header("Content-Type")).isEqualTo(
        encoding == Encoding.JSON ? "application/json" : "application/x-protobuf");
    assertThat(r.header("Content-Encoding")).isEqualTo(compression.contentEncoding());
    assertThat(counter("sluice.exporter.sent.items", "exporter", "test", "signal", signal.id(),
        "endpoint", "127.0.0.1:" + backend.port())).isEqualTo(TestData.items(request));
    assertThat(registry.find("sluice.exporter.request.duration").tag("outcome", "success")
        .timer().count()).isEqualTo(1);
  }

  @Test
  void signalEndpointsAreUsedAsTheyAreAndBasePathsArePrefixed() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint(backend.url() + "/otlp/")
        .tracesEndpoint(backend.url() + "/custom/traces?tenant=a")
        .batchTimeout(Duration.ZERO));
    assertThat(exporter.url(Signal.METRICS).toString())
        .isEqualTo(backend.url() + "/otlp/v1/metrics");
    exporter.export(TestData.batch(Signal.TRACES, TestData.request(Signal.TRACES, 0, 3)))
        .get(10, TimeUnit.SECONDS);
    exporter.export(TestData.batch(Signal.METRICS, TestData.request(Signal.METRICS, 0, 3)))
        .get(10, TimeUnit.SECONDS);
    assertThat(backend.received()).extracting(Backend.Received::path)
        .containsExactly("/custom/traces?tenant=a", "/otlp/v1/metrics");
  }

  @Test
  void smallExportsWithinTheFlushTimeoutAreMergedIntoFewRequests() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint(backend.url())
        .batchTimeout(Duration.ofMillis(300))
        .batchMaxItems(100_000));
    List<String> sent = new ArrayList<>();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      Message m = TestData.traces(1, 1, 2, 1, i);
      sent.addAll(flatKeys(m));
      futures.add(exporter.export(TestData.batch(Signal.TRACES, m)));
    }
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isBetween(1, 3);
    List<String> got = new ArrayList<>();
    for (Message m : backend.messages()) {
      got.addAll(flatKeys(m));
    }
    assertThat(got).containsExactlyInAnyOrderElementsOf(sent);
  }

  @Test
  void flushSendsWhatIsBeingMergedWithoutWaitingForTheTimeout() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint(backend.url())
        .batchTimeout(Duration.ofMinutes(10))
        .batchMaxItems(100_000));
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    List<String> sent = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      Message m = TestData.traces(1, 1, 2, 1, 100 + i);
      sent.addAll(flatKeys(m));
      futures.add(exporter.export(TestData.batch(Signal.TRACES, m)));
    }
    assertThat(futures).noneMatch(CompletableFuture::isDone);
    exporter.flush();
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isEqualTo(1);
    List<String> got = new ArrayList<>();
    for (Message m : backend.messages()) {
      got.addAll(flatKeys(m));
    }
    assertThat(got).containsExactlyInAnyOrderElementsOf(sent);
  }

  @Test
  void aBatchFlushesAsSoonAsItHoldsEnoughItems() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint(backend.url())
        .batchTimeout(Duration.ofSeconds(30))
        .batchMaxItems(10));
    CompletableFuture<Void> first =
        exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 6, 0)));
    CompletableFuture<Void> second =
        exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 6, 0)));
    // long before the 30 s timeout
    CompletableFuture.allOf(first, second).get(5, TimeUnit.SECONDS);
    assertThat(backend.requests()).isEqualTo(1);
    assertThat(TestData.items(backend.messages().get(0))).isEqualTo(12);
  }

  @Test
  void aBatchOverMaxRequestBytesArrivesInSeveralRequestsUnderTheLimit() throws Exception {
    Backend backend = backend();
    long max = 4096;
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint(backend.url())
        .maxRequestBytes(max)
        .batchTimeout(Duration.ZERO));
    ExportTraceServiceRequest big = TestData.traces(3, 2, 30, 5, 200);
    assertThat(big.getSerializedSize()).isGreaterThan(8 * (int) max);
    exporter.export(TestData.batch(Signal.TRACES, big)).get(10, TimeUnit.SECONDS);
    assertThat(backend.requests()).isGreaterThan(8);
    List<String> got = new ArrayList<>();
    for (Backend.Received r : backend.received()) {
      assertThat(r.error()).isNull();
      assertThat((long) r.protobufBytes()).isLessThanOrEqualTo(max);
      got.addAll(flatKeys(r.message()));
    }
    // every span arrived whole (equal to the one sent) and exactly once
    assertThat(got).containsExactlyInAnyOrderElementsOf(flatKeys(big));
  }

  @Test
  void tracesRoutedByTraceIdKeepEachTraceOnOneBackendAndUseAllOfThem() throws Exception {
    Backend a = backend();
    Backend b = backend();
    Backend c = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoints(List.of(Endpoint.of(a.url()), Endpoint.of(b.url()), Endpoint.of(c.url())))
        .routeTracesByTraceId(true)
        .batchTimeout(Duration.ofMillis(50)));
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    List<String> sent = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      // 60 traces, each spread over all six batches and over resources and scopes
      ExportTraceServiceRequest m = TestData.traces(2, 2, 15, 60, i);
      sent.addAll(flatKeys(m));
      futures.add(exporter.export(TestData.batch(Signal.TRACES, m)));
    }
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    Map<String, Set<Integer>> backendsOfTrace = new HashMap<>();
    List<String> got = new ArrayList<>();
    Backend[] all = {a, b, c};
    for (int i = 0; i < all.length; i++) {
      for (Message m : all[i].messages()) {
        got.addAll(flatKeys(m));
        for (Object[] t : TestData.flatten(m)) {
          backendsOfTrace.computeIfAbsent(hex(((Span) t[2]).getTraceId().toByteArray()),
              k -> new HashSet<>()).add(i);
        }
      }
      assertThat(all[i].requests()).as("backend %d gets traces", i).isGreaterThan(0);
    }
    assertThat(backendsOfTrace).hasSize(60);
    assertThat(backendsOfTrace.values()).allSatisfy(s -> assertThat(s).hasSize(1));
    assertThat(got).containsExactlyInAnyOrderElementsOf(sent);
  }

  @Test
  void severalBaseEndpointsShareTheLoad() throws Exception {
    Backend a = backend();
    Backend b = backend();
    Backend c = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpointUrls(List.of(a.url(), b.url(), c.url()))
        .batchTimeout(Duration.ZERO)
        .maxConcurrentRequests(1));
    for (int i = 0; i < 30; i++) {
      exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, i)))
          .get(10, TimeUnit.SECONDS);
    }
    // round robin, the default
    assertThat(List.of(a.requests(), b.requests(), c.requests())).containsExactly(10, 10, 10);
  }

  @Test
  void partialSuccessIsCountedAndTheExportSucceeds() throws Exception {
    Backend backend = backend().responder(r -> Backend.ok(r.signal(), false, 3, "3 too old"));
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .name("ps")
        .endpoint(backend.url())
        .batchTimeout(Duration.ZERO));
    exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 10, 0)))
        .get(10, TimeUnit.SECONDS);
    assertThat(counter("sluice.exporter.partial_success.rejected.items", "exporter", "ps",
        "signal", "logs")).isEqualTo(3);
    assertThat(counter("sluice.exporter.sent.items", "signal", "logs")).isEqualTo(10);
  }

  @Test
  void partialSuccessInJsonIsCountedToo() throws Exception {
    Backend backend = backend().responder(r -> Backend.ok(r.signal(), true, 2, ""));
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint(backend.url())
        .encoding(Encoding.JSON)
        .batchTimeout(Duration.ZERO));
    exporter.export(TestData.batch(Signal.METRICS, TestData.metrics(1, 1, 4, 1)))
        .get(10, TimeUnit.SECONDS);
    assertThat(counter("sluice.exporter.partial_success.rejected.items", "signal", "metrics"))
        .isEqualTo(2);
  }

  @Test
  void endpointStatusIsExposedAsGauges() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .name("g")
        .endpoint(backend.url())
        .batchTimeout(Duration.ZERO));
    exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0)))
        .get(10, TimeUnit.SECONDS);
    String ep = "127.0.0.1:" + backend.port();
    assertThat(registry.get("sluice.exporter.endpoint.healthy").tag("exporter", "g")
        .tag("endpoint", ep).gauge().value()).isEqualTo(1.0);
    assertThat(registry.get("sluice.exporter.endpoint.circuit.state").tag("endpoint", ep)
        .gauge().value()).isEqualTo(0.0);
    Await.until("no request outstanding", Duration.ofSeconds(5), () -> registry
        .get("sluice.exporter.endpoint.outstanding.requests").tag("endpoint", ep).gauge()
        .value() == 0.0);
  }
}
