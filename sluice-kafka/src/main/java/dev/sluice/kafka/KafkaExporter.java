package dev.sluice.kafka;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.kafka.internal.DeadLetterWriter;
import dev.sluice.kafka.internal.ExporterMetrics;
import dev.sluice.kafka.internal.RequestSplitter;
import dev.sluice.kafka.internal.RequestSplitter.Piece;
import dev.sluice.kafka.internal.Secrets;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends OTLP data to Apache Kafka topics, as the OpenTelemetry Collector's {@code kafka}
 * exporter does: one {@code Export*ServiceRequest} per message, in protobuf ({@code otlp_proto},
 * the default) or OTLP/JSON ({@code otlp_json}), to a topic per signal ({@code otlp_spans}, {@code
 * otlp_metrics} and {@code otlp_logs} by default).
 *
 * <p><b>Messages and keys.</b> Traces are cut so that each message holds one trace, keyed by the
 * trace id as 32 lowercase hex characters (the Collector's {@code partition_traces_by_id} key):
 * every span of a trace lands in one partition, in order. Metrics and logs go out one message per
 * {@code ResourceMetrics}/{@code ResourceLogs}, keyed by a 16-byte hash of the resource attributes
 * (independent of their order), so one resource's data stays in one partition. A batch with a
 * tenant carries it in the {@value #TENANT_HEADER} header. A message over {@code maxMessageBytes}
 * (counting key, headers and Kafka's record overhead) is cut between items, keeping resource and
 * scope and the key; a single item too large alone is written to the dead-letter file {@code
 * <deadLetterDirectory>/<signal>.jsonl} (or, without one, logged and dropped) and counts as
 * handled. Splitting works on protobuf-java messages (parsed once per batch), which keep unknown
 * fields of the resource and scope envelopes.
 *
 * <p><b>Delivery.</b> The producer runs with {@code acks=all} and {@code enable.idempotence=true};
 * it retries on its own until {@code delivery.timeout.ms} (120 s by default, {@link
 * Builder#deliveryTimeout}). The future of {@link #export} completes when Kafka acknowledged every
 * message of the batch (or the batch's oversize items were dead-lettered); it fails with {@link
 * KafkaExportException} when a message could not be delivered, which is retriable: the {@code
 * DurablePipeline} keeps the batch in its queue and offers it again, so delivery is at least once
 * (messages acknowledged before the failure are sent again with the rest). It fails with {@link
 * PipelineFullException} when the exporter is closed or holds more than {@code maxPendingBytes}
 * not yet acknowledged. {@link #export} never blocks: batches are handed to the exporter's own
 * thread, which parses, cuts and hands them to the producer.
 *
 * <p><b>Configuration.</b> Any Kafka producer property can be passed through with {@link
 * Builder#producerProperties}, which is how TLS ({@code security.protocol=SSL}, {@code ssl.*}) and
 * SASL PLAIN, SCRAM or OAUTHBEARER ({@code sasl.mechanism}, {@code sasl.jaas.config}, ...) are
 * configured; they override the exporter's own settings, except the serializers. The builder
 * checks everything when {@link Builder#build()} is called; {@link #toString()} masks the values
 * of properties whose names contain password, secret, token, jaas or credential.
 */
public final class KafkaExporter implements Exporter {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaExporter.class);

  /** Header carrying the batch's tenant, when it has one (UTF-8). */
  public static final String TENANT_HEADER = "sluice.tenant";
  /** Kafka's default {@code max.request.size}: 1 MiB. */
  public static final int DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
  public static final Duration DEFAULT_DELIVERY_TIMEOUT = Duration.ofSeconds(120);
  public static final Duration DEFAULT_LINGER = Duration.ofMillis(5);
  public static final int DEFAULT_BATCH_SIZE = 16 * 1024;
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);
  public static final long DEFAULT_MAX_PENDING_BYTES = 64L * 1024 * 1024;
  private static final Pattern TOPIC = Pattern.compile("[a-zA-Z0-9._-]{1,249}");
  private static final Duration KAFKA_REQUEST_TIMEOUT = Duration.ofSeconds(30);

  private enum State { NEW, RUNNING, CLOSED }

  private record Task(TelemetryBatch batch, CompletableFuture<Void> future, int bytes) {}

  private static final Task POISON = new Task(null, null, 0);

  private final String name;
  private final String bootstrapServers;
  private final Map<Signal, String> topics;
  private final KafkaEncoding encoding;
  private final KafkaCompression compression;
  private final int maxMessageBytes;
  private final Duration linger;
  private final int batchSize;
  private final Duration deliveryTimeout;
  private final Duration closeTimeout;
  private final long maxPendingBytes;
  private final Path deadLetterDirectory;
  private final Map<String, Object> producerProperties;
  private final Map<String, Object> producerConfig;
  private final MeterRegistry registry;
  private final ExporterMetrics metrics;
  private final RequestSplitter splitter;
  private final DeadLetterWriter deadLetters;

  private final Object lock = new Object();
  private final LinkedBlockingQueue<Task> tasks = new LinkedBlockingQueue<>();
  private final AtomicLong pendingBytes = new AtomicLong();
  private volatile State state = State.NEW; // written under lock
  private Producer<byte[], byte[]> producer;
  private Thread sender;

  private KafkaExporter(Builder b, Map<String, Object> producerConfig) {
    this.name = b.name;
    this.bootstrapServers = b.bootstrapServers;
    this.topics = Collections.unmodifiableMap(new EnumMap<>(b.topics));
    this.encoding = b.encoding;
    this.compression = b.compression;
    this.maxMessageBytes = b.maxMessageBytes;
    this.linger = b.linger;
    this.batchSize = b.batchSize;
    this.deliveryTimeout = b.deliveryTimeout;
    this.closeTimeout = b.closeTimeout;
    this.maxPendingBytes = b.maxPendingBytes;
    this.deadLetterDirectory = b.deadLetterDirectory;
    this.producerProperties = Collections.unmodifiableMap(new LinkedHashMap<>(b.producerProperties));
    this.producerConfig = Collections.unmodifiableMap(producerConfig);
    this.registry = b.registry != null ? b.registry : new CompositeMeterRegistry();
    this.metrics = new ExporterMetrics(registry, name);
    this.splitter = new RequestSplitter(encoding, maxMessageBytes);
    this.deadLetters = deadLetterDirectory == null ? null
        : new DeadLetterWriter(deadLetterDirectory, name, b.clock);
  }

  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String name() {
    return name;
  }

  public String bootstrapServers() {
    return bootstrapServers;
  }

  /** The topic a signal's messages go to. */
  public String topic(Signal signal) {
    return topics.get(signal);
  }

  public KafkaEncoding encoding() {
    return encoding;
  }

  public KafkaCompression compression() {
    return compression;
  }

  public int maxMessageBytes() {
    return maxMessageBytes;
  }

  public Duration deliveryTimeout() {
    return deliveryTimeout;
  }

  /** The dead-letter file of a signal, or null when there is no dead-letter directory. */
  public Path deadLetterFile(Signal signal) {
    return deadLetters == null ? null : deadLetters.file(signal);
  }

  /** The properties the producer is created with, secrets masked. */
  public Map<String, String> effectiveProducerProperties() {
    return Secrets.masked(producerConfig);
  }

  /** Payload bytes handed to {@link #export} and not yet acknowledged, dead-lettered or failed. */
  public long pendingBytes() {
    return pendingBytes.get();
  }

  /**
   * Creates the producer and the exporter's thread. The producer connects lazily: a broker that
   * is down now makes exports fail after the delivery timeout, not this call.
   *
   * @throws IllegalStateException when called twice or after close
   * @throws org.apache.kafka.common.KafkaException when the producer cannot be created (e.g. no
   *     bootstrap address resolves)
   */
  @Override
  public void start() {
    synchronized (lock) {
      if (state != State.NEW) {
        throw new IllegalStateException("the Kafka exporter '" + name + "' was already "
            + (state == State.RUNNING ? "started" : "closed"));
      }
      producer = new KafkaProducer<>(new HashMap<>(producerConfig));
      sender = new Thread(this::run, "sluice-kafka-" + name);
      sender.setDaemon(true);
      sender.start();
      state = State.RUNNING;
    }
    Gauge.builder("sluice.kafka.pending.bytes", pendingBytes, AtomicLong::get).baseUnit("bytes")
        .description("Payload bytes handed to the Kafka exporter and not yet acknowledged")
        .tag("exporter", name).register(registry);
    LOG.info("Kafka exporter {} started: {}", name, this);
  }

  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    Objects.requireNonNull(batch, "batch");
    CompletableFuture<Void> future = new CompletableFuture<>();
    synchronized (lock) {
      if (state == State.NEW) {
        throw new IllegalStateException("the Kafka exporter '" + name + "' was not started");
      }
      if (state == State.CLOSED) {
        batch.release();
        return CompletableFuture.failedFuture(
            new PipelineFullException("the Kafka exporter '" + name + "' is closed", 5));
      }
      int bytes = batch.bytes();
      long pending = pendingBytes.get();
      if (pending > 0 && pending + bytes > maxPendingBytes) {
        batch.release();
        return CompletableFuture.failedFuture(new PipelineFullException("the Kafka exporter '"
            + name + "' holds " + pending + " bytes Kafka has not acknowledged yet", 1));
      }
      pendingBytes.addAndGet(bytes);
      tasks.add(new Task(batch, future, bytes));
    }
    return future;
  }

  /**
   * Stops taking batches; lets the exporter's thread hand what it was given to the producer and
   * the producer send it, for at most the close timeout in all; then closes the producer. Batches
   * not acknowledged by then fail (their futures with {@link KafkaExportException} or {@link
   * PipelineFullException}), so a durable pipeline delivers them again after the next start.
   * Idempotent.
   */
  @Override
  public void close() {
    synchronized (lock) {
      if (state == State.CLOSED) {
        return;
      }
      boolean started = state == State.RUNNING;
      state = State.CLOSED;
      if (!started) {
        return;
      }
      tasks.add(POISON);
    }
    long deadline = System.nanoTime() + closeTimeout.toNanos();
    boolean interrupted = false;
    try {
      sender.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      if (sender.isAlive()) {
        // Blocked in send(): waiting for metadata or buffer space from a broker that is not there.
        sender.interrupt();
        sender.join(1000);
      }
    } catch (InterruptedException e) {
      interrupted = true;
    }
    List<Task> left = new ArrayList<>();
    tasks.drainTo(left);
    for (Task t : left) {
      if (t != POISON) {
        t.batch.release();
        pendingBytes.addAndGet(-t.bytes);
        t.future.completeExceptionally(new PipelineFullException("the Kafka exporter '" + name
            + "' closed before the batch was sent", 5));
      }
    }
    Duration rest = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    try {
      producer.close(rest); // sends what it holds; what it cannot send by then fails
    } catch (RuntimeException e) {
      LOG.warn("closing the producer of Kafka exporter {} failed: {}", name, e.toString());
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    LOG.info("Kafka exporter {} closed", name);
  }

  private void run() {
    while (true) {
      Task t;
      try {
        t = tasks.take();
      } catch (InterruptedException e) {
        return; // close() interrupted us; it fails what is left
      }
      if (t == POISON) {
        return;
      }
      try {
        process(t);
      } catch (RuntimeException | Error e) {
        // A bug, not a Kafka failure; fail the batch so that it is kept and offered again.
        LOG.error("Kafka exporter {} failed on a batch", name, e);
        pendingBytes.addAndGet(-t.bytes);
        t.future.completeExceptionally(e);
      }
    }
  }

  private void process(Task t) {
    TelemetryBatch batch = t.batch;
    Signal signal = batch.signal();
    String topic = topics.get(signal);
    ExporterMetrics.ForSignal m = metrics.of(signal);
    Message request = null;
    byte[] unparsable = null;
    String parseError = null;
    int items = batch.items();
    String tenant = batch.tenant();
    try {
      m.batchItems.record(items);
      m.batchBytes.record(t.bytes);
      try {
        request = signal.requestPrototype().getParserForType()
            .parseFrom(batch.payload().nioBuffer());
      } catch (InvalidProtocolBufferException e) {
        unparsable = batch.payloadBytes();
        parseError = e.getMessage();
      }
    } finally {
      batch.release();
    }
    if (request == null) {
      // Receivers validate what they accept, so this is a bug upstream; retrying cannot help.
      String reason = "the batch is not a valid " + signal.id() + " request: " + parseError;
      byte[] raw = unparsable;
      deadLetterOrDrop(t, signal, topic, reason, items, () -> deadLetters.writeUnparsable(signal,
          topic, reason, items, raw));
      return;
    }
    List<Header> headers = tenant.isEmpty() ? List.of()
        : List.of(new RecordHeader(TENANT_HEADER, tenant.getBytes(StandardCharsets.UTF_8)));
    int headerBytes = 0;
    for (Header h : headers) {
      headerBytes += h.key().length() + h.value().length + 10;
    }
    RequestSplitter.Result split = splitter.split(signal, request, headerBytes);
    if (split.splitMessages() > 0) {
      m.recordsSplit.increment(split.splitMessages());
    }
    for (Piece p : split.tooLarge()) {
      String what = p.items() == 0 ? "a resource or scope without items"
          : "a single " + singular(signal) + " with its resource and scope";
      String reason = what + " takes " + p.value().length + " bytes as " + encoding.id()
          + ", more than max_message_bytes (" + maxMessageBytes + ") allows";
      if (!deadLetter(signal, topic, reason, p)) {
        fail(t, new KafkaExportException("cannot write the dead-letter file of Kafka exporter '"
            + name + "'", 0, null));
        return;
      }
    }
    List<Piece> messages = split.messages();
    if (messages.isEmpty()) {
      succeed(t);
      return;
    }
    Delivery delivery = new Delivery(t, signal, topic, messages.size());
    for (int i = 0; i < messages.size(); i++) {
      Piece p = messages.get(i);
      byte[] key = p.key().length == 0 ? null : p.key();
      ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, null, null, key,
          p.value(), headers);
      long sent = System.nanoTime();
      int index = i;
      try {
        producer.send(record, (meta, error) -> delivery.done(index, p, error,
            System.nanoTime() - sent));
      } catch (RuntimeException e) {
        // Interrupted by close, the producer closed, or a fatal producer error: nothing of the
        // rest goes out.
        for (int j = i; j < messages.size(); j++) {
          delivery.done(j, messages.get(j), e, -1);
        }
        break;
      }
    }
    delivery.sealed();
  }

  /** Collects the producer's answers for the messages of one batch. */
  private final class Delivery {
    private final Task task;
    private final Signal signal;
    private final String topic;
    private final ExporterMetrics.ForSignal m;
    private final AtomicInteger outstanding;
    private final AtomicIntegerArray settled; // 1 once a message's outcome was counted
    private final AtomicInteger failed = new AtomicInteger();
    private final List<Piece> refused = Collections.synchronizedList(new ArrayList<>());
    private volatile Throwable firstError;

    Delivery(Task task, Signal signal, String topic, int messages) {
      this.task = task;
      this.signal = signal;
      this.topic = topic;
      this.m = metrics.of(signal);
      this.outstanding = new AtomicInteger(messages + 1); // + 1 until every send was made
      this.settled = new AtomicIntegerArray(messages);
    }

    /** Counts the outcome of message {@code index}; a second report of it is ignored. */
    void done(int index, Piece p, Exception error, long nanos) {
      if (!settled.compareAndSet(index, 0, 1)) {
        return;
      }
      if (nanos >= 0) {
        m.latency.record(nanos, TimeUnit.NANOSECONDS);
      }
      if (error == null) {
        m.messagesSent.increment();
        m.bytesSent.increment(p.value().length + p.key().length);
      } else {
        m.sendErrors.increment();
        if (error instanceof RecordTooLargeException) {
          refused.add(p); // the broker's or the topic's limit is below max_message_bytes
        } else {
          failed.incrementAndGet();
          if (firstError == null) {
            firstError = error;
          }
        }
      }
      countDown();
    }

    void sealed() {
      countDown();
    }

    private void countDown() {
      if (outstanding.decrementAndGet() != 0) {
        return;
      }
      for (Piece p : refused) {
        String reason = "Kafka refused a message of " + p.value().length + " bytes as too large"
            + " (the broker's message.max.bytes or the topic's max.message.bytes is below"
            + " max_message_bytes " + maxMessageBytes + ")";
        if (!deadLetter(signal, topic, reason, p)) {
          failed.incrementAndGet();
        }
      }
      int n = failed.get();
      if (n == 0) {
        succeed(task);
        return;
      }
      Throwable cause = firstError;
      LOG.debug("Kafka exporter {}: {} message(s) of a {} batch not acknowledged: {}", name, n,
          signal.id(), String.valueOf(cause));
      fail(task, new KafkaExportException("Kafka did not acknowledge " + n + " message(s) for "
          + topic + ": " + (cause == null ? "the dead-letter file could not be written"
          : cause.toString()), n, cause));
    }
  }

  private interface DeadLetterWrite {
    void write() throws IOException;
  }

  /** Writes one oversize piece to the dead-letter file; false when that failed. */
  private boolean deadLetter(Signal signal, String topic, String reason, Piece p) {
    ExporterMetrics.ForSignal m = metrics.of(signal);
    if (deadLetters == null) {
      LOG.error("Kafka exporter {} dropped {} {} for {}: {}; set a dead-letter directory to keep"
          + " such items", name, p.items(), itemNoun(signal), topic, reason);
      m.dropped.increment(p.items());
      return true;
    }
    try {
      deadLetters.write(signal, topic, reason, p.items(), p.value().length, p.request());
    } catch (IOException | RuntimeException e) {
      LOG.error("Kafka exporter {} cannot write {} {} to its dead-letter file {}: {}", name,
          p.items(), itemNoun(signal), deadLetters.file(signal), e.toString());
      return false;
    }
    m.deadLettered.increment(p.items());
    LOG.error("Kafka exporter {} wrote {} {} to the dead-letter file {}: {}", name, p.items(),
        itemNoun(signal), deadLetters.file(signal), reason);
    return true;
  }

  private void deadLetterOrDrop(Task t, Signal signal, String topic, String reason, int items,
      DeadLetterWrite write) {
    ExporterMetrics.ForSignal m = metrics.of(signal);
    if (deadLetters == null) {
      LOG.error("Kafka exporter {} dropped a batch of {} {}: {}", name, items, itemNoun(signal),
          reason);
      m.dropped.increment(items);
      succeed(t);
      return;
    }
    try {
      write.write();
    } catch (IOException | RuntimeException e) {
      LOG.error("Kafka exporter {} cannot write to its dead-letter file {}: {}", name,
          deadLetters.file(signal), e.toString());
      fail(t, new KafkaExportException("cannot write the dead-letter file", 0, e));
      return;
    }
    m.deadLettered.increment(items);
    LOG.error("Kafka exporter {} wrote a batch of {} {} to the dead-letter file {}: {}", name,
        items, itemNoun(signal), deadLetters.file(signal), reason);
    succeed(t);
  }

  private void succeed(Task t) {
    pendingBytes.addAndGet(-t.bytes);
    t.future.complete(null);
  }

  private void fail(Task t, Throwable error) {
    pendingBytes.addAndGet(-t.bytes);
    t.future.completeExceptionally(error);
  }

  private static String singular(Signal signal) {
    return switch (signal) {
      case TRACES -> "span";
      case METRICS -> "data point";
      case LOGS -> "log record";
    };
  }

  private static String itemNoun(Signal signal) {
    return switch (signal) {
      case TRACES -> "span(s)";
      case METRICS -> "data point(s)";
      case LOGS -> "log record(s)";
    };
  }

  /** The configuration, with the values of secret producer properties masked. */
  @Override
  public String toString() {
    Map<String, String> t = new LinkedHashMap<>();
    topics.forEach((s, topic) -> t.put(s.id(), topic));
    return "KafkaExporter{name=" + name
        + ", bootstrapServers=" + bootstrapServers
        + ", topics=" + t
        + ", encoding=" + encoding.id()
        + ", compression=" + compression.id()
        + ", maxMessageBytes=" + maxMessageBytes
        + ", linger=" + linger.toMillis() + "ms"
        + ", batchSize=" + batchSize
        + ", deliveryTimeout=" + deliveryTimeout.toMillis() + "ms"
        + ", closeTimeout=" + closeTimeout.toMillis() + "ms"
        + ", maxPendingBytes=" + maxPendingBytes
        + ", deadLetterDirectory=" + deadLetterDirectory
        + ", producerProperties=" + Secrets.masked(producerProperties) + "}";
  }

  /**
   * Builds a {@link KafkaExporter}. Setters check their argument at once; {@link #build()} checks
   * the whole, including the producer properties against Kafka's own definitions, without
   * connecting anywhere.
   */
  public static final class Builder {
    private String name = "kafka";
    private String bootstrapServers;
    private final Map<Signal, String> topics = new EnumMap<>(Signal.class);
    private KafkaEncoding encoding = KafkaEncoding.OTLP_PROTO;
    private KafkaCompression compression = KafkaCompression.NONE;
    private int maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
    private Duration linger = DEFAULT_LINGER;
    private int batchSize = DEFAULT_BATCH_SIZE;
    private Duration deliveryTimeout = DEFAULT_DELIVERY_TIMEOUT;
    private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
    private long maxPendingBytes = DEFAULT_MAX_PENDING_BYTES;
    private Path deadLetterDirectory;
    private final Map<String, Object> producerProperties = new LinkedHashMap<>();
    private MeterRegistry registry;
    private Clock clock = Clock.systemUTC();

    private Builder() {
      topics.put(Signal.TRACES, "otlp_spans");
      topics.put(Signal.METRICS, "otlp_metrics");
      topics.put(Signal.LOGS, "otlp_logs");
    }

    /** The exporter's name, used in logs, metrics and the client id (default {@code kafka}). */
    public Builder name(String name) {
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException("the exporter name must not be blank");
      }
      this.name = name;
      return this;
    }

    /** {@code host:port[,host:port...]} of the brokers to bootstrap from (required). */
    public Builder bootstrapServers(String servers) {
      if (servers == null || servers.isBlank()) {
        throw new IllegalArgumentException("bootstrap servers must not be blank");
      }
      for (String s : servers.split(",")) {
        String hp = s.trim();
        int colon = hp.lastIndexOf(':');
        if (colon <= 0 || colon == hp.length() - 1) {
          throw new IllegalArgumentException("bootstrap server '" + hp + "' is not host:port");
        }
        try {
          int port = Integer.parseInt(hp.substring(colon + 1));
          if (port < 1 || port > 65535) {
            throw new NumberFormatException();
          }
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("bootstrap server '" + hp + "' has no valid port");
        }
      }
      this.bootstrapServers = servers.trim();
      return this;
    }

    /** The topic of a signal (defaults: otlp_spans, otlp_metrics, otlp_logs). */
    public Builder topic(Signal signal, String topic) {
      Objects.requireNonNull(signal, "signal");
      if (topic == null || !TOPIC.matcher(topic).matches() || topic.equals(".")
          || topic.equals("..")) {
        throw new IllegalArgumentException("'" + topic + "' is not a valid Kafka topic name"
            + " (1 to 249 of a-z A-Z 0-9 . _ -)");
      }
      topics.put(signal, topic);
      return this;
    }

    public Builder encoding(KafkaEncoding encoding) {
      this.encoding = Objects.requireNonNull(encoding, "encoding");
      return this;
    }

    public Builder compression(KafkaCompression compression) {
      this.compression = Objects.requireNonNull(compression, "compression");
      return this;
    }

    /**
     * The largest message, key, headers and Kafka's record overhead included (default 1 MiB,
     * Kafka's default); also the producer's {@code max.request.size}. Keep it at or below the
     * broker's {@code message.max.bytes} and the topics' {@code max.message.bytes}.
     */
    public Builder maxMessageBytes(int bytes) {
      if (bytes < 1024) {
        throw new IllegalArgumentException("max message bytes must be at least 1024: " + bytes);
      }
      this.maxMessageBytes = bytes;
      return this;
    }

    /** How long the producer waits to fill a batch ({@code linger.ms}, default 5 ms). */
    public Builder linger(Duration linger) {
      if (linger == null || linger.isNegative()) {
        throw new IllegalArgumentException("linger must not be negative: " + linger);
      }
      this.linger = linger;
      return this;
    }

    /** The producer's batch size in bytes per partition ({@code batch.size}, default 16384). */
    public Builder batchSize(int bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("batch size must not be negative: " + bytes);
      }
      this.batchSize = bytes;
      return this;
    }

    /**
     * How long the producer keeps retrying a message before it gives up and the batch's future
     * fails ({@code delivery.timeout.ms}, default 120 s).
     */
    public Builder deliveryTimeout(Duration timeout) {
      if (timeout == null || timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("delivery timeout must be positive: " + timeout);
      }
      this.deliveryTimeout = timeout;
      return this;
    }

    /** How long {@link KafkaExporter#close()} may take to flush what it holds (default 10 s). */
    public Builder closeTimeout(Duration timeout) {
      if (timeout == null || timeout.isNegative()) {
        throw new IllegalArgumentException("close timeout must not be negative: " + timeout);
      }
      this.closeTimeout = timeout;
      return this;
    }

    /**
     * How many payload bytes the exporter holds unacknowledged before it refuses batches with
     * {@link PipelineFullException} (default 64 MiB). A single batch is always taken.
     */
    public Builder maxPendingBytes(long bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("max pending bytes must be positive: " + bytes);
      }
      this.maxPendingBytes = bytes;
      return this;
    }

    /**
     * Where items too large for one message are written ({@code <dir>/<signal>.jsonl}); null (the
     * default) logs and drops them.
     */
    public Builder deadLetterDirectory(Path directory) {
      this.deadLetterDirectory = directory;
      return this;
    }

    /**
     * Kafka producer properties passed through as they are (replacing earlier ones): TLS, SASL,
     * timeouts, anything. They override the exporter's settings, except the serializers, which
     * cannot be set.
     */
    public Builder producerProperties(Map<String, ?> properties) {
      Objects.requireNonNull(properties, "properties");
      producerProperties.clear();
      properties.forEach(this::producerProperty);
      return this;
    }

    /** Adds one Kafka producer property; see {@link #producerProperties}. */
    public Builder producerProperty(String key, Object value) {
      if (key == null || key.isBlank()) {
        throw new IllegalArgumentException("a producer property needs a name");
      }
      if (value == null) {
        throw new IllegalArgumentException("producer property " + key + " has no value");
      }
      if (key.equals(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG)
          || key.equals(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG)) {
        throw new IllegalArgumentException(key + " cannot be set: the exporter writes bytes");
      }
      producerProperties.put(key, value);
      return this;
    }

    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** The clock of the dead-letter timestamps. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Checks the configuration and builds the exporter; nothing connects before {@link
     * KafkaExporter#start()}.
     *
     * @throws IllegalArgumentException naming what is wrong (secret values are never shown)
     */
    public KafkaExporter build() {
      if (bootstrapServers == null
          && !producerProperties.containsKey(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG)) {
        throw new IllegalArgumentException("the Kafka exporter '" + name
            + "' needs bootstrap servers");
      }
      Map<String, Object> config = producerConfig();
      Map<String, Object> parsed;
      try {
        parsed = ProducerConfig.configDef().parse(config);
      } catch (ConfigException e) {
        throw new IllegalArgumentException("invalid Kafka producer configuration of exporter '"
            + name + "': " + e.getMessage(), e);
      }
      long deliveryMs = ((Number) parsed.get(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG)).longValue();
      long lingerMs = ((Number) parsed.get(ProducerConfig.LINGER_MS_CONFIG)).longValue();
      long requestMs = ((Number) parsed.get(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG)).longValue();
      if (deliveryMs < lingerMs + requestMs) {
        throw new IllegalArgumentException("delivery.timeout.ms (" + deliveryMs + ") must be at"
            + " least linger.ms + request.timeout.ms (" + lingerMs + " + " + requestMs + ")");
      }
      long maxRequest = ((Number) parsed.get(ProducerConfig.MAX_REQUEST_SIZE_CONFIG)).longValue();
      if (maxRequest < maxMessageBytes) {
        throw new IllegalArgumentException("max.request.size (" + maxRequest + ") is below"
            + " max message bytes (" + maxMessageBytes + "): messages that fit would be refused");
      }
      long bufferMemory = ((Number) parsed.get(ProducerConfig.BUFFER_MEMORY_CONFIG)).longValue();
      if (bufferMemory < maxMessageBytes) {
        throw new IllegalArgumentException("buffer.memory (" + bufferMemory + ") is below max"
            + " message bytes (" + maxMessageBytes + ")");
      }
      boolean idempotent = (Boolean) parsed.get(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG);
      String acks = String.valueOf(parsed.get(ProducerConfig.ACKS_CONFIG));
      boolean acksAll = acks.equals("all") || acks.equals("-1");
      if (idempotent && !acksAll) {
        throw new IllegalArgumentException("acks=" + acks + " needs enable.idempotence=false;"
            + " the exporter's default is acks=all with idempotence, for no loss");
      }
      if (!acksAll) {
        LOG.warn("Kafka exporter {} runs with acks={}: a batch counts as delivered before every"
            + " in-sync replica has it, and a broker failure can lose it", name, acks);
      }
      return new KafkaExporter(this, config);
    }

    private Map<String, Object> producerConfig() {
      Map<String, Object> p = new HashMap<>();
      if (bootstrapServers != null) {
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
      }
      p.put(ProducerConfig.CLIENT_ID_CONFIG, "sluice-" + name);
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
      p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression.id());
      p.put(ProducerConfig.LINGER_MS_CONFIG, Long.toString(linger.toMillis()));
      p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(batchSize));
      long deliveryMs = Math.min(Integer.MAX_VALUE, deliveryTimeout.toMillis());
      p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(deliveryMs));
      // Kafka wants delivery.timeout.ms >= linger.ms + request.timeout.ms: shorten the request
      // timeout for short delivery timeouts.
      long requestMs = Math.max(1, Math.min(KAFKA_REQUEST_TIMEOUT.toMillis(),
          deliveryMs - linger.toMillis()));
      p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(requestMs));
      p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(maxMessageBytes));
      p.putAll(producerProperties);
      p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      return p;
    }
  }
}
