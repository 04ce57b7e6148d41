package dev.sluice.pipeline;

import static dev.sluice.pipeline.SampleRequests.opaque;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.otlp.Signal;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class PipelineTest {

  /** Keeps what it is handed until the test confirms or fails it, releasing it then. */
  private static final class HoldingExporter implements Exporter {
    final String name;
    final List<TelemetryBatch> batches = new ArrayList<>();
    final List<CompletableFuture<Void>> futures = new ArrayList<>();
    int starts;
    int closes;

    HoldingExporter(String name) {
      this.name = name;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public void start() {
      starts++;
    }

    @Override
    public synchronized CompletableFuture<Void> export(TelemetryBatch batch) {
      CompletableFuture<Void> f = new CompletableFuture<>();
      batches.add(batch);
      futures.add(f);
      return f;
    }

    synchronized void confirm(int i) {
      batches.get(i).release();
      futures.get(i).complete(null);
    }

    synchronized void fail(int i, Throwable e) {
      batches.get(i).release();
      futures.get(i).completeExceptionally(e);
    }

    @Override
    public void close() {
      closes++;
    }
  }

  @Test
  void handsEveryBatchToEveryExporterWithAReferenceEach() throws Exception {
    HoldingExporter a = new HoldingExporter("a");
    HoldingExporter b = new HoldingExporter("b");
    Pipeline pipeline = new Pipeline(List.of(a, b), 1 << 20);
    pipeline.start();
    assertThat(a.starts).isEqualTo(1);
    assertThat(b.starts).isEqualTo(1);
    TelemetryBatch batch = opaque(Signal.TRACES, 100);

    CompletableFuture<Void> done = pipeline.submit(batch);

    assertThat(a.batches).containsExactly(batch);
    assertThat(b.batches).containsExactly(batch);
    assertThat(batch.refCnt()).isEqualTo(2);
    assertThat(pipeline.inFlightBytes()).isEqualTo(100);

    a.confirm(0);
    assertThat(batch.refCnt()).isEqualTo(1);
    assertThat(done).as("done only when every exporter has the batch").isNotDone();

    b.confirm(0);
    done.get(10, SECONDS);
    assertThat(batch.refCnt()).isZero();
    assertThat(pipeline.inFlightBytes()).isZero();
  }

  @Test
  void oneExporterFailingFailsTheSubmitAfterAllAnswered() {
    HoldingExporter a = new HoldingExporter("a");
    HoldingExporter b = new HoldingExporter("b");
    Pipeline pipeline = new Pipeline(List.of(a, b), 1 << 20);
    TelemetryBatch batch = opaque(Signal.LOGS, 10);

    CompletableFuture<Void> done = pipeline.submit(batch);
    a.fail(0, new IllegalStateException("disk full"));
    assertThat(done).isNotDone();
    b.confirm(0);

    assertThatThrownBy(() -> done.get(10, SECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasRootCauseMessage("disk full");
    assertThat(batch.refCnt()).isZero();
    assertThat(pipeline.inFlightBytes()).isZero();
  }

  @Test
  void refusesWhenTheBytesInFlightWouldPassTheLimitAndAcceptsAgainAfterConfirmation()
      throws Exception {
    HoldingExporter exporter = new HoldingExporter("held");
    Pipeline pipeline = new Pipeline(List.of(exporter), 1000);
    assertThat(pipeline.ready()).isFalse(); // not started yet
    pipeline.start();
    TelemetryBatch first = opaque(Signal.METRICS, 600);
    TelemetryBatch refused = opaque(Signal.METRICS, 600);

    CompletableFuture<Void> firstDone = pipeline.submit(first);
    CompletableFuture<Void> refusedDone = pipeline.submit(refused);

    assertThat(refused.refCnt()).isZero();
    assertThat(exporter.batches).containsExactly(first);
    assertThatThrownBy(() -> refusedDone.get(10, SECONDS))
        .cause()
        .isInstanceOf(PipelineFullException.class)
        .hasMessageContaining("full")
        .satisfies(e -> assertThat(((PipelineFullException) e).retryAfterSeconds()).isEqualTo(1));
    assertThat(pipeline.inFlightBytes()).isEqualTo(600);
    assertThat(pipeline.ready()).isTrue(); // 600 < 1000: a smaller batch would still fit

    TelemetryBatch fits = opaque(Signal.METRICS, 400);
    CompletableFuture<Void> fitsDone = pipeline.submit(fits);
    assertThat(pipeline.inFlightBytes()).isEqualTo(1000);
    assertThat(pipeline.ready()).isFalse();

    exporter.confirm(0);
    exporter.confirm(1);
    firstDone.get(10, SECONDS);
    fitsDone.get(10, SECONDS);
    assertThat(pipeline.inFlightBytes()).isZero();
    assertThat(pipeline.ready()).isTrue();

    TelemetryBatch again = opaque(Signal.METRICS, 600);
    CompletableFuture<Void> againDone = pipeline.submit(again);
    assertThat(exporter.batches).hasSize(3);
    exporter.confirm(2);
    againDone.get(10, SECONDS);
    assertThat(List.of(first, fits, again)).allSatisfy(b -> assertThat(b.refCnt()).isZero());
  }

  @Test
  void aSingleBatchLargerThanTheLimitPassesWhenNothingIsInFlight() throws Exception {
    HoldingExporter exporter = new HoldingExporter("held");
    Pipeline pipeline = new Pipeline(List.of(exporter), 100);
    TelemetryBatch big = opaque(Signal.TRACES, 500);
    TelemetryBatch small = opaque(Signal.TRACES, 1);

    CompletableFuture<Void> bigDone = pipeline.submit(big);
    CompletableFuture<Void> smallDone = pipeline.submit(small);

    assertThat(exporter.batches).containsExactly(big);
    assertThat(pipeline.inFlightBytes()).isEqualTo(500);
    assertThat(small.refCnt()).isZero();
    assertThatThrownBy(() -> smallDone.get(10, SECONDS))
        .cause().isInstanceOf(PipelineFullException.class);

    exporter.confirm(0);
    bigDone.get(10, SECONDS);
    assertThat(big.refCnt()).isZero();
    assertThat(pipeline.inFlightBytes()).isZero();
  }

  @Test
  void anExporterThatThrowsGetsTheReferenceReleasedForIt() {
    Exporter throwing = new Exporter() {
      @Override
      public String name() {
        return "throwing";
      }

      @Override
      public CompletableFuture<Void> export(TelemetryBatch batch) {
        throw new IllegalStateException("broken exporter");
      }

      @Override
      public void close() {}
    };
    Pipeline pipeline = new Pipeline(List.of(throwing), 1000);
    TelemetryBatch batch = opaque(Signal.LOGS, 10);

    CompletableFuture<Void> done = pipeline.submit(batch);

    assertThat(batch.refCnt()).isZero();
    assertThatThrownBy(() -> done.get(10, SECONDS)).hasRootCauseMessage("broken exporter");
    assertThat(pipeline.inFlightBytes()).isZero();
  }

  @Test
  void closeClosesTheExportersOnceAndMakesSubmitFail() {
    HoldingExporter a = new HoldingExporter("a");
    HoldingExporter b = new HoldingExporter("b");
    Pipeline pipeline = new Pipeline(List.of(a, b), 1000);
    pipeline.close();
    pipeline.close();
    assertThat(a.closes).isEqualTo(1);
    assertThat(b.closes).isEqualTo(1);
    assertThat(pipeline.ready()).isFalse();
    TelemetryBatch batch = opaque(Signal.TRACES, 10);

    CompletableFuture<Void> done = pipeline.submit(batch);

    assertThat(batch.refCnt()).isZero();
    assertThat(a.batches).isEmpty();
    assertThatThrownBy(() -> done.get(10, SECONDS))
        .cause()
        .isInstanceOf(PipelineFullException.class)
        .hasMessageContaining("shutting down")
        .satisfies(e -> assertThat(((PipelineFullException) e).retryAfterSeconds()).isEqualTo(5));
  }

  @Test
  void checksItsArguments() {
    HoldingExporter a = new HoldingExporter("a");
    assertThatThrownBy(() -> new Pipeline(List.of(), 1000))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least one exporter");
    assertThatThrownBy(() -> new Pipeline(List.of(a), 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxInFlightBytes");
    assertThatThrownBy(() -> new Pipeline(List.of(a), 1).submit(null))
        .isInstanceOf(NullPointerException.class);
  }
}
