package dev.sluice.queue;

import static dev.sluice.queue.QueueTesting.FRAME_OVERHEAD;
import static dev.sluice.queue.QueueTesting.payload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BadInputTest {
  @TempDir Path dir;

  @Test
  void aRecordLargerThanASegmentIsRefusedClearly() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(4096)
        .maxBytes(8192).build()) {
      int largest = 4096 - FRAME_OVERHEAD;
      assertThat(q.append(payload(1, largest)).get(5, TimeUnit.SECONDS)).isZero();
      assertThatThrownBy(() -> q.append(new byte[largest + 1]))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("record of " + (largest + 1) + " bytes")
          .hasMessageContaining("at most " + largest);
      assertThatThrownBy(() -> q.append(new byte[8193]))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("8192");
      assertThat(q.endOffset()).isEqualTo(1);
      assertThat(q.sizeBytes()).isEqualTo(4096);
    }
  }

  @Test
  void appendingAfterCloseFailsTheFuture() throws Exception {
    DurableQueue q = DurableQueue.builder().directory(dir).build();
    q.close();
    CompletableFuture<Long> f = q.append(new byte[10]);
    assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(QueueClosedException.class)
        .hasMessageContaining("closed")
        .hasMessageContaining(dir.toString());
    assertThatThrownBy(() -> q.reader("r")).isInstanceOf(QueueClosedException.class);
  }

  @Test
  void readersFailClearlyAfterTheQueueIsClosed() throws Exception {
    DurableQueue q = DurableQueue.builder().directory(dir).build();
    QueueReader reader = q.reader("r");
    q.append(new byte[10]).get(5, TimeUnit.SECONDS);
    q.close();
    assertThatThrownBy(() -> reader.poll(1, 100, Duration.ZERO))
        .isInstanceOf(QueueClosedException.class);
    assertThatThrownBy(() -> reader.commit(0)).isInstanceOf(QueueClosedException.class);
  }

  @Test
  void aDirectoryThatIsAFileIsNamedInTheError() throws Exception {
    Path file = Files.writeString(dir.resolve("not-a-dir"), "x");
    assertThatThrownBy(() -> DurableQueue.builder().directory(file).build())
        .isInstanceOf(IOException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("not a directory");
    Path below = file.resolve("queue");
    assertThatThrownBy(() -> DurableQueue.builder().directory(below).build())
        .isInstanceOf(IOException.class)
        .hasMessageContaining(below.toString());
  }

  @Test
  void aDirectoryCanBeOpenedOnlyOnceAtATime() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).build()) {
      assertThatThrownBy(() -> DurableQueue.builder().directory(dir).build())
          .isInstanceOf(IOException.class)
          .hasMessageContaining(dir.toString())
          .hasMessageContaining("already open");
      assertThat(q.append(new byte[1]).get(5, TimeUnit.SECONDS)).isZero();
    }
    try (DurableQueue q = DurableQueue.builder().directory(dir).build()) {
      assertThat(q.endOffset()).isEqualTo(1); // released by close
    }
  }

  @Test
  void anUnknownFormatIsRefused() throws Exception {
    Files.writeString(dir.resolve("queue.properties"), "format=99\n");
    assertThatThrownBy(() -> DurableQueue.builder().directory(dir).build())
        .isInstanceOf(IOException.class)
        .hasMessageContaining("format 99");
  }

  @Test
  void inconsistentSettingsAreRefused() {
    assertThatThrownBy(() -> DurableQueue.builder().build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("directory");
    assertThatThrownBy(() -> DurableQueue.builder().directory(dir).maxBytes(100 << 20)
        .segmentBytes(64 << 20).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("twice");
    assertThatThrownBy(() -> DurableQueue.builder().directory(dir).segmentBytes(100).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("segmentBytes");
    assertThatThrownBy(() -> DurableQueue.builder().directory(dir).maxBytes(0).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxBytes");
    assertThatThrownBy(() -> FsyncPolicy.interval(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aSmallMaxBytesGetsSmallerSegmentsByDefault() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).maxBytes(1 << 20).build()) {
      assertThat(q.segmentBytes()).isEqualTo(512 << 10);
    }
  }

  @Test
  void badReaderNamesAndUsesAreRefused() throws Exception {
    try (DurableQueue q = DurableQueue.builder().directory(dir).build()) {
      for (String name : new String[] {"", "../x", "a/b", ".hidden", "x".repeat(129)}) {
        assertThatThrownBy(() -> q.reader(name))
            .as("name '%s'", name)
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("invalid queue reader name");
      }
      QueueReader r = q.reader("ok_name-1.x");
      assertThatThrownBy(() -> r.poll(0, 100, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> r.poll(1, 0, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> r.poll(1, 1, Duration.ofMillis(-1)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> r.commit(0))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset 0");
    }
  }
}
