package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.receiver.otlp.auth.Authenticator;
import dev.sluice.receiver.otlp.auth.Credential;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link LoadGenerator} against a real {@link dev.sluice.receiver.otlp.OtlpHttpReceiver} on
 * 127.0.0.1, whose exporter keeps what arrives: counts, ids, encodings, rate, retries, failures.
 */
class LoadGeneratorTest {
  private TestReceiver receiver;

  @BeforeEach
  void start() {
    receiver = TestReceiver.start();
  }

  @AfterEach
  void stop() {
    receiver.close();
  }

  private LoadSettings.Builder to(TestReceiver r) {
    return LoadSettings.builder().endpoint(r.url()).timeout(Duration.ofSeconds(5));
  }

  private static LoadSummary run(LoadSettings.Builder b) throws InterruptedException {
    return new LoadGenerator(b.build()).run();
  }

  private static List<Span> spans(Message m) {
    return ((ExportTraceServiceRequest) m).getResourceSpansList().stream()
        .map(ResourceSpans::getScopeSpansList).flatMap(List::stream)
        .map(ScopeSpans::getSpansList).flatMap(List::stream).collect(Collectors.toList());
  }

  private Set<ByteString> traceIdsArrived() {
    return receiver.exporter.batches().stream().flatMap(b -> spans(b.request()).stream())
        .map(Span::getTraceId).collect(Collectors.toSet());
  }

  private Set<ByteString> spanIdsArrived() {
    return receiver.exporter.batches().stream().flatMap(b -> spans(b.request()).stream())
        .map(Span::getSpanId).collect(Collectors.toSet());
  }

  @ParameterizedTest
  @CsvSource({"TRACES, 1", "TRACES, 4", "METRICS, 3", "LOGS, 3"})
  void everythingSentArrivesAndIsCounted(Signal signal, int connections) throws Exception {
    LoadSummary s = run(to(receiver).signal(signal).requests(40).items(25).attributes(4)
        .connections(connections));

    assertThat(receiver.exporter.batches()).hasSize(40);
    assertThat(receiver.exporter.items()).isEqualTo(40 * 25);
    assertThat(receiver.exporter.batches()).allSatisfy(b -> assertThat(b.signal()).isEqualTo(signal));
    assertThat(s.requestsSent()).isEqualTo(40);
    assertThat(s.itemsSent()).isEqualTo(1000);
    assertThat(s.requestsSucceeded()).isEqualTo(40);
    assertThat(s.itemsAccepted()).isEqualTo(1000);
    assertThat(s.itemsRejected()).isZero();
    assertThat(s.requestsFailed()).isZero();
    assertThat(s.failures()).isEmpty();
    assertThat(s.retried()).isZero();
    assertThat(s.answers()).isEqualTo(40);
    assertThat(s.p50Nanos()).isPositive().isLessThanOrEqualTo(s.p95Nanos());
    assertThat(s.p95Nanos()).isLessThanOrEqualTo(s.p99Nanos());
    assertThat(s.p99Nanos()).isLessThanOrEqualTo(s.maxNanos());
    assertThat(s.maxNanos()).isLessThan(s.elapsed().toNanos() + 1);
    assertThat(s.bytesSent()).isEqualTo(40L * new LoadGenerator(to(receiver).signal(signal)
        .items(25).attributes(4).build()).payloads().bodySize(Encoding.PROTOBUF));
    assertThat(s.allAccepted()).isTrue();
    assertThat(s.exitCode()).isZero();
  }

  @Test
  void theSameSeedSendsTheSameIdsAndAnotherSeedOthers() throws Exception {
    LoadSettings.Builder b = to(receiver).requests(12).items(30).connections(3).seed(77);
    run(b);
    Set<ByteString> first = traceIdsArrived();
    Set<ByteString> firstSpans = spanIdsArrived();
    receiver.exporter.clear();
    run(b);
    Set<ByteString> second = traceIdsArrived();
    receiver.exporter.clear();
    run(b.seed(78));
    Set<ByteString> otherSeed = traceIdsArrived();

    assertThat(firstSpans).hasSize(12 * 30); // every span id distinct
    assertThat(first).hasSize(12 * 3); // 30 spans are 3 traces, per request
    assertThat(second).isEqualTo(first);
    assertThat(otherSeed).hasSize(first.size()).doesNotContainAnyElementsOf(first);
  }

  @Test
  void oneConnectionSendsTheSameBytesInTheSameOrder() throws Exception {
    LoadSettings.Builder b = to(receiver).requests(8).items(10).connections(1).seed(5);
    run(b);
    List<byte[]> first = receiver.exporter.batches().stream().map(CollectingExporter.Batch::payload)
        .collect(Collectors.toList());
    receiver.exporter.clear();
    run(b);
    List<byte[]> second = receiver.exporter.batches().stream()
        .map(CollectingExporter.Batch::payload).collect(Collectors.toList());
    assertThat(second).hasSize(8);
    for (int i = 0; i < 8; i++) {
      assertThat(second.get(i)).as("request %d", i).isEqualTo(first.get(i));
      if (i > 0) {
        assertThat(second.get(i)).isNotEqualTo(second.get(i - 1));
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"JSON, NONE", "JSON, GZIP", "PROTOBUF, GZIP"})
  void jsonAndGzipArriveAsTheSameRequestsAsPlainProtobuf(Encoding encoding,
      Compression compression) throws Exception {
    LoadSettings.Builder b = to(receiver).requests(6).items(20).attributes(12).connections(1)
        .seed(3);
    run(b);
    List<Message> protobuf = receiver.exporter.batches().stream()
        .map(CollectingExporter.Batch::request).collect(Collectors.toList());
    receiver.exporter.clear();

    LoadSummary s = run(b.encoding(encoding).compression(compression));

    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(s.itemsAccepted()).isEqualTo(120);
    List<Message> other = receiver.exporter.batches().stream()
        .map(CollectingExporter.Batch::request).collect(Collectors.toList());
    assertThat(other).isEqualTo(protobuf);
    if (compression == Compression.GZIP) {
      int plain = new LoadGenerator(b.build()).payloads().bodySize(encoding);
      assertThat(s.bytesSent()).isLessThan(6L * plain / 2);
    }
  }

  @Test
  void theRateIsRoughlyHonoured() throws Exception {
    long t0 = System.nanoTime();
    LoadSummary s = run(to(receiver).duration(Duration.ofSeconds(1)).rate(50).connections(4)
        .items(5));
    double seconds = (System.nanoTime() - t0) / 1e9;

    assertThat(receiver.exporter.batches().size()).isBetween(40, 60);
    assertThat(s.requestsSent()).isEqualTo(receiver.exporter.batches().size());
    assertThat(s.allAccepted()).isTrue();
    assertThat(seconds).isBetween(0.9, 3.0);
  }

  @Test
  void aRequestCountWithARateTakesAsLongAsTheRateSays() throws Exception {
    long t0 = System.nanoTime();
    LoadSummary s = run(to(receiver).requests(20).rate(40).connections(2).items(5));
    double seconds = (System.nanoTime() - t0) / 1e9;

    assertThat(receiver.exporter.batches()).hasSize(20);
    assertThat(s.allAccepted()).isTrue();
    // Request 19 is due at 19/40 s = 0.475 s.
    assertThat(seconds).isBetween(0.45, 2.5);
  }

  @Test
  void refusedBatchesAreRetriedAfterRetryAfterAndEverythingArrives() throws Exception {
    receiver.exporter.refuse(3, 1); // 503 with Retry-After: 1
    long t0 = System.nanoTime();
    LoadSummary s = run(to(receiver).requests(20).items(10).connections(4).retries(3));
    double seconds = (System.nanoTime() - t0) / 1e9;

    assertThat(receiver.exporter.refused()).isEqualTo(3);
    assertThat(receiver.exporter.items()).isEqualTo(200);
    assertThat(s.retried()).isEqualTo(3);
    assertThat(s.attempts()).isEqualTo(23);
    assertThat(s.itemsAccepted()).isEqualTo(200);
    assertThat(s.requestsFailed()).isZero();
    assertThat(s.answers()).isEqualTo(23);
    assertThat(s.allAccepted()).as(s.format()).isTrue();
    // The retries waited for the Retry-After of 1 s, not for the 100 ms of the first backoff.
    assertThat(seconds).isGreaterThan(0.95);
    assertThat(s.format()).contains("retried       3 times");
  }

  @Test
  void requestsStillRefusedAfterTheirRetriesFail() throws Exception {
    receiver.exporter.refuse(Integer.MAX_VALUE, 0); // 503 without Retry-After: backoff
    LoadSummary s = run(to(receiver).requests(3).items(10).connections(1).retries(2));

    assertThat(receiver.exporter.refused()).isEqualTo(9);
    assertThat(receiver.exporter.items()).isZero();
    assertThat(s.failures()).isEqualTo(Map.of("HTTP 503", 3L));
    assertThat(s.requestsFailed()).isEqualTo(3);
    assertThat(s.retried()).isEqualTo(6);
    assertThat(s.itemsAccepted()).isZero();
    assertThat(s.exitCode()).isEqualTo(1);
    assertThat(s.firstProblem()).startsWith("HTTP 503: ").contains("full (test)");
    assertThat(s.format()).contains("HTTP 503 x3", "NOT everything was accepted");
  }

  @Test
  void anAuthHeaderIsSentWithEveryRequest() throws Exception {
    receiver.close();
    receiver = TestReceiver.start(r -> r.auth(new Authenticator(
        List.of(new Credential("team-a", "s3cret-token-1")), "X-API-Key")), b -> { });

    LoadSummary ok = run(to(receiver).requests(5).items(3)
        .header("Authorization: Bearer s3cret-token-1"));
    assertThat(ok.allAccepted()).as(ok.format()).isTrue();
    assertThat(receiver.exporter.items()).isEqualTo(15);

    LoadSummary apiKey = run(to(receiver).requests(2).items(3).header("X-API-Key: s3cret-token-1"));
    assertThat(apiKey.allAccepted()).isTrue();

    LoadSummary refused = run(to(receiver).requests(4).items(3));
    assertThat(refused.failures()).isEqualTo(Map.of("HTTP 401", 4L));
    assertThat(refused.retried()).isZero(); // 401 is not worth retrying
    assertThat(refused.firstProblem()).contains("HTTP 401", "missing credentials");
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(receiver.exporter.items()).isEqualTo(21);
  }

  @Test
  void anEndpointWithAPathIsUsedAsItIs() throws Exception {
    receiver.close();
    receiver = TestReceiver.start(r -> r.path(Signal.LOGS, "/ingest/otlp/logs"), b -> { });

    LoadSummary s = run(LoadSettings.builder().signal(Signal.LOGS)
        .endpoint(receiver.url() + "/ingest/otlp/logs").requests(3).items(4));
    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(receiver.exporter.items()).isEqualTo(12);

    LoadSummary wrong = run(to(receiver).signal(Signal.LOGS).requests(1).items(4));
    assertThat(wrong.failures()).containsOnlyKeys("HTTP 404");
  }

  @Test
  void nothingListeningEndsTheRunAtOnce() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      port = s.getLocalPort();
    }
    long t0 = System.nanoTime();
    LoadSummary s = run(LoadSettings.builder().endpoint("http://127.0.0.1:" + port).requests(100)
        .retries(1));
    assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(5));
    assertThat(s.requestsSent()).isZero();
    assertThat(s.abortReason()).startsWith("cannot connect to 127.0.0.1:" + port);
    assertThat(s.exitCode()).isEqualTo(1);
    assertThat(s.format()).contains("stopped early", "cannot connect");
  }

  @Test
  void aServerThatNeverAnswersTimesOutAndIsGivenUpAfterFailuresInARow() throws Exception {
    // The kernel completes the handshakes into the backlog; nobody ever reads or answers.
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
      LoadSummary s = run(LoadSettings.builder()
          .endpoint("http://127.0.0.1:" + silent.getLocalPort()).requests(100).connections(1)
          .retries(0).timeout(Duration.ofMillis(200)));
      assertThat(s.failures()).isEqualTo(Map.of("timeout", 4L));
      assertThat(s.requestsSent()).isEqualTo(4);
      assertThat(s.abortReason()).contains("4 requests in a row failed without an answer",
          "no answer within 200 ms");
      assertThat(s.exitCode()).isEqualTo(1);
    }
  }

  @Test
  void stopEndsALongRunEarly() throws Exception {
    LoadGenerator g = new LoadGenerator(to(receiver).duration(Duration.ofSeconds(30)).items(5)
        .connections(2).build());
    CompletableFuture<LoadSummary> run = CompletableFuture.supplyAsync(() -> {
      try {
        return g.run();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    Await.until("20 requests", Duration.ofSeconds(10), () -> g.progress().completed() >= 20);
    g.stop();
    LoadSummary s = run.get(5, TimeUnit.SECONDS);

    assertThat(s.requestsSent()).isGreaterThanOrEqualTo(20);
    assertThat(s.requestsSucceeded()).isEqualTo(s.requestsSent());
    assertThat(receiver.exporter.batches()).hasSize((int) s.requestsSent());
    assertThat(s.elapsed()).isLessThan(Duration.ofSeconds(10));
    assertThat(s.abortReason()).isEqualTo("stopped before the end");
    assertThat(s.exitCode()).isEqualTo(1);
  }

  @ParameterizedTest
  @EnumSource(Signal.class)
  void everySignalIsAcceptedByTheReceiver(Signal signal) throws Exception {
    LoadSummary s = run(to(receiver).signal(signal).requests(5).items(100).attributes(10)
        .encoding(Encoding.JSON).compression(Compression.GZIP));
    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(receiver.exporter.items()).isEqualTo(500);
    Set<Signal> signals = new HashSet<>();
    receiver.exporter.batches().forEach(b -> signals.add(b.signal()));
    assertThat(signals).containsExactly(signal);
  }

  @Test
  void runsOnlyOnce() throws Exception {
    LoadGenerator g = new LoadGenerator(to(receiver).requests(1).build());
    g.run();
    org.assertj.core.api.Assertions.assertThatThrownBy(g::run)
        .isInstanceOf(IllegalStateException.class);
  }
}
