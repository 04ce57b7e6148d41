package dev.sluice.pipeline.export.file;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread that writes one signal's batches to its file, taking them from a queue in groups and
 * flushing once per group.
 */
final class SignalWriter implements Runnable {
  private static final Logger LOG = LoggerFactory.getLogger(FileExporter.class);
  /** Caps a group so that the first batches of a long queue are confirmed without waiting for all. */
  private static final int MAX_GROUP = 1024;

  private final String exporterName;
  private final Signal signal;
  private final RotatingFile file;
  /**
   * Unbounded on purpose: export() must never block or refuse for lack of room here, and it need
   * not, because the Pipeline already bounds the payload bytes in flight to all exporters.
   */
  private final LinkedBlockingQueue<Work> queue = new LinkedBlockingQueue<>();
  private final Thread thread;
  private final Counter itemsCounter;
  private final Counter bytesCounter;
  private final Counter errorsCounter;
  private volatile boolean stopping;
  /** Whether the last write failed; only the writer thread reads and writes it. */
  private boolean failing;

  SignalWriter(String exporterName, Signal signal, Path signalDir, long maxBytes, int maxBackups,
      Clock clock, MeterRegistry registry) {
    this.exporterName = exporterName;
    this.signal = signal;
    this.file = new RotatingFile(signalDir, signal.id(), maxBytes, maxBackups, clock);
    this.thread = new Thread(this, "sluice-file-exporter-" + exporterName + "-" + signal.id());
    // Daemon: a forgotten close() must not keep the JVM alive, and losing the thread loses
    // nothing acknowledged, since every completed future had its line flushed to the OS.
    thread.setDaemon(true);
    if (registry != null) {
      itemsCounter = counter(registry, "sluice.exporter.items", "items exported");
      bytesCounter = counter(registry, "sluice.exporter.bytes",
          "protobuf payload bytes exported, comparable across exporters");
      errorsCounter = counter(registry, "sluice.exporter.errors", "batches that failed to export");
    } else {
      itemsCounter = null;
      bytesCounter = null;
      errorsCounter = null;
    }
  }

  private Counter counter(MeterRegistry registry, String name, String description) {
    return Counter.builder(name)
        .description(description)
        .tag("exporter", exporterName)
        .tag("signal", signal.id())
        .register(registry);
  }

  Path path() {
    return file.path();
  }

  void start() {
    thread.start();
  }

  /** Queues a batch, taking ownership of the reference; never blocks. */
  CompletableFuture<Void> submit(TelemetryBatch batch) {
    Work work = new Work(batch);
    batch.touch("queued for file exporter " + exporterName);
    queue.add(work);
    // close() may have run between the caller's check and the add, and the thread may already have
    // taken its last look at the queue. Whoever removes the work owns it: if this remove wins the
    // thread never sees it; if it loses, the thread has it and will write it.
    if (stopping && queue.remove(work)) {
      work.releaseOnce();
      work.future.completeExceptionally(FileExporter.closedException());
    }
    return work.future;
  }

  /** Asks the thread to write what is queued and stop; see {@link #join}. */
  void stop() {
    stopping = true;
    queue.add(Work.STOP);
  }

  /** Waits until the thread is done, at most until {@code deadlineNanos}; true if it is. */
  boolean join(long deadlineNanos) throws InterruptedException {
    long left = deadlineNanos - System.nanoTime();
    if (left > 0) {
      TimeUnit.NANOSECONDS.timedJoin(thread, left);
    }
    return !thread.isAlive();
  }

  void interrupt() {
    thread.interrupt();
  }

  @Override
  public void run() {
    List<Work> group = new ArrayList<>();
    boolean stop = false;
    try {
      while (true) {
        Work first;
        if (stop) {
          // After STOP, keep taking whatever is still queued (exports racing with close) until the
          // queue is empty; submit() takes care of anything added after that.
          first = queue.poll();
          if (first == null) {
            break;
          }
        } else {
          first = queue.take();
        }
        group.add(first);
        queue.drainTo(group, MAX_GROUP - 1);
        stop |= group.removeIf(w -> w == Work.STOP);
        try {
          writeGroup(group);
        } catch (RuntimeException | Error e) {
          // A bug or a broken class path must not kill the thread with futures left hanging and
          // buffers held: fail what this group has not finished and go on with the next.
          LOG.error("[{}] unexpected failure writing to {}", exporterName, file.path(), e);
          file.abandon();
          for (Work w : group) {
            w.releaseOnce();
            if (!w.future.isDone()) {
              fail(w, e);
            }
          }
        }
        group.clear();
      }
    } catch (InterruptedException e) {
      // close() gave up waiting for us: fail what is left instead of leaving it hanging.
      queue.drainTo(group);
      for (Work w : group) {
        if (w != Work.STOP) {
          w.releaseOnce();
          fail(w, new PipelineFullException(
              "the file exporter was stopped before writing this batch", 5));
        }
      }
    } finally {
      try {
        file.close();
      } catch (IOException e) {
        LOG.warn("[{}] cannot close {}: {}", exporterName, file.path(), e.toString());
      }
    }
  }

  private void writeGroup(List<Work> group) {
    List<Work> flushed = new ArrayList<>(group.size()); // in the OS: complete after the group
    List<Work> buffered = new ArrayList<>(group.size()); // in our buffer: complete after a flush
    for (Work work : group) {
      byte[] line;
      try {
        line = toJsonLine(work.batch);
      } catch (RuntimeException e) {
        fail(work, e);
        continue;
      } finally {
        work.releaseOnce(); // the JSON line is all we need from here on
      }
      try {
        if (file.mustRotateBefore(line.length + 1L)) {
          file.flush();
          flushed.addAll(buffered);
          buffered.clear();
          Path backup = file.rotate();
          LOG.debug("[{}] rotated {} to {}", exporterName, file.path(), backup);
        }
        file.append(line);
        buffered.add(work);
      } catch (IOException | RuntimeException e) {
        buffered.add(work);
        failAll(buffered, e);
        buffered.clear();
      }
    }
    if (!buffered.isEmpty()) {
      try {
        file.flush();
        flushed.addAll(buffered);
      } catch (IOException | RuntimeException e) {
        failAll(buffered, e);
      }
    }
    if (!flushed.isEmpty() && failing) {
      failing = false;
      LOG.info("[{}] writing to {} again", exporterName, file.path());
    }
    for (Work work : flushed) {
      if (itemsCounter != null) {
        itemsCounter.increment(work.items);
        bytesCounter.increment(work.bytes);
      }
      work.future.complete(null);
    }
  }

  private byte[] toJsonLine(TelemetryBatch batch) {
    ByteBuf payload = batch.payload();
    Message request;
    try {
      if (payload.hasArray()) {
        request = signal.parseRequest(
            payload.array(), payload.arrayOffset() + payload.readerIndex(), payload.readableBytes());
      } else {
        byte[] copy = batch.payloadBytes();
        request = signal.parseRequest(copy, 0, copy.length);
      }
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(
          "cannot write a " + batch + " to " + file.path() + ": the payload is not a valid "
              + signal.requestPrototype().getDescriptorForType().getName() + " ("
              + e.getMessage() + ")", e);
    }
    try {
      return OtlpJsonCodec.toJsonBytes(request);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "cannot write a " + batch + " to " + file.path() + ": conversion to OTLP/JSON failed ("
              + e + ")", e);
    }
  }

  /** Fails every batch whose line was lost with the write, and gets ready to reopen the file. */
  private void failAll(List<Work> lost, Exception cause) {
    file.abandon();
    if (!failing) {
      failing = true; // logged once per outage, not once per batch: a full disk fails them all
      LOG.warn("[{}] cannot write to {}; failing the batches until a write succeeds",
          exporterName, file.path(), cause);
    }
    IOException e = new IOException(
        "cannot write " + signal.id() + " to " + file.path() + ": " + describe(cause), cause);
    for (Work work : lost) {
      fail(work, e);
    }
  }

  private static String describe(Exception e) {
    // NoSuchFileException and friends carry only a path as their message: keep the type's name.
    String type = e.getClass().getSimpleName();
    return e.getMessage() == null ? type : type + ": " + e.getMessage();
  }

  private void fail(Work work, Throwable e) {
    if (errorsCounter != null) {
      errorsCounter.increment();
    }
    work.future.completeExceptionally(e);
  }

  /** A batch waiting for its line to be written, or the sign to stop. */
  private static final class Work {
    static final Work STOP = new Work();

    final TelemetryBatch batch;
    final int items;
    final int bytes;
    final CompletableFuture<Void> future;
    /** Only the writer thread, or submit() once the work is out of the queue, touches this. */
    private boolean released;

    Work(TelemetryBatch batch) {
      this.batch = batch;
      // Read now: after the line is written the batch is released and its size gone.
      this.items = batch.items();
      this.bytes = batch.bytes();
      this.future = new CompletableFuture<>();
    }

    void releaseOnce() {
      if (!released) {
        released = true;
        batch.release();
      }
    }

    private Work() {
      this.batch = null;
      this.items = 0;
      this.bytes = 0;
      this.future = null;
    }
  }
}
