package dev.sluice.queue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;

/**
 * Measures appends/s and MB/s: N appender threads, each appending records of a fixed size and
 * waiting for every acknowledgement before the next (as an HTTP receiver answering each request
 * does), for a fixed time. Not a test; run by hand:
 *
 * <pre>
 * java -cp sluice-queue/target/test-classes:sluice-queue/target/classes:&lt;deps&gt; \
 *     dev.sluice.queue.AppendThroughputMain [seconds=10] [threads=8] [recordBytes=40960] \
 *     [fsync=always|none|interval-ms] [inFlightPerThread=1] [dir]
 * </pre>
 */
public final class AppendThroughputMain {
  private AppendThroughputMain() {}

  public static void main(String[] args) throws Exception {
    int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int recordBytes = args.length > 2 ? Integer.parseInt(args[2]) : 40 * 1024;
    String fsyncArg = args.length > 3 ? args[3] : "always";
    int inFlight = args.length > 4 ? Integer.parseInt(args[4]) : 1;
    Path dir = args.length > 5 ? Path.of(args[5]) : Files.createTempDirectory("queue-bench");
    FsyncPolicy fsync = switch (fsyncArg) {
      case "always" -> FsyncPolicy.always();
      case "none" -> FsyncPolicy.none();
      default -> FsyncPolicy.interval(java.time.Duration.ofMillis(Long.parseLong(fsyncArg)));
    };

    byte[] payload = QueueTesting.payload(42, recordBytes);
    LongAdder acked = new LongAdder();
    try (DurableQueue q = DurableQueue.builder().directory(dir).maxBytes(64L << 30)
        .fsync(fsync).build()) {
      QueueReader reader = q.reader("bench"); // commits as it goes, so segments get deleted
      Thread consumer = new Thread(() -> {
        try {
          while (true) {
            List<QueueRecord> batch = reader.poll(1000, 16 << 20, java.time.Duration.ofMillis(200));
            if (!batch.isEmpty()) {
              reader.commit(batch.get(batch.size() - 1).offset());
            }
          }
        } catch (QueueClosedException e) {
          // done
        } catch (Exception e) {
          e.printStackTrace();
        }
      });
      consumer.setDaemon(true);
      consumer.start();

      long warmupEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
      long end = warmupEnd + TimeUnit.SECONDS.toNanos(seconds);
      CountDownLatch done = new CountDownLatch(threads);
      long[] statsAtStart = new long[2];
      for (int t = 0; t < threads; t++) {
        Thread appender = new Thread(() -> {
          try {
            List<CompletableFuture<Long>> window = new ArrayList<>();
            while (System.nanoTime() < end) {
              while (window.size() < inFlight) {
                window.add(q.append(payload));
              }
              window.remove(0).get(30, TimeUnit.SECONDS);
              if (System.nanoTime() > warmupEnd) {
                acked.increment();
              }
            }
            for (CompletableFuture<Long> f : window) {
              f.get(30, TimeUnit.SECONDS);
            }
          } catch (Exception e) {
            e.printStackTrace();
          } finally {
            done.countDown();
          }
        });
        appender.start();
      }
      while (System.nanoTime() < warmupEnd) {
        Thread.sleep(10);
      }
      QueueStats s0 = q.stats();
      statsAtStart[0] = s0.fsyncs();
      statsAtStart[1] = s0.writeGroups();
      long start = System.nanoTime();
      done.await();
      double elapsed = (System.nanoTime() - start) / 1e9;
      QueueStats s1 = q.stats();
      long n = acked.sum();
      long fsyncs = s1.fsyncs() - statsAtStart[0];
      long groups = s1.writeGroups() - statsAtStart[1];
      System.out.printf("fsync=%s threads=%d inFlight/thread=%d record=%d B: %d appends in %.1f s ="
              + " %.0f appends/s, %.1f MB/s; %d write groups (%.1f appends/group), %d fsyncs"
              + " (%.0f/s)%n",
          fsync, threads, inFlight, recordBytes, n, elapsed, n / elapsed,
          n * (double) recordBytes / elapsed / 1e6, groups, n / (double) Math.max(1, groups),
          fsyncs, fsyncs / elapsed);
    } finally {
      if (args.length <= 5) {
        try (Stream<Path> files = Files.walk(dir)) {
          files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
      }
    }
  }
}
