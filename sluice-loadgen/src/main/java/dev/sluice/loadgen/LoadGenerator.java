package dev.sluice.loadgen;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.http.transport.Transport;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.ssl.SslContext;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.IdentityHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;
import org.HdrHistogram.Histogram;

/**
 * Sends synthetic OTLP requests ({@link PayloadGenerator}) to an OTLP/HTTP endpoint as {@link
 * LoadSettings} say, and sums up what became of them ({@link LoadSummary}).
 *
 * <pre>{@code
 * LoadGenerator g = new LoadGenerator(LoadSettings.builder()
 *     .endpoint("http://127.0.0.1:4318").requests(1000).connections(4).build());
 * LoadSummary s = g.run();
 * System.out.print(s.format());
 * }</pre>
 *
 * <p>Each of the C connections is a keep-alive HTTP/1.1 connection ({@link HttpConnection}) with
 * one request outstanding: it claims the next request index, stamps and encodes that request,
 * sends it, reads the answer, and claims the next. With a rate, request {@code k} is not sent
 * before {@code start + k / rate}: the rate holds over all connections, as long as C connections
 * can carry it (requests that fell behind go out as soon as a connection is free). With a
 * duration, no request starts after it; retries of requests already started still do. A request answered 429, 502, 503 or 504, or that met a timeout or a connection
 * error, is sent again (the same bytes) on the same connection after the answer's {@code
 * Retry-After} (at most {@value #MAX_RETRY_AFTER_SECONDS} s) or an exponential backoff from 100 ms
 * to 5 s with jitter, up to {@link LoadSettings#retries()} times. A 2xx answer's {@code
 * partial_success} counts rejected items; any other answer fails the request.
 *
 * <p>The run connects once before the load and gives up at once when it cannot; during the load
 * it stops early when {@code max(4, C)} requests in a row failed for good without an answer.
 * {@link #stop()} ends a run early (requests in flight finish; pending retries are given up).
 */
public final class LoadGenerator {
  /** The longest {@code Retry-After} honoured; longer ones wait this long. */
  public static final int MAX_RETRY_AFTER_SECONDS = 60;

  private static final long MIN_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);
  private static final byte[] CRLF_CRLF = {'\r', '\n', '\r', '\n'};
  private static final Pattern JSON_MESSAGE = Pattern.compile("\"message\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

  private final LoadSettings settings;
  private final PayloadGenerator payloads;
  private final SslContext ssl;
  private final byte[] head;
  private final long histogramMax;
  private final int abortAfter;

  private final AtomicBoolean started = new AtomicBoolean();
  private final AtomicLong nextIndex = new AtomicLong();
  private final LongAdder sent = new LongAdder();
  private final LongAdder completed = new LongAdder();
  private final LongAdder succeeded = new LongAdder();
  private final LongAdder failed = new LongAdder();
  private final LongAdder retried = new LongAdder();
  private final LongAdder attempts = new LongAdder();
  private final LongAdder accepted = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder bytes = new LongAdder();
  private final Map<String, LongAdder> failures = new ConcurrentHashMap<>();
  private final AtomicReference<String> firstProblem = new AtomicReference<>();
  private final AtomicReference<String> abortReason = new AtomicReference<>();
  private final AtomicInteger failuresInARow = new AtomicInteger();
  private volatile boolean stopping;
  private volatile Lane[] lanes;
  private volatile long startNanos;
  private volatile long endNanos;

  /**
   * Builds the payload template and the TLS context; connects nothing yet.
   *
   * @throws IllegalArgumentException when the TLS options cannot be used (an unreadable CA file)
   */
  public LoadGenerator(LoadSettings settings) {
    this.settings = settings;
    this.payloads = PayloadGenerator.create(settings.signal(), settings.items(),
        settings.attributes(), settings.seed());
    this.ssl = settings.tls() ? HttpConnector.clientTls(settings.insecure(), settings.caFile())
        : null;
    this.head = head(settings);
    this.histogramMax = Math.max(settings.timeout().toNanos(), TimeUnit.SECONDS.toNanos(60)) * 2;
    this.abortAfter = Math.max(4, settings.connections());
  }

  public LoadSettings settings() {
    return settings;
  }

  public PayloadGenerator payloads() {
    return payloads;
  }

  /** The head of every request up to the value of Content-Length. */
  private static byte[] head(LoadSettings s) {
    Map<String, String> fixed = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    for (LoadSettings.Header h : s.headers()) {
      fixed.put(h.name(), h.name());
    }
    StringBuilder sb = new StringBuilder();
    sb.append("POST ").append(s.target()).append(" HTTP/1.1\r\n");
    if (!fixed.containsKey("Host")) {
      sb.append("Host: ").append(s.hostHeader()).append("\r\n");
    }
    if (!fixed.containsKey("User-Agent")) {
      sb.append("User-Agent: ").append(s.userAgent()).append("\r\n");
    }
    if (!fixed.containsKey("Content-Type")) {
      sb.append("Content-Type: ").append(s.encoding().contentType()).append("\r\n");
    }
    if (s.compression() == Compression.GZIP) {
      sb.append("Content-Encoding: gzip\r\n");
    }
    for (LoadSettings.Header h : s.headers()) {
      sb.append(h.name()).append(": ").append(h.value()).append("\r\n");
    }
    sb.append("Content-Length: ");
    return sb.toString().getBytes(StandardCharsets.ISO_8859_1);
  }

  /** Counts so far; callable from any thread, during and after {@link #run()}. */
  public Progress progress() {
    long start = startNanos;
    long end = endNanos;
    long elapsed = start == 0 ? 0 : (end != 0 ? end : System.nanoTime()) - start;
    return new Progress(elapsed, sent.sum(), completed.sum(), succeeded.sum(), failed.sum(),
        retried.sum(), accepted.sum(), rejected.sum(), bytes.sum(), settings.requests(),
        settings.duration(), end != 0 && abortReason.get() == null);
  }

  /**
   * Ends the run early: no new requests, pending retries given up (counted as failed,
   * "interrupted"), answers in flight awaited. {@link #run()} then returns. Any thread.
   */
  public void stop() {
    abortReason.compareAndSet(null, "stopped before the end");
    stopping = true;
    Lane[] all = lanes;
    if (all != null) {
      for (Lane lane : all) {
        lane.loop.execute(lane::stopNow);
      }
    }
  }

  /**
   * Runs the load and returns its summary; blocks until the last answer. Once per instance.
   *
   * @throws InterruptedException when the calling thread is interrupted; the run is stopped
   */
  public LoadSummary run() throws InterruptedException {
    if (!started.compareAndSet(false, true)) {
      throw new IllegalStateException("a LoadGenerator runs once");
    }
    int threads = Math.min(settings.connections(), Runtime.getRuntime().availableProcessors());
    EventLoopGroup group = Transport.best().newGroup(threads, "sluice-send");
    Histogram latency = new Histogram(histogramMax, 3);
    try {
      HttpConnector connector = new HttpConnector(group, settings.host(), settings.port(), ssl,
          settings.timeout());
      HttpConnection first;
      try {
        first = connectFirst(connector);
      } catch (RuntimeException e) {
        abortReason.compareAndSet(null, "cannot connect to " + settings.host() + ":"
            + settings.port() + ": " + describe(unwrap(e)));
        return summary(latency, 0);
      }
      if (first == null) { // stopped while connecting
        abortReason.compareAndSet(null, "interrupted");
        return summary(latency, 0);
      }
      CountDownLatch done = new CountDownLatch(settings.connections());
      Lane[] all = new Lane[settings.connections()];
      // One histogram per event loop, shared by its lanes: a few hundred kB each, not per lane.
      Map<EventLoop, Histogram> histograms = new IdentityHashMap<>();
      long start = System.nanoTime();
      startNanos = start;
      long deadline = settings.duration() == null ? Long.MAX_VALUE
          : start + settings.duration().toNanos();
      for (int i = 0; i < all.length; i++) {
        EventLoop loop = i == 0 ? first.eventLoop() : group.next();
        Histogram h = histograms.computeIfAbsent(loop, l -> new Histogram(histogramMax, 3));
        all[i] = new Lane(connector, loop, h, i == 0 ? first : null, start, deadline, done);
      }
      lanes = all;
      for (Lane lane : all) {
        lane.loop.execute(lane::next);
      }
      if (stopping) {
        stop();
      }
      try {
        done.await();
      } catch (InterruptedException e) {
        stop();
        done.await(settings.timeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
        throw e;
      }
      endNanos = System.nanoTime();
      for (Histogram h : histograms.values()) {
        latency.add(h); // after done: the lanes' writes happen-before their count-down
      }
      return summary(latency, endNanos - start);
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
    }
  }

  private HttpConnection connectFirst(HttpConnector connector) throws InterruptedException {
    RuntimeException last = null;
    for (int attempt = 0; attempt <= settings.retries() && !stopping; attempt++) {
      if (attempt > 0) {
        TimeUnit.NANOSECONDS.sleep(backoff(attempt - 1));
      }
      try {
        return connector.connect().get(settings.timeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        last = new CompletionException(e.getCause());
        if (unwrap(last) instanceof SSLException) {
          break; // a handshake that failed fails again
        }
      } catch (TimeoutException e) {
        last = new CompletionException(e);
      }
    }
    if (last != null) {
      throw last;
    }
    return null;
  }

  private LoadSummary summary(Histogram latency, long elapsedNanos) {
    Map<String, Long> byReason = new TreeMap<>();
    failures.forEach((k, v) -> byReason.put(k, v.sum()));
    long answers = latency.getTotalCount();
    return new LoadSummary(settings.signal(), settings.endpoint(), settings.items(), sent.sum(),
        succeeded.sum(), failed.sum(), accepted.sum(), rejected.sum(), byReason, retried.sum(),
        attempts.sum(), bytes.sum(), Duration.ofNanos(elapsedNanos), answers,
        answers == 0 ? 0 : latency.getValueAtPercentile(50),
        answers == 0 ? 0 : latency.getValueAtPercentile(95),
        answers == 0 ? 0 : latency.getValueAtPercentile(99),
        answers == 0 ? 0 : latency.getMaxValue(), firstProblem.get(), abortReason.get());
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof java.util.concurrent.ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static String describe(Throwable t) {
    String m = t.getMessage();
    if (t instanceof ConnectException || t instanceof ConnectTimeoutException) {
      return m != null ? m : "connection refused";
    }
    return m == null ? t.getClass().getSimpleName() : m;
  }

  private static long backoff(int attempt) {
    long b = Math.min(MAX_BACKOFF_NANOS, MIN_BACKOFF_NANOS << Math.min(attempt, 20));
    return (long) (b * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble()));
  }

  /** Retry-After in seconds or as an HTTP date, capped; -1 when absent or unreadable. */
  static long retryAfterNanos(String value) {
    if (value == null) {
      return -1;
    }
    long seconds;
    try {
      seconds = Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      try {
        ZonedDateTime at = ZonedDateTime.parse(value.trim(), DateTimeFormatter.RFC_1123_DATE_TIME);
        long ms = Duration.between(ZonedDateTime.now(at.getZone()), at).toMillis();
        return TimeUnit.MILLISECONDS.toNanos(Math.max(0, Math.min(ms,
            MAX_RETRY_AFTER_SECONDS * 1000L)));
      } catch (DateTimeParseException e2) {
        return -1;
      }
    }
    return TimeUnit.SECONDS.toNanos(Math.max(0, Math.min(seconds, MAX_RETRY_AFTER_SECONDS)));
  }

  private static boolean retryable(int status) {
    return status == 429 || status == 502 || status == 503 || status == 504;
  }

  private void problem(String text) {
    firstProblem.compareAndSet(null, text);
  }

  /** Items a 2xx answer says were rejected, from its partial_success; 0 when there is none. */
  private long rejectedItems(ByteBuf body, HttpHeaders headers) {
    if (!body.isReadable() || headers.contains(HttpHeaderNames.CONTENT_ENCODING)) {
      return 0; // nothing to read, or compressed although this client asks for no compression
    }
    byte[] b = ByteBufUtil.getBytes(body);
    String ct = headers.get(HttpHeaderNames.CONTENT_TYPE);
    boolean json = ct != null && ct.toLowerCase(Locale.ROOT).startsWith("application/json");
    long n;
    String message;
    try {
      switch (settings.signal()) {
        case TRACES: {
          ExportTraceServiceResponse r = parse(b, json, ExportTraceServiceResponse.getDefaultInstance());
          n = r.getPartialSuccess().getRejectedSpans();
          message = r.getPartialSuccess().getErrorMessage();
          break;
        }
        case METRICS: {
          ExportMetricsServiceResponse r =
              parse(b, json, ExportMetricsServiceResponse.getDefaultInstance());
          n = r.getPartialSuccess().getRejectedDataPoints();
          message = r.getPartialSuccess().getErrorMessage();
          break;
        }
        default: {
          ExportLogsServiceResponse r = parse(b, json, ExportLogsServiceResponse.getDefaultInstance());
          n = r.getPartialSuccess().getRejectedLogRecords();
          message = r.getPartialSuccess().getErrorMessage();
        }
      }
    } catch (InvalidProtocolBufferException | RuntimeException e) {
      return 0; // not an OTLP answer: nothing to say about rejections
    }
    if (n > 0) {
      problem("partial success: " + n + " " + settings.signal().itemNoun() + " rejected"
          + (message.isEmpty() ? "" : ": " + message));
    }
    return Math.max(0, Math.min(n, settings.items()));
  }

  @SuppressWarnings("unchecked")
  private static <T extends Message> T parse(byte[] b, boolean json, T prototype)
      throws InvalidProtocolBufferException {
    return json ? OtlpJsonCodec.parse(b, 0, b.length, prototype)
        : (T) prototype.getParserForType().parseFrom(b);
  }

  /** The message of an error answer: google.rpc.Status in protobuf or JSON, or plain text. */
  private static String errorMessage(ByteBuf body, HttpHeaders headers) {
    if (!body.isReadable() || headers.contains(HttpHeaderNames.CONTENT_ENCODING)) {
      return "";
    }
    byte[] b = ByteBufUtil.getBytes(body, body.readerIndex(), Math.min(body.readableBytes(), 4096));
    String ct = headers.get(HttpHeaderNames.CONTENT_TYPE);
    String type = ct == null ? "" : ct.toLowerCase(Locale.ROOT);
    try {
      if (type.startsWith("application/x-protobuf") || type.startsWith("application/protobuf")) {
        return com.google.rpc.Status.parseFrom(b).getMessage();
      }
    } catch (InvalidProtocolBufferException e) {
      return "";
    }
    String text = new String(b, StandardCharsets.UTF_8);
    if (type.startsWith("application/json")) {
      Matcher m = JSON_MESSAGE.matcher(text);
      if (m.find()) {
        return m.group(1).replace("\\\"", "\"").replace("\\\\", "\\");
      }
    }
    text = text.replaceAll("\\s+", " ").trim();
    return text.length() > 200 ? text.substring(0, 200) + "..." : text;
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * One connection's worth of the load. Every field belongs to {@link #loop}, and so does {@link
   * #latency}, which the lanes of one loop share; {@link #run()} reads it after the lanes counted
   * {@code done} down.
   */
  private final class Lane implements HttpConnection.Listener {
    final EventLoop loop;
    private final Histogram latency;
    private final HttpConnector connector;
    private final long start;
    private final long deadline;
    private final CountDownLatch done;
    private final double nanosPerRequest;
    private final long timeoutNanos;
    private HttpConnection connection;
    private GzipEncoder gzip;
    private ByteBuf plain;
    private ByteBuf compressed;
    private long index;
    private int attempt;
    /** Connecting or waiting for an answer. */
    private boolean inFlight;
    /** A retry of {@link #index} is scheduled. */
    private boolean retryPending;
    private boolean finished;

    Lane(HttpConnector connector, EventLoop loop, Histogram latency, HttpConnection connection,
        long start, long deadline, CountDownLatch done) {
      this.connector = connector;
      this.loop = loop;
      this.latency = latency;
      this.connection = connection;
      this.start = start;
      this.deadline = deadline;
      this.done = done;
      this.nanosPerRequest = settings.rate() > 0 ? 1e9 / settings.rate() : 0;
      this.timeoutNanos = settings.timeout().toNanos();
    }

    /** Claims the next request, and sends it now or when the rate allows. */
    void next() {
      if (finished) {
        return;
      }
      if (stopping) {
        finish();
        return;
      }
      long now = System.nanoTime();
      long total = settings.requests();
      if (now >= deadline) {
        finish(); // the time is up, even for requests a slow server kept from going out on time
        return;
      }
      long k = nextIndex.getAndIncrement();
      if (total > 0 && k >= total) {
        finish();
        return;
      }
      if (nanosPerRequest > 0) {
        long due = start + (long) (k * nanosPerRequest);
        if (due >= deadline) {
          finish();
          return;
        }
        if (due > now) {
          loop.schedule(() -> begin(k), due - now, TimeUnit.NANOSECONDS);
          return;
        }
      }
      begin(k);
    }

    /** {@link #stop()} on this lane's loop: ends it unless an answer is awaited. */
    void stopNow() {
      if (finished || inFlight) {
        return; // the answer or failure calls next(), which finishes
      }
      if (retryPending) {
        retryPending = false;
        fail("interrupted", null);
        return;
      }
      finish();
    }

    private void begin(long k) {
      if (finished) {
        return;
      }
      if (stopping || System.nanoTime() >= deadline) {
        finish();
        return;
      }
      index = k;
      attempt = 0;
      sent.increment();
      send();
    }

    private void retryNow() {
      if (!retryPending || finished) {
        return; // given up by stopNow
      }
      retryPending = false;
      send();
    }

    private void send() {
      attempts.increment();
      inFlight = true;
      if (connection == null || !connection.isActive()) {
        connection = null;
        connector.connect(loop).whenComplete((c, e) -> {
          if (e != null) {
            onFailure(unwrap(e));
          } else if (finished) {
            c.close();
          } else {
            connection = c;
            write();
          }
        });
        return;
      }
      write();
    }

    private void write() {
      ByteBuf request = encode(index, connection.channel().alloc());
      connection.send(request, timeoutNanos, this);
    }

    private ByteBuf encode(long k, ByteBufAllocator alloc) {
      Encoding enc = settings.encoding();
      ByteBuf request;
      int length;
      if (settings.compression() == Compression.NONE) {
        length = payloads.bodySize(enc);
        request = alloc.directBuffer(head.length + 14 + length);
        writeHead(request, length);
        payloads.writeBody(k, enc, request);
      } else {
        if (gzip == null) {
          gzip = new GzipEncoder();
          plain = alloc.heapBuffer(payloads.bodySize(enc));
          compressed = alloc.heapBuffer(payloads.bodySize(enc) / 4 + 64);
        }
        plain.clear();
        compressed.clear();
        payloads.writeBody(k, enc, plain);
        gzip.encode(plain, compressed);
        length = compressed.readableBytes();
        request = alloc.directBuffer(head.length + 14 + length);
        writeHead(request, length);
        request.writeBytes(compressed, compressed.readerIndex(), length);
      }
      bytes.add(length);
      return request;
    }

    private void writeHead(ByteBuf out, int contentLength) {
      out.writeBytes(head);
      int digits = 1;
      for (int v = contentLength; v >= 10; v /= 10) {
        digits++;
      }
      int at = out.writerIndex();
      out.writerIndex(at + digits);
      for (int i = digits - 1, v = contentLength; i >= 0; i--, v /= 10) {
        out.setByte(at + i, '0' + v % 10);
      }
      out.writeBytes(CRLF_CRLF);
    }

    @Override
    public void onResponse(int status, HttpHeaders headers, ByteBuf body, long latencyNanos) {
      inFlight = false;
      failuresInARow.set(0);
      latency.recordValue(Math.min(latencyNanos, histogramMax));
      if (status >= 200 && status < 300) {
        long r = rejectedItems(body, headers);
        accepted.add(settings.items() - r);
        rejected.add(r);
        succeeded.increment();
        completed.increment();
        next();
        return;
      }
      if (retryable(status) && attempt < settings.retries() && !stopping) {
        long after = retryAfterNanos(headers.get(HttpHeaderNames.RETRY_AFTER));
        retry(after >= 0 ? after : backoff(attempt));
        return;
      }
      String message = errorMessage(body, headers);
      fail("HTTP " + status, "HTTP " + status + (message.isEmpty() ? "" : ": " + message));
    }

    @Override
    public void onFailure(Throwable cause) {
      inFlight = false;
      if (connection != null) {
        connection.close();
        connection = null;
      }
      if (finished) {
        return;
      }
      if (attempt < settings.retries() && !stopping) {
        retry(backoff(attempt));
        return;
      }
      boolean timeout = cause instanceof TimeoutException
          || cause instanceof ConnectTimeoutException;
      String reason = timeout ? "timeout" : "connection error";
      int inARow = failuresInARow.incrementAndGet();
      if (inARow >= abortAfter && abortReason.compareAndSet(null, inARow + " requests in a row "
          + "failed without an answer; the last: " + describe(cause))) {
        stop();
      }
      fail(reason, reason + ": " + describe(cause));
    }

    private void retry(long delayNanos) {
      retried.increment();
      attempt++;
      retryPending = true;
      loop.schedule(this::retryNow, delayNanos, TimeUnit.NANOSECONDS);
    }

    private void fail(String reason, String text) {
      failures.computeIfAbsent(reason, r -> new LongAdder()).increment();
      failed.increment();
      completed.increment();
      if (text != null) {
        problem(text);
      }
      next();
    }

    private void finish() {
      if (finished) {
        return;
      }
      finished = true;
      if (connection != null) {
        connection.close();
        connection = null;
      }
      if (gzip != null) {
        gzip.close();
        plain.release();
        compressed.release();
        gzip = null;
      }
      done.countDown();
    }
  }
}
