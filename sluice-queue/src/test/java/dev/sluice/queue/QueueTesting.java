package dev.sluice.queue;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.LoggerFactory;

/** Shared helpers of the queue tests: deterministic payloads, reading everything, log capture. */
final class QueueTesting {
  /** Bytes a record takes in a segment besides its payload (documented format). */
  static final int FRAME_OVERHEAD = 16;

  private QueueTesting() {}

  /** A payload of {@code size} bytes fully determined by {@code key}: the key, then noise. */
  static byte[] payload(long key, int size) {
    byte[] bytes = new byte[size];
    new SplittableRandom(key).nextBytes(bytes);
    ByteBuffer b = ByteBuffer.wrap(bytes);
    if (size >= 8) {
      b.putLong(0, key);
    }
    return bytes;
  }

  /** A payload whose size is also derived from the key, between the given bounds. */
  static byte[] payload(long key, int minSize, int maxSize) {
    int size = new SplittableRandom(~key).nextInt(minSize, maxSize + 1);
    return payload(key, size);
  }

  /** Polls until nothing more arrives within 50 ms. */
  static List<QueueRecord> drain(QueueReader reader) throws IOException, InterruptedException {
    List<QueueRecord> all = new ArrayList<>();
    while (true) {
      List<QueueRecord> batch = reader.poll(1000, 16 << 20, Duration.ofMillis(50));
      if (batch.isEmpty()) {
        return all;
      }
      all.addAll(batch);
    }
  }

  static List<Long> offsets(List<QueueRecord> records) {
    return records.stream().map(QueueRecord::offset).collect(Collectors.toList());
  }

  static List<Path> segmentFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir.resolve("segments"))) {
      return files.filter(p -> p.getFileName().toString().endsWith(".seg")).sorted()
          .collect(Collectors.toList());
    }
  }

  static long segmentBytesOnDisk(Path dir) throws IOException {
    long total = 0;
    for (Path p : segmentFiles(dir)) {
      total += Files.size(p);
    }
    return total;
  }

  static long baseOffsetOf(Path segment) {
    String name = segment.getFileName().toString();
    assertThat(name).matches("\\d{20}\\.seg");
    return Long.parseLong(name.substring(0, 20));
  }

  /** Captures what the queue logs (logger hierarchy dev.sluice.queue) while open. */
  static final class LogCapture implements AutoCloseable {
    private final Logger logger = (Logger) LoggerFactory.getLogger("dev.sluice.queue");
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    LogCapture() {
      appender.start();
      logger.addAppender(appender);
    }

    List<String> messages(Level level) {
      synchronized (appender.list) {
        return appender.list.stream().filter(e -> e.getLevel() == level)
            .map(ILoggingEvent::getFormattedMessage).collect(Collectors.toList());
      }
    }

    @Override
    public void close() {
      logger.detachAppender(appender);
      appender.stop();
    }
  }
}
