package dev.sluice.queue;

import static dev.sluice.queue.QueueTesting.FRAME_OVERHEAD;
import static dev.sluice.queue.QueueTesting.baseOffsetOf;
import static dev.sluice.queue.QueueTesting.drain;
import static dev.sluice.queue.QueueTesting.offsets;
import static dev.sluice.queue.QueueTesting.payload;
import static dev.sluice.queue.QueueTesting.segmentFiles;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import dev.sluice.queue.QueueTesting.LogCapture;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class RecoveryTest {
  private static final int RECORDS = 20;

  @TempDir Path dir;

  private DurableQueue.Builder builder() {
    return DurableQueue.builder().directory(dir);
  }

  private static int sizeOf(long offset) {
    return 100 + (int) offset * 10;
  }

  /** Appends RECORDS records (payload sizes 100, 110, ...) and closes the queue. */
  private Path writeRecords() throws Exception {
    try (DurableQueue q = builder().build()) {
      for (int i = 0; i < RECORDS; i++) {
        q.append(payload(i, sizeOf(i))).get(5, TimeUnit.SECONDS);
      }
    }
    List<Path> segments = segmentFiles(dir);
    assertThat(segments).hasSize(1);
    return segments.get(0);
  }

  /** Ways a crash (or a disk) can leave the end of the last segment. */
  enum Damage {
    TRUNCATE_IN_LENGTH_FIELD,
    TRUNCATE_MID_HEADER,
    TRUNCATE_MID_PAYLOAD,
    FLIP_A_PAYLOAD_BYTE,
    APPEND_GARBAGE,
    APPEND_ZEROS;

    /** Damages the file; returns how many bytes recovery must cut. */
    long apply(Path file, long lastRecordStart, int lastFrameSize) throws IOException {
      switch (this) {
        case TRUNCATE_IN_LENGTH_FIELD -> truncate(file, lastRecordStart + 2);
        case TRUNCATE_MID_HEADER -> truncate(file, lastRecordStart + 5);
        case TRUNCATE_MID_PAYLOAD -> truncate(file, lastRecordStart + FRAME_OVERHEAD + 10);
        case FLIP_A_PAYLOAD_BYTE -> {
          try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            long at = lastRecordStart + FRAME_OVERHEAD + 3;
            raf.seek(at);
            int b = raf.read();
            raf.seek(at);
            raf.write(b ^ 0x40);
          }
          return lastFrameSize;
        }
        case APPEND_GARBAGE -> {
          byte[] garbage = new byte[37];
          Arrays.fill(garbage, (byte) 0xAB);
          Files.write(file, garbage, StandardOpenOption.APPEND);
          return garbage.length;
        }
        case APPEND_ZEROS -> {
          Files.write(file, new byte[4096], StandardOpenOption.APPEND);
          return 4096;
        }
        default -> throw new AssertionError(this);
      }
      return Files.size(file) - lastRecordStart; // the torn part of the last record
    }

    /** Records that survive. */
    int survivors() {
      return this == APPEND_GARBAGE || this == APPEND_ZEROS ? RECORDS : RECORDS - 1;
    }

    private static void truncate(Path file, long size) throws IOException {
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
        ch.truncate(size);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Damage.class)
  void aDamagedTailIsCutAndEverythingBeforeItSurvives(Damage damage) throws Exception {
    Path segment = writeRecords();
    long cleanSize = Files.size(segment);
    int lastFrame = FRAME_OVERHEAD + sizeOf(RECORDS - 1);
    long lastStart = cleanSize - lastFrame;
    long cut = damage.apply(segment, lastStart, lastFrame);
    int survivors = damage.survivors();
    long expectedSize = survivors == RECORDS ? cleanSize : lastStart;

    try (LogCapture logs = new LogCapture(); DurableQueue q = builder().build()) {
      List<String> warnings = logs.messages(Level.WARN);
      assertThat(warnings).hasSize(1);
      assertThat(warnings.get(0))
          .contains(segment.toString())
          .contains("cut " + cut + " bytes")
          .contains("at byte " + expectedSize);
      assertThat(Files.size(segment)).isEqualTo(expectedSize);
      assertThat(q.endOffset()).isEqualTo(survivors);

      QueueReader reader = q.reader("r");
      List<QueueRecord> records = drain(reader);
      assertThat(offsets(records)).isEqualTo(LongStream.range(0, survivors).boxed().toList());
      for (QueueRecord r : records) {
        assertThat(r.payloadBytes()).isEqualTo(payload(r.offset(), sizeOf(r.offset())));
      }
      assertThat(q.append(payload(1000, 77)).get(5, TimeUnit.SECONDS)).isEqualTo(survivors);
      List<QueueRecord> appended = reader.poll(10, 1 << 20, java.time.Duration.ofSeconds(5));
      assertThat(offsets(appended)).containsExactly((long) survivors);
      assertThat(appended.get(0).payloadBytes()).isEqualTo(payload(1000, 77));
    }
    // A clean close leaves exactly the records in the file.
    assertThat(Files.size(segment)).isEqualTo(expectedSize + FRAME_OVERHEAD + 77);

    try (LogCapture logs = new LogCapture(); DurableQueue q = builder().build()) {
      assertThat(logs.messages(Level.WARN)).isEmpty(); // clean now
      assertThat(q.endOffset()).isEqualTo(survivors + 1);
      assertThat(drain(q.reader("r2"))).hasSize(survivors + 1);
    }
  }

  @Test
  void anEmptyLastSegmentIsAValidLog() throws Exception {
    try (DurableQueue q = builder().build()) {
      assertThat(q.endOffset()).isZero();
    }
    try (LogCapture logs = new LogCapture(); DurableQueue q = builder().build()) {
      assertThat(logs.messages(Level.WARN)).isEmpty();
      assertThat(q.append(payload(1, 10)).get(5, TimeUnit.SECONDS)).isZero();
    }
  }

  @Test
  void damageInAnOlderSegmentStopsTheLogThereAndSaysSo() throws Exception {
    DurableQueue.Builder small = builder().segmentBytes(1024).maxBytes(1 << 20);
    try (DurableQueue q = small.build()) {
      for (int i = 0; i < 30; i++) {
        q.append(payload(i, 200)).get(5, TimeUnit.SECONDS);
      }
    }
    List<Path> segments = segmentFiles(dir);
    assertThat(segments.size()).isGreaterThan(4);
    Path damaged = segments.get(2);
    long nextBase = baseOffsetOf(segments.get(3));
    try (FileChannel ch = FileChannel.open(damaged, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 10); // its last record is now torn
    }
    List<Path> later = segments.subList(3, segments.size());

    try (LogCapture logs = new LogCapture(); DurableQueue q = small.build()) {
      List<String> errors = logs.messages(Level.ERROR);
      assertThat(errors).hasSize(1);
      assertThat(errors.get(0)).contains(damaged.toString()).contains("quarantine")
          .contains(later.size() + " later segment file(s)");
      assertThat(logs.messages(Level.WARN)).anySatisfy(w -> assertThat(w).contains(damaged.toString()));
      assertThat(segmentFiles(dir)).containsExactlyElementsOf(segments.subList(0, 3));
      try (Stream<Path> quarantined = Files.list(dir.resolve("quarantine"))) {
        assertThat(quarantined.map(p -> p.getFileName().toString().substring(0, 24)))
            .containsExactlyInAnyOrderElementsOf(
                later.stream().map(p -> p.getFileName().toString()).toList());
      }
      long end = nextBase - 1; // the torn record was the last of the damaged segment
      assertThat(q.endOffset()).isEqualTo(end);
      QueueReader reader = q.reader("r");
      List<QueueRecord> records = drain(reader);
      assertThat(offsets(records)).isEqualTo(LongStream.range(0, end).boxed().toList());
      assertThat(records.get((int) end - 1).payloadBytes()).isEqualTo(payload(end - 1, 200));
      assertThat(q.append(payload(500, 200)).get(5, TimeUnit.SECONDS)).isEqualTo(end);
      assertThat(reader.poll(1, 1 << 20, java.time.Duration.ofSeconds(5)).get(0).payloadBytes())
          .isEqualTo(payload(500, 200));
    }
  }

  @Test
  void aReaderCommittedPastARecoveredEndContinuesAtTheEnd() throws Exception {
    Path segment = writeRecords();
    try (DurableQueue q = builder().build()) {
      QueueReader reader = q.reader("r");
      drain(reader);
      reader.commit(RECORDS - 1);
    }
    // The last record is lost after the reader committed it (as unsynced data can be).
    try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 5);
    }
    try (LogCapture logs = new LogCapture(); DurableQueue q = builder().build()) {
      assertThat(logs.messages(Level.WARN))
          .anySatisfy(w -> assertThat(w).contains("reader r").contains("offset " + (RECORDS - 1)));
      QueueReader reader = q.reader("r");
      assertThat(reader.committedOffset()).isEqualTo(RECORDS - 2);
      long offset = q.append(payload(99, 10)).get(5, TimeUnit.SECONDS);
      assertThat(offset).isEqualTo(RECORDS - 1);
      List<QueueRecord> records = drain(reader);
      assertThat(offsets(records)).containsExactly(offset); // the new record is not skipped
      assertThat(records.get(0).payloadBytes()).isEqualTo(payload(99, 10));
    }
  }

  @Test
  void aReaderSkipsARecordWhoseChecksumFailsInAnOlderSegment() throws Exception {
    DurableQueue.Builder small = builder().segmentBytes(1024).maxBytes(1 << 20);
    try (DurableQueue q = small.build()) {
      for (int i = 0; i < 12; i++) {
        q.append(payload(i, 200)).get(5, TimeUnit.SECONDS);
      }
    }
    Path first = segmentFiles(dir).get(0);
    long records = baseOffsetOf(segmentFiles(dir).get(1));
    // Flip a payload byte of record 1 (records are 216 bytes each here): the length still chains.
    try (FileChannel ch = FileChannel.open(first, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(1);
      long at = (FRAME_OVERHEAD + 200) + FRAME_OVERHEAD + 50;
      ch.read(b, at);
      b.put(0, (byte) (b.get(0) ^ 1)).rewind();
      ch.write(b, at);
    }
    try (LogCapture logs = new LogCapture(); DurableQueue q = small.build()) {
      List<QueueRecord> read = drain(q.reader("r"));
      assertThat(offsets(read)).doesNotContain(1L).contains(0L, 2L, records, 11L).hasSize(11);
      assertThat(q.stats().corruptRecordsSkipped()).isEqualTo(1);
      assertThat(logs.messages(Level.ERROR))
          .anySatisfy(e -> assertThat(e).contains("offset 1").contains("CRC32C"));
    }
  }
}
