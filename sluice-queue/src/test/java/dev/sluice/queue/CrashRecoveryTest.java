package dev.sluice.queue;

import static dev.sluice.queue.QueueTesting.drain;
import static dev.sluice.queue.QueueTesting.payload;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills (SIGKILL) a separate JVM appending under fsync ALWAYS, three times over the same directory,
 * and checks that every append it acknowledged is in the queue with the right payload.
 */
class CrashRecoveryTest {
  private static final int ACKS_BEFORE_KILL = 300;
  private static final int THREADS = 4;

  @TempDir Path dir;

  @Test
  void everyAcknowledgedAppendSurvivesKillMinus9() throws Exception {
    Path queueDir = dir.resolve("queue");
    Map<Long, Long> acked = new HashMap<>(); // offset -> key, over all rounds
    for (int round = 1; round <= 3; round++) {
      Map<Long, Long> roundAcks = runAndKill(queueDir, round);
      assertThat(roundAcks.size()).isGreaterThanOrEqualTo(ACKS_BEFORE_KILL);
      for (Map.Entry<Long, Long> e : roundAcks.entrySet()) {
        assertThat(acked.put(e.getKey(), e.getValue()))
            .as("offset %d acknowledged twice", e.getKey()).isNull();
      }

      try (DurableQueue q = DurableQueue.builder().directory(queueDir).segmentBytes(64 << 10)
          .maxBytes(256L << 20).build()) {
        QueueReader reader = q.reader("verify-" + round);
        List<QueueRecord> records = drain(reader);
        assertThat(records).isNotEmpty();
        assertThat(records.get(0).offset()).isZero();
        assertThat(records.get(records.size() - 1).offset()).isEqualTo(q.endOffset() - 1);
        assertThat(records).hasSize((int) q.endOffset()); // dense: no gaps
        Map<Long, QueueRecord> byOffset = new HashMap<>();
        records.forEach(r -> byOffset.put(r.offset(), r));
        for (Map.Entry<Long, Long> e : acked.entrySet()) {
          QueueRecord r = byOffset.get(e.getKey());
          assertThat(r).as("acknowledged offset %d after round %d", e.getKey(), round).isNotNull();
          assertThat(r.payloadBytes()).as("payload at offset %d", e.getKey())
              .isEqualTo(payload(e.getValue(), 50, 3000));
        }
        reader.close();
        q.removeReader("verify-" + round);
      }
    }
  }

  /** Starts the appender, reads acknowledgements until enough, kills it; returns every complete ACK. */
  private Map<Long, Long> runAndKill(Path queueDir, int round) throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Path stderr = dir.resolve("child-" + round + ".err");
    ProcessBuilder pb = new ProcessBuilder(java.toString(), "-cp",
        System.getProperty("java.class.path"), CrashAppenderMain.class.getName(),
        queueDir.toString(), Integer.toString(round), Integer.toString(THREADS))
        .redirectError(stderr.toFile());
    Process child = pb.start();
    Map<Long, Long> acks = new LinkedHashMap<>();
    try {
      LineReader lines = new LineReader(child.getInputStream());
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      Consumer<String> onLine = line -> {
        if (line.startsWith("ACK ")) {
          String[] parts = line.split(" ");
          acks.put(Long.parseLong(parts[1]), Long.parseLong(parts[2]));
        }
      };
      while (acks.size() < ACKS_BEFORE_KILL) {
        String line = lines.next();
        if (line == null || System.nanoTime() > deadline) {
          throw new AssertionError("the appender process stopped or stalled after " + acks.size()
              + " acknowledgements; its stderr: " + Files.readString(stderr));
        }
        onLine.accept(line);
      }
      // SIGKILL. Through the handle, so that the pipe from the child stays readable for the rest.
      assertThat(child.toHandle().destroyForcibly()).isTrue();
      assertThat(child.waitFor(10, TimeUnit.SECONDS)).isTrue();
      // Lines it completed before dying were acknowledged too.
      for (String line = lines.next(); line != null; line = lines.next()) {
        onLine.accept(line);
      }
    } finally {
      child.destroyForcibly();
      child.waitFor(10, TimeUnit.SECONDS);
    }
    return acks;
  }

  /** Reads newline-terminated lines; a last line without its newline is not returned. */
  private static final class LineReader {
    private final InputStream in;
    private final ByteArrayOutputStream current = new ByteArrayOutputStream();

    LineReader(InputStream in) {
      this.in = in;
    }

    String next() throws IOException {
      while (true) {
        int b = in.read();
        if (b < 0) {
          return null;
        }
        if (b == '\n') {
          String line = current.toString(StandardCharsets.UTF_8);
          current.reset();
          return line;
        }
        current.write(b);
      }
    }
  }
}
