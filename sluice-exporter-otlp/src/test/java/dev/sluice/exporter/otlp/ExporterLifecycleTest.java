package dev.sluice.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.testdata.Backend;
import dev.sluice.exporter.otlp.testdata.Backend.Reply;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** start, close and back-pressure, against real backends. */
class ExporterLifecycleTest {
  private static final RetrySettings FOREVER = new RetrySettings(true, Duration.ofMillis(50),
      Duration.ofMillis(100), Duration.ZERO, 1.5, 0.5);

  private final List<AutoCloseable> closeables = new ArrayList<>();

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
    OtlpHttpExporter e = b.build();
    closeables.add(e);
    e.start();
    return e;
  }

  private static Throwable failure(CompletableFuture<Void> f) throws Exception {
    try {
      f.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("the export succeeded");
  }

  @Test
  void exportAfterCloseFailsWithPipelineFullAndReleasesTheBatch() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend.url()));
    exporter.close();
    exporter.close(); // idempotent
    TelemetryBatch b = TestData.batch(Signal.TRACES, TestData.traces(1, 1, 1, 1, 0));
    assertThat(failure(exporter.export(b))).isInstanceOf(PipelineFullException.class);
    assertThat(b.refCnt()).isZero();
    assertThat(backend.requests()).isZero();
  }

  @Test
  void exportBeforeStartIsRefused() throws Exception {
    OtlpHttpExporter exporter = OtlpHttpExporter.builder().endpoint("http://127.0.0.1:9").build();
    closeables.add(exporter);
    TelemetryBatch b = TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0));
    assertThat(failure(exporter.export(b))).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("not been started");
    assertThat(b.refCnt()).isZero();
  }

  @Test
  void startTwiceIsAnError() throws Exception {
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend().url()));
    assertThatThrownBy(exporter::start).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already started");
  }

  @Test
  void closeSendsWhatIsBatchedBeforeItReturns() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend.url())
        .batchTimeout(Duration.ofSeconds(30)));
    Message m = TestData.logs(1, 1, 3, 0);
    CompletableFuture<Void> f = exporter.export(TestData.batch(Signal.LOGS, m));
    assertThat(f).isNotDone();
    exporter.close();
    assertThat(f).isCompleted();
    assertThat(backend.messages()).containsExactly(m);
  }

  @Test
  void closeAbandonsRetriesAfterTheDrainAndFailsTheirFutures() throws Exception {
    Backend backend = backend().responder(r -> Reply.status(503));
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend.url())
        .retry(FOREVER).batchTimeout(Duration.ZERO).shutdownTimeout(Duration.ofMillis(300)));
    CompletableFuture<Void> f =
        exporter.export(TestData.batch(Signal.TRACES, TestData.traces(1, 1, 2, 1, 0)));
    Await.until("a few attempts", Duration.ofSeconds(5), () -> backend.requests() >= 3);
    long t0 = System.nanoTime();
    exporter.close();
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(took).isGreaterThanOrEqualTo(Duration.ofMillis(250)).isLessThan(Duration.ofSeconds(3));
    assertThat(failure(f)).isInstanceOf(PipelineFullException.class);
    int seen = backend.requests();
    assertThat(exporter.pendingBytes()).isZero();
    // no attempt after close: wait a few retry intervals and look again
    CompletableFuture<Void> probe = new CompletableFuture<>();
    probe.completeOnTimeout(null, 300, TimeUnit.MILLISECONDS).get();
    assertThat(backend.requests()).isEqualTo(seen);
  }

  @Test
  void closeWaitsForRequestsThatFinishWithinTheDrain() throws Exception {
    Backend backend = backend().responder(r -> r.index() < 2 ? Reply.status(503) : null);
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend.url())
        .retry(FOREVER).batchTimeout(Duration.ZERO).shutdownTimeout(Duration.ofSeconds(5)));
    CompletableFuture<Void> f =
        exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 2, 0)));
    exporter.close();
    assertThat(f).isCompleted();
    assertThat(backend.requests()).isEqualTo(3);
  }

  @Test
  void tooManyUndeliveredBytesRefuseMoreWithPipelineFull() throws Exception {
    Backend backend = backend().responder(r -> Reply.status(503));
    Message m = TestData.logs(1, 1, 5, 20);
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend.url())
        .retry(FOREVER).batchTimeout(Duration.ZERO).shutdownTimeout(Duration.ofMillis(100))
        .maxPendingBytes(m.getSerializedSize() + 10));
    CompletableFuture<Void> first = exporter.export(TestData.batch(Signal.LOGS, m));
    assertThat(exporter.pendingBytes()).isEqualTo(m.getSerializedSize());
    TelemetryBatch second = TestData.batch(Signal.LOGS, m);
    Throwable e = failure(exporter.export(second));
    assertThat(e).isInstanceOf(PipelineFullException.class);
    assertThat(((PipelineFullException) e).retryAfterSeconds()).isPositive();
    assertThat(second.refCnt()).isZero();
    assertThat(first).isNotDone();
    exporter.close();
    assertThat(failure(first)).isInstanceOf(PipelineFullException.class);
  }

  @Test
  void manyConcurrentExportsAllComplete() throws Exception {
    Backend backend = backend();
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder().endpoint(backend.url())
        .batchTimeout(Duration.ofMillis(20)).batchMaxItems(50).maxConcurrentRequests(3));
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      int seed = t;
      Thread th = new Thread(() -> {
        for (int i = 0; i < 100; i++) {
          CompletableFuture<Void> f = exporter.export(TestData.batch(Signal.values()[i % 3],
              TestData.request(Signal.values()[i % 3], seed + i, 3)));
          synchronized (futures) {
            futures.add(f);
          }
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join();
    }
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(20, TimeUnit.SECONDS);
    int items = backend.messages().stream().mapToInt(TestData::items).sum();
    assertThat(items).isEqualTo(4 * 100 * 3);
    assertThat(exporter.pendingBytes()).isZero();
  }
}
