package dev.sluice.kafka.receiver;

import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.KafkaExporter;
import dev.sluice.kafka.internal.Secrets;
import dev.sluice.kafka.receiver.internal.ReceiverMetrics;
import dev.sluice.kafka.receiver.internal.RecordDecoder;
import dev.sluice.kafka.receiver.internal.RecordDecoder.Decoded;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.validation.ScanResult;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads OTLP data from Apache Kafka topics with a consumer group and hands it to a {@link
 * TelemetrySink}, as the OpenTelemetry Collector's {@code kafka} receiver does: one {@code
 * Export*ServiceRequest} per message, in protobuf ({@code otlp_proto}, the default) or OTLP/JSON
 * ({@code otlp_json}), from topics per signal ({@code otlp_spans}, {@code otlp_metrics} and {@code
 * otlp_logs} by default). The tenant comes from the {@value KafkaExporter#TENANT_HEADER} header
 * the {@link KafkaExporter} writes (empty without it).
 *
 * <p><b>Delivery: at least once.</b> Auto commit is always off. A partition's offset is committed
 * (every {@code commitInterval}, when partitions are revoked, and on close) only up to the messages
 * the sink has durably accepted (for the {@code DurablePipeline}: appended to its write-ahead
 * queue) or that were dead-lettered, as an unbroken run from the last commit. After a crash the
 * messages after the last commit are read again: duplicates, never loss.
 *
 * <p><b>Threads and order.</b> The {@link KafkaConsumer} lives on the receiver's own thread,
 * which polls, hands each partition's messages to that partition's queue, pauses and resumes
 * partitions, and commits. Decoding, validation and submission run on a pool of {@code
 * workerThreads}, partitions in parallel; within a partition messages are submitted in offset
 * order, at most {@code maxConcurrentSubmitsPerPartition} at a time (1 keeps strict order even
 * when the sink refuses; with more, a refused message is resubmitted after later messages of the
 * same window that the sink accepted).
 *
 * <p><b>Back-pressure.</b> A partition is paused ({@code consumer.pause}) while the messages it
 * holds in memory (fetched and not yet accepted) reach {@code maxInFlightRecordsPerPartition} or
 * {@code maxInFlightBytesPerPartition}, or while it backs off after a refusal; every partition is
 * paused while the receiver in total holds {@code maxInFlightRecords} or {@code maxInFlightBytes}.
 * The limits may be passed by what one poll returns ({@code max.poll.records}, {@code
 * fetch.max.bytes}). When the sink refuses a message ({@link PipelineFullException}) the
 * partition pauses, waits (doubling from {@code retryBackoff} initial up to its maximum, at least
 * the refusal's retry-after hint up to that maximum) and submits the same message again: nothing
 * is skipped.
 *
 * <p><b>Bad messages</b> never block a partition. A message that does not decode, has no value,
 * or whose items are all invalid is written to the dead-letter topic (default {@value
 * #DEFAULT_DEAD_LETTER_TOPIC}, one for every signal; it must exist unless the brokers create
 * topics) with its key, value and headers and these headers added: {@value #ERROR_HEADER} (why, in
 * English), {@value #ERROR_KIND_HEADER} ({@code decode_error}, {@code invalid}, {@code no_value}
 * or {@code refused}), {@value #ORIGINAL_TOPIC_HEADER}, {@value #ORIGINAL_PARTITION_HEADER},
 * {@value #ORIGINAL_OFFSET_HEADER}, {@value #ORIGINAL_TIMESTAMP_HEADER} (decimal strings), {@value
 * #RECEIVER_HEADER} and {@value #ENCODING_HEADER}; then it counts as done. Without a dead-letter
 * topic it is logged, counted as dropped and skipped. A message that cannot be written to the
 * dead-letter topic is retried like a refused one. A request with some invalid items is forwarded
 * without them (like the OTLP/HTTP receiver's partial success) and the rejected items are
 * counted.
 *
 * <p><b>Configuration.</b> Any Kafka consumer property can be passed through with {@link
 * Builder#consumerProperties} (TLS: {@code security.protocol}, {@code ssl.*}; SASL: {@code
 * sasl.*}); they override the receiver's own settings, except {@code enable.auto.commit} (which
 * must stay false), {@code group.id} (set with {@link Builder#groupId}) and the deserializers. The
 * dead-letter producer inherits the connection and security properties ({@code bootstrap.servers},
 * {@code security.*}, {@code ssl.*}, {@code sasl.*}, ...) and takes overrides from {@link
 * Builder#deadLetterProducerProperties}. {@link #toString()} masks the values of properties whose
 * names contain password, secret, token, jaas or credential.
 *
 * <p>Metrics: see {@link ReceiverMetrics}; the gauges {@code sluice.kafka.receiver.lag} (tags
 * {@code topic}, {@code partition}: messages between the consumer's position and the end of the
 * partition, from the consumer's fetch responses), {@code sluice.kafka.receiver.inflight.records},
 * {@code sluice.kafka.receiver.inflight.bytes}, {@code sluice.kafka.receiver.paused.partitions}
 * and {@code sluice.kafka.receiver.assigned.partitions}, all tagged {@code receiver}.
 */
public final class KafkaReceiver implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaReceiver.class);

  /** The dead-letter topic unless another (or none) is configured. */
  public static final String DEFAULT_DEAD_LETTER_TOPIC = "otlp_dlq";
  public static final String DEFAULT_GROUP_ID = "sluice";
  public static final String ERROR_HEADER = "sluice.error";
  public static final String ERROR_KIND_HEADER = "sluice.error.kind";
  public static final String ORIGINAL_TOPIC_HEADER = "sluice.original.topic";
  public static final String ORIGINAL_PARTITION_HEADER = "sluice.original.partition";
  public static final String ORIGINAL_OFFSET_HEADER = "sluice.original.offset";
  public static final String ORIGINAL_TIMESTAMP_HEADER = "sluice.original.timestamp";
  public static final String RECEIVER_HEADER = "sluice.receiver";
  public static final String ENCODING_HEADER = "sluice.encoding";

  public static final int DEFAULT_MAX_CONCURRENT_SUBMITS_PER_PARTITION = 8;
  public static final int DEFAULT_MAX_IN_FLIGHT_RECORDS_PER_PARTITION = 1000;
  public static final long DEFAULT_MAX_IN_FLIGHT_BYTES_PER_PARTITION = 8L * 1024 * 1024;
  public static final int DEFAULT_MAX_IN_FLIGHT_RECORDS = 10_000;
  public static final long DEFAULT_MAX_IN_FLIGHT_BYTES = 64L * 1024 * 1024;
  public static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofMillis(100);
  public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(5);
  public static final Duration DEFAULT_COMMIT_INTERVAL = Duration.ofSeconds(1);
  public static final Duration DEFAULT_POLL_TIMEOUT = Duration.ofMillis(100);
  public static final Duration DEFAULT_REVOKE_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration COMMIT_TIMEOUT = Duration.ofSeconds(5);
  private static final Duration ERROR_PAUSE = Duration.ofSeconds(1);
  private static final Pattern TOPIC = Pattern.compile("[a-zA-Z0-9._-]{1,249}");
  /** Consumer properties the dead-letter producer inherits, besides ssl.*, sasl.*, security.*. */
  private static final Set<String> INHERITED = Set.of(
      ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, ProducerConfig.CLIENT_DNS_LOOKUP_CONFIG,
      ProducerConfig.RECONNECT_BACKOFF_MS_CONFIG, ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG,
      ProducerConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG,
      ProducerConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG,
      "metadata.recovery.strategy");

  private enum State { NEW, RUNNING, CLOSED }

  private final String name;
  private final String bootstrapServers;
  private final String groupId;
  private final InitialOffset initialOffset;
  private final Map<Signal, List<String>> topics;
  private final Map<String, Signal> signalOf;
  private final KafkaEncoding encoding;
  private final TelemetrySink sink;
  private final String deadLetterTopic;
  private final int workerThreads;
  private final int maxConcurrentSubmitsPerPartition;
  private final int maxInFlightRecordsPerPartition;
  private final long maxInFlightBytesPerPartition;
  private final int maxInFlightRecords;
  private final long maxInFlightBytes;
  private final Duration initialBackoff;
  private final Duration maxBackoff;
  private final Duration commitInterval;
  private final Duration pollTimeout;
  private final Duration revokeTimeout;
  private final Duration closeTimeout;
  private final Map<String, Object> consumerProperties;
  private final Map<String, Object> deadLetterProducerProperties;
  private final Map<String, Object> consumerConfig;
  private final Map<String, Object> producerConfig;
  private final MeterRegistry registry;
  private final ReceiverMetrics metrics;
  private final byte[] nameBytes;

  private final Object lifecycle = new Object();
  private final CountDownLatch closing = new CountDownLatch(1);
  private final AtomicInteger totalRecords = new AtomicInteger();
  private final AtomicLong totalBytes = new AtomicLong();
  /** The assigned partitions' work; written by the consumer thread only. */
  private final Map<TopicPartition, PartitionWork> works = new ConcurrentHashMap<>();
  private final Map<TopicPartition, Meter> lagGauges = new HashMap<>();
  private final List<Meter> gauges = new ArrayList<>();
  private volatile State state = State.NEW;
  private volatile boolean stopping;
  private volatile long closeDeadlineNanos;
  private volatile Set<TopicPartition> assignedView = Set.of();
  private volatile Set<TopicPartition> pausedView = Set.of();
  private KafkaConsumer<byte[], byte[]> consumer;
  private KafkaProducer<byte[], byte[]> producer;
  private ScheduledThreadPoolExecutor workers;
  private Thread thread;

  private KafkaReceiver(Builder b, Map<String, Object> consumerConfig,
      Map<String, Object> producerConfig) {
    this.name = b.name;
    this.bootstrapServers = b.bootstrapServers;
    this.groupId = b.groupId;
    this.initialOffset = b.initialOffset;
    Map<Signal, List<String>> t = new EnumMap<>(Signal.class);
    Map<String, Signal> s = new LinkedHashMap<>();
    b.topics.forEach((signal, list) -> {
      t.put(signal, List.copyOf(list));
      list.forEach(topic -> s.put(topic, signal));
    });
    this.topics = Collections.unmodifiableMap(t);
    this.signalOf = Collections.unmodifiableMap(s);
    this.encoding = b.encoding;
    this.sink = b.sink;
    this.deadLetterTopic = b.deadLetterTopic;
    this.workerThreads = b.workerThreads;
    this.maxConcurrentSubmitsPerPartition = b.maxConcurrentSubmitsPerPartition;
    this.maxInFlightRecordsPerPartition = b.maxInFlightRecordsPerPartition;
    this.maxInFlightBytesPerPartition = b.maxInFlightBytesPerPartition;
    this.maxInFlightRecords = b.maxInFlightRecords;
    this.maxInFlightBytes = b.maxInFlightBytes;
    this.initialBackoff = b.initialBackoff;
    this.maxBackoff = b.maxBackoff;
    this.commitInterval = b.commitInterval;
    this.pollTimeout = b.pollTimeout;
    this.revokeTimeout = b.revokeTimeout;
    this.closeTimeout = b.closeTimeout;
    this.consumerProperties = Collections.unmodifiableMap(
        new LinkedHashMap<>(b.consumerProperties));
    this.deadLetterProducerProperties = Collections.unmodifiableMap(
        new LinkedHashMap<>(b.deadLetterProducerProperties));
    this.consumerConfig = Collections.unmodifiableMap(consumerConfig);
    this.producerConfig = producerConfig == null ? null
        : Collections.unmodifiableMap(producerConfig);
    this.registry = b.registry != null ? b.registry : new CompositeMeterRegistry();
    this.metrics = new ReceiverMetrics(registry, name);
    this.nameBytes = name.getBytes(StandardCharsets.UTF_8);
  }

  public static Builder builder() {
    return new Builder();
  }

  public String name() {
    return name;
  }

  public String groupId() {
    return groupId;
  }

  public InitialOffset initialOffset() {
    return initialOffset;
  }

  /** The topics read for a signal (empty when the signal is not read). */
  public List<String> topics(Signal signal) {
    return topics.getOrDefault(signal, List.of());
  }

  public KafkaEncoding encoding() {
    return encoding;
  }

  /** The dead-letter topic, or null when bad messages are dropped. */
  public String deadLetterTopic() {
    return deadLetterTopic;
  }

  /** The properties the consumer is created with, secrets masked. */
  public Map<String, String> effectiveConsumerProperties() {
    return Secrets.masked(consumerConfig);
  }

  /** The properties the dead-letter producer is created with, secrets masked; empty without one. */
  public Map<String, String> effectiveDeadLetterProducerProperties() {
    return producerConfig == null ? Map.of() : Secrets.masked(producerConfig);
  }

  /** The partitions currently assigned to this receiver (a snapshot). */
  public Set<TopicPartition> assignedPartitions() {
    return assignedView;
  }

  /** The partitions currently paused for back-pressure (a snapshot). */
  public Set<TopicPartition> pausedPartitions() {
    return pausedView;
  }

  /** Messages fetched and not yet accepted by the sink (or dead-lettered). */
  public int inFlightRecords() {
    return totalRecords.get();
  }

  /** Key and value bytes of {@link #inFlightRecords()}. */
  public long inFlightBytes() {
    return totalBytes.get();
  }

  /** True from {@link #start()} until {@link #close()}. */
  public boolean running() {
    return state == State.RUNNING;
  }

  /**
   * Creates the consumer (and the dead-letter producer), subscribes to the topics and starts the
   * consumer thread. Nothing connects before the thread polls: a broker that is down delays
   * consumption, not this call.
   *
   * @throws IllegalStateException when called twice or after close
   * @throws KafkaException when a Kafka client cannot be created
   */
  public void start() {
    synchronized (lifecycle) {
      if (state != State.NEW) {
        throw new IllegalStateException("the Kafka receiver '" + name + "' was already "
            + (state == State.RUNNING ? "started" : "closed"));
      }
      consumer = new KafkaConsumer<>(new HashMap<>(consumerConfig));
      try {
        if (producerConfig != null) {
          producer = new KafkaProducer<>(new HashMap<>(producerConfig));
        }
      } catch (RuntimeException e) {
        consumer.close(CloseOptions.timeout(Duration.ZERO));
        throw e;
      }
      AtomicInteger n = new AtomicInteger();
      workers = new ScheduledThreadPoolExecutor(workerThreads, r -> {
        Thread t = new Thread(r, "sluice-kafka-receiver-" + name + "-worker-"
            + n.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
      workers.setRemoveOnCancelPolicy(true);
      gauges.add(Gauge.builder("sluice.kafka.receiver.inflight.records", totalRecords,
              AtomicInteger::get)
          .description("Messages fetched and not yet accepted by the pipeline")
          .tag("receiver", name).register(registry));
      gauges.add(Gauge.builder("sluice.kafka.receiver.inflight.bytes", totalBytes,
              AtomicLong::get).baseUnit("bytes")
          .description("Bytes of the messages fetched and not yet accepted by the pipeline")
          .tag("receiver", name).register(registry));
      gauges.add(Gauge.builder("sluice.kafka.receiver.paused.partitions", this,
              r -> r.pausedView.size())
          .description("Partitions paused for back-pressure").tag("receiver", name)
          .register(registry));
      gauges.add(Gauge.builder("sluice.kafka.receiver.assigned.partitions", this,
              r -> r.assignedView.size())
          .description("Partitions assigned to this receiver").tag("receiver", name)
          .register(registry));
      thread = new Thread(this::run, "sluice-kafka-receiver-" + name);
      thread.setDaemon(true);
      state = State.RUNNING;
      thread.start();
    }
    LOG.info("Kafka receiver {} started: {}", name, this);
  }

  /**
   * Stops consuming: takes nothing new, waits for the sink to answer what it was handed (within
   * the close timeout), commits what it accepted, leaves the group and closes the clients.
   * Messages not accepted by then are read again by the group. Idempotent; bounded by about the
   * close timeout.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      if (state == State.CLOSED) {
        return;
      }
      boolean started = state == State.RUNNING;
      state = State.CLOSED;
      if (!started) {
        return;
      }
      closeDeadlineNanos = System.nanoTime() + closeTimeout.toNanos();
      stopping = true;
    }
    closing.countDown();
    consumer.wakeup();
    boolean interrupted = false;
    try {
      thread.join(closeTimeout.toMillis() + 5000);
    } catch (InterruptedException e) {
      interrupted = true;
    }
    if (thread.isAlive()) {
      LOG.warn("the consumer thread of Kafka receiver {} did not stop in time", name);
    }
    workers.shutdownNow();
    if (producer != null) {
      try {
        producer.close(Duration.ofNanos(Math.max(0, closeDeadlineNanos - System.nanoTime())));
      } catch (RuntimeException e) {
        LOG.warn("closing the dead-letter producer of Kafka receiver {} failed: {}", name,
            e.toString());
      }
    }
    for (Meter m : gauges) {
      registry.remove(m);
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    LOG.info("Kafka receiver {} closed", name);
  }

  // ---------------------------------------------------------------------------------------------
  // The consumer thread

  private void run() {
    try {
      consumer.subscribe(new ArrayList<>(signalOf.keySet()), new Rebalance());
      long nextCommit = System.nanoTime() + commitInterval.toNanos();
      while (!stopping) {
        try {
          ConsumerRecords<byte[], byte[]> records = consumer.poll(pollTimeout);
          dispatch(records);
          updateLag();
          flowControl();
          if (System.nanoTime() - nextCommit >= 0) {
            commit(works.values(), COMMIT_TIMEOUT);
            nextCommit = System.nanoTime() + commitInterval.toNanos();
          }
        } catch (WakeupException e) {
          // close() woke us up; the loop condition decides
        } catch (InterruptException e) {
          Thread.interrupted();
          if (!stopping) {
            LOG.warn("Kafka receiver {}: the consumer thread was interrupted", name);
          }
        } catch (KafkaException | IllegalStateException e) {
          if (stopping) {
            break;
          }
          LOG.error("Kafka receiver {}: consuming failed, trying again in {} ms: {}", name,
              ERROR_PAUSE.toMillis(), e.toString());
          pause(ERROR_PAUSE);
        }
      }
    } catch (RuntimeException | Error e) {
      LOG.error("Kafka receiver {}: the consumer thread failed", name, e);
    } finally {
      shutDownConsumer();
    }
  }

  private void dispatch(ConsumerRecords<byte[], byte[]> records) {
    if (records.isEmpty()) {
      return;
    }
    for (TopicPartition tp : records.partitions()) {
      List<ConsumerRecord<byte[], byte[]>> list = records.records(tp);
      long bytes = 0;
      for (ConsumerRecord<byte[], byte[]> r : list) {
        bytes += PartitionWork.size(r);
      }
      metrics.records(tp.topic()).increment(list.size());
      metrics.bytes(tp.topic()).increment(bytes);
      PartitionWork w = works.get(tp);
      if (w == null) {
        continue; // not ours any more; read again by the owner from the committed offset
      }
      w.add(list);
    }
  }

  private void updateLag() {
    for (PartitionWork w : works.values()) {
      try {
        OptionalLong lag = consumer.currentLag(w.partition);
        if (lag.isPresent()) {
          w.lag = lag.getAsLong();
        }
      } catch (IllegalStateException e) {
        // not assigned any more
      }
    }
  }

  /** Pauses the partitions over their limits and resumes the others. */
  private void flowControl() {
    boolean totalOver = totalRecords.get() >= maxInFlightRecords
        || totalBytes.get() >= maxInFlightBytes;
    List<TopicPartition> pause = new ArrayList<>();
    List<TopicPartition> resume = new ArrayList<>();
    for (PartitionWork w : works.values()) {
      boolean over = totalOver
          || w.overLimit(maxInFlightRecordsPerPartition, maxInFlightBytesPerPartition);
      if (over && !w.paused) {
        pause.add(w.partition);
        w.paused = true;
      } else if (!over && w.paused) {
        resume.add(w.partition);
        w.paused = false;
      }
    }
    if (pause.isEmpty() && resume.isEmpty()) {
      return;
    }
    if (!pause.isEmpty()) {
      consumer.pause(pause);
      LOG.debug("Kafka receiver {} paused {}", name, pause);
    }
    if (!resume.isEmpty()) {
      consumer.resume(resume);
      LOG.debug("Kafka receiver {} resumed {}", name, resume);
    }
    Set<TopicPartition> paused = new HashSet<>();
    for (PartitionWork w : works.values()) {
      if (w.paused) {
        paused.add(w.partition);
      }
    }
    pausedView = Collections.unmodifiableSet(paused);
  }

  /** Commits, synchronously, what the sink accepted since the last commit. Consumer thread. */
  private void commit(Collection<PartitionWork> partitions, Duration timeout) {
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    for (PartitionWork w : partitions) {
      OffsetAndMetadata o = w.committable();
      if (o != null && o.offset() > w.lastCommitted) {
        offsets.put(w.partition, o);
      }
    }
    if (offsets.isEmpty()) {
      return;
    }
    long started = System.nanoTime();
    for (int attempt = 0; ; attempt++) {
      try {
        consumer.commitSync(offsets, timeout);
        break;
      } catch (WakeupException e) {
        if (attempt > 0) {
          throw e;
        }
        // close() asked the poll to return; the commit still has to be made: once more
      } catch (KafkaException e) {
        metrics.commitFailures().increment();
        LOG.warn("Kafka receiver {} could not commit offsets {}: {}", name, offsets, e.toString());
        return;
      }
    }
    metrics.commitLatency().record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    for (PartitionWork w : partitions) {
      OffsetAndMetadata o = offsets.get(w.partition);
      if (o != null) {
        w.lastCommitted = o.offset();
      }
    }
    LOG.debug("Kafka receiver {} committed {}", name, offsets);
  }

  private void shutDownConsumer() {
    // close() set the deadline; a thread ending on its own (a bug) takes the close timeout.
    long deadline = stopping ? closeDeadlineNanos : System.nanoTime() + closeTimeout.toNanos();
    List<PartitionWork> all = new ArrayList<>(works.values());
    all.forEach(PartitionWork::stop);
    for (PartitionWork w : all) {
      if (!w.awaitIdle(deadline)) {
        LOG.warn("Kafka receiver {}: the pipeline did not answer every submission of {} before"
            + " the close timeout; those messages are read again", name, w.partition);
      }
    }
    try {
      commit(all, remaining(deadline, Duration.ofMillis(500)));
    } catch (RuntimeException e) {
      LOG.warn("Kafka receiver {}: the final commit failed: {}", name, e.toString());
    }
    try {
      consumer.close(CloseOptions.timeout(remaining(deadline, Duration.ofMillis(500))));
    } catch (RuntimeException e) {
      LOG.warn("Kafka receiver {}: closing the consumer failed: {}", name, e.toString());
    }
    for (PartitionWork w : new ArrayList<>(works.values())) {
      forget(w);
    }
    assignedView = Set.of();
    pausedView = Set.of();
  }

  private static Duration remaining(long deadlineNanos, Duration atLeast) {
    long left = deadlineNanos - System.nanoTime();
    return left < atLeast.toNanos() ? atLeast : Duration.ofNanos(left);
  }

  private void forget(PartitionWork w) {
    w.stop();
    w.detach();
    works.remove(w.partition);
    Meter lag = lagGauges.remove(w.partition);
    if (lag != null) {
      registry.remove(lag);
    }
  }

  private void pause(Duration d) {
    try {
      closing.await(d.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Runs on the consumer thread, inside poll (or close). */
  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      for (TopicPartition tp : partitions) {
        Signal signal = signalOf.get(tp.topic());
        if (signal == null || works.containsKey(tp)) {
          continue;
        }
        PartitionWork w = new PartitionWork(tp, signal, processor, workers,
            maxConcurrentSubmitsPerPartition, initialBackoff.toMillis(), maxBackoff.toMillis(),
            totalRecords, totalBytes);
        works.put(tp, w);
        lagGauges.put(tp, Gauge.builder("sluice.kafka.receiver.lag", w,
                x -> x.lag < 0 ? Double.NaN : x.lag)
            .description("Messages between the consumer's position and the end of the partition")
            .tags("receiver", name, "topic", tp.topic(), "partition",
                Integer.toString(tp.partition()))
            .strongReference(true).register(registry));
      }
      assignedView = Set.copyOf(works.keySet());
      if (!partitions.isEmpty()) {
        LOG.info("Kafka receiver {} was assigned {}", name, partitions);
      }
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      List<PartitionWork> revoked = new ArrayList<>();
      for (TopicPartition tp : partitions) {
        PartitionWork w = works.get(tp);
        if (w != null) {
          revoked.add(w);
        }
      }
      if (revoked.isEmpty()) {
        return;
      }
      long deadline = System.nanoTime() + revokeTimeout.toNanos();
      if (stopping && closeDeadlineNanos - deadline < 0) {
        deadline = closeDeadlineNanos;
      }
      revoked.forEach(PartitionWork::stop);
      for (PartitionWork w : revoked) {
        if (!w.awaitIdle(deadline) && !stopping) { // on close, shutDownConsumer() warned
          LOG.warn("Kafka receiver {}: the pipeline did not answer every submission of {} before"
              + " the revoke timeout; the next owner reads them again", name, w.partition);
        }
      }
      try {
        commit(revoked, COMMIT_TIMEOUT);
      } catch (RuntimeException e) {
        LOG.warn("Kafka receiver {}: committing revoked partitions failed: {}", name,
            e.toString());
      }
      revoked.forEach(KafkaReceiver.this::forget);
      updateViews();
      LOG.info("Kafka receiver {}: partitions revoked {}", name, partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      for (TopicPartition tp : partitions) {
        PartitionWork w = works.get(tp);
        if (w != null) {
          forget(w);
        }
      }
      updateViews();
      LOG.warn("Kafka receiver {} lost partitions {} (nothing committed for them)", name,
          partitions);
    }

    private void updateViews() {
      assignedView = Set.copyOf(works.keySet());
      Set<TopicPartition> paused = new HashSet<>(pausedView);
      paused.retainAll(works.keySet());
      pausedView = Collections.unmodifiableSet(paused);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Worker side

  private final PartitionWork.Processor processor = new PartitionWork.Processor() {
    @Override
    public CompletableFuture<Void> process(PartitionWork work, PartitionWork.Entry entry) {
      return KafkaReceiver.this.process(work, entry);
    }

    @Override
    public void refused(PartitionWork work, PartitionWork.Entry entry, Throwable cause) {
      metrics.refusals(work.partition.topic()).increment();
      if (entry.attempts() == 1 || LOG.isDebugEnabled()) {
        LOG.info("Kafka receiver {}: message {} of {} was refused, retrying after a back-off: {}",
            name, entry.record.offset(), work.partition, cause.toString());
      }
    }
  };

  private CompletableFuture<Void> process(PartitionWork work, PartitionWork.Entry entry) {
    ConsumerRecord<byte[], byte[]> r = entry.record;
    String forced = entry.deadLetterReason;
    if (forced != null) {
      return deadLetter(r, "refused", forced);
    }
    Signal signal = work.signal;
    Decoded d = RecordDecoder.decode(signal, encoding, r.value());
    boolean first = entry.attempts() == 1;
    if (!d.ok()) {
      if (first && d.failure() == RecordDecoder.Failure.DECODE_ERROR) {
        metrics.decodeFailures(r.topic()).increment();
      }
      return deadLetter(r, d.failure().id(), d.reason());
    }
    ScanResult result = d.result();
    if (first && result.rejected() > 0) {
      metrics.rejectedItems(signal).increment(result.rejected());
      LOG.debug("Kafka receiver {}: message {} of {}-{}: {}", name, r.offset(), r.topic(),
          r.partition(), result.firstProblem());
    }
    if (d.payload() == null) {
      return CompletableFuture.completedFuture(null); // a request without items
    }
    TelemetryBatch batch = new TelemetryBatch(signal, d.payload(), result.accepted(), tenant(r),
        System.currentTimeMillis());
    CompletableFuture<Void> submitted;
    try {
      submitted = sink.submit(batch);
    } catch (RuntimeException e) {
      submitted = CompletableFuture.failedFuture(e); // against the contract; retried
    }
    int accepted = result.accepted();
    return submitted.thenRun(() -> metrics.items(signal).increment(accepted));
  }

  private static String tenant(ConsumerRecord<byte[], byte[]> r) {
    Header h = r.headers().lastHeader(KafkaExporter.TENANT_HEADER);
    return h == null || h.value() == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
  }

  private CompletableFuture<Void> deadLetter(ConsumerRecord<byte[], byte[]> r, String kind,
      String reason) {
    if (producer == null) {
      LOG.warn("Kafka receiver {} dropped message {} of {}-{} (no dead-letter topic): {}", name,
          r.offset(), r.topic(), r.partition(), reason);
      metrics.dropped(r.topic(), kind).increment();
      return CompletableFuture.completedFuture(null);
    }
    Headers headers = new RecordHeaders();
    for (Header h : r.headers()) {
      if (!h.key().startsWith("sluice.error") && !h.key().startsWith("sluice.original.")
          && !h.key().equals(RECEIVER_HEADER) && !h.key().equals(ENCODING_HEADER)) {
        headers.add(h);
      }
    }
    headers.add(ERROR_HEADER, utf8(reason));
    headers.add(ERROR_KIND_HEADER, utf8(kind));
    headers.add(ORIGINAL_TOPIC_HEADER, utf8(r.topic()));
    headers.add(ORIGINAL_PARTITION_HEADER, utf8(Integer.toString(r.partition())));
    headers.add(ORIGINAL_OFFSET_HEADER, utf8(Long.toString(r.offset())));
    headers.add(ORIGINAL_TIMESTAMP_HEADER, utf8(Long.toString(r.timestamp())));
    headers.add(RECEIVER_HEADER, nameBytes);
    headers.add(ENCODING_HEADER, utf8(encoding.id()));
    ProducerRecord<byte[], byte[]> out = new ProducerRecord<>(deadLetterTopic, null, null,
        r.key(), r.value(), headers);
    CompletableFuture<Void> f = new CompletableFuture<>();
    try {
      producer.send(out, (meta, error) -> {
        if (error == null) {
          metrics.deadLettered(r.topic(), kind).increment();
          LOG.warn("Kafka receiver {} wrote message {} of {}-{} to the dead-letter topic {}: {}",
              name, r.offset(), r.topic(), r.partition(), deadLetterTopic, reason);
          f.complete(null);
        } else {
          metrics.deadLetterErrors().increment();
          f.completeExceptionally(error);
        }
      });
    } catch (RuntimeException e) {
      metrics.deadLetterErrors().increment();
      f.completeExceptionally(e);
    }
    return f;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** The configuration, with the values of secret properties masked. */
  @Override
  public String toString() {
    Map<String, List<String>> t = new LinkedHashMap<>();
    topics.forEach((s, list) -> t.put(s.id(), list));
    return "KafkaReceiver{name=" + name
        + ", bootstrapServers=" + bootstrapServers
        + ", groupId=" + groupId
        + ", initialOffset=" + initialOffset.id()
        + ", topics=" + t
        + ", encoding=" + encoding.id()
        + ", deadLetterTopic=" + deadLetterTopic
        + ", workerThreads=" + workerThreads
        + ", maxConcurrentSubmitsPerPartition=" + maxConcurrentSubmitsPerPartition
        + ", maxInFlightRecordsPerPartition=" + maxInFlightRecordsPerPartition
        + ", maxInFlightBytesPerPartition=" + maxInFlightBytesPerPartition
        + ", maxInFlightRecords=" + maxInFlightRecords
        + ", maxInFlightBytes=" + maxInFlightBytes
        + ", retryBackoff=" + initialBackoff.toMillis() + ".." + maxBackoff.toMillis() + "ms"
        + ", commitInterval=" + commitInterval.toMillis() + "ms"
        + ", revokeTimeout=" + revokeTimeout.toMillis() + "ms"
        + ", closeTimeout=" + closeTimeout.toMillis() + "ms"
        + ", consumerProperties=" + Secrets.masked(consumerProperties)
        + ", deadLetterProducerProperties=" + Secrets.masked(deadLetterProducerProperties) + "}";
  }

  /**
   * Builds a {@link KafkaReceiver}. Setters check their argument at once; {@link #build()} checks
   * the whole, including the consumer and producer properties against Kafka's own definitions,
   * without connecting anywhere.
   */
  public static final class Builder {
    private String name = "kafka";
    private String bootstrapServers;
    private String groupId = DEFAULT_GROUP_ID;
    private InitialOffset initialOffset = InitialOffset.LATEST;
    private final Map<Signal, List<String>> topics = new EnumMap<>(Signal.class);
    private KafkaEncoding encoding = KafkaEncoding.OTLP_PROTO;
    private TelemetrySink sink;
    private String deadLetterTopic = DEFAULT_DEAD_LETTER_TOPIC;
    private int workerThreads = Math.max(2, Math.min(4, Runtime.getRuntime().availableProcessors()));
    private int maxConcurrentSubmitsPerPartition = DEFAULT_MAX_CONCURRENT_SUBMITS_PER_PARTITION;
    private int maxInFlightRecordsPerPartition = DEFAULT_MAX_IN_FLIGHT_RECORDS_PER_PARTITION;
    private long maxInFlightBytesPerPartition = DEFAULT_MAX_IN_FLIGHT_BYTES_PER_PARTITION;
    private int maxInFlightRecords = DEFAULT_MAX_IN_FLIGHT_RECORDS;
    private long maxInFlightBytes = DEFAULT_MAX_IN_FLIGHT_BYTES;
    private Duration initialBackoff = DEFAULT_INITIAL_BACKOFF;
    private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
    private Duration commitInterval = DEFAULT_COMMIT_INTERVAL;
    private Duration pollTimeout = DEFAULT_POLL_TIMEOUT;
    private Duration revokeTimeout = DEFAULT_REVOKE_TIMEOUT;
    private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
    private final Map<String, Object> consumerProperties = new LinkedHashMap<>();
    private final Map<String, Object> deadLetterProducerProperties = new LinkedHashMap<>();
    private MeterRegistry registry;

    private Builder() {
      topics.put(Signal.TRACES, List.of("otlp_spans"));
      topics.put(Signal.METRICS, List.of("otlp_metrics"));
      topics.put(Signal.LOGS, List.of("otlp_logs"));
    }

    /** The receiver's name, used in logs, metrics and the client id (default {@code kafka}). */
    public Builder name(String name) {
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException("the receiver name must not be blank");
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

    /** The consumer group ({@code group_id}; default {@value KafkaReceiver#DEFAULT_GROUP_ID}). */
    public Builder groupId(String groupId) {
      if (groupId == null || groupId.isBlank()) {
        throw new IllegalArgumentException("the group id must not be blank");
      }
      this.groupId = groupId;
      return this;
    }

    /** Where the group starts on a partition without a committed offset (default latest). */
    public Builder initialOffset(InitialOffset initialOffset) {
      this.initialOffset = Objects.requireNonNull(initialOffset, "initialOffset");
      return this;
    }

    /**
     * The topics of a signal (defaults: otlp_spans, otlp_metrics, otlp_logs); an empty list
     * stops reading the signal. A topic belongs to one signal.
     */
    public Builder topics(Signal signal, List<String> topicNames) {
      Objects.requireNonNull(signal, "signal");
      Objects.requireNonNull(topicNames, "topics");
      List<String> list = new ArrayList<>();
      for (String topic : topicNames) {
        checkTopic(topic);
        if (!list.contains(topic)) {
          list.add(topic);
        }
      }
      topics.put(signal, List.copyOf(list));
      return this;
    }

    /** One topic for a signal; see {@link #topics(Signal, List)}. */
    public Builder topic(Signal signal, String topic) {
      return topics(signal, List.of(Objects.requireNonNull(topic, "topic")));
    }

    public Builder encoding(KafkaEncoding encoding) {
      this.encoding = Objects.requireNonNull(encoding, "encoding");
      return this;
    }

    /** Where accepted data goes (required). */
    public Builder sink(TelemetrySink sink) {
      this.sink = Objects.requireNonNull(sink, "sink");
      return this;
    }

    /**
     * The topic bad messages are written to (default {@value
     * KafkaReceiver#DEFAULT_DEAD_LETTER_TOPIC}); null or empty drops them (logged and counted).
     */
    public Builder deadLetterTopic(String topic) {
      if (topic == null || topic.isEmpty()) {
        this.deadLetterTopic = null;
        return this;
      }
      checkTopic(topic);
      this.deadLetterTopic = topic;
      return this;
    }

    /** Threads decoding and submitting messages, partitions in parallel (default 2 to 4). */
    public Builder workerThreads(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("worker threads must be positive: " + n);
      }
      this.workerThreads = n;
      return this;
    }

    /**
     * How many messages of one partition may wait for the sink's answer at once (default {@value
     * KafkaReceiver#DEFAULT_MAX_CONCURRENT_SUBMITS_PER_PARTITION}); 1 submits strictly one after
     * the other.
     */
    public Builder maxConcurrentSubmitsPerPartition(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("max concurrent submits must be positive: " + n);
      }
      this.maxConcurrentSubmitsPerPartition = n;
      return this;
    }

    /**
     * Messages one partition may hold in memory (fetched, not yet accepted) before it is paused
     * (default {@value KafkaReceiver#DEFAULT_MAX_IN_FLIGHT_RECORDS_PER_PARTITION}).
     */
    public Builder maxInFlightRecordsPerPartition(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("max in-flight records must be positive: " + n);
      }
      this.maxInFlightRecordsPerPartition = n;
      return this;
    }

    /** Bytes one partition may hold in memory before it is paused (default 8 MiB). */
    public Builder maxInFlightBytesPerPartition(long n) {
      if (n < 1) {
        throw new IllegalArgumentException("max in-flight bytes must be positive: " + n);
      }
      this.maxInFlightBytesPerPartition = n;
      return this;
    }

    /**
     * Messages the receiver may hold in memory in all before every partition is paused (default
     * {@value KafkaReceiver#DEFAULT_MAX_IN_FLIGHT_RECORDS}).
     */
    public Builder maxInFlightRecords(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("max in-flight records must be positive: " + n);
      }
      this.maxInFlightRecords = n;
      return this;
    }

    /** Bytes the receiver may hold in memory in all before every partition is paused (64 MiB). */
    public Builder maxInFlightBytes(long n) {
      if (n < 1) {
        throw new IllegalArgumentException("max in-flight bytes must be positive: " + n);
      }
      this.maxInFlightBytes = n;
      return this;
    }

    /**
     * The wait after the sink refused a message, doubled while it keeps refusing, up to {@code max}
     * (defaults 100 ms and 5 s).
     */
    public Builder retryBackoff(Duration initial, Duration max) {
      if (initial == null || max == null || initial.isNegative() || initial.isZero()
          || max.compareTo(initial) < 0) {
        throw new IllegalArgumentException("retry backoff must be positive and initial <= max");
      }
      this.initialBackoff = initial;
      this.maxBackoff = max;
      return this;
    }

    /** How often accepted offsets are committed (default 1 s). */
    public Builder commitInterval(Duration interval) {
      this.commitInterval = positive(interval, "commit interval");
      return this;
    }

    /** How long one poll waits for messages (default 100 ms); bounds the reaction to limits. */
    public Builder pollTimeout(Duration timeout) {
      this.pollTimeout = positive(timeout, "poll timeout");
      return this;
    }

    /**
     * How long a rebalance waits for the sink to answer what it was handed of the revoked
     * partitions before it commits and lets them go (default 10 s); keep it well below {@code
     * max.poll.interval.ms}.
     */
    public Builder revokeTimeout(Duration timeout) {
      this.revokeTimeout = positive(timeout, "revoke timeout");
      return this;
    }

    /** How long {@link KafkaReceiver#close()} may take (default 10 s). */
    public Builder closeTimeout(Duration timeout) {
      this.closeTimeout = positive(timeout, "close timeout");
      return this;
    }

    /**
     * Kafka consumer properties passed through as they are (replacing earlier ones): TLS, SASL,
     * fetch sizes, timeouts, anything. They override the receiver's settings, except {@code
     * enable.auto.commit} (only false is accepted), {@code group.id} and the deserializers.
     */
    public Builder consumerProperties(Map<String, ?> properties) {
      Objects.requireNonNull(properties, "properties");
      consumerProperties.clear();
      properties.forEach(this::consumerProperty);
      return this;
    }

    /** Adds one Kafka consumer property; see {@link #consumerProperties}. */
    public Builder consumerProperty(String key, Object value) {
      if (key == null || key.isBlank()) {
        throw new IllegalArgumentException("a consumer property needs a name");
      }
      if (value == null) {
        throw new IllegalArgumentException("consumer property " + key + " has no value");
      }
      if (key.equals(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG)
          && !String.valueOf(value).trim().equalsIgnoreCase("false")) {
        throw new IllegalArgumentException("enable.auto.commit cannot be turned on: the receiver"
            + " commits offsets itself, once the pipeline has the data");
      }
      if (key.equals(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG)
          || key.equals(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG)) {
        throw new IllegalArgumentException(key + " cannot be set: the receiver reads bytes");
      }
      if (key.equals(ConsumerConfig.GROUP_ID_CONFIG)) {
        throw new IllegalArgumentException("set the consumer group with groupId, not "
            + ConsumerConfig.GROUP_ID_CONFIG);
      }
      consumerProperties.put(key, value);
      return this;
    }

    /**
     * Kafka producer properties of the dead-letter producer, over what it inherits from the
     * consumer properties (connection and security settings); serializers cannot be set.
     */
    public Builder deadLetterProducerProperties(Map<String, ?> properties) {
      Objects.requireNonNull(properties, "properties");
      deadLetterProducerProperties.clear();
      properties.forEach((k, v) -> {
        if (k == null || k.isBlank() || v == null) {
          throw new IllegalArgumentException("dead-letter producer property " + k
              + " needs a name and a value");
        }
        if (k.equals(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG)
            || k.equals(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG)) {
          throw new IllegalArgumentException(k + " cannot be set: the receiver writes bytes");
        }
        deadLetterProducerProperties.put(k, v);
      });
      return this;
    }

    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /**
     * Checks the configuration and builds the receiver; nothing connects before {@link
     * KafkaReceiver#start()}.
     *
     * @throws IllegalArgumentException naming what is wrong (secret values are never shown)
     */
    public KafkaReceiver build() {
      if (sink == null) {
        throw new IllegalArgumentException("the Kafka receiver '" + name + "' needs a sink");
      }
      if (bootstrapServers == null
          && !consumerProperties.containsKey(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG)) {
        throw new IllegalArgumentException("the Kafka receiver '" + name
            + "' needs bootstrap servers");
      }
      Map<String, Signal> owner = new HashMap<>();
      topics.forEach((signal, list) -> {
        for (String topic : list) {
          Signal other = owner.putIfAbsent(topic, signal);
          if (other != null) {
            throw new IllegalArgumentException("topic " + topic + " is configured for both "
                + other.id() + " and " + signal.id() + "; a topic carries one signal");
          }
        }
      });
      if (owner.isEmpty()) {
        throw new IllegalArgumentException("the Kafka receiver '" + name + "' has no topics");
      }
      if (deadLetterTopic != null && owner.containsKey(deadLetterTopic)) {
        throw new IllegalArgumentException("the dead-letter topic " + deadLetterTopic
            + " is also read by the receiver");
      }
      Map<String, Object> consumerConfig = consumerConfig();
      try {
        ConsumerConfig.configDef().parse(consumerConfig);
      } catch (ConfigException e) {
        throw new IllegalArgumentException("invalid Kafka consumer configuration of receiver '"
            + name + "': " + e.getMessage(), e);
      }
      Map<String, Object> producerConfig = null;
      if (deadLetterTopic != null) {
        producerConfig = producerConfig(consumerConfig);
        try {
          ProducerConfig.configDef().parse(producerConfig);
        } catch (ConfigException e) {
          throw new IllegalArgumentException("invalid Kafka producer configuration of the"
              + " dead-letter producer of receiver '" + name + "': " + e.getMessage(), e);
        }
      }
      return new KafkaReceiver(this, consumerConfig, producerConfig);
    }

    private Map<String, Object> consumerConfig() {
      Map<String, Object> p = new HashMap<>();
      if (bootstrapServers != null) {
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
      }
      p.put(ConsumerConfig.CLIENT_ID_CONFIG, "sluice-" + name);
      p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, initialOffset.id());
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      p.putAll(consumerProperties);
      p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
          ByteArrayDeserializer.class.getName());
      return p;
    }

    private Map<String, Object> producerConfig(Map<String, Object> consumerConfig) {
      Map<String, Object> p = new HashMap<>();
      consumerConfig.forEach((k, v) -> {
        if (INHERITED.contains(k) || k.startsWith("ssl.") || k.startsWith("sasl.")
            || k.startsWith("security.")) {
          p.put(k, v);
        }
      });
      p.put(ProducerConfig.CLIENT_ID_CONFIG, "sluice-" + name + "-dead-letter");
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
      p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
      p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
      p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
      p.putAll(deadLetterProducerProperties);
      p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      return p;
    }

    private static void checkTopic(String topic) {
      if (topic == null || !TOPIC.matcher(topic).matches() || topic.equals(".")
          || topic.equals("..")) {
        throw new IllegalArgumentException("'" + topic + "' is not a valid Kafka topic name"
            + " (1 to 249 of a-z A-Z 0-9 . _ -)");
      }
    }

    private static Duration positive(Duration d, String what) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + " must be positive: " + d);
      }
      return d;
    }
  }
}
