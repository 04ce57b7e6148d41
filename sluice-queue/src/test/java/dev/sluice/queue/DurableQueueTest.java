package dev.sluice.queue;

import static dev.sluice.queue.QueueTesting.drain;
import static dev.sluice.queue.QueueTesting.offsets;
import static dev.sluice.queue.QueueTesting.payload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.testing.Await;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DurableQueueTest {
  @TempDir Path dir;
  private final List<DurableQueue> opened = new ArrayList<>();

  @AfterEach
  void closeQueues() {
    opened.forEach(DurableQueue::close);
  }

  private DurableQueue open() throws Exception {
    return open(DurableQueue.builder().directory(dir));
  }

  private DurableQueue open(DurableQueue.Builder builder) throws Exception {
    DurableQueue q = builder.build();
    opened.add(q);
    return q;
  }

  @Test
  void appendPollCommitRoundTrip() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("exporter");
    long before = System.currentTimeMillis();
    List<CompletableFuture<Long>> futures = new ArrayList<>();
    List<byte[]> payloads = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      byte[] p = i == 7 ? new byte[0] : payload(i, 1, 3000); // one empty record too
      payloads.add(p);
      futures.add(i % 2 == 0 ? q.append(p) : q.append(ByteBuffer.wrap(p)));
    }
    List<Long> offsets = new ArrayList<>();
    for (CompletableFuture<Long> f : futures) {
      offsets.add(f.get(10, TimeUnit.SECONDS));
    }
    long after = System.currentTimeMillis();
    assertThat(offsets).isEqualTo(LongStream.range(0, 50).boxed().collect(Collectors.toList()));
    assertThat(q.endOffset()).isEqualTo(50);

    List<QueueRecord> records = drain(reader);
    assertThat(offsets(records)).isEqualTo(offsets);
    for (QueueRecord r : records) {
      assertThat(r.payloadBytes()).isEqualTo(payloads.get((int) r.offset()));
      assertThat(r.payloadSize()).isEqualTo(payloads.get((int) r.offset()).length);
      assertThat(r.appendedAtMillis()).isBetween(before, after);
      assertThat(r.payload().isReadOnly()).isTrue();
    }
    assertThat(reader.lag()).isEqualTo(50);
    reader.commit(49);
    assertThat(reader.committedOffset()).isEqualTo(49);
    assertThat(reader.lag()).isZero();
    assertThat(reader.poll(10, 1 << 20, Duration.ZERO)).isEmpty();
  }

  @Test
  void appendingAByteBufferCopiesItsRemainingBytesWithoutMovingIt() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("r");
    ByteBuffer direct = ByteBuffer.allocateDirect(100);
    direct.put(payload(1, 100)).position(10).limit(60);
    long offset = q.append(direct).get(5, TimeUnit.SECONDS);
    assertThat(direct.position()).isEqualTo(10);
    assertThat(direct.limit()).isEqualTo(60);
    direct.put(10, (byte) 0x55); // reusing the buffer must not change the record
    List<QueueRecord> records = reader.poll(10, 1 << 20, Duration.ofSeconds(5));
    assertThat(records).hasSize(1);
    assertThat(records.get(0).offset()).isEqualTo(offset);
    assertThat(records.get(0).payloadBytes()).isEqualTo(Arrays.copyOfRange(payload(1, 100), 10, 60));
  }

  @Test
  void readersAreIndependent() throws Exception {
    DurableQueue q = open();
    QueueReader a = q.reader("a");
    QueueReader b = q.reader("b");
    for (int i = 0; i < 20; i++) {
      q.append(payload(i, 64)).get(5, TimeUnit.SECONDS);
    }
    assertThat(offsets(a.poll(100, 1 << 20, Duration.ofSeconds(1))))
        .isEqualTo(LongStream.range(0, 20).boxed().collect(Collectors.toList()));
    a.commit(19);
    List<QueueRecord> firstFive = b.poll(5, 1 << 20, Duration.ofSeconds(1));
    assertThat(offsets(firstFive)).containsExactly(0L, 1L, 2L, 3L, 4L);
    b.commit(4);
    assertThat(a.poll(10, 1 << 20, Duration.ofMillis(20))).isEmpty();

    q.append(payload(20, 64)).get(5, TimeUnit.SECONDS);
    assertThat(offsets(a.poll(100, 1 << 20, Duration.ofSeconds(1)))).containsExactly(20L);
    List<QueueRecord> rest = b.poll(100, 1 << 20, Duration.ofSeconds(1));
    assertThat(offsets(rest)).isEqualTo(LongStream.rangeClosed(5, 20).boxed().toList());
    assertThat(rest.get(0).payloadBytes()).isEqualTo(payload(5, 64));
    assertThat(a.committedOffset()).isEqualTo(19);
    assertThat(b.committedOffset()).isEqualTo(4);
  }

  @Test
  void readerPositionsSurviveCloseAndReopen() throws Exception {
    DurableQueue q = open();
    QueueReader a = q.reader("a");
    QueueReader b = q.reader("b");
    q.reader("c");
    for (int i = 0; i < 30; i++) {
      q.append(payload(i, 100)).get(5, TimeUnit.SECONDS);
    }
    assertThat(drain(a)).hasSize(30); // polled everything, committed only up to 9
    a.commit(9);
    drain(b);
    b.commit(19);
    q.close();

    DurableQueue reopened = open();
    assertThat(reopened.readerNames()).containsExactly("a", "b", "c");
    assertThat(reopened.endOffset()).isEqualTo(30);
    QueueReader a2 = reopened.reader("a");
    assertThat(a2.committedOffset()).isEqualTo(9);
    List<QueueRecord> redelivered = drain(a2);
    assertThat(offsets(redelivered)).isEqualTo(LongStream.range(10, 30).boxed().toList());
    assertThat(redelivered.get(0).payloadBytes()).isEqualTo(payload(10, 100));
    assertThat(offsets(drain(reopened.reader("b")))).first().isEqualTo(20L);
    assertThat(offsets(drain(reopened.reader("c")))).first().isEqualTo(0L);
  }

  @Test
  void aNewReaderStartsAtTheOldestRecordOnDisk() throws Exception {
    DurableQueue q = open(DurableQueue.builder().directory(dir).segmentBytes(1024).maxBytes(1 << 20));
    QueueReader first = q.reader("first");
    for (int i = 0; i < 40; i++) {
      q.append(payload(i, 200)).get(5, TimeUnit.SECONDS);
    }
    drain(first);
    first.commit(39); // every sealed segment is now consumed and deleted
    long oldest = q.oldestOffset();
    assertThat(oldest).isGreaterThan(0);

    QueueReader late = q.reader("late");
    assertThat(late.position()).isEqualTo(oldest);
    List<QueueRecord> records = drain(late);
    assertThat(offsets(records)).isEqualTo(LongStream.range(oldest, 40).boxed().toList());
    assertThat(records.get(0).payloadBytes()).isEqualTo(payload(oldest, 200));
  }

  @Test
  void pollHonoursItsLimitsButAlwaysReturnsOneRecord() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("r");
    for (int i = 0; i < 10; i++) {
      q.append(payload(i, 1000)).get(5, TimeUnit.SECONDS);
    }
    assertThat(offsets(reader.poll(3, 1 << 20, Duration.ZERO))).containsExactly(0L, 1L, 2L);
    assertThat(offsets(reader.poll(100, 2500, Duration.ZERO))).containsExactly(3L, 4L);
    assertThat(offsets(reader.poll(100, 10, Duration.ZERO))).containsExactly(5L);
    assertThat(offsets(reader.poll(100, 1 << 20, Duration.ZERO))).containsExactly(6L, 7L, 8L, 9L);

    reader.commit(4);
    reader.rewind();
    assertThat(reader.position()).isEqualTo(5);
    List<QueueRecord> again = reader.poll(100, 1 << 20, Duration.ZERO);
    assertThat(offsets(again)).containsExactly(5L, 6L, 7L, 8L, 9L);
    assertThat(again.get(0).payloadBytes()).isEqualTo(payload(5, 1000));
  }

  @Test
  void committingAheadOfTheReadPositionSkipsAndCommittingBackwardsDoesNothing() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("r");
    for (int i = 0; i < 10; i++) {
      q.append(payload(i, 10)).get(5, TimeUnit.SECONDS);
    }
    reader.commit(6);
    assertThat(reader.position()).isEqualTo(7);
    reader.commit(2);
    assertThat(reader.committedOffset()).isEqualTo(6);
    assertThat(offsets(reader.poll(100, 1 << 20, Duration.ZERO))).containsExactly(7L, 8L, 9L);
    assertThatThrownBy(() -> reader.commit(10))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("offset 10")
        .hasMessageContaining("last record in the queue has offset 9");
  }

  @Test
  void pollTimesOutWithAnEmptyList() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("r");
    long start = System.nanoTime();
    assertThat(reader.poll(10, 1 << 20, Duration.ofMillis(150))).isEmpty();
    assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(140));
  }

  @Test
  void aBlockedPollWakesUpWhenARecordArrives() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("r");
    CompletableFuture<List<QueueRecord>> polled = new CompletableFuture<>();
    Thread poller = new Thread(() -> {
      try {
        polled.complete(reader.poll(10, 1 << 20, Duration.ofSeconds(20)));
      } catch (Throwable t) {
        polled.completeExceptionally(t);
      }
    });
    poller.start();
    Await.until("the poller to block", Duration.ofSeconds(5),
        () -> poller.getState() == Thread.State.TIMED_WAITING);
    long start = System.nanoTime();
    q.append(payload(42, 500)).get(5, TimeUnit.SECONDS);
    List<QueueRecord> records = polled.get(5, TimeUnit.SECONDS);
    assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(5));
    assertThat(records).hasSize(1);
    assertThat(records.get(0).payloadBytes()).isEqualTo(payload(42, 500));
  }

  @Test
  void aReaderSeesEveryRecordWhileAppendsAreRunning() throws Exception {
    DurableQueue q = open(DurableQueue.builder().directory(dir).segmentBytes(16 << 10).maxBytes(64 << 20));
    QueueReader reader = q.reader("r");
    int threads = 4;
    int perThread = 500;
    CompletableFuture<List<QueueRecord>> read = CompletableFuture.supplyAsync(() -> {
      List<QueueRecord> all = new ArrayList<>();
      try {
        while (all.size() < threads * perThread) {
          all.addAll(reader.poll(37, 8 << 10, Duration.ofSeconds(10)));
        }
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
      return all;
    });
    List<Thread> appenders = new ArrayList<>();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    for (int t = 0; t < threads; t++) {
      long thread = t;
      Thread appender = new Thread(() -> {
        try {
          for (int i = 0; i < perThread; i++) {
            long key = thread * 1_000_000 + i;
            CompletableFuture<Long> f = q.append(payload(key, 20, 700));
            if (i % 50 == 49) {
              f.get(10, TimeUnit.SECONDS);
            }
          }
        } catch (Throwable e) {
          failure.set(e);
        }
      });
      appender.start();
      appenders.add(appender);
    }
    for (Thread appender : appenders) {
      appender.join(20_000);
    }
    assertThat(failure.get()).isNull();
    List<QueueRecord> all = read.get(20, TimeUnit.SECONDS);
    assertThat(offsets(all)).isEqualTo(LongStream.range(0, threads * perThread).boxed().toList());
    long[] lastSeq = new long[threads];
    Arrays.fill(lastSeq, -1);
    for (QueueRecord r : all) {
      long key = ByteBuffer.wrap(r.payloadBytes()).getLong(0);
      int thread = (int) (key / 1_000_000);
      long seq = key % 1_000_000;
      assertThat(seq).isEqualTo(lastSeq[thread] + 1);
      lastSeq[thread] = seq;
      assertThat(r.payloadBytes()).isEqualTo(payload(key, 20, 700));
    }
    assertThat(q.stats().segments()).isGreaterThan(1);
  }

  @Test
  void oldestUncommittedAgeFollowsTheSlowestReader() throws Exception {
    DurableQueue q = open();
    assertThat(q.oldestUncommittedAgeMillis()).isZero(); // no reader
    QueueReader fast = q.reader("fast");
    QueueReader slow = q.reader("slow");
    long appendedAt = System.currentTimeMillis();
    q.append(payload(1, 10)).get(5, TimeUnit.SECONDS);
    Await.until("the record to age", Duration.ofSeconds(5), () -> q.oldestUncommittedAgeMillis() >= 50);
    assertThat(q.oldestUncommittedAgeMillis())
        .isLessThanOrEqualTo(System.currentTimeMillis() - appendedAt + 1);
    fast.commit(0);
    assertThat(q.oldestUncommittedAgeMillis()).isGreaterThanOrEqualTo(50);
    slow.commit(0);
    assertThat(q.oldestUncommittedAgeMillis()).isZero();
  }

  @Test
  void aReaderHasOneOpenHandleAtATime() throws Exception {
    DurableQueue q = open();
    QueueReader r = q.reader("r");
    assertThatThrownBy(() -> q.reader("r")).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already open");
    q.append(payload(1, 10)).get(5, TimeUnit.SECONDS);
    q.append(payload(2, 10)).get(5, TimeUnit.SECONDS);
    r.commit(0);
    r.close();
    assertThatThrownBy(() -> r.poll(1, 1, Duration.ZERO)).isInstanceOf(QueueClosedException.class);
    QueueReader again = q.reader("r");
    assertThat(offsets(again.poll(10, 1 << 20, Duration.ZERO))).containsExactly(1L);
  }

  @Test
  void removingAReaderForgetsItAndClosesItsHandle() throws Exception {
    DurableQueue q = open();
    QueueReader r = q.reader("gone");
    q.reader("stays");
    assertThat(q.removeReader("gone")).isTrue();
    assertThat(q.removeReader("gone")).isFalse();
    assertThat(q.readerNames()).containsExactly("stays");
    assertThatThrownBy(() -> r.poll(1, 1, Duration.ZERO))
        .isInstanceOf(QueueClosedException.class).hasMessageContaining("removed");
    q.close();
    assertThat(open().readerNames()).containsExactly("stays");
  }

  @Test
  void closeWakesABlockedPoll() throws Exception {
    DurableQueue q = open();
    QueueReader reader = q.reader("r");
    CompletableFuture<Object> polled = new CompletableFuture<>();
    Thread poller = new Thread(() -> {
      try {
        polled.complete(reader.poll(10, 1 << 20, Duration.ofSeconds(30)));
      } catch (Throwable t) {
        polled.completeExceptionally(t);
      }
    });
    poller.start();
    Await.until("the poller to block", Duration.ofSeconds(5),
        () -> poller.getState() == Thread.State.TIMED_WAITING);
    q.close();
    assertThatThrownBy(() -> polled.get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(QueueClosedException.class);
  }

  @Test
  void closeFinishesEveryAcceptedAppend() throws Exception {
    DurableQueue q = open();
    List<CompletableFuture<Long>> futures = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      futures.add(q.append(payload(i, 2000)));
    }
    q.close();
    q.close(); // idempotent
    for (int i = 0; i < futures.size(); i++) {
      assertThat(futures.get(i)).isCompletedWithValue((long) i);
    }
    DurableQueue reopened = open();
    List<QueueRecord> records = drain(reopened.reader("r"));
    assertThat(records).hasSize(300);
    assertThat(records.get(299).payloadBytes()).isEqualTo(payload(299, 2000));
  }
}
