package dev.sluice.queue;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Child process of {@link CrashRecoveryTest}: appends under fsync ALWAYS from several threads until
 * it is killed, printing {@code ACK <offset> <key>} for every append whose future completed. The
 * payload is {@code QueueTesting.payload(key, 50, 3000)}.
 *
 * <p>Arguments: directory, round (part of every key), threads.
 */
public final class CrashAppenderMain {
  private CrashAppenderMain() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    long round = Long.parseLong(args[1]);
    int threads = Integer.parseInt(args[2]);
    PrintStream out = System.out;
    DurableQueue q = DurableQueue.builder().directory(dir).segmentBytes(64 << 10)
        .maxBytes(256L << 20).fsync(FsyncPolicy.always()).build();
    synchronized (out) {
      out.println("READY " + q.endOffset());
      out.flush();
    }
    for (int t = 0; t < threads; t++) {
      long thread = t;
      Thread appender = new Thread(() -> {
        try {
          for (long seq = 0; ; seq++) {
            long key = round * 1_000_000_000_000L + thread * 1_000_000_000L + seq;
            long offset = q.append(QueueTesting.payload(key, 50, 3000)).get(30, TimeUnit.SECONDS);
            synchronized (out) {
              out.println("ACK " + offset + " " + key);
              out.flush();
            }
          }
        } catch (Exception e) {
          e.printStackTrace();
          System.exit(3);
        }
      }, "appender-" + t);
      appender.start();
    }
    Thread.sleep(60_000); // the test kills us long before; this is a backstop
    System.exit(2);
  }
}
