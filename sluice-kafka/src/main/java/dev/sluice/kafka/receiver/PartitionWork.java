package dev.sluice.kafka.receiver;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.PipelineFullException;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The messages of one assigned partition between the consumer and the sink: those fetched and not
 * yet handed over ({@code buffered}), and those handed over in offset order and not yet part of
 * the committable prefix ({@code window}).
 *
 * <p>Messages are handed to the sink in offset order by one drain task at a time, running on the
 * receiver's worker pool, with at most {@code maxSubmits} submissions outstanding. An entry is done
 * when the sink accepted it (or it was dead-lettered); the committable offset is the one after the
 * unbroken run of done entries from the start. A refused entry stays in its place in the window
 * and is submitted again, before anything newer, after a back-off during which the partition takes
 * nothing new, so nothing is ever skipped. With {@code maxSubmits} 1 the sink sees the partition's
 * messages strictly in offset order; with more, a message refused while later ones of the same
 * window were accepted reaches the sink after them.
 *
 * <p>All state is guarded by this object's monitor; the sink's callbacks, the drain tasks and the
 * consumer thread meet here. Nothing is called outside while the monitor is held.
 */
final class PartitionWork {
  private static final Logger log = LoggerFactory.getLogger(PartitionWork.class);

  /** Submits one message: decodes it and hands it to the sink or the dead-letter topic. */
  interface Processor {
    /** Never throws; the future fails when the message must be tried again. */
    CompletableFuture<Void> process(PartitionWork work, Entry entry);

    /** Called for each refusal that will be retried, with its cause. */
    void refused(PartitionWork work, Entry entry, Throwable cause);
  }

  private static final int SUBMITTED = 1;
  private static final int DONE = 2;
  private static final int RETRY = 3;

  /** One message in the window. */
  static final class Entry {
    final ConsumerRecord<byte[], byte[]> record;
    final int bytes;
    int state;
    /** How many times it was handed to the processor. */
    int attempts;
    /** Set when the sink refused it for good: it goes to the dead-letter topic on the next try. */
    volatile String deadLetterReason;

    Entry(ConsumerRecord<byte[], byte[]> record) {
      this.record = record;
      this.bytes = size(record);
    }

    int attempts() {
      return attempts;
    }
  }

  final TopicPartition partition;
  final Signal signal;
  private final Processor processor;
  private final ScheduledExecutorService executor;
  private final int maxSubmits;
  private final long initialBackoffMillis;
  private final long maxBackoffMillis;
  private final AtomicInteger totalRecords;
  private final AtomicLong totalBytes;

  private final ArrayDeque<ConsumerRecord<byte[], byte[]>> buffered = new ArrayDeque<>();
  private final ArrayDeque<Entry> window = new ArrayDeque<>();
  private int heldRecords;
  private long heldBytes;
  private int submitting;
  private int retries;
  private boolean running;
  private boolean stopped;
  private boolean detached;
  private boolean backingOff;
  private long backoffMillis;
  private long committable = -1;
  private Optional<Integer> committableEpoch = Optional.empty();

  // Consumer thread only.
  boolean paused;
  long lastCommitted = -1;
  /** Messages between the consumer's position and the end of the partition; -1 when unknown. */
  volatile long lag = -1;

  PartitionWork(TopicPartition partition, Signal signal, Processor processor,
      ScheduledExecutorService executor, int maxSubmits, long initialBackoffMillis,
      long maxBackoffMillis, AtomicInteger totalRecords, AtomicLong totalBytes) {
    this.partition = partition;
    this.signal = signal;
    this.processor = processor;
    this.executor = executor;
    this.maxSubmits = maxSubmits;
    this.initialBackoffMillis = initialBackoffMillis;
    this.maxBackoffMillis = maxBackoffMillis;
    this.backoffMillis = initialBackoffMillis;
    this.totalRecords = totalRecords;
    this.totalBytes = totalBytes;
  }

  static int size(ConsumerRecord<byte[], byte[]> r) {
    return (r.value() == null ? 0 : r.value().length) + (r.key() == null ? 0 : r.key().length);
  }

  /** Takes fetched messages, in offset order. Consumer thread. */
  void add(List<ConsumerRecord<byte[], byte[]>> records) {
    boolean schedule;
    synchronized (this) {
      if (stopped) {
        return; // revoked: whoever owns the partition next reads them again
      }
      for (ConsumerRecord<byte[], byte[]> r : records) {
        buffered.add(r);
        hold(1, size(r));
      }
      schedule = claimDrain();
    }
    if (schedule) {
      schedule(0);
    }
  }

  /** True when this partition should not be fetched: over its limits, or backing off. */
  synchronized boolean overLimit(int maxRecords, long maxBytes) {
    return backingOff || heldRecords >= maxRecords || heldBytes >= maxBytes;
  }

  /** The offset to commit (the next message to read), or -1 when nothing is done yet. */
  synchronized OffsetAndMetadata committable() {
    return committable < 0 ? null : new OffsetAndMetadata(committable, committableEpoch, "");
  }

  /**
   * Takes nothing new and drops what was not handed over yet (it is read again by the next
   * owner); what is in the sink's hands may still complete. Idempotent.
   */
  void stop() {
    synchronized (this) {
      if (stopped) {
        return;
      }
      stopped = true;
      for (ConsumerRecord<byte[], byte[]> r : buffered) {
        hold(-1, -size(r));
      }
      buffered.clear();
      notifyAll();
    }
  }

  /**
   * Waits until no drain task runs and the sink answered every submission, or the deadline
   * passes; true when idle.
   */
  synchronized boolean awaitIdle(long deadlineNanos) {
    boolean interrupted = false;
    try {
      while (running || submitting > 0) {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(this, left);
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      return true;
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * The partition is no longer this receiver's: its remaining messages stop counting against the
   * receiver's totals. Late answers of the sink change nothing any more. Call after {@link #stop}.
   */
  synchronized void detach() {
    if (detached) {
      return;
    }
    totalRecords.addAndGet(-heldRecords);
    totalBytes.addAndGet(-heldBytes);
    detached = true;
  }

  private void hold(int records, long bytes) {
    heldRecords += records;
    heldBytes += bytes;
    if (!detached) {
      totalRecords.addAndGet(records);
      totalBytes.addAndGet(bytes);
    }
  }

  /** Under the monitor: true when the caller must start a drain task. */
  private boolean claimDrain() {
    if (running || stopped || backingOff || submitting >= maxSubmits
        || (retries == 0 && buffered.isEmpty())) {
      return false;
    }
    running = true;
    return true;
  }

  private void schedule(long delayMillis) {
    try {
      if (delayMillis <= 0) {
        executor.execute(this::drain);
      } else {
        executor.schedule(this::endBackoff, delayMillis, TimeUnit.MILLISECONDS);
      }
    } catch (RejectedExecutionException e) {
      synchronized (this) { // the receiver is closing
        if (delayMillis <= 0) {
          running = false;
        } else {
          backingOff = false;
        }
        notifyAll();
      }
    }
  }

  private void endBackoff() {
    boolean schedule;
    synchronized (this) {
      backingOff = false;
      schedule = claimDrain();
    }
    if (schedule) {
      schedule(0);
    }
  }

  /** Hands messages to the processor in order while the window has room. Worker thread. */
  private void drain() {
    while (true) {
      Entry e;
      synchronized (this) {
        if (stopped || backingOff || submitting >= maxSubmits) {
          running = false;
          notifyAll();
          return;
        }
        e = null;
        if (retries > 0) {
          for (Iterator<Entry> it = window.iterator(); it.hasNext(); ) {
            Entry candidate = it.next();
            if (candidate.state == RETRY) {
              e = candidate;
              break;
            }
          }
          retries = e == null ? 0 : retries - 1;
        }
        if (e == null) {
          ConsumerRecord<byte[], byte[]> r = buffered.poll();
          if (r == null) {
            running = false;
            notifyAll();
            return;
          }
          e = new Entry(r);
          window.add(e);
        }
        e.state = SUBMITTED;
        e.attempts++;
        submitting++;
      }
      CompletableFuture<Void> f;
      try {
        f = processor.process(this, e);
      } catch (RuntimeException | Error t) {
        log.error("processing message {} of {} failed unexpectedly", e.record.offset(), partition,
            t);
        f = CompletableFuture.failedFuture(t);
      }
      Entry entry = e;
      f.whenComplete((v, error) -> completed(entry, error));
    }
  }

  /** The sink's (or the dead-letter producer's) answer for one entry. Any thread. */
  private void completed(Entry e, Throwable error) {
    long backoff = -1;
    boolean retry = false;
    Throwable cause = unwrap(error);
    synchronized (this) {
      submitting--;
      if (cause == null) {
        e.state = DONE;
        backoffMillis = initialBackoffMillis;
      } else {
        e.state = RETRY;
        retries++;
        if (!stopped) {
          retry = true;
          if (cause instanceof IllegalArgumentException && e.deadLetterReason == null) {
            // Refused for good (e.g. a tenant name the pipeline cannot store): dead-letter it
            // at once rather than retry for ever.
            e.deadLetterReason = "the pipeline refused the message: " + cause.getMessage();
          } else if (!backingOff) {
            backingOff = true;
            backoff = backoffMillis;
            if (cause instanceof PipelineFullException) {
              long hint = ((PipelineFullException) cause).retryAfterSeconds() * 1000L;
              backoff = Math.max(backoff, Math.min(hint, maxBackoffMillis));
            }
            backoffMillis = Math.min(maxBackoffMillis, backoffMillis * 2);
          }
        }
      }
      while (!window.isEmpty() && window.peekFirst().state == DONE) {
        Entry head = window.pollFirst();
        committable = head.record.offset() + 1;
        committableEpoch = head.record.leaderEpoch();
        hold(-1, -head.bytes);
      }
      notifyAll();
    }
    if (retry) {
      processor.refused(this, e, cause);
    }
    if (backoff >= 0) {
      schedule(Math.max(1, backoff));
    }
    boolean schedule;
    synchronized (this) {
      schedule = claimDrain();
    }
    if (schedule) {
      schedule(0);
    }
  }

  private static Throwable unwrap(Throwable error) {
    Throwable t = error;
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  @Override
  public synchronized String toString() {
    return partition + "{held=" + heldRecords + "/" + heldBytes + "B, submitting=" + submitting
        + ", retries=" + retries + ", backingOff=" + backingOff + ", committable=" + committable
        + (stopped ? ", stopped" : "") + "}";
  }
}
