package dev.sluice.queue;

import static dev.sluice.queue.QueueTesting.drain;
import static dev.sluice.queue.QueueTesting.offsets;
import static dev.sluice.queue.QueueTesting.payload;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class GroupCommitTest {
  @TempDir Path dir;

  @Test
  void concurrentAppendersShareFsyncsAndKeepTheirOrder() throws Exception {
    int threads = 16;
    int perThread = 200;
    int total = threads * perThread;
    try (DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(256 << 10)
        .maxBytes(64 << 20).fsync(FsyncPolicy.always()).build()) {
      QueueReader reader = q.reader("r");
      List<List<CompletableFuture<Long>>> futures = new ArrayList<>();
      CountDownLatch start = new CountDownLatch(1);
      List<Thread> appenders = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        List<CompletableFuture<Long>> mine = new ArrayList<>();
        futures.add(mine);
        Thread appender = new Thread(() -> {
          try {
            start.await();
          } catch (InterruptedException e) {
            return;
          }
          for (int i = 0; i < perThread; i++) {
            mine.add(q.append(payload(key(thread, i), 10, 400)));
          }
        });
        appender.start();
        appenders.add(appender);
      }
      start.countDown();
      for (Thread appender : appenders) {
        appender.join(20_000);
        assertThat(appender.isAlive()).isFalse();
      }

      Set<Long> allOffsets = new HashSet<>();
      for (int t = 0; t < threads; t++) {
        assertThat(futures.get(t)).hasSize(perThread);
        long previous = -1;
        for (CompletableFuture<Long> f : futures.get(t)) {
          long offset = f.get(20, TimeUnit.SECONDS);
          assertThat(offset).isGreaterThan(previous); // one thread's appends keep its order
          previous = offset;
          allOffsets.add(offset);
        }
      }
      assertThat(allOffsets).hasSize(total);
      assertThat(allOffsets).containsAll(LongStream.range(0, total).boxed().toList());

      QueueStats stats = q.stats();
      assertThat(stats.appends()).isEqualTo(total);
      assertThat(stats.fsyncs()).isPositive().isLessThan(total);
      assertThat(stats.writeGroups()).isLessThan(total);

      List<QueueRecord> records = drain(reader);
      assertThat(offsets(records)).isEqualTo(LongStream.range(0, total).boxed().toList());
      int[] nextSeq = new int[threads];
      for (QueueRecord r : records) {
        long key = ByteBuffer.wrap(r.payloadBytes()).getLong(0);
        int thread = (int) (key >>> 32);
        int seq = (int) key;
        assertThat(seq).as("thread %d's records in order", thread).isEqualTo(nextSeq[thread]);
        nextSeq[thread]++;
        assertThat(r.payloadBytes()).isEqualTo(payload(key, 10, 400));
      }
      assertThat(nextSeq).containsOnly(perThread);
    }
  }

  private static long key(int thread, int seq) {
    return ((long) thread << 32) | seq;
  }

  static Stream<Arguments> policies() {
    return Stream.of(
        Arguments.of(FsyncPolicy.always()),
        Arguments.of(FsyncPolicy.interval(Duration.ofMillis(20))),
        Arguments.of(FsyncPolicy.none()));
  }

  @ParameterizedTest
  @MethodSource("policies")
  void everyPolicyPersistsAcrossACleanCloseAndReopen(FsyncPolicy policy) throws Exception {
    DurableQueue.Builder builder = DurableQueue.builder().directory(dir).segmentBytes(8 << 10)
        .maxBytes(16 << 20).fsync(policy);
    DurableQueue q = builder.build();
    try {
      List<CompletableFuture<Long>> futures = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        futures.add(q.append(payload(i, 1, 500)));
      }
      for (int i = 0; i < futures.size(); i++) {
        assertThat(futures.get(i).get(10, TimeUnit.SECONDS)).isEqualTo(i);
      }
      switch (policy.mode()) {
        case ALWAYS -> assertThat(q.stats().fsyncs()).isPositive();
        case INTERVAL -> Await.until("the interval fsync", Duration.ofSeconds(5),
            () -> q.stats().fsyncs() > 0);
        case NONE -> assertThat(q.stats().fsyncs()).isZero();
      }
    } finally {
      q.close();
    }
    if (policy.mode() == FsyncPolicy.Mode.NONE) {
      assertThat(q.stats().fsyncs()).isZero(); // not even at close
    }
    try (DurableQueue reopened = builder.build()) {
      assertThat(reopened.endOffset()).isEqualTo(100);
      List<QueueRecord> records = drain(reopened.reader("r"));
      assertThat(offsets(records)).isEqualTo(LongStream.range(0, 100).boxed().toList());
      for (QueueRecord r : records) {
        assertThat(r.payloadBytes()).isEqualTo(payload(r.offset(), 1, 500));
      }
      assertThat(reopened.append(payload(100, 1, 500)).get(10, TimeUnit.SECONDS)).isEqualTo(100);
    }
  }

  @Test
  void underAlwaysAnAppendCompletesOnlyAfterAnFsyncThatCoversIt() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).fsync(FsyncPolicy.always())
        .build()) {
      for (int i = 0; i < 20; i++) {
        long fsyncsBefore = q.stats().fsyncs();
        // Runs on the writer thread as the future completes (or here, if it already has).
        CompletableFuture<Long> fsyncsAtCompletion =
            q.append(payload(i, 100)).thenApply(offset -> q.stats().fsyncs());
        assertThat(fsyncsAtCompletion.get(5, TimeUnit.SECONDS)).isGreaterThan(fsyncsBefore);
      }
    }
  }

  @Test
  void anIntervalPolicySyncsDataWrittenAfterTheLastSync() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir)
        .fsync(FsyncPolicy.interval(Duration.ofMillis(30))).build()) {
      q.append(payload(1, 100)).get(5, TimeUnit.SECONDS);
      Await.until("the first interval fsync", Duration.ofSeconds(5), () -> q.stats().fsyncs() == 1);
      q.append(payload(2, 100)).get(5, TimeUnit.SECONDS);
      Await.until("the second interval fsync", Duration.ofSeconds(5), () -> q.stats().fsyncs() == 2);
    }
  }
}
