package dev.sluice.pipeline;

import dev.sluice.queue.DurableQueue;
import dev.sluice.queue.QueueClosedException;
import dev.sluice.queue.QueueFullException;
import dev.sluice.queue.QueueReader;
import dev.sluice.queue.QueueRecord;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable pipeline: a batch is appended to the write-ahead {@link DurableQueue} and its future
 * completes when the append is durable under the queue's fsync policy, which is when a receiver may
 * answer 200. Each exporter then reads the queue with a position of its own, on a delivery thread
 * of its own, and the position is committed only after the exporter confirmed the records.
 *
 * <p>Delivery is at least once: after a crash, or when an exporter fails part of a poll, the
 * records after the last commit are delivered again. A failing exporter is retried with an
 * exponential backoff while the queue keeps the data; when the queue is full, {@link #submit}
 * refuses with {@link PipelineFullException} and nothing already queued is dropped.
 *
 * <p>{@link #close()} lets each exporter confirm what it was handed, for at most the {@linkplain
 * Builder#closeTimeout close timeout}, commits what was confirmed and stops; whatever an exporter
 * had not confirmed by then stays in the queue and is delivered again after the next start.
 */
public final class DurablePipeline implements TelemetrySink, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DurablePipeline.class);
  private static final Duration POLL_WAIT = Duration.ofMillis(200);
  /** How long a delivery thread waits for a future before it looks whether it should stop. */
  private static final long WAIT_SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  private final DurableQueue queue;
  private final List<Exporter> exporters;
  private final int maxRecordsPerPoll;
  private final long maxBytesPerPoll;
  private final Duration initialBackoff;
  private final Duration maxBackoff;
  private final Duration closeTimeout;
  private final MeterRegistry registry;
  private final List<Delivery> deliveries = new ArrayList<>();
  private final CountDownLatch closing = new CountDownLatch(1);
  private volatile boolean started;
  private volatile boolean closed;
  /** When a closing pipeline stops waiting for exporters; written before {@link #closed}. */
  private volatile long closeDeadlineNanos;

  private DurablePipeline(Builder b) {
    this.queue = b.queue;
    this.exporters = List.copyOf(b.exporters);
    this.maxRecordsPerPoll = b.maxRecordsPerPoll;
    this.maxBytesPerPoll = b.maxBytesPerPoll;
    this.initialBackoff = b.initialBackoff;
    this.maxBackoff = b.maxBackoff;
    this.closeTimeout = b.closeTimeout;
    this.registry = b.registry == null ? new SimpleMeterRegistry() : b.registry;
  }

  public static Builder builder() {
    return new Builder();
  }

  public DurableQueue queue() {
    return queue;
  }

  public List<Exporter> exporters() {
    return exporters;
  }

  /**
   * Starts the exporters and one delivery thread per exporter. Readers of exporters that are no
   * longer configured are removed, so their positions stop holding segments on disk.
   *
   * @throws java.io.UncheckedIOException when a reader position cannot be opened
   */
  public synchronized void start() {
    if (started) {
      return;
    }
    try {
      List<String> names = new ArrayList<>();
      for (Exporter e : exporters) {
        names.add(readerName(e.name()));
      }
      for (String stale : queue.readerNames()) {
        if (!names.contains(stale)) {
          log.info("removing the queue position of exporter {}, which is no longer configured",
              stale);
          queue.removeReader(stale);
        }
      }
      for (Exporter e : exporters) {
        e.start();
        deliveries.add(new Delivery(e, queue.reader(readerName(e.name()))));
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot open the queue's reader positions: " + e, e);
    }
    Gauge.builder("sluice.queue.bytes", queue, DurableQueue::sizeBytes)
        .description("Bytes of the durable queue on disk").baseUnit("bytes").register(registry);
    Gauge.builder("sluice.queue.max.bytes", queue, DurableQueue::maxBytes)
        .description("Capacity of the durable queue").baseUnit("bytes").register(registry);
    Gauge.builder("sluice.queue.oldest.age", queue,
            q -> q.oldestUncommittedAgeMillis() / 1000.0)
        .description("Age of the oldest record not yet delivered by every exporter")
        .baseUnit("seconds").register(registry);
    for (Delivery d : deliveries) {
      d.thread.start();
    }
    started = true;
  }

  /**
   * The queue reader name of an exporter: its name where the queue allows it (letters, digits,
   * '.', '_', '-'), otherwise the name with other characters replaced and a hash of the original
   * appended, so that {@code otlphttp/primary} and {@code otlphttp_primary} stay apart.
   */
  static String readerName(String exporterName) {
    String safe = exporterName.replaceAll("[^A-Za-z0-9._-]", "_");
    if (safe.equals(exporterName) && !safe.isEmpty() && Character.isLetterOrDigit(safe.charAt(0))
        && safe.length() <= 128) {
      return safe;
    }
    String hash = Integer.toHexString(exporterName.hashCode());
    String head = safe.length() > 100 ? safe.substring(0, 100) : safe;
    return "x" + head + "-" + hash;
  }

  @Override
  public boolean ready() {
    return started && !closed && queue.sizeBytes() < queue.maxBytes();
  }

  @Override
  public CompletableFuture<Void> submit(TelemetryBatch batch) {
    Objects.requireNonNull(batch, "batch");
    ByteBuffer record;
    try {
      record = BatchEnvelope.encode(batch);
    } catch (IllegalArgumentException e) {
      // A batch the envelope cannot hold (a tenant name over 65535 bytes): refused, not thrown.
      return CompletableFuture.failedFuture(e);
    } finally {
      batch.release();
    }
    if (closed) {
      return CompletableFuture.failedFuture(
          new PipelineFullException("the pipeline is shutting down", 5));
    }
    CompletableFuture<Long> appended;
    try {
      appended = queue.append(record);
    } catch (IllegalArgumentException e) {
      // Larger than a queue segment: a configuration limit, as final as a 413.
      return CompletableFuture.failedFuture(new PipelineFullException(
          "the request does not fit in one queue segment: " + e.getMessage(), 60));
    }
    return appended.handle((offset, error) -> {
      if (error == null) {
        return null;
      }
      Throwable cause = error instanceof CompletionException && error.getCause() != null
          ? error.getCause() : error;
      if (cause instanceof QueueFullException) {
        throw new PipelineFullException("the durable queue is full ("
            + queue.maxBytes() + " bytes); retry later",
            (int) Math.max(1, ((QueueFullException) cause).retryAfterSeconds()));
      }
      if (cause instanceof QueueClosedException) {
        throw new PipelineFullException("the pipeline is shutting down", 5);
      }
      throw new PipelineFullException("the durable queue could not store the data: " + cause, 5);
    });
  }

  /**
   * Stops taking batches; lets each delivery thread wait for the batches its exporter was handed,
   * for at most the close timeout, commit what was confirmed and stop; then closes the exporters
   * and the queue. Batches not confirmed in time are delivered again after the next start.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    long deadline = System.nanoTime() + closeTimeout.toNanos();
    closeDeadlineNanos = deadline;
    closed = true;
    closing.countDown();
    // A thread in a poll notices within POLL_WAIT; one waiting for its exporter gives up at the
    // deadline.
    long joinUntil = deadline + POLL_WAIT.toNanos() + TimeUnit.MILLISECONDS.toNanos(500);
    boolean interrupted = false;
    for (Delivery d : deliveries) {
      try {
        long left = joinUntil - System.nanoTime();
        if (left > 0) {
          TimeUnit.NANOSECONDS.timedJoin(d.thread, left);
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      if (d.thread.isAlive()) {
        log.warn("the delivery thread of exporter {} did not stop in time; closing its queue"
            + " reader under it", d.exporter.name());
      }
    }
    for (Exporter e : exporters) {
      e.close();
    }
    for (Delivery d : deliveries) {
      d.reader.close();
    }
    queue.close();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** The delivery loop of one exporter: poll, export, wait, commit; back off on failure. */
  private final class Delivery implements Runnable {
    private final Exporter exporter;
    private final QueueReader reader;
    private final Thread thread;
    private final Counter delivered;
    private final Counter redelivered;

    Delivery(Exporter exporter, QueueReader reader) {
      this.exporter = exporter;
      this.reader = reader;
      this.thread = new Thread(this, "sluice-deliver-" + exporter.name());
      this.thread.setDaemon(true);
      this.delivered = Counter.builder("sluice.pipeline.delivered.batches")
          .description("Queued batches confirmed by an exporter").tag("exporter", exporter.name())
          .register(registry);
      this.redelivered = Counter.builder("sluice.pipeline.redelivered.batches")
          .description("Queued batches handed to an exporter again after a failure")
          .tag("exporter", exporter.name()).register(registry);
      Gauge.builder("sluice.pipeline.lag", reader, QueueReader::lag)
          .description("Queued batches this exporter has not confirmed yet")
          .tag("exporter", exporter.name()).register(registry);
    }

    @Override
    public void run() {
      Duration backoff = initialBackoff;
      boolean mustRewind = false;
      while (!closed) {
        if (mustRewind) {
          try {
            reader.rewind(); // the records after the last commit are delivered again
            mustRewind = false;
          } catch (QueueClosedException e) {
            return;
          } catch (IOException | RuntimeException e) {
            log.error("exporter {} cannot go back to its last queue position: {}",
                exporter.name(), e.toString());
            pause(backoff);
            backoff = next(backoff);
            continue;
          }
        }
        List<QueueRecord> records;
        try {
          records = reader.poll(maxRecordsPerPoll, maxBytesPerPoll, POLL_WAIT);
        } catch (QueueClosedException e) {
          return;
        } catch (InterruptedException e) {
          return;
        } catch (IOException | RuntimeException e) {
          log.error("exporter {} cannot read the queue: {}", exporter.name(), e.toString());
          pause(backoff);
          backoff = next(backoff);
          continue;
        }
        if (records.isEmpty()) {
          continue;
        }
        if (closed) {
          return; // not handed over: they stay in the queue for the next start
        }
        long confirmed = deliver(records);
        long last = records.get(records.size() - 1).offset();
        try {
          if (confirmed >= 0) {
            reader.commit(confirmed);
          }
          if (confirmed == last) {
            backoff = initialBackoff;
            continue;
          }
        } catch (QueueClosedException e) {
          return;
        } catch (IOException | RuntimeException e) {
          // The position stays at the last commit that succeeded: whatever this poll had after
          // it must be read again, or a later commit would declare the failed records delivered.
          log.error("exporter {} cannot commit its queue position: {}", exporter.name(),
              e.toString());
        }
        if (closed) {
          return; // what was not confirmed stays in the queue for the next start
        }
        long committed = reader.committedOffset();
        redelivered.increment(records.stream().filter(r -> r.offset() > committed).count());
        mustRewind = true;
        pause(backoff);
        backoff = next(backoff);
      }
    }

    /**
     * Hands the records to the exporter and waits for them; returns the offset of the last record
     * of the unbroken run of confirmed ones from the start, or -1 when the first failed.
     */
    private long deliver(List<QueueRecord> records) {
      List<CompletableFuture<Void>> futures = new ArrayList<>(records.size());
      for (QueueRecord r : records) {
        TelemetryBatch batch;
        try {
          batch = BatchEnvelope.decode(r.payload());
        } catch (IllegalArgumentException e) {
          // Cannot happen for records this version wrote; skipping keeps the queue moving.
          log.error("skipping queue record {}: {}", r.offset(), e.getMessage());
          futures.add(CompletableFuture.completedFuture(null));
          continue;
        }
        CompletableFuture<Void> f;
        try {
          f = exporter.export(batch);
        } catch (RuntimeException e) {
          batch.release(); // an exporter that throws has not taken its reference
          f = CompletableFuture.failedFuture(e);
        }
        futures.add(f);
      }
      // Everything of this poll is handed over and about to be waited for: nothing is to be
      // gained by the exporter holding the tail back to merge it with batches that cannot come.
      try {
        exporter.flush();
      } catch (RuntimeException e) {
        log.warn("exporter {} failed to flush: {}", exporter.name(), e.toString());
      }
      long confirmed = -1;
      for (int i = 0; i < futures.size(); i++) {
        try {
          if (!await(futures.get(i))) {
            log.warn("exporter {} did not confirm {} queued batch(es) before the close timeout;"
                + " they stay queued and are delivered again after the next start",
                exporter.name(), futures.size() - i);
            return confirmed;
          }
          confirmed = records.get(i).offset();
          delivered.increment();
        } catch (ExecutionException e) {
          if (!closed) {
            log.warn("exporter {} failed queued batch {}; it stays queued and is retried: {}",
                exporter.name(), records.get(i).offset(), e.getCause().toString());
          }
          waitQuietly(futures.subList(i + 1, futures.size()));
          return confirmed;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return confirmed;
        }
      }
      return confirmed;
    }

    /**
     * Waits for an export; false when the pipeline is closing and its close timeout passed first.
     * Before the close it waits as long as the exporter takes.
     */
    private boolean await(CompletableFuture<Void> f)
        throws ExecutionException, InterruptedException {
      while (true) {
        long slice = WAIT_SLICE_NANOS;
        if (closed) {
          slice = Math.min(slice, closeDeadlineNanos - System.nanoTime());
        }
        try {
          f.get(Math.max(0, slice), TimeUnit.NANOSECONDS);
          return true;
        } catch (TimeoutException e) {
          if (closed && System.nanoTime() - closeDeadlineNanos >= 0) {
            return false;
          }
        }
      }
    }

    /** Waits for the rest of a poll to finish before its records are handed over again. */
    private void waitQuietly(List<CompletableFuture<Void>> rest) {
      for (CompletableFuture<Void> f : rest) {
        try {
          if (!await(f)) {
            return;
          }
        } catch (ExecutionException ignored) {
          // only waiting for them to finish
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }

    private void pause(Duration d) {
      try {
        closing.await(d.toMillis(), TimeUnit.MILLISECONDS); // returns at once on close
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    private Duration next(Duration d) {
      Duration doubled = d.multipliedBy(2);
      return doubled.compareTo(maxBackoff) > 0 ? maxBackoff : doubled;
    }
  }

  /** Builds a {@link DurablePipeline}. */
  public static final class Builder {
    private DurableQueue queue;
    private List<Exporter> exporters = List.of();
    private int maxRecordsPerPoll = 64;
    private long maxBytesPerPoll = 16L * 1024 * 1024;
    private Duration initialBackoff = Duration.ofMillis(200);
    private Duration maxBackoff = Duration.ofSeconds(30);
    private Duration closeTimeout = Duration.ofSeconds(3);
    private MeterRegistry registry;

    private Builder() {}

    /** The queue; the pipeline closes it. */
    public Builder queue(DurableQueue queue) {
      this.queue = Objects.requireNonNull(queue, "queue");
      return this;
    }

    public Builder exporters(List<Exporter> exporters) {
      if (exporters.isEmpty()) {
        throw new IllegalArgumentException("a pipeline needs at least one exporter");
      }
      List<String> names = new ArrayList<>();
      for (Exporter e : exporters) {
        if (names.contains(e.name())) {
          throw new IllegalArgumentException("two exporters are named " + e.name());
        }
        names.add(e.name());
      }
      this.exporters = List.copyOf(exporters);
      return this;
    }

    /** How many queued batches an exporter is handed at once (default 64). */
    public Builder maxRecordsPerPoll(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("max records per poll must be positive: " + n);
      }
      this.maxRecordsPerPoll = n;
      return this;
    }

    public Builder maxBytesPerPoll(long n) {
      if (n < 1) {
        throw new IllegalArgumentException("max bytes per poll must be positive: " + n);
      }
      this.maxBytesPerPoll = n;
      return this;
    }

    /** The first wait after an exporter failed, doubled up to {@code max} while it keeps failing. */
    public Builder backoff(Duration initial, Duration max) {
      if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
        throw new IllegalArgumentException("backoff must be positive and initial <= max");
      }
      this.initialBackoff = initial;
      this.maxBackoff = max;
      return this;
    }

    /**
     * How long {@link DurablePipeline#close()} waits for exporters to confirm what they were handed
     * (default 3 s); what is not confirmed by then is delivered again after the next start.
     */
    public Builder closeTimeout(Duration timeout) {
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("the close timeout must not be negative: " + timeout);
      }
      this.closeTimeout = timeout;
      return this;
    }

    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    public DurablePipeline build() {
      if (queue == null) {
        throw new IllegalStateException("a durable pipeline needs a queue");
      }
      if (exporters.isEmpty()) {
        throw new IllegalStateException("a pipeline needs at least one exporter");
      }
      return new DurablePipeline(this);
    }
  }
}
