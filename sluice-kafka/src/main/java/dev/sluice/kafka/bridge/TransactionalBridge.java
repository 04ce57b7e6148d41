package dev.sluice.kafka.bridge;

import dev.sluice.kafka.internal.Secrets;
import dev.sluice.otlp.Signal;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.InvalidOffsetException;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.ApplicationRecoverableException;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exactly-once Kafka to Kafka: consumes the OTLP topics of a consumer group, runs each record
 * through a {@link BridgeTransform} (for instance {@link BridgeTransform#rekey()} or {@link
 * BridgeTransform#routeByTenant(String)}) and writes the results in Kafka transactions that also
 * commit the input offsets, so that a {@code read_committed} consumer of the output sees each
 * input record's outputs exactly once, across crashes and restarts.
 *
 * <p><b>The loop.</b> One thread: {@code poll} (the consumer reads {@code read_committed}, with no
 * auto commit) → {@code beginTransaction} → send the transformed records → {@code
 * sendOffsetsToTransaction(offsets, consumer.groupMetadata())} → {@code commitTransaction}. A
 * transaction takes at most {@link Builder#maxRecordsPerTransaction} input records and lasts at
 * most {@link Builder#maxTransactionTime} (default 1000 records, 100 ms), so output becomes
 * visible to {@code read_committed} readers that often.
 *
 * <p><b>Identity and fencing.</b> Each instance has a stable {@code instanceId}; its producer's
 * {@code transactional.id} is {@code <transactionalIdPrefix>-<instanceId>} and, by default, its
 * consumer is a static member of the group with that as {@code group.instance.id}. A restarted
 * instance (same id) fences its predecessor: {@code initTransactions} aborts the predecessor's open
 * transaction, and the group hands it the same partitions without waiting for a session timeout.
 * Zombies with another transactional id are fenced by the group generation sent with the offsets
 * (Kafka's consumer-group-aware fencing, KIP-447), so instances need not own fixed partitions.
 *
 * <p><b>Errors.</b> A fenced producer ({@link ProducerFencedException}, {@link
 * FencedInstanceIdException}: another instance with the same id took over), authentication,
 * authorization, unsupported versions, invalid configuration and a failing transform stop the
 * bridge: {@link #state()} becomes {@link State#FAILED}, {@link #failure()} says why and {@link
 * #termination()} completes exceptionally. Any other error aborts the open transaction, seeks each
 * partition back to the offset after its last committed record and retries after a backoff
 * (doubling from {@link Builder#retryBackoff} up to {@link Builder#maxRetryBackoff}); when the
 * producer cannot abort (it is in an error state) it is closed and replaced, and the new producer's
 * {@code initTransactions} aborts what the old one left open. Time-outs of {@code
 * commitTransaction} and {@code sendOffsetsToTransaction} are retried as Kafka requires.
 *
 * <p><b>Rebalances.</b> When partitions are revoked the open transaction is committed first (its
 * offsets are still this member's to commit); when they are lost it is aborted.
 */
public final class TransactionalBridge implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TransactionalBridge.class);

  public static final String DEFAULT_GROUP_ID = "sluice-bridge";
  public static final int DEFAULT_MAX_RECORDS_PER_TRANSACTION = 1000;
  public static final Duration DEFAULT_MAX_TRANSACTION_TIME = Duration.ofMillis(100);
  public static final Duration DEFAULT_TRANSACTION_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_RETRY_BACKOFF = Duration.ofMillis(200);
  public static final Duration DEFAULT_MAX_RETRY_BACKOFF = Duration.ofSeconds(10);
  private static final Duration MAX_POLL = Duration.ofMillis(100);
  private static final Pattern ID = Pattern.compile("[a-zA-Z0-9._-]{1,200}");

  /** Where a bridge is in its life. */
  public enum State {
    /** Built, not started. */
    NEW,
    /** Started; the producer is being initialised (which fences a predecessor). */
    STARTING,
    /** Consuming and producing. */
    RUNNING,
    /** Stopped by an error it cannot recover from; see {@link #failure()}. */
    FAILED,
    /** Closed. */
    CLOSED
  }

  private final String name;
  private final String groupId;
  private final String instanceId;
  private final String transactionalId;
  private final boolean staticMembership;
  private final boolean leaveGroupOnClose;
  private final Map<Signal, String> inputTopics;
  private final Map<Signal, String> outputTopics;
  private final Map<String, Signal> signalOfTopic = new HashMap<>();
  private final BridgeTransform transform;
  private final int maxRecords;
  private final Duration maxTransactionTime;
  private final Duration closeTimeout;
  private final Duration retryBackoff;
  private final Duration maxRetryBackoff;
  private final Map<String, Object> consumerConfig;
  private final Map<String, Object> producerConfig;
  private final BridgeMetrics metrics;

  private final Object lock = new Object();
  private final CountDownLatch closing = new CountDownLatch(1);
  private final CompletableFuture<Void> termination = new CompletableFuture<>();
  private volatile State state = State.NEW;
  private volatile Throwable failure;
  private Thread thread;

  // Touched by the bridge's thread only (the rebalance listener runs in it, inside poll).
  private KafkaConsumer<byte[], byte[]> consumer;
  private KafkaProducer<byte[], byte[]> producer;
  private boolean inTransaction;
  private long transactionStarted;
  private int transactionIn;
  private int transactionOut;
  private final Map<TopicPartition, OffsetAndMetadata> transactionOffsets = new HashMap<>();
  /** Per partition: the offset after its last committed record, or its first uncommitted one. */
  private final Map<TopicPartition, Long> rewindTo = new HashMap<>();
  private final AtomicReference<Exception> firstSendError = new AtomicReference<>();
  private RuntimeException listenerFailure;

  private TransactionalBridge(Builder b, Map<String, Object> consumerConfig,
      Map<String, Object> producerConfig) {
    this.name = b.name;
    this.groupId = b.groupId;
    this.instanceId = b.instanceId;
    this.transactionalId = b.transactionalId();
    this.staticMembership = b.staticMembership;
    this.leaveGroupOnClose = b.leaveGroupOnClose;
    Map<Signal, String> in = new EnumMap<>(Signal.class);
    Map<Signal, String> out = new EnumMap<>(Signal.class);
    for (Signal s : b.signals) {
      in.put(s, b.inputTopics.get(s));
      out.put(s, b.outputTopics.get(s));
      signalOfTopic.put(b.inputTopics.get(s), s);
    }
    this.inputTopics = Collections.unmodifiableMap(in);
    this.outputTopics = Collections.unmodifiableMap(out);
    this.transform = b.transform;
    this.maxRecords = b.maxRecords;
    this.maxTransactionTime = b.maxTransactionTime;
    this.closeTimeout = b.closeTimeout;
    this.retryBackoff = b.retryBackoff;
    this.maxRetryBackoff = b.maxRetryBackoff;
    this.consumerConfig = Collections.unmodifiableMap(consumerConfig);
    this.producerConfig = Collections.unmodifiableMap(producerConfig);
    MeterRegistry registry = b.registry != null ? b.registry : new CompositeMeterRegistry();
    this.metrics = new BridgeMetrics(registry, name);
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

  public String instanceId() {
    return instanceId;
  }

  /** {@code <transactionalIdPrefix>-<instanceId>}. */
  public String transactionalId() {
    return transactionalId;
  }

  /** The topics consumed, per signal. */
  public Map<Signal, String> inputTopics() {
    return inputTopics;
  }

  /** The topic each signal's records go to unless the transform says otherwise. */
  public Map<Signal, String> outputTopics() {
    return outputTopics;
  }

  public BridgeTransform transform() {
    return transform;
  }

  public State state() {
    return state;
  }

  /** Why the bridge stopped, when {@link #state()} is {@link State#FAILED}; else null. */
  public Throwable failure() {
    return failure;
  }

  /**
   * Completes when the bridge's thread has ended: normally after {@link #close()}, exceptionally
   * (with {@link #failure()}) when an error stopped it.
   */
  public CompletableFuture<Void> termination() {
    return termination;
  }

  public long transactionsCommitted() {
    return metrics.committed.get();
  }

  public long transactionsAborted() {
    return metrics.aborted.get();
  }

  /** Input records whose offsets were committed. */
  public long recordsIn() {
    return metrics.recordsIn.get();
  }

  /** Output records of committed transactions. */
  public long recordsOut() {
    return metrics.recordsOut.get();
  }

  /** The consumer's properties, secrets masked. */
  public Map<String, String> effectiveConsumerProperties() {
    return Secrets.masked(consumerConfig);
  }

  /** The producer's properties, secrets masked. */
  public Map<String, String> effectiveProducerProperties() {
    return Secrets.masked(producerConfig);
  }

  /**
   * Creates the consumer and the transactional producer and starts the bridge's thread, which
   * initialises the producer (fencing an earlier instance with the same transactional id) and
   * subscribes. Returns at once; nothing connects here.
   *
   * @throws IllegalStateException when called twice or after close
   * @throws KafkaException when a client cannot be created
   */
  public void start() {
    synchronized (lock) {
      if (state != State.NEW) {
        throw new IllegalStateException("the Kafka bridge '" + name + "' was already "
            + (state == State.CLOSED ? "closed" : "started"));
      }
      consumer = new KafkaConsumer<>(new HashMap<>(consumerConfig));
      try {
        producer = new KafkaProducer<>(new HashMap<>(producerConfig));
      } catch (RuntimeException e) {
        consumer.close(Duration.ZERO);
        throw e;
      }
      state = State.STARTING;
      thread = new Thread(this::run, "sluice-kafka-bridge-" + name);
      thread.setDaemon(true);
      thread.start();
    }
    LOG.info("Kafka bridge {} started: {}", name, this);
  }

  /**
   * Stops the bridge: commits the open transaction (when nothing failed), closes the consumer and
   * the producer; waits for that at most the close timeout. Records consumed but not committed
   * are consumed again by whoever gets the partitions next. Idempotent.
   */
  @Override
  public void close() {
    Thread t;
    synchronized (lock) {
      if (closing.getCount() == 0) {
        t = thread;
      } else {
        closing.countDown();
        t = thread;
        if (state == State.NEW) {
          state = State.CLOSED;
          termination.complete(null);
          return;
        }
        consumer.wakeup();
      }
    }
    if (t == null || t == Thread.currentThread()) {
      return;
    }
    boolean interrupted = false;
    try {
      t.join(Math.max(1, closeTimeout.toMillis() + 1000));
      if (t.isAlive()) {
        LOG.warn("Kafka bridge {} did not stop within {} ms; interrupting it", name,
            closeTimeout.toMillis());
        t.interrupt();
        t.join(2000);
      }
    } catch (InterruptedException e) {
      interrupted = true;
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private boolean closing() {
    return closing.getCount() == 0;
  }

  // ---------------------------------------------------------------------------------------------
  // The bridge's thread.

  /** An error the bridge stops for. */
  private static final class Fatal extends RuntimeException {
    Fatal(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private void run() {
    Throwable failed = null;
    try {
      initTransactions();
      if (!closing()) {
        consumer.subscribe(inputTopics.values(), new Listener());
        state = State.RUNNING;
        LOG.info("Kafka bridge {}: transactional id {} initialised; consuming {} as group {}",
            name, transactionalId, inputTopics.values(), groupId);
        loop();
      }
    } catch (Fatal e) {
      failed = e.getCause() != null ? e.getCause() : e;
      LOG.error("Kafka bridge {} stopped: {}", name, e.getMessage(), failed);
    } catch (WakeupException | InterruptException e) {
      if (!closing()) {
        failed = e;
        LOG.error("Kafka bridge {} interrupted", name, e);
      }
    } catch (RuntimeException | Error e) {
      failed = e;
      LOG.error("Kafka bridge {} stopped on an unexpected error", name, e);
    } finally {
      if (inTransaction) {
        abortQuietly();
      }
      closeClients();
      failure = failed;
      synchronized (lock) {
        state = failed == null ? State.CLOSED : State.FAILED;
      }
      if (failed == null) {
        termination.complete(null);
        LOG.info("Kafka bridge {} closed ({} transactions committed, {} aborted)", name,
            transactionsCommitted(), transactionsAborted());
      } else {
        termination.completeExceptionally(failed);
      }
    }
  }

  private void initTransactions() {
    while (true) {
      try {
        producer.initTransactions();
        return;
      } catch (TimeoutException e) {
        if (closing()) {
          return;
        }
        LOG.warn("Kafka bridge {}: initTransactions timed out ({}); trying again", name,
            e.getMessage());
      } catch (KafkaException e) {
        if (closing()) {
          return;
        }
        throw new Fatal("cannot initialise transactional id " + transactionalId + ": " + e, e);
      }
    }
  }

  private void loop() {
    long backoff = retryBackoff.toMillis();
    long commits = metrics.committed.get();
    while (!closing()) {
      try {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(pollTimeout());
        throwListenerFailure();
        handle(records);
        if (inTransaction && transactionAge() >= maxTransactionTime.toNanos()) {
          commit();
        }
        if (metrics.committed.get() != commits) {
          commits = metrics.committed.get();
          backoff = retryBackoff.toMillis(); // a commit went through: the trouble is over
        }
      } catch (WakeupException | InterruptException e) {
        if (closing()) {
          break;
        }
        throw e;
      } catch (KafkaException e) {
        if (fatal(e)) {
          throw new Fatal("unrecoverable Kafka error: " + e, e);
        }
        if (closing()) {
          abortQuietly();
          break;
        }
        recover(e);
        LOG.info("Kafka bridge {}: retrying in {} ms", name, backoff);
        if (awaitClosing(backoff)) {
          break;
        }
        backoff = Math.min(maxRetryBackoff.toMillis(), backoff * 2);
      }
    }
    if (inTransaction) {
      try {
        commit();
      } catch (KafkaException e) {
        LOG.warn("Kafka bridge {}: committing the last transaction on close failed: {}", name,
            e.toString());
        abortQuietly();
      }
    }
  }

  private Duration pollTimeout() {
    if (!inTransaction) {
      return MAX_POLL;
    }
    long left = maxTransactionTime.toNanos() - transactionAge();
    return Duration.ofNanos(Math.max(0, Math.min(left, MAX_POLL.toNanos())));
  }

  private long transactionAge() {
    return System.nanoTime() - transactionStarted;
  }

  private void handle(ConsumerRecords<byte[], byte[]> records) {
    if (records.isEmpty()) {
      return;
    }
    for (TopicPartition tp : records.partitions()) {
      rewindTo.putIfAbsent(tp, records.records(tp).get(0).offset());
    }
    for (ConsumerRecord<byte[], byte[]> r : records) {
      if (!inTransaction) {
        begin();
      }
      process(r);
      if (transactionIn >= maxRecords) {
        commit();
      }
    }
  }

  private void begin() {
    producer.beginTransaction();
    inTransaction = true;
    transactionStarted = System.nanoTime();
    transactionIn = 0;
    transactionOut = 0;
    transactionOffsets.clear();
    firstSendError.set(null);
  }

  private void process(ConsumerRecord<byte[], byte[]> r) {
    Signal signal = signalOfTopic.get(r.topic());
    if (signal == null) {
      throw new Fatal("a record of topic " + r.topic() + ", which the bridge does not consume",
          null);
    }
    BridgeRecord in = BridgeRecord.input(signal, outputTopics.get(signal), r.key(), r.value(),
        r.headers(), r.timestamp(), r.topic(), r.partition(), r.offset());
    List<BridgeRecord> out;
    try {
      out = transform.apply(in);
      if (out == null) {
        throw new NullPointerException("the transform returned null");
      }
    } catch (RuntimeException e) {
      throw new Fatal("the transform " + transform + " failed on " + in + ": " + e, e);
    }
    for (BridgeRecord o : out) {
      ProducerRecord<byte[], byte[]> pr = new ProducerRecord<>(o.topic(), null,
          o.timestamp() < 0 ? null : o.timestamp(), o.key(), o.value(), o.headers());
      producer.send(pr, (meta, error) -> {
        if (error != null && firstSendError.compareAndSet(null, error)) {
          LOG.warn("Kafka bridge {}: a record for {} failed: {}", name, pr.topic(),
              error.toString());
        }
      });
      transactionOut++;
    }
    transactionOffsets.put(new TopicPartition(r.topic(), r.partition()),
        new OffsetAndMetadata(r.offset() + 1, r.leaderEpoch(), ""));
    transactionIn++;
  }

  private void commit() {
    long started = System.nanoTime();
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>(transactionOffsets);
    if (!offsets.isEmpty()) {
      retryingTimeouts("sendOffsetsToTransaction",
          () -> producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata()));
    }
    retryingTimeouts("commitTransaction", producer::commitTransaction);
    inTransaction = false;
    metrics.commitLatency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    metrics.committed.incrementAndGet();
    metrics.recordsIn.addAndGet(transactionIn);
    metrics.recordsOut.addAndGet(transactionOut);
    offsets.forEach((tp, o) -> rewindTo.put(tp, o.offset()));
    transactionOffsets.clear();
  }

  /** Runs a transactional call again while it times out, as Kafka asks for these calls. */
  private void retryingTimeouts(String what, Runnable call) {
    while (true) {
      try {
        call.run();
        return;
      } catch (TimeoutException e) {
        if (closing()) {
          throw e; // give up: the coordinator aborts the transaction after its timeout
        }
        LOG.warn("Kafka bridge {}: {} timed out ({}); trying again", name, what,
            e.getMessage());
      }
    }
  }

  /** After a recoverable error: abort (or replace the producer) and go back to the last commit. */
  private void recover(KafkaException cause) {
    LOG.warn("Kafka bridge {}: {} transaction after {}", name,
        inTransaction ? "aborting the" : "no open", cause.toString());
    boolean replace = cause instanceof ApplicationRecoverableException
        || cause.getCause() instanceof ApplicationRecoverableException;
    if (inTransaction && !replace) {
      try {
        producer.abortTransaction();
        metrics.aborted.incrementAndGet();
      } catch (KafkaException e) {
        if (fatal(e)) {
          throw new Fatal("cannot abort the transaction: " + e, e);
        }
        LOG.warn("Kafka bridge {}: abortTransaction failed ({}); replacing the producer", name,
            e.toString());
        replace = true;
      }
    }
    if (replace) {
      replaceProducer();
    }
    inTransaction = false;
    transactionOffsets.clear();
    rewind(consumer.assignment());
  }

  /** Closes the producer and makes a new one; its initTransactions aborts what was left open. */
  private void replaceProducer() {
    boolean wasOpen = inTransaction;
    try {
      producer.close(Duration.ZERO);
    } catch (RuntimeException e) {
      LOG.debug("closing the failed producer: {}", e.toString());
    }
    producer = new KafkaProducer<>(new HashMap<>(producerConfig));
    inTransaction = false;
    metrics.producerRestarts.incrementAndGet();
    if (wasOpen) {
      metrics.aborted.incrementAndGet();
    }
    initTransactions();
  }

  /** Seeks the partitions back to the offsets after their last committed records. */
  private void rewind(Collection<TopicPartition> partitions) {
    for (TopicPartition tp : partitions) {
      Long offset = rewindTo.get(tp);
      if (offset != null) {
        try {
          consumer.seek(tp, offset);
        } catch (IllegalStateException e) {
          rewindTo.remove(tp); // no longer assigned: its next owner starts from the commit
        }
      }
    }
  }

  private void abortQuietly() {
    try {
      producer.abortTransaction();
      metrics.aborted.incrementAndGet();
    } catch (RuntimeException e) {
      LOG.debug("Kafka bridge {}: abortTransaction failed: {}", name, e.toString());
    }
    inTransaction = false;
    transactionOffsets.clear();
  }

  private boolean awaitClosing(long millis) {
    try {
      return closing.await(millis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return true;
    }
  }

  private void throwListenerFailure() {
    RuntimeException e = listenerFailure;
    if (e != null) {
      listenerFailure = null;
      throw e;
    }
  }

  private void closeClients() {
    Duration timeout = closeTimeout;
    try {
      CloseOptions options = CloseOptions.timeout(timeout).withGroupMembershipOperation(
          leaveGroupOnClose ? CloseOptions.GroupMembershipOperation.LEAVE_GROUP
              : CloseOptions.GroupMembershipOperation.DEFAULT);
      consumer.close(options);
    } catch (RuntimeException e) {
      LOG.warn("Kafka bridge {}: closing the consumer failed: {}", name, e.toString());
    }
    try {
      producer.close(timeout);
    } catch (RuntimeException e) {
      LOG.warn("Kafka bridge {}: closing the producer failed: {}", name, e.toString());
    }
  }

  /** Errors retrying cannot cure: another instance took over, or the setup is wrong. */
  static boolean fatal(Throwable error) {
    for (Throwable e = error; e != null; e = e.getCause() == e ? null : e.getCause()) {
      if (e instanceof ProducerFencedException || e instanceof FencedInstanceIdException
          || e instanceof AuthenticationException || e instanceof AuthorizationException
          || e instanceof UnsupportedVersionException
          || e instanceof InvalidConfigurationException || e instanceof ConfigException
          || e instanceof InvalidOffsetException) {
        return true;
      }
    }
    return false;
  }

  /** Commits before partitions go to another member; aborts when they were lost. */
  private final class Listener implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      forget(partitions);
      if (inTransaction && !partitions.isEmpty()) {
        try {
          commit();
        } catch (KafkaException e) {
          if (fatal(e)) {
            listenerFailure = new Fatal("unrecoverable Kafka error on a rebalance: " + e, e);
            return;
          }
          try {
            recover(e);
          } catch (RuntimeException again) {
            listenerFailure = again;
          }
        }
      }
      forget(partitions); // the commit noted their offsets; whoever gets them next moves on
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      forget(partitions);
      if (inTransaction && !partitions.isEmpty()) {
        LOG.warn("Kafka bridge {}: partitions {} lost; aborting the open transaction", name,
            partitions);
        try {
          recover(new KafkaException("partitions lost"));
        } catch (RuntimeException e) {
          listenerFailure = e;
        }
      }
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      forget(partitions); // they start from the group's committed offsets
      LOG.info("Kafka bridge {}: assigned {}", name, partitions);
    }

    private void forget(Collection<TopicPartition> partitions) {
      for (TopicPartition tp : partitions) {
        rewindTo.remove(tp);
      }
    }
  }

  @Override
  public String toString() {
    Map<String, String> in = new LinkedHashMap<>();
    inputTopics.forEach((s, t) -> in.put(s.id(), t));
    Map<String, String> out = new LinkedHashMap<>();
    outputTopics.forEach((s, t) -> out.put(s.id(), t));
    return "TransactionalBridge{name=" + name
        + ", groupId=" + groupId
        + ", transactionalId=" + transactionalId
        + ", staticMembership=" + staticMembership
        + ", inputTopics=" + in
        + ", outputTopics=" + out
        + ", transform=" + transform
        + ", maxRecordsPerTransaction=" + maxRecords
        + ", maxTransactionTime=" + maxTransactionTime.toMillis() + "ms"
        + ", consumerProperties=" + Secrets.masked(consumerConfig)
        + ", producerProperties=" + Secrets.masked(producerConfig) + "}";
  }

  /**
   * Builds a {@link TransactionalBridge}. Setters check their argument at once; {@link #build()}
   * checks the whole, the client properties against Kafka's own definitions included, without
   * connecting anywhere.
   */
  public static final class Builder {
    private String name = "kafka-bridge";
    private String bootstrapServers;
    private String groupId = DEFAULT_GROUP_ID;
    private String transactionalIdPrefix;
    private String instanceId;
    private boolean staticMembership = true;
    private boolean leaveGroupOnClose;
    private final Set<Signal> signals = EnumSet.allOf(Signal.class);
    private final Map<Signal, String> inputTopics = new EnumMap<>(Signal.class);
    private final Map<Signal, String> outputTopics = new EnumMap<>(Signal.class);
    private BridgeTransform transform = BridgeTransform.rekey();
    private int maxRecords = DEFAULT_MAX_RECORDS_PER_TRANSACTION;
    private Duration maxTransactionTime = DEFAULT_MAX_TRANSACTION_TIME;
    private Duration transactionTimeout = DEFAULT_TRANSACTION_TIMEOUT;
    private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
    private Duration retryBackoff = DEFAULT_RETRY_BACKOFF;
    private Duration maxRetryBackoff = DEFAULT_MAX_RETRY_BACKOFF;
    private final Map<String, Object> consumerProperties = new LinkedHashMap<>();
    private final Map<String, Object> producerProperties = new LinkedHashMap<>();
    private MeterRegistry registry;

    private Builder() {
      inputTopics.put(Signal.TRACES, "otlp_spans");
      inputTopics.put(Signal.METRICS, "otlp_metrics");
      inputTopics.put(Signal.LOGS, "otlp_logs");
    }

    /** The bridge's name, for logs, metrics and client ids (default {@code kafka-bridge}). */
    public Builder name(String name) {
      this.name = requireId("name", name);
      return this;
    }

    /** {@code host:port[,host:port...]} (required, unless both clients' properties have it). */
    public Builder bootstrapServers(String servers) {
      if (servers == null || servers.isBlank()) {
        throw new IllegalArgumentException("bootstrap servers must not be blank");
      }
      for (String s : servers.split(",")) {
        String hp = s.trim();
        int colon = hp.lastIndexOf(':');
        boolean ok = colon > 0 && colon < hp.length() - 1;
        if (ok) {
          try {
            int port = Integer.parseInt(hp.substring(colon + 1));
            ok = port >= 1 && port <= 65535;
          } catch (NumberFormatException e) {
            ok = false;
          }
        }
        if (!ok) {
          throw new IllegalArgumentException("bootstrap server '" + hp + "' is not host:port");
        }
      }
      this.bootstrapServers = servers.trim();
      return this;
    }

    /** The consumer group the instances of a bridge share (default {@value #DEFAULT_GROUP_ID}). */
    public Builder groupId(String groupId) {
      this.groupId = requireId("group id", groupId);
      return this;
    }

    /**
     * The first part of the producer's {@code transactional.id}, {@code <prefix>-<instanceId>}
     * (default: the group id).
     */
    public Builder transactionalIdPrefix(String prefix) {
      this.transactionalIdPrefix = requireId("transactional id prefix", prefix);
      return this;
    }

    /**
     * This instance's stable identity (required), e.g. a host name or a StatefulSet ordinal: the
     * same after a restart, different from every other instance of the group. A restarted
     * instance fences its predecessor through it; two live instances with one id fence each
     * other.
     */
    public Builder instanceId(String instanceId) {
      this.instanceId = requireId("instance id", instanceId);
      return this;
    }

    /**
     * Whether the consumer is a static group member ({@code group.instance.id} = the
     * transactional id; default true): a restarted instance gets its partitions back at once,
     * without a rebalance, but the partitions of an instance that stays away wait for the
     * session timeout ({@code session.timeout.ms}, 45 s by default) before another member gets
     * them.
     */
    public Builder staticMembership(boolean on) {
      this.staticMembership = on;
      return this;
    }

    /**
     * Whether close() leaves the group even as a static member, so the partitions move to the
     * other instances at once (default false: a static member stays, for a quick restart).
     */
    public Builder leaveGroupOnClose(boolean leave) {
      this.leaveGroupOnClose = leave;
      return this;
    }

    /** The signals bridged (default all three); each needs an output topic. */
    public Builder signals(Signal... signals) {
      if (signals.length == 0) {
        throw new IllegalArgumentException("the bridge needs at least one signal");
      }
      this.signals.clear();
      this.signals.addAll(List.of(signals));
      return this;
    }

    /** The topic a signal is read from (defaults: otlp_spans, otlp_metrics, otlp_logs). */
    public Builder inputTopic(Signal signal, String topic) {
      inputTopics.put(Objects.requireNonNull(signal, "signal"), requireTopic(topic));
      return this;
    }

    /** The topic a signal's records are written to unless the transform routes them elsewhere. */
    public Builder outputTopic(Signal signal, String topic) {
      outputTopics.put(Objects.requireNonNull(signal, "signal"), requireTopic(topic));
      return this;
    }

    /** What is done to each record (default {@link BridgeTransform#rekey()}). */
    public Builder transform(BridgeTransform transform) {
      this.transform = Objects.requireNonNull(transform, "transform");
      return this;
    }

    /** The most input records per transaction (default 1000). */
    public Builder maxRecordsPerTransaction(int records) {
      if (records < 1) {
        throw new IllegalArgumentException("max records per transaction must be positive: "
            + records);
      }
      this.maxRecords = records;
      return this;
    }

    /**
     * How long a transaction stays open at most before it is committed (default 100 ms): the
     * latency the bridge adds for {@code read_committed} readers, and the time between commits.
     */
    public Builder maxTransactionTime(Duration time) {
      if (time == null || time.isNegative() || time.isZero()) {
        throw new IllegalArgumentException("max transaction time must be positive: " + time);
      }
      this.maxTransactionTime = time;
      return this;
    }

    /**
     * The producer's {@code transaction.timeout.ms} (default 10 s): how long the coordinator lets
     * a transaction of a vanished instance block {@code read_committed} readers before it aborts
     * it, when no successor with the same id comes to abort it sooner. At most the brokers'
     * {@code transaction.max.timeout.ms} (15 min by default).
     */
    public Builder transactionTimeout(Duration timeout) {
      if (timeout == null || timeout.toMillis() < 1000) {
        throw new IllegalArgumentException("transaction timeout must be at least 1 s: "
            + timeout);
      }
      this.transactionTimeout = timeout;
      return this;
    }

    /** How long {@link TransactionalBridge#close()} may take (default 10 s). */
    public Builder closeTimeout(Duration timeout) {
      if (timeout == null || timeout.isNegative()) {
        throw new IllegalArgumentException("close timeout must not be negative: " + timeout);
      }
      this.closeTimeout = timeout;
      return this;
    }

    /** The first pause after an aborted transaction (default 200 ms), doubled on each further. */
    public Builder retryBackoff(Duration backoff) {
      if (backoff == null || backoff.isNegative() || backoff.isZero()) {
        throw new IllegalArgumentException("retry backoff must be positive: " + backoff);
      }
      this.retryBackoff = backoff;
      return this;
    }

    /** The longest pause between retries (default 10 s). */
    public Builder maxRetryBackoff(Duration backoff) {
      if (backoff == null || backoff.isNegative() || backoff.isZero()) {
        throw new IllegalArgumentException("max retry backoff must be positive: " + backoff);
      }
      this.maxRetryBackoff = backoff;
      return this;
    }

    /**
     * Kafka consumer properties passed through (TLS, SASL, timeouts, {@code group.protocol},
     * {@code auto.offset.reset}, ...), replacing earlier ones. The bridge's own settings cannot
     * be changed this way: deserializers, {@code group.id}, {@code group.instance.id}, {@code
     * enable.auto.commit} and {@code isolation.level}.
     */
    public Builder consumerProperties(Map<String, ?> properties) {
      Objects.requireNonNull(properties, "properties");
      consumerProperties.clear();
      properties.forEach(this::consumerProperty);
      return this;
    }

    /** Adds one consumer property; see {@link #consumerProperties}. */
    public Builder consumerProperty(String key, Object value) {
      checkProperty("consumer", key, value, List.of(
          ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
          ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ConsumerConfig.GROUP_ID_CONFIG,
          ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
          ConsumerConfig.ISOLATION_LEVEL_CONFIG));
      consumerProperties.put(key, value);
      return this;
    }

    /**
     * Kafka producer properties passed through (TLS, SASL, {@code compression.type}, {@code
     * linger.ms}, {@code max.block.ms}, ...), replacing earlier ones. Serializers, {@code
     * transactional.id}, {@code enable.idempotence} and {@code acks} belong to the bridge; {@code
     * transaction.timeout.ms} is set with {@link #transactionTimeout}.
     */
    public Builder producerProperties(Map<String, ?> properties) {
      Objects.requireNonNull(properties, "properties");
      producerProperties.clear();
      properties.forEach(this::producerProperty);
      return this;
    }

    /** Adds one producer property; see {@link #producerProperties}. */
    public Builder producerProperty(String key, Object value) {
      checkProperty("producer", key, value, List.of(
          ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG,
          ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ProducerConfig.TRANSACTIONAL_ID_CONFIG,
          ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, ProducerConfig.ACKS_CONFIG,
          ProducerConfig.TRANSACTION_TIMEOUT_CONFIG));
      producerProperties.put(key, value);
      return this;
    }

    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    private String transactionalId() {
      return (transactionalIdPrefix != null ? transactionalIdPrefix : groupId) + "-" + instanceId;
    }

    /**
     * Checks the configuration and builds the bridge; nothing connects before {@link
     * TransactionalBridge#start()}.
     *
     * @throws IllegalArgumentException naming what is wrong (secret values are never shown)
     */
    public TransactionalBridge build() {
      if (instanceId == null) {
        throw new IllegalArgumentException("the Kafka bridge '" + name + "' needs an instance"
            + " id, stable across restarts and unique in its group");
      }
      if (bootstrapServers == null
          && (!consumerProperties.containsKey(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG)
          || !producerProperties.containsKey(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG))) {
        throw new IllegalArgumentException("the Kafka bridge '" + name
            + "' needs bootstrap servers");
      }
      Map<String, Signal> inputs = new HashMap<>();
      for (Signal s : signals) {
        String in = inputTopics.get(s);
        String out = outputTopics.get(s);
        if (out == null) {
          throw new IllegalArgumentException("the Kafka bridge '" + name + "' needs an output"
              + " topic for " + s.id() + " (or leave " + s.id() + " out with signals(...))");
        }
        Signal other = inputs.put(in, s);
        if (other != null) {
          throw new IllegalArgumentException("topic " + in + " is the input of both "
              + other.id() + " and " + s.id());
        }
      }
      for (Signal s : signals) {
        if (inputs.containsKey(outputTopics.get(s))) {
          throw new IllegalArgumentException("the output topic of " + s.id() + ", "
              + outputTopics.get(s) + ", is also an input topic: the bridge would feed itself");
        }
      }
      if (transactionTimeout.compareTo(maxTransactionTime.multipliedBy(2)) < 0) {
        throw new IllegalArgumentException("the transaction timeout (" + transactionTimeout
            .toMillis() + " ms) must be at least twice the max transaction time ("
            + maxTransactionTime.toMillis() + " ms)");
      }
      if (maxRetryBackoff.compareTo(retryBackoff) < 0) {
        throw new IllegalArgumentException("max retry backoff is below the retry backoff");
      }
      Map<String, Object> consumer = consumerConfig();
      Map<String, Object> producer = producerConfig();
      try {
        ConsumerConfig.configDef().parse(consumer);
      } catch (ConfigException e) {
        throw new IllegalArgumentException("invalid Kafka consumer configuration of bridge '"
            + name + "': " + e.getMessage(), e);
      }
      try {
        ProducerConfig.configDef().parse(producer);
      } catch (ConfigException e) {
        throw new IllegalArgumentException("invalid Kafka producer configuration of bridge '"
            + name + "': " + e.getMessage(), e);
      }
      return new TransactionalBridge(this, consumer, producer);
    }

    private Map<String, Object> consumerConfig() {
      Map<String, Object> c = new HashMap<>();
      if (bootstrapServers != null) {
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
      }
      c.put(ConsumerConfig.CLIENT_ID_CONFIG, "sluice-" + name + "-" + instanceId);
      c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(Math.min(500, maxRecords)));
      c.putAll(consumerProperties);
      c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
      if (staticMembership) {
        c.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, transactionalId());
      }
      c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
          ByteArrayDeserializer.class.getName());
      return c;
    }

    private Map<String, Object> producerConfig() {
      Map<String, Object> p = new HashMap<>();
      if (bootstrapServers != null) {
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
      }
      p.put(ProducerConfig.CLIENT_ID_CONFIG, "sluice-" + name + "-" + instanceId);
      p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
      p.putAll(producerProperties);
      p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId());
      p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG,
          Long.toString(transactionTimeout.toMillis()));
      p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
      return p;
    }

    private static void checkProperty(String client, String key, Object value,
        List<String> reserved) {
      if (key == null || key.isBlank()) {
        throw new IllegalArgumentException("a " + client + " property needs a name");
      }
      if (value == null) {
        throw new IllegalArgumentException(client + " property " + key + " has no value");
      }
      if (reserved.contains(key)) {
        throw new IllegalArgumentException(client + " property " + key + " cannot be set: the"
            + " bridge sets it (" + String.join(", ", reserved) + ")");
      }
    }

    private static String requireId(String what, String id) {
      if (id == null || !ID.matcher(id).matches()) {
        throw new IllegalArgumentException("the " + what + " '" + id + "' must be 1 to 200 of"
            + " a-z A-Z 0-9 . _ -");
      }
      return id;
    }

    private static String requireTopic(String topic) {
      if (!Topics.valid(topic)) {
        throw new IllegalArgumentException("'" + topic + "' is not a valid Kafka topic name"
            + " (1 to 249 of a-z A-Z 0-9 . _ -)");
      }
      return topic;
    }
  }
}
