package dev.sluice.exporter.otlp.internal;

import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.exporter.otlp.ExportFailedException;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.UpstreamException;
import dev.sluice.http.upstream.UpstreamRequest;
import dev.sluice.http.upstream.UpstreamResponse;
import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers what the batchers let go: merges the batches, cuts the result into requests the backend
 * takes (by size, and for traces by trace id when routing is on), encodes and compresses each one,
 * and sends it with retries as the OTLP specification says, until the backend accepts it, refuses
 * it for good (then it goes to the dead-letter file), retries run out, or the exporter closes.
 *
 * <p>Outcomes, for the futures of the batches merged into a request: all pieces accepted or
 * dead-lettered completes them normally; any piece given up fails them all with {@link
 * ExportFailedException} (retriable), any piece abandoned at close fails them with the exception
 * the exporter supplies. Failing means the data may have been partly delivered: the sender retries
 * it whole, which makes delivery at-least-once.
 *
 * <p>Threads: encoding, compression and dead-letter writes run on {@code workers}; retry waits are
 * timers on {@code scheduler}; answers are handled on the thread that completes the sender's future
 * (an event loop), which only reads them and schedules.
 */
public final class Dispatcher {
  private static final Logger LOG = LoggerFactory.getLogger(Dispatcher.class);

  /** The statuses the OTLP specification says to retry. */
  private static final Set<Integer> RETRIABLE_STATUS = Set.of(429, 502, 503, 504);
  /**
   * The upstream failures that are connection errors, by name, so that kinds added later (such as
   * {@code OVERLOADED}) can be listed before they exist.
   */
  private static final Set<String> RETRIABLE_KINDS = Set.of("CONNECT_FAILED", "CONNECTION_LOST",
      "TIMEOUT", "NO_HEALTHY_ENDPOINT", "CIRCUIT_OPEN", "OVERLOADED");

  /** What does not change for the dispatcher's life. */
  public record Settings(String name, RetrySettings retry, long maxRequestBytes,
      boolean routeTracesByTraceId, int maxConcurrentRequests, Duration requestTimeout,
      Duration logInterval) {
    public Settings {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(retry, "retry");
      Objects.requireNonNull(logInterval, "logInterval");
    }
  }

  private final Settings settings;
  private final Map<Signal, Route> routes;
  private final HttpHeaders headers;
  private final BodyCodec codec;
  private final ScheduledExecutorService scheduler;
  private final Executor workers;
  private final ExporterMetrics metrics;
  private final DeadLetterWriter deadLetters;
  private final Clock clock;
  private final LongSupplier nanoTime;
  private final DoubleSupplier random;
  private final LogThrottle throttle;

  private final Set<Delivery> active = ConcurrentHashMap.newKeySet();
  private final Object sendLock = new Object();
  private final ArrayDeque<Delivery> ready = new ArrayDeque<>();
  private int inFlight; // guarded by sendLock
  private final Object drainLock = new Object();
  private int outstandingJobs; // guarded by drainLock
  private volatile Supplier<RuntimeException> abandoned; // set when the drain ran out

  /**
   * @param headers sent with every request (content type and encoding, user agent, configured
   *     headers); copied per request
   * @param deadLetters where refused requests go, or null to drop them (logged and counted)
   * @param random uniform in [0, 1), for the backoff's jitter
   */
  public Dispatcher(Settings settings, Map<Signal, Route> routes, HttpHeaders headers,
      BodyCodec codec, ScheduledExecutorService scheduler, Executor workers,
      ExporterMetrics metrics, DeadLetterWriter deadLetters, Clock clock, LongSupplier nanoTime,
      DoubleSupplier random) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.routes = Map.copyOf(routes);
    this.headers = Objects.requireNonNull(headers, "headers");
    this.codec = Objects.requireNonNull(codec, "codec");
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    this.workers = Objects.requireNonNull(workers, "workers");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.deadLetters = deadLetters;
    this.clock = Objects.requireNonNull(clock, "clock");
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
    this.random = Objects.requireNonNull(random, "random");
    this.throttle = new LogThrottle(settings.logInterval().toNanos(), nanoTime);
  }

  /** Requests being sent or waiting to be retried. */
  public int activeRequests() {
    return active.size();
  }

  /** Requests waiting for a free slot (more than {@code maxConcurrentRequests} are ready). */
  public int queuedRequests() {
    synchronized (sendLock) {
      return ready.size();
    }
  }

  /** Merged requests not yet finished (being encoded, sent or retried). */
  public int outstanding() {
    synchronized (drainLock) {
      return outstandingJobs;
    }
  }

  /**
   * Takes a merged request over: it is encoded on a worker and sent. Never throws; the pending
   * batches' futures are completed in every case.
   */
  public void submit(Batcher.Pending pending) {
    synchronized (drainLock) {
      outstandingJobs++;
    }
    try {
      workers.execute(() -> process(pending));
    } catch (RejectedExecutionException e) {
      pending.release();
      Supplier<RuntimeException> closed = abandoned;
      RuntimeException failure = closed != null ? closed.get()
          : new IllegalStateException("the exporter '" + settings.name() + "' is stopped");
      for (CompletableFuture<Void> f : pending.futures()) {
        f.completeExceptionally(failure);
      }
      jobFinished();
    }
  }

  private void process(Batcher.Pending pending) {
    Signal signal = pending.signal();
    Route route = routes.get(signal);
    // The batcher keeps merged requests under the limit, so this is the rule: the payloads go out
    // as they are, without being copied into one array. Only a request to cut (one batch over the
    // limit, traces routed by trace id) or to convert to JSON is merged into an array and read.
    boolean whole = pending.bytes() <= settings.maxRequestBytes()
        && codec.encoding() == Encoding.PROTOBUF
        && !(settings.routeTracesByTraceId() && signal == Signal.TRACES);
    ByteBuf request = null;
    byte[] merged = null;
    try {
      if (whole) {
        request = pending.mergeBuffers(codec.allocator());
      } else {
        merged = pending.merge();
      }
    } catch (RuntimeException e) {
      LOG.error("[{}] cannot merge {} {} batches", settings.name(), pending.size(), signal.id(), e);
      for (CompletableFuture<Void> f : pending.futures()) {
        f.completeExceptionally(e);
      }
      jobFinished();
      return;
    }
    if (request != null) {
      send(new Job(pending.futures(), 1), route, request, pending.items(), null);
      return;
    }
    List<RequestSplitter.Chunk> chunks;
    try {
      chunks = RequestSplitter.split(signal, merged, pending.items(), settings.maxRequestBytes(),
          settings.routeTracesByTraceId());
    } catch (MalformedRequestException e) {
      // The receiver validated the batches, so this is not expected: send it whole and let the
      // backend judge.
      LOG.warn("[{}] cannot read a {} request of {} bytes to split it ({}); sending it whole",
          settings.name(), signal.id(), merged.length, e.getMessage());
      chunks = List.of(new RequestSplitter.Chunk(merged, pending.items(), null));
    }
    Job job = new Job(pending.futures(), chunks.size());
    for (RequestSplitter.Chunk chunk : chunks) {
      send(job, route, Unpooled.wrappedBuffer(chunk.bytes()), chunk.items(), chunk.hashKey());
    }
  }

  /**
   * Encodes one request of a job and sends it, or dead-letters it when it cannot be encoded.
   * Releases {@code request} (the body holds what it needs of it).
   */
  private void send(Job job, Route route, ByteBuf request, int items, byte[] hashKey) {
    Signal signal = route.signal();
    ByteBuf body;
    try {
      body = codec.encode(signal, request);
    } catch (RuntimeException e) {
      String message = "cannot encode the request as " + codec.encoding().id() + ": "
          + e.getMessage();
      logRefusal(signal, "cannot send to " + route.target(), 0, message, items);
      metrics.failed(signal, null, "encoding", items);
      writeDeadLetter(signal, route.target(), 0, message, items, ByteBufUtil.getBytes(request),
          null);
      job.done(null);
      return;
    } finally {
      request.release();
    }
    Delivery d = new Delivery(job, route, body, items, hashKey,
        new Backoff(settings.retry(), random));
    active.add(d);
    dispatch(d);
  }

  /** Sends now if a slot is free, else queues. */
  private void dispatch(Delivery d) {
    Supplier<RuntimeException> closed = abandoned;
    if (closed != null) {
      finish(d, closed.get(), "shutdown", null);
      return;
    }
    synchronized (sendLock) {
      if (inFlight >= settings.maxConcurrentRequests()) {
        ready.add(d);
        return;
      }
      inFlight++;
    }
    attempt(d);
  }

  /** Frees a slot and starts the next queued request, on a worker (not in this call stack). */
  private void releaseSlot() {
    Delivery next;
    synchronized (sendLock) {
      next = ready.poll();
      if (next == null) {
        inFlight--;
        return;
      }
      // the slot passes to next
    }
    try {
      workers.execute(() -> attempt(next));
    } catch (RejectedExecutionException e) {
      synchronized (sendLock) {
        inFlight--;
      }
      finish(next, closedFailure(), "shutdown", null);
    }
  }

  private void attempt(Delivery d) {
    Supplier<RuntimeException> closed = abandoned;
    if (closed != null) {
      releaseSlot();
      finish(d, closed.get(), "shutdown", null);
      return;
    }
    ByteBuf body;
    synchronized (d) {
      if (d.finished) {
        releaseSlot();
        return;
      }
      d.attempts++;
      if (d.firstAttemptNanos == Long.MIN_VALUE) {
        d.firstAttemptNanos = nanoTime.getAsLong();
      }
      // Under the lock: finish() cannot release the body between the check and this reference.
      body = d.body.retainedDuplicate();
    }
    HttpHeaders h = new DefaultHttpHeaders().add(headers);
    UpstreamRequest request = new UpstreamRequest(HttpMethod.POST, d.route.path(), h, body,
        d.hashKey, settings.requestTimeout());
    long start = nanoTime.getAsLong();
    CompletableFuture<UpstreamResponse> answer;
    try {
      answer = d.route.sender().send(request);
    } catch (RuntimeException e) {
      // Not the sender's contract; whether it released the body is unknown, so it is left alone.
      answer = CompletableFuture.failedFuture(e);
    }
    answer.whenComplete((response, error) -> onAnswer(d, start, response, error));
  }

  private void onAnswer(Delivery d, long start, UpstreamResponse response, Throwable error) {
    releaseSlot();
    long took = nanoTime.getAsLong() - start;
    boolean finished;
    synchronized (d) {
      finished = d.finished;
    }
    if (response != null) {
      try {
        if (!finished) {
          onResponse(d, response, took);
        }
      } catch (RuntimeException e) {
        LOG.error("[{}] failed to handle an answer", settings.name(), e);
        retry(d, response.status(), e.toString(), null, label(response.endpoint()));
      } finally {
        response.release();
      }
      return;
    }
    if (finished) {
      return;
    }
    Throwable cause = error instanceof CompletionException && error.getCause() != null
        ? error.getCause() : error;
    if (cause instanceof UpstreamException ue) {
      String endpoint = label(ue.endpoint());
      String kind = ue.kind().name();
      if (RETRIABLE_KINDS.contains(kind)) {
        metrics.duration(d.route.signal(), endpoint, "retriable", took);
        retry(d, 0, kind + ": " + ue.getMessage(), null, endpoint);
      } else if (kind.equals("CLOSED")) {
        finish(d, closedFailure(), "shutdown", endpoint);
      } else {
        metrics.duration(d.route.signal(), endpoint, "refused", took);
        refuse(d, 0, kind + ": " + ue.getMessage(), endpoint);
      }
    } else {
      LOG.error("[{}] unexpected failure sending a {} request; retrying", settings.name(),
          d.route.signal().id(), cause);
      retry(d, 0, String.valueOf(cause), null, null);
    }
  }

  private void onResponse(Delivery d, UpstreamResponse response, long took) {
    Signal signal = d.route.signal();
    String endpoint = label(response.endpoint());
    int status = response.status();
    String contentType = response.headers() == null ? null
        : response.headers().get(HttpHeaderNames.CONTENT_TYPE);
    if (status >= 200 && status < 300) {
      metrics.duration(signal, endpoint, "success", took);
      ResponseBodies.PartialSuccess ps =
          ResponseBodies.partialSuccess(signal, response.body(), contentType);
      if (ps != null && (ps.rejected() > 0 || !ps.message().isEmpty())) {
        if (ps.rejected() > 0) {
          metrics.partialRejected(signal, endpoint, ps.rejected());
        }
        long held = throttle.acquire("partial:" + signal.id());
        if (held >= 0) {
          LOG.warn("[{}] {} accepted a {} request in part: {} of {} {} rejected: {}{}",
              settings.name(), endpoint, signal.id(), ps.rejected(), d.items, signal.itemNoun(),
              ps.message().isEmpty() ? "(no message)" : ps.message(), held > 0 ? " (" + held + " more such answers not logged)" : "");
        }
      }
      metrics.sent(signal, endpoint, d.items);
      finish(d, null, null, endpoint);
    } else if (RETRIABLE_STATUS.contains(status)) {
      metrics.duration(signal, endpoint, "retriable", took);
      Duration retryAfter = response.headers() == null ? null
          : RetryAfter.parse(response.headers().get(HttpHeaderNames.RETRY_AFTER), clock);
      String message = ResponseBodies.errorMessage(response.body(), contentType);
      retry(d, status, "HTTP " + status + (message.isEmpty() ? "" : ": " + message), retryAfter,
          endpoint);
    } else {
      metrics.duration(signal, endpoint, "refused", took);
      refuse(d, status, ResponseBodies.errorMessage(response.body(), contentType), endpoint);
    }
  }

  /** Schedules another attempt, or gives up when retries are off or time would run out. */
  private void retry(Delivery d, int status, String message, Duration retryAfter,
      String endpoint) {
    Signal signal = d.route.signal();
    RetrySettings retry = settings.retry();
    d.lastStatus = status;
    d.lastMessage = message;
    if (!retry.enabled()) {
      giveUp(d, "retries are disabled", endpoint);
      return;
    }
    long delay = d.backoff.nextDelayNanos();
    if (retryAfter != null) {
      delay = Math.max(delay, retryAfter.toNanos());
    }
    long elapsed = nanoTime.getAsLong() - d.firstAttemptNanos;
    if (!retry.forever() && elapsed + delay > retry.maxElapsedTime().toNanos()) {
      giveUp(d, "no more retries within max_elapsed_time " + retry.maxElapsedTime(), endpoint);
      return;
    }
    metrics.retry(signal, endpoint);
    if (LOG.isDebugEnabled()) {
      LOG.debug("[{}] attempt {} of a {} request to {} failed ({}); retrying in {} ms",
          settings.name(), d.attempts, signal.id(), endpoint == null ? d.route.target() : endpoint,
          message, TimeUnit.NANOSECONDS.toMillis(delay));
    }
    synchronized (d) {
      if (d.finished) {
        return;
      }
      try {
        d.timer = scheduler.schedule(() -> dispatch(d), delay, TimeUnit.NANOSECONDS);
        return;
      } catch (RejectedExecutionException e) {
        // the exporter is stopping
      }
    }
    finish(d, closedFailure(), "shutdown", endpoint);
  }

  private void giveUp(Delivery d, String why, String endpoint) {
    Signal signal = d.route.signal();
    String last = d.lastMessage == null ? "" : d.lastMessage;
    long held = throttle.acquire("giveup:" + signal.id());
    if (held >= 0) {
      LOG.warn("[{}] giving up on a {} request of {} {} to {} after {} attempts, {}: {}{}",
          settings.name(), signal.id(), d.items, signal.itemNoun(),
          endpoint == null ? d.route.target() : endpoint, d.attempts, why, last,
          held > 0 ? " (" + held + " more not logged)" : "");
    }
    ExportFailedException failure = new ExportFailedException("[" + settings.name() + "] "
        + signal.id() + " request not delivered after " + d.attempts + " attempts, " + why
        + "; last error: " + last, true, d.lastStatus, d.attempts, null);
    finish(d, failure, "retries_exhausted", endpoint);
  }

  /** A permanent refusal: logged, counted, dead-lettered; the data counts as handled. */
  private void refuse(Delivery d, int status, String message, String endpoint) {
    Signal signal = d.route.signal();
    ByteBuf body;
    synchronized (d) {
      if (d.finished) {
        return; // abandoned meanwhile
      }
      body = d.body.retainedDuplicate();
    }
    logRefusal(signal, (endpoint == null ? d.route.target() : endpoint) + " refused", status,
        message, d.items);
    metrics.failed(signal, endpoint, "refused", d.items);
    try {
      workers.execute(() -> {
        try {
          byte[] plain = codec.decompress(body);
          boolean json = codec.encoding() == Encoding.JSON;
          writeDeadLetter(signal, target(d, endpoint), status, message, d.items,
              json ? null : plain, json ? plain : null);
        } catch (IOException | RuntimeException e) {
          LOG.error("[{}] cannot read back a refused {} request for the dead-letter file",
              settings.name(), signal.id(), e);
        } finally {
          body.release();
          finish(d, null, null, endpoint);
        }
      });
    } catch (RejectedExecutionException e) {
      body.release();
      finish(d, closedFailure(), "shutdown", endpoint);
    }
  }

  private String target(Delivery d, String endpoint) {
    return endpoint == null ? d.route.target() : endpoint + d.route.path();
  }

  /** Logs a refused request, at most once per interval and status. */
  private void logRefusal(Signal signal, String who, int status, String message, int items) {
    long held = throttle.acquire(status);
    if (held >= 0) {
      String where = deadLetters == null ? "dropped (no dead_letter_dir)"
          : "written to " + deadLetters.file(signal);
      LOG.warn("[{}] {} a {} request of {} {}{}: {}; {}{}", settings.name(), who, signal.id(),
          items, signal.itemNoun(), status == 0 ? "" : " with status " + status,
          message.isEmpty() ? "(no message)" : message, where,
          held > 0 ? " (" + held + " more such refusals not logged)" : "");
    }
  }

  private void writeDeadLetter(Signal signal, String endpoint, int status, String message,
      int items, byte[] protobuf, byte[] json) {
    if (deadLetters == null) {
      return;
    }
    try {
      deadLetters.write(signal, endpoint, status, message, items, protobuf, json);
      metrics.deadLettered(signal, items);
    } catch (IOException | RuntimeException e) {
      LOG.error("[{}] cannot write {} refused {} to {}; they are lost", settings.name(), items,
          signal.itemNoun(), deadLetters.file(signal), e);
    }
  }

  /** Ends a request once: releases its body and reports to its job. */
  private void finish(Delivery d, RuntimeException failure, String failedReason,
      String endpoint) {
    synchronized (d) {
      if (d.finished) {
        return;
      }
      d.finished = true;
      if (d.timer != null) {
        d.timer.cancel(false);
      }
    }
    active.remove(d);
    d.body.release();
    if (failure != null && failedReason != null) {
      metrics.failed(d.route.signal(), endpoint, failedReason, d.items);
    }
    d.job.done(failure);
  }

  private RuntimeException closedFailure() {
    Supplier<RuntimeException> closed = abandoned;
    return closed != null ? closed.get()
        : new IllegalStateException("the exporter '" + settings.name() + "' is stopped");
  }

  private void jobFinished() {
    synchronized (drainLock) {
      outstandingJobs--;
      if (outstandingJobs == 0) {
        drainLock.notifyAll();
      }
    }
  }

  /**
   * Waits up to {@code timeout} for everything submitted to finish (answers may still come and
   * retries still run), then abandons what is left: its futures fail with {@code closed}'s
   * exception, and whatever is submitted afterwards fails at once. Returns the number of requests
   * abandoned.
   */
  public int drainAndAbandon(Duration timeout, Supplier<RuntimeException> closed) {
    long deadline = System.nanoTime() + timeout.toNanos();
    boolean interrupted = false;
    synchronized (drainLock) {
      while (outstandingJobs > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(drainLock, left);
        } catch (InterruptedException e) {
          interrupted = true;
          break;
        }
      }
    }
    abandoned = closed;
    List<Delivery> left = new ArrayList<>(active);
    synchronized (sendLock) {
      ready.clear();
    }
    for (Delivery d : left) {
      finish(d, closed.get(), "shutdown", null);
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return left.size();
  }

  private static String label(Endpoint endpoint) {
    return endpoint == null ? null : endpoint.authority();
  }

  /** One request in flight or waiting for its next attempt. */
  private static final class Delivery {
    final Job job;
    final Route route;
    final ByteBuf body;
    final int items;
    final byte[] hashKey;
    final Backoff backoff;
    // guarded by this
    boolean finished;
    ScheduledFuture<?> timer;
    int attempts;
    long firstAttemptNanos = Long.MIN_VALUE;
    // written before a retry is scheduled, read after: ordered by the scheduler's handoff
    volatile int lastStatus;
    volatile String lastMessage;

    Delivery(Job job, Route route, ByteBuf body, int items, byte[] hashKey, Backoff backoff) {
      this.job = job;
      this.route = route;
      this.body = body;
      this.items = items;
      this.hashKey = hashKey;
      this.backoff = backoff;
    }
  }

  /** The pieces of one merged request; completes the source futures when all are done. */
  private final class Job {
    private final List<CompletableFuture<Void>> futures;
    private int remaining;
    private RuntimeException failure;

    Job(List<CompletableFuture<Void>> futures, int pieces) {
      this.futures = futures;
      this.remaining = pieces;
      if (pieces == 0) {
        complete(null);
      }
    }

    void done(RuntimeException pieceFailure) {
      RuntimeException result;
      synchronized (this) {
        if (pieceFailure != null && failure == null) {
          failure = pieceFailure;
        }
        if (--remaining != 0) {
          return;
        }
        result = failure;
      }
      complete(result);
    }

    /**
     * Completes the futures on a worker: what callers chain on them (a queue commit) must not
     * run on the upstream group's event loop, where the last answer usually arrives.
     */
    private void complete(RuntimeException result) {
      Runnable task = () -> {
        try {
          for (CompletableFuture<Void> f : futures) {
            if (result == null) {
              f.complete(null);
            } else {
              f.completeExceptionally(result);
            }
          }
        } finally {
          jobFinished();
        }
      };
      try {
        workers.execute(task);
      } catch (RejectedExecutionException e) {
        task.run(); // stopping: complete here
      }
    }
  }
}
