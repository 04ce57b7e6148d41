package dev.sluice.pipeline;

import static dev.sluice.pipeline.ScriptedExporter.Answer.CONFIRM;
import static dev.sluice.pipeline.ScriptedExporter.Answer.FAIL;
import static dev.sluice.pipeline.ScriptedExporter.Answer.HOLD;
import static dev.sluice.pipeline.ScriptedExporter.Answer.THROW;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.ScriptedExporter.Call;
import dev.sluice.queue.DurableQueue;
import dev.sluice.queue.FsyncPolicy;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The durable pipeline over a real {@link DurableQueue} on disk: acknowledgement after the append,
 * delivery to every exporter with positions of their own, retries with backoff, restarts, a full
 * queue, stale readers, a prompt close, and the references of every batch.
 */
class DurablePipelineTest {
  private static final Duration WAIT = Duration.ofSeconds(10);

  @TempDir Path tmp;

  private final List<DurablePipeline> pipelines = new ArrayList<>();
  private final List<DurableQueue> queues = new ArrayList<>();
  private final List<ScriptedExporter> exporters = new ArrayList<>();

  @AfterEach
  void closeEverything() {
    for (DurablePipeline p : pipelines) {
      p.close();
    }
    for (DurableQueue q : queues) {
      q.close();
    }
    for (ScriptedExporter e : exporters) {
      e.abandonHeld();
    }
  }

  private Path queueDir() {
    return tmp.resolve("queue");
  }

  private DurableQueue openQueue(long maxBytes, long segmentBytes) throws IOException {
    DurableQueue q = DurableQueue.builder().directory(queueDir()).maxBytes(maxBytes)
        .segmentBytes(segmentBytes).fsync(FsyncPolicy.always()).build();
    queues.add(q);
    return q;
  }

  private DurableQueue openQueue() throws IOException {
    return openQueue(64L << 20, 8L << 20);
  }

  private DurablePipeline pipeline(DurableQueue queue, MeterRegistry registry,
      ScriptedExporter... list) {
    return pipeline(queue, registry, Duration.ofMillis(500), list);
  }

  private DurablePipeline pipeline(DurableQueue queue, MeterRegistry registry,
      Duration closeTimeout, ScriptedExporter... list) {
    exporters.addAll(List.of(list));
    DurablePipeline.Builder b = DurablePipeline.builder().queue(queue).exporters(List.of(list))
        .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).meterRegistry(registry);
    if (closeTimeout != null) {
      b.closeTimeout(closeTimeout);
    }
    DurablePipeline p = b.build();
    pipelines.add(p);
    return p;
  }

  private static double lag(MeterRegistry registry, String exporter) {
    return registry.get("sluice.pipeline.lag").tag("exporter", exporter).gauge().value();
  }

  private static double redelivered(MeterRegistry registry, String exporter) {
    return registry.get("sluice.pipeline.redelivered.batches").tag("exporter", exporter)
        .counter().count();
  }

  private static double delivered(MeterRegistry registry, String exporter) {
    return registry.get("sluice.pipeline.delivered.batches").tag("exporter", exporter)
        .counter().count();
  }

  /** Submits batches {@code from} to {@code to - 1} one after the other, each acknowledged. */
  private static void submitAcknowledged(DurablePipeline p, int from, int to, int size)
      throws Exception {
    for (int seq = from; seq < to; seq++) {
      TelemetryBatch b = ScriptedExporter.batch(seq, size);
      CompletableFuture<Void> f = p.submit(b);
      assertThat(b.refCnt()).as("the pipeline released the submitted batch").isZero();
      f.get(10, TimeUnit.SECONDS);
    }
  }

  private static List<Integer> range(int from, int to) {
    return IntStream.range(from, to).boxed().toList();
  }

  /** The committed offset a reader's position file holds (the queue's documented format). */
  private long committedOnDisk(String reader) throws IOException {
    Properties p = new Properties();
    p.load(Files.newBufferedReader(queueDir().resolve("readers").resolve(reader + ".pos")));
    return Long.parseLong(p.getProperty("committed").trim());
  }

  /**
   * Checks the order of the calls an exporter saw: batches come in submission order, and when a
   * run of calls goes back, it goes back exactly to the first batch that failed in the run before
   * (the records after the last commit are handed over again, in order).
   */
  private static void assertRedeliveredInOrder(List<Call> calls, int count) {
    int prev = -1;
    int firstFailure = -1;
    List<Integer> confirmedInOrder = new ArrayList<>();
    for (int i = 0; i < calls.size(); i++) {
      Call c = calls.get(i);
      if (c.seq() != prev + 1) {
        assertThat(firstFailure).as("call %d (batch %d) goes back although nothing failed in %s",
            i, c.seq(), calls.stream().map(x -> x.seq() + ":" + x.answer()).toList())
            .isNotEqualTo(-1);
        assertThat(c.seq()).as("call %d goes back to the first failed batch", i)
            .isEqualTo(firstFailure);
        firstFailure = -1;
      }
      if (c.answer() != CONFIRM && firstFailure == -1) {
        firstFailure = c.seq();
      }
      if (c.answer() == CONFIRM && firstFailure == -1 && !confirmedInOrder.contains(c.seq())) {
        confirmedInOrder.add(c.seq());
      }
      prev = c.seq();
    }
    assertThat(confirmedInOrder).isEqualTo(range(0, count));
  }

  // ---------------------------------------------------------------------------------------------

  @Test
  void acknowledgesDurableAppendsAndDeliversEveryBatchOnceToEachExporter() throws Exception {
    DurableQueue queue = openQueue();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    ScriptedExporter a = ScriptedExporter.confirming("a");
    ScriptedExporter b = ScriptedExporter.confirming("b");
    DurablePipeline p = pipeline(queue, registry, a, b);
    p.start();
    assertThat(a.starts()).isEqualTo(1);
    assertThat(b.starts()).isEqualTo(1);
    assertThat(queue.readerNames()).containsExactly("a", "b");
    assertThat(p.ready()).isTrue();

    // Real OTLP requests of every signal, with tenants that test the envelope's header.
    String longTenant = "t".repeat(300) + "-é";
    record Sent(Signal signal, byte[] payload, int items, String tenant, long receivedAt) {}
    List<Sent> sent = new ArrayList<>();
    int n = 0;
    for (Signal signal : Signal.values()) {
      for (String tenant : List.of("", "tenant-ü", longTenant)) {
        int items = 3 + n % 4;
        byte[] bytes = SampleRequests.request(signal, n, items).toByteArray();
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(bytes.length);
        buf.writeBytes(bytes);
        long receivedAt = 1_700_000_000_000L + 1000L * n; // distinct receive times
        TelemetryBatch batch = new TelemetryBatch(signal, buf, items, tenant, receivedAt);
        sent.add(new Sent(signal, bytes, items, tenant, receivedAt));
        long fsyncsBefore = queue.stats().fsyncs();
        long endBefore = queue.endOffset();

        CompletableFuture<Void> f = p.submit(batch);

        assertThat(batch.refCnt()).as("submit took and released the caller's reference")
            .isZero();
        f.get(10, TimeUnit.SECONDS);
        // Acknowledged only once the record is in the queue and forced: under fsync always a
        // record is published to readers only after its group's fsync.
        assertThat(queue.endOffset()).isEqualTo(endBefore + 1);
        assertThat(queue.stats().fsyncs()).isGreaterThan(fsyncsBefore);
        n++;
      }
    }
    Await.until("both exporters have every batch", WAIT,
        () -> a.confirmed().size() == sent.size() && b.confirmed().size() == sent.size());
    Await.until("both positions committed", WAIT,
        () -> lag(registry, "a") == 0 && lag(registry, "b") == 0);

    for (ScriptedExporter e : List.of(a, b)) {
      List<Call> calls = e.calls();
      assertThat(calls).as("exactly once each, in order, for %s", e).hasSize(sent.size());
      for (int i = 0; i < sent.size(); i++) {
        Call c = calls.get(i);
        Sent s = sent.get(i);
        assertThat(c.signal()).isEqualTo(s.signal());
        assertThat(c.payload()).isEqualTo(s.payload());
        assertThat(c.items()).isEqualTo(s.items());
        assertThat(c.tenant()).isEqualTo(s.tenant());
        assertThat(c.receivedAtMillis()).isEqualTo(s.receivedAt());
        assertThat(c.refCntAtExport()).as("the exporter gets one reference of its own")
            .isEqualTo(1);
      }
      assertThat(delivered(registry, e.name())).isEqualTo(sent.size());
      assertThat(redelivered(registry, e.name())).isZero();
    }
  }

  @Test
  void aBatchThatCannotBeEnvelopedIsRefusedWithoutThrowing() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter a = ScriptedExporter.confirming("a");
    DurablePipeline p = pipeline(queue, new SimpleMeterRegistry(), a);
    p.start();
    // The envelope stores the tenant's length in 16 bits.
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(8);
    buf.writeLong(42);
    TelemetryBatch batch = new TelemetryBatch(Signal.LOGS, buf, 1, "x".repeat(70_000), 0);

    CompletableFuture<Void> f = p.submit(batch);

    assertThat(batch.refCnt()).isZero();
    assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class);
    assertThat(queue.endOffset()).isZero();
    // An empty payload and the longest tenant the envelope holds still go through.
    String tenant = "y".repeat(65_535);
    p.submit(new TelemetryBatch(Signal.METRICS, PooledByteBufAllocator.DEFAULT.directBuffer(0),
        0, tenant, 7)).get(10, TimeUnit.SECONDS);
    Await.until("the empty batch arrives", WAIT, () -> a.calls().size() == 1);
    Call c = a.calls().get(0);
    assertThat(c.payload()).isEmpty();
    assertThat(c.tenant()).isEqualTo(tenant);
    assertThat(c.signal()).isEqualTo(Signal.METRICS);
    assertThat(c.items()).isZero();
    assertThat(c.receivedAtMillis()).isEqualTo(7);
  }

  @Test
  void aFailingExporterIsRetriedWithBackoffInOrderWhileTheOtherGoesOn() throws Exception {
    DurableQueue queue = openQueue();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    AtomicBoolean down = new AtomicBoolean(true);
    // While down: the very first call throws instead of returning a future, the rest fail.
    ScriptedExporter a = new ScriptedExporter("a",
        (call, seq) -> call == 0 ? THROW : down.get() ? FAIL : CONFIRM);
    ScriptedExporter b = ScriptedExporter.confirming("b");
    DurablePipeline p = pipeline(queue, registry, a, b);
    p.start();

    submitAcknowledged(p, 0, 20, 100);

    Await.until("b has everything while a is down", WAIT, () -> b.confirmed().size() == 20);
    assertThat(b.callSeqs()).isEqualTo(range(0, 20));
    assertThat(a.confirmed()).isEmpty();
    // a is retried, from its first batch each time, with a growing backoff up to its maximum.
    Await.until("a has been retried 8 times", WAIT,
        () -> a.calls().stream().filter(c -> c.seq() == 0).count() >= 9);
    down.set(false);
    Await.until("a has everything", WAIT, () -> a.confirmed().containsAll(range(0, 20)));
    Await.until("a's position is committed", WAIT, () -> lag(registry, "a") == 0);

    List<Call> calls = a.calls();
    assertRedeliveredInOrder(calls, 20);
    List<Long> retries = calls.stream().filter(c -> c.seq() == 0).map(Call::atNanos).toList();
    for (int i = 1; i < retries.size(); i++) {
      long gapMillis = TimeUnit.NANOSECONDS.toMillis(retries.get(i) - retries.get(i - 1));
      long backoff = Math.min(20L << (i - 1), 200);
      assertThat(gapMillis).as("retry %d waits its backoff of %d ms", i, backoff)
          .isGreaterThanOrEqualTo(backoff - 1);
      // Without the maximum the 8th wait would be 2.56 s.
      assertThat(gapMillis).as("retry %d waits no more than the maximum backoff", i)
          .isLessThan(2000);
    }
    assertThat(redelivered(registry, "a")).isGreaterThan(0);
    assertThat(redelivered(registry, "b")).isZero();
    assertThat(a.thrown()).hasSize(1);
    assertThat(a.thrown().get(0).refCnt()).as("the pipeline released what the exporter threw on")
        .isZero();
  }

  @Test
  void theFirstKFailedExportsAreDeliveredAgainAfterTheBackoff() throws Exception {
    DurableQueue queue = openQueue();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    int k = 5;
    ScriptedExporter a = new ScriptedExporter("a", (call, seq) -> call < k ? FAIL : CONFIRM);
    ScriptedExporter b = ScriptedExporter.confirming("b");
    DurablePipeline p = pipeline(queue, registry, a, b);
    // Queued before the start, so that the first poll holds all of them and only part of that
    // poll fails: those after the failure must come again although they were confirmed.
    submitAcknowledged(p, 0, 12, 64);
    p.start();

    Await.until("a has everything", WAIT, () -> a.confirmed().containsAll(range(0, 12)));
    Await.until("both positions committed", WAIT,
        () -> lag(registry, "a") == 0 && lag(registry, "b") == 0);
    assertThat(b.callSeqs()).isEqualTo(range(0, 12));
    List<Call> calls = a.calls();
    assertRedeliveredInOrder(calls, 12);
    assertThat(calls.subList(0, k)).extracting(Call::answer).containsOnly(FAIL);
    assertThat(calls.get(k).seq()).as("the batch after the failures").isEqualTo(k);
    assertThat(a.confirmed()).startsWith(range(k, 12).toArray(new Integer[0]));
    assertThat(redelivered(registry, "a")).isGreaterThanOrEqualTo(12);
    long firstRetry = calls.stream().skip(12).findFirst().orElseThrow().atNanos();
    assertThat(TimeUnit.NANOSECONDS.toMillis(firstRetry - calls.get(11).atNanos()))
        .as("the redelivery waits the initial backoff").isGreaterThanOrEqualTo(19);
  }

  @Test
  void afterARestartTheUnconfirmedBatchesComeAgainAndTheConfirmedOnesDoNot() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter a = ScriptedExporter.confirming("a");
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    DurablePipeline p = pipeline(queue, registry, a);
    p.start();
    submitAcknowledged(p, 0, 5, 200);
    Await.until("0-4 confirmed and committed", WAIT,
        () -> a.confirmed().size() == 5 && lag(registry, "a") == 0);
    a.script((call, seq) -> HOLD);
    submitAcknowledged(p, 5, 10, 200);
    // a holds 5 (and whatever came in the same poll); later polls wait behind it.
    Await.until("a holds batch 5", WAIT, () -> a.heldCount() >= 1 && a.callSeqs().contains(5));

    long t0 = System.nanoTime();
    p.close();
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(5000);
    assertThat(a.closes()).isEqualTo(1);
    a.abandonHeld();

    DurableQueue reopened = openQueue();
    ScriptedExporter again = ScriptedExporter.confirming("a");
    DurablePipeline p2 = pipeline(reopened, new SimpleMeterRegistry(), again);
    p2.start();
    Await.until("the held batches arrive again", WAIT, () -> again.confirmed().contains(9));
    assertThat(again.callSeqs()).as("only what was not confirmed, in order")
        .isEqualTo(range(5, 10));
  }

  @Test
  void closeCommitsWhatAPartlyConfirmedPollConfirmed() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter a = new ScriptedExporter("a", (call, seq) -> seq < 4 ? CONFIRM : HOLD);
    DurablePipeline p = pipeline(queue, new SimpleMeterRegistry(), a);
    submitAcknowledged(p, 0, 10, 200); // before start: one poll holds them all
    p.start();
    Await.until("a was handed all ten", WAIT, () -> a.calls().size() == 10);
    assertThat(a.confirmed()).isEqualTo(range(0, 4));

    p.close();
    a.abandonHeld();
    assertThat(committedOnDisk("a")).as("0-3 were confirmed before the close").isEqualTo(3);

    DurableQueue reopened = openQueue();
    ScriptedExporter again = ScriptedExporter.confirming("a");
    pipeline(reopened, new SimpleMeterRegistry(), again).start();
    Await.until("the unconfirmed batches arrive again", WAIT,
        () -> again.confirmed().contains(9));
    assertThat(again.callSeqs()).isEqualTo(range(4, 10));
  }

  @Test
  void closeWaitsForTheBatchesInHandAndCommitsWhatIsConfirmedMeanwhile() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter a = ScriptedExporter.holding("a");
    DurablePipeline p = pipeline(queue, new SimpleMeterRegistry(), Duration.ofSeconds(20), a);
    submitAcknowledged(p, 0, 10, 100);
    p.start();
    Await.until("a holds all ten", WAIT, () -> a.heldCount() == 10);

    CompletableFuture<Void> closed = CompletableFuture.runAsync(p::close);
    Await.until("the close has begun", WAIT, () -> !p.ready());
    assertThat(closed).as("close waits while a holds batches").isNotDone();
    assertThat(a.closes()).as("exporters are closed after their deliveries stopped").isZero();
    a.confirmHeld();
    closed.get(5, TimeUnit.SECONDS); // well before the 20 s close timeout

    assertThat(a.closes()).isEqualTo(1);
    assertThat(committedOnDisk("a")).isEqualTo(9);
  }

  @Test
  void aGracefulCloseCommitsEverythingConfirmed() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter a = ScriptedExporter.confirming("a");
    ScriptedExporter b = ScriptedExporter.confirming("b");
    DurablePipeline p = pipeline(queue, new SimpleMeterRegistry(), a, b);
    p.start();
    List<CompletableFuture<Void>> acks = new ArrayList<>();
    for (int seq = 0; seq < 200; seq++) {
      acks.add(p.submit(ScriptedExporter.batch(seq, 300)));
    }
    CompletableFuture.allOf(acks.toArray(new CompletableFuture<?>[0])).get(10, TimeUnit.SECONDS);
    Await.until("both exporters confirmed everything", WAIT,
        () -> a.confirmed().size() == 200 && b.confirmed().size() == 200);

    p.close(); // at once: the last commits may still be under way

    assertThat(committedOnDisk("a")).isEqualTo(199);
    assertThat(committedOnDisk("b")).isEqualTo(199);
  }

  @Test
  void aFullQueueRefusesWithRetryAfterAndLosesNothing() throws Exception {
    long max = 1L << 20;
    DurableQueue queue = openQueue(max, 256L << 10);
    ScriptedExporter a = ScriptedExporter.holding("a");
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    DurablePipeline p = pipeline(queue, registry, a);
    p.start();

    int size = 16 << 10;
    int accepted = 0;
    PipelineFullException refusal = null;
    while (refusal == null) {
      assertThat(accepted).as("the queue fills up").isLessThan(200);
      TelemetryBatch batch = ScriptedExporter.batch(accepted, size);
      try {
        p.submit(batch).get(10, TimeUnit.SECONDS);
        accepted++;
      } catch (ExecutionException e) {
        assertThat(e.getCause()).isInstanceOf(PipelineFullException.class);
        refusal = (PipelineFullException) e.getCause();
      }
      assertThat(batch.refCnt()).isZero();
    }
    assertThat(refusal.retryAfterSeconds()).isPositive();
    assertThat(refusal.getMessage()).contains("full");
    // Nothing was dropped to make room: about max / size batches are in.
    assertThat(accepted).isBetween((int) (max / size) - 4, (int) (max / size));
    assertThat(queue.sizeBytes()).isGreaterThan(max - 2L * size).isLessThanOrEqualTo(max);
    int acceptedCount = accepted;
    CompletableFuture<Void> again = p.submit(ScriptedExporter.batch(9999, size));
    assertThatThrownBy(() -> again.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(PipelineFullException.class);

    a.script((call, seq) -> CONFIRM);
    a.confirmHeld();
    Await.until("every accepted batch delivered", WAIT,
        () -> a.confirmed().size() == acceptedCount);
    assertThat(a.confirmed()).isEqualTo(range(0, acceptedCount));
    Await.until("space comes back", WAIT, () -> queue.sizeBytes() < max / 2);
    assertThat(p.ready()).isTrue();

    submitAcknowledged(p, acceptedCount, acceptedCount + 10, size);
    Await.until("new batches delivered", WAIT,
        () -> a.confirmed().size() == acceptedCount + 10);
    assertThat(a.callSeqs()).isEqualTo(range(0, acceptedCount + 10));
  }

  @Test
  void anExporterNoLongerConfiguredStopsPinningSegments() throws Exception {
    long segment = 64L << 10;
    DurableQueue queue = openQueue(16L << 20, segment);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    ScriptedExporter a = ScriptedExporter.confirming("a");
    ScriptedExporter b = ScriptedExporter.holding("b");
    DurablePipeline p = pipeline(queue, registry, a, b);
    p.start();
    submitAcknowledged(p, 0, 40, 8 << 10); // about 5 segments
    Await.until("a committed everything", WAIT,
        () -> a.confirmed().size() == 40 && lag(registry, "a") == 0);
    assertThat(queue.stats().segments()).as("b's position keeps them").isGreaterThanOrEqualTo(4);
    p.close();
    b.abandonHeld();

    DurableQueue reopened = openQueue(16L << 20, segment);
    assertThat(reopened.readerNames()).containsExactly("a", "b");
    assertThat(reopened.stats().segments()).isGreaterThanOrEqualTo(4);
    ScriptedExporter a2 = ScriptedExporter.confirming("a");
    DurablePipeline p2 = pipeline(reopened, new SimpleMeterRegistry(), a2);
    p2.start();

    assertThat(reopened.readerNames()).containsExactly("a");
    assertThat(queueDir().resolve("readers").resolve("b.pos")).doesNotExist();
    Await.until("the segments only b held are deleted", WAIT,
        () -> reopened.stats().segments() == 1);
    assertThat(reopened.sizeBytes()).isLessThanOrEqualTo(segment);
    assertThat(a2.calls()).as("a had committed everything").isEmpty();
    submitAcknowledged(p2, 40, 45, 100);
    Await.until("a2 gets new batches", WAIT, () -> a2.confirmed().equals(range(40, 45)));
  }

  @Test
  void closeIsPromptWithAnExporterThatNeverCompletes() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter hung = ScriptedExporter.holding("hung");
    ScriptedExporter fine = ScriptedExporter.confirming("fine");
    DurablePipeline p = pipeline(queue, new SimpleMeterRegistry(), (Duration) null, hung,
        fine); // the default close timeout
    p.start();
    submitAcknowledged(p, 0, 5, 100);
    Await.until("the hung exporter holds a batch", WAIT, () -> hung.heldCount() >= 1);
    Await.until("the other exporter has everything", WAIT, () -> fine.confirmed().size() == 5);

    long t0 = System.nanoTime();
    p.close();
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);

    assertThat(millis).as("close() returned after %d ms", millis).isLessThan(5000);
    assertThat(hung.closes()).isEqualTo(1);
    assertThat(fine.closes()).isEqualTo(1);
    assertThat(p.ready()).isFalse();
    TelemetryBatch late = ScriptedExporter.batch(99, 100);
    CompletableFuture<Void> refused = p.submit(late);
    assertThat(late.refCnt()).isZero();
    assertThatThrownBy(() -> refused.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(PipelineFullException.class);
    assertThat(Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("sluice-deliver-")).toList())
        .as("no delivery thread is left").isEmpty();
  }

  @Test
  void aFailedCommitDoesNotSkipTheRecordsThatFailed() throws Exception {
    // Register reader a, then make its position file impossible to replace: writing
    // readers/a.pos.tmp fails while a directory of that name is in the way.
    DurableQueue first = openQueue();
    pipeline(first, new SimpleMeterRegistry(), ScriptedExporter.confirming("a")).start();
    pipelines.get(0).close();
    DurableQueue queue = openQueue(); // (opening deletes leftover *.tmp files: block it after)
    Path obstacle = queueDir().resolve("readers").resolve("a.pos.tmp");
    Files.createDirectory(obstacle);

    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    AtomicBoolean failedOnce = new AtomicBoolean();
    ScriptedExporter a = new ScriptedExporter("a",
        (call, seq) -> seq == 5 && failedOnce.compareAndSet(false, true) ? FAIL : CONFIRM);
    DurablePipeline p = pipeline(queue, registry, a);
    submitAcknowledged(p, 0, 10, 100); // one poll: 0-4 confirmed, 5 fails, 6-9 confirmed
    p.start();

    Await.until("batch 5 is handed over again although the commit of 0-4 failed", WAIT,
        () -> a.confirmed().contains(5));
    Files.delete(obstacle);
    submitAcknowledged(p, 10, 15, 100);
    Await.until("everything confirmed and committed", WAIT,
        () -> a.confirmed().containsAll(range(0, 15)) && lag(registry, "a") == 0);
    // While no commit succeeded, every new round starts again after the last commit: at 0.
    List<Integer> seqs = a.callSeqs();
    for (int i = 1; i < seqs.size(); i++) {
      if (seqs.get(i) != seqs.get(i - 1) + 1) {
        assertThat(seqs.get(i)).as("call %d of %s", i, seqs).isZero();
      }
    }
    assertThat(redelivered(registry, "a")).isGreaterThanOrEqualTo(10);
  }

  @Test
  void submitBeforeStartIsKeptAndSubmitAfterCloseIsRefused() throws Exception {
    DurableQueue queue = openQueue();
    ScriptedExporter a = ScriptedExporter.confirming("a");
    DurablePipeline p = pipeline(queue, new SimpleMeterRegistry(), a);
    assertThat(p.ready()).as("not ready before start").isFalse();
    submitAcknowledged(p, 0, 3, 50);
    assertThat(a.calls()).isEmpty();
    p.start();
    p.start(); // idempotent
    assertThat(a.starts()).isEqualTo(1);
    Await.until("delivered after start", WAIT, () -> a.confirmed().equals(range(0, 3)));
    p.close();
    p.close();
    assertThat(a.closes()).isEqualTo(1);
    TelemetryBatch late = ScriptedExporter.batch(3, 50);
    assertThatThrownBy(() -> p.submit(late).get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(PipelineFullException.class);
    assertThat(late.refCnt()).isZero();
    assertThat(new String(Files.readAllBytes(queueDir().resolve("readers").resolve("a.pos")),
        StandardCharsets.UTF_8)).contains("committed=2");
  }
}
