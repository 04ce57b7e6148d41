package dev.sluice.queue;

import static dev.sluice.queue.QueueTesting.FRAME_OVERHEAD;
import static dev.sluice.queue.QueueTesting.baseOffsetOf;
import static dev.sluice.queue.QueueTesting.drain;
import static dev.sluice.queue.QueueTesting.offsets;
import static dev.sluice.queue.QueueTesting.payload;
import static dev.sluice.queue.QueueTesting.segmentBytesOnDisk;
import static dev.sluice.queue.QueueTesting.segmentFiles;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CapacityTest {
  @TempDir Path dir;

  /** Appends records of {@code size} from key {@code firstKey} until one is refused; returns how many fit. */
  private static int fillUp(DurableQueue q, long firstKey, int size) throws Exception {
    for (int i = 0; ; i++) {
      CompletableFuture<Long> f = q.append(payload(firstKey + i, size));
      try {
        f.get(5, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        assertThat(e.getCause()).isInstanceOf(QueueFullException.class);
        QueueFullException full = (QueueFullException) e.getCause();
        assertThat(full.retryAfterSeconds()).isPositive();
        assertThat(full.getMessage()).contains("full").contains(q.directory().toString());
        return i;
      }
    }
  }

  @Test
  void aFullQueueRefusesAppendsWithoutLosingAnythingAndTakesThemAgainAfterDeletion()
      throws Exception {
    int payloadSize = 200;
    int frame = FRAME_OVERHEAD + payloadSize; // 216
    long maxBytes = 8192;
    long segmentBytes = 2048;
    int perSegment = (int) (segmentBytes / frame); // 9
    long sizeAtClose;
    try (DurableQueue q = DurableQueue.builder().directory(dir).maxBytes(maxBytes)
        .segmentBytes(segmentBytes).build()) {
      QueueReader reader = q.reader("r");
      int accepted = fillUp(q, 0, payloadSize);
      assertThat(accepted).isEqualTo((int) (maxBytes / frame)); // 37
      assertThat(q.sizeBytes()).isEqualTo((long) accepted * frame).isLessThanOrEqualTo(maxBytes);
      assertThat(segmentBytesOnDisk(dir)).isEqualTo(q.sizeBytes());
      assertThatThrownBy(() -> q.append(payload(999, payloadSize)).get(5, TimeUnit.SECONDS))
          .hasCauseInstanceOf(QueueFullException.class);
      assertThat(q.stats().rejectedFull()).isEqualTo(2);

      // Nothing was dropped: every accepted record is there, in order.
      List<QueueRecord> records = drain(reader);
      assertThat(offsets(records)).isEqualTo(LongStream.range(0, accepted).boxed().toList());
      for (QueueRecord r : records) {
        assertThat(r.payloadBytes()).isEqualTo(payload(r.offset(), payloadSize));
      }

      // Reading alone frees nothing; committing the first segment's records frees that segment.
      assertThat(fillUp(q, 1000, payloadSize)).isZero();
      reader.commit(perSegment - 1);
      assertThat(q.oldestOffset()).isEqualTo(perSegment);
      assertThat(q.sizeBytes()).isEqualTo((long) (accepted - perSegment) * frame);
      int more = fillUp(q, accepted, payloadSize);
      assertThat(more).isEqualTo(perSegment);

      // Committing everything frees every sealed segment.
      reader.commit(accepted + more - 1);
      assertThat(segmentFiles(dir)).hasSize(1);
      int again = fillUp(q, accepted + more, payloadSize);
      assertThat(again).isPositive();
      List<QueueRecord> rest = drain(reader);
      assertThat(offsets(rest))
          .isEqualTo(LongStream.range(accepted + more, accepted + more + again).boxed().toList());
      assertThat(rest.get(rest.size() - 1).payloadBytes())
          .isEqualTo(payload(accepted + more + again - 1, payloadSize));
      sizeAtClose = q.sizeBytes();
    }
    assertThat(segmentBytesOnDisk(dir)).isEqualTo(sizeAtClose); // the files hold just the records
  }

  @Test
  void segmentsRollAndAreDeletedOnceEveryReaderCommittedPastThem() throws Exception {
    int payloadSize = 100;
    int frame = FRAME_OVERHEAD + payloadSize; // 116
    int segmentBytes = 1024;
    int perSegment = segmentBytes / frame; // 8
    int total = 200;
    try (DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(segmentBytes)
        .maxBytes(1 << 20).build()) {
      QueueReader a = q.reader("a");
      QueueReader b = q.reader("b");
      for (int i = 0; i < total; i++) {
        q.append(payload(i, payloadSize)).get(5, TimeUnit.SECONDS);
      }
      List<Path> files = segmentFiles(dir);
      assertThat(files).hasSize(total / perSegment); // 25
      for (int k = 0; k < files.size(); k++) {
        assertThat(baseOffsetOf(files.get(k))).isEqualTo((long) k * perSegment);
      }
      assertThat(segmentBytesOnDisk(dir)).isEqualTo((long) total * frame);

      drain(a);
      a.commit(total - 1);
      assertThat(segmentFiles(dir)).hasSize(total / perSegment); // b still needs them all

      drain(b);
      b.commit(99); // segments holding only offsets <= 99 can go: 0..95 in 12 segments
      List<Path> left = segmentFiles(dir);
      assertThat(left).hasSize(total / perSegment - 12);
      assertThat(baseOffsetOf(left.get(0))).isEqualTo(96);
      assertThat(q.oldestOffset()).isEqualTo(96);
      assertThat(segmentBytesOnDisk(dir)).isEqualTo((long) (total - 96) * frame);
      assertThat(q.sizeBytes()).isEqualTo(segmentBytesOnDisk(dir));

      b.commit(total - 1); // only the segment being written stays
      assertThat(segmentFiles(dir)).hasSize(1);
      assertThat(segmentBytesOnDisk(dir)).isEqualTo((long) perSegment * frame);
      assertThat(q.stats().segments()).isEqualTo(1);
    }
    assertThat(segmentBytesOnDisk(dir)).isEqualTo((long) perSegment * frame);
    // The deletion is what the next open sees too.
    try (DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(segmentBytes)
        .maxBytes(1 << 20).build()) {
      assertThat(q.oldestOffset()).isEqualTo(total - perSegment);
      assertThat(q.endOffset()).isEqualTo(total);
    }
  }

  @Test
  void removingAStalledReaderReleasesItsSegments() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(1024)
        .maxBytes(1 << 20).build()) {
      QueueReader live = q.reader("live");
      q.reader("stalled");
      for (int i = 0; i < 50; i++) {
        q.append(payload(i, 100)).get(5, TimeUnit.SECONDS);
      }
      drain(live);
      live.commit(49);
      long before = q.sizeBytes();
      assertThat(segmentFiles(dir)).hasSizeGreaterThan(1);
      q.removeReader("stalled");
      assertThat(segmentFiles(dir)).hasSize(1);
      assertThat(q.sizeBytes()).isLessThan(before);
      assertThat(segmentBytesOnDisk(dir)).isEqualTo(q.sizeBytes()).isLessThanOrEqualTo(1024);
    }
  }

  @Test
  void withoutAnyReaderNothingIsDeleted() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(1024)
        .maxBytes(1 << 20).build()) {
      for (int i = 0; i < 50; i++) {
        q.append(payload(i, 100)).get(5, TimeUnit.SECONDS);
      }
      q.reader("r").close();
      q.removeReader("r");
      assertThat(q.oldestOffset()).isZero();
      assertThat(q.sizeBytes()).isEqualTo(50L * (FRAME_OVERHEAD + 100));
    }
    assertThat(segmentBytesOnDisk(dir)).isEqualTo(50L * (FRAME_OVERHEAD + 100));
  }
}
