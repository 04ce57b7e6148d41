package dev.sluice.kafka.testing;

import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import kafka.server.BrokerServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.PreboundSocketFactoryManager;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.metadata.BrokerState;
import org.apache.kafka.metadata.bootstrap.BootstrapMetadata;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One real Apache Kafka broker (KRaft, broker and controller in one node) running inside the test
 * JVM, shared by every test class of that JVM. See {@code package-info.java} for how to use it.
 *
 * <p>Started lazily by the first {@link #shared()} call (about 5 s), stopped by a shutdown hook
 * when the JVM exits; its data lives under {@code target/kafka-test-broker-<uuid>} and is deleted
 * then. It listens on 127.0.0.1 only, PLAINTEXT, on a port chosen by the system; topics are not
 * created automatically (create them with {@link #createTopic}). The bootstrap metadata is the
 * latest production metadata version with the production feature levels of that version (the kit's
 * own default is the unstable latest-testing version).
 */
public final class KafkaTestBroker {
  private static final Logger log = LoggerFactory.getLogger(KafkaTestBroker.class);
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final AtomicInteger TOPICS = new AtomicInteger();
  private static KafkaTestBroker shared;

  private final KafkaClusterTestKit kit;
  private final Path directory;
  private final int port;
  private final Admin admin;
  private final LoopbackSocketFactoryManager sockets;

  private KafkaTestBroker(KafkaClusterTestKit kit, Path directory,
      LoopbackSocketFactoryManager sockets) {
    this.kit = kit;
    this.sockets = sockets;
    this.directory = directory;
    BrokerServer broker = broker(kit);
    this.port = broker.boundPort(kit.nodes().brokerListenerName());
    Map<String, Object> adminProps = new HashMap<>();
    adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, "sluice-test-admin");
    this.admin = Admin.create(adminProps);
  }

  /**
   * The broker of this JVM, started on the first call. Thread-safe; every caller gets the same
   * broker, so tests must not depend on a topic they did not create.
   *
   * @throws IllegalStateException when the broker cannot start
   */
  public static synchronized KafkaTestBroker shared() {
    if (shared == null) {
      shared = start();
      KafkaTestBroker broker = shared;
      Runtime.getRuntime().addShutdownHook(new Thread(broker::closeQuietly,
          "kafka-test-broker-shutdown"));
    }
    return shared;
  }

  private static KafkaTestBroker start() {
    long started = System.nanoTime();
    Path directory = Paths.get("target", "kafka-test-broker-" + UUID.randomUUID())
        .toAbsolutePath();
    KafkaClusterTestKit kit = null;
    try {
      Files.createDirectories(directory);
      TestKitNodes nodes = new TestKitNodes.Builder(productionBootstrapMetadata())
          .setCombined(true)
          .setNumBrokerNodes(1)
          .setNumControllerNodes(1)
          .setBaseDirectory(directory)
          .build();
      String brokerListener = nodes.brokerListenerName().value();
      String controllerListener = nodes.controllerListenerName().value();
      KafkaClusterTestKit.Builder builder = new KafkaClusterTestKit.Builder(nodes)
          .setConfigProp("listeners", brokerListener + "://127.0.0.1:0,"
              + controllerListener + "://127.0.0.1:0")
          .setConfigProp("unstable.api.versions.enable", "false")
          .setConfigProp("unstable.feature.versions.enable", "false")
          .setConfigProp("auto.create.topics.enable", "false")
          .setConfigProp("num.partitions", "1")
          .setConfigProp("offsets.topic.replication.factor", "1")
          .setConfigProp("offsets.topic.num.partitions", "1")
          .setConfigProp("transaction.state.log.replication.factor", "1")
          .setConfigProp("transaction.state.log.min.isr", "1")
          .setConfigProp("transaction.state.log.num.partitions", "1")
          .setConfigProp("share.coordinator.state.topic.replication.factor", "1")
          .setConfigProp("share.coordinator.state.topic.min.isr", "1")
          .setConfigProp("group.initial.rebalance.delay.ms", "0")
          .setConfigProp("min.insync.replicas", "1");
      LoopbackSocketFactoryManager sockets = bindToLoopback(builder);
      kit = builder.build();
      kit.format();
      kit.startup();
      kit.waitForReadyBrokers();
      KafkaTestBroker broker = new KafkaTestBroker(kit, directory, sockets);
      broker.awaitRunning();
      log.info("Kafka test broker {} ready on {} after {} ms (metadata version {}), data in {}",
          kit.nodes().clusterId(), broker.bootstrapServers(),
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started),
          kit.nodes().bootstrapMetadata().metadataVersion(), directory);
      return broker;
    } catch (Exception e) {
      if (kit != null) {
        try {
          kit.close();
        } catch (Exception suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw new IllegalStateException("cannot start the Kafka test broker: " + e, e);
    }
  }

  /**
   * The latest production metadata version with the production features at their default levels
   * for it. Pinning only the version (the kit's {@code setBootstrapMetadataVersion}) would keep the
   * kit's latest-testing feature levels, which a production version does not support.
   */
  static BootstrapMetadata productionBootstrapMetadata() {
    MetadataVersion version = MetadataVersion.LATEST_PRODUCTION;
    Map<String, Short> features = Feature.PRODUCTION_FEATURES.stream()
        .collect(Collectors.toMap(Feature::featureName, f -> f.defaultLevel(version),
            (a, b) -> a, TreeMap::new));
    return BootstrapMetadata.fromVersions(version, features, "sluice-kafka-test");
  }

  /**
   * The kit pre-binds its listener sockets on the wildcard address; put a manager that binds
   * 127.0.0.1 in its place. Depends on the kit's private field, which exists in the pinned Kafka
   * version; should it go, the broker still starts, listening on all interfaces, with a warning.
   */
  private static LoopbackSocketFactoryManager bindToLoopback(KafkaClusterTestKit.Builder builder) {
    try {
      Field f = KafkaClusterTestKit.Builder.class.getDeclaredField("socketFactoryManager");
      f.setAccessible(true);
      PreboundSocketFactoryManager original = (PreboundSocketFactoryManager) f.get(builder);
      LoopbackSocketFactoryManager loopback = new LoopbackSocketFactoryManager();
      f.set(builder, loopback);
      original.close(); // it has opened nothing yet
      return loopback;
    } catch (ReflectiveOperationException | RuntimeException e) {
      log.warn("cannot make the Kafka test kit bind to 127.0.0.1 only; it binds the wildcard"
          + " address: {}", e.toString());
      return null;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The local address of every listening socket the broker and controller opened (restarts
   * included), or an empty list when the kit could not be made to bind loopback only.
   */
  public List<java.net.InetSocketAddress> listeningAddresses() {
    return sockets == null ? List.of() : sockets.boundAddresses();
  }

  /** {@code 127.0.0.1:<port>}; the port stays the same across {@link #stopBroker()}/{@link #startBroker()}. */
  public String bootstrapServers() {
    return "127.0.0.1:" + port;
  }

  /** An admin client on this broker, shared: do not close it. */
  public Admin admin() {
    return admin;
  }

  /** Where the broker keeps its data (under {@code target/}). */
  public Path directory() {
    return directory;
  }

  /** The underlying kit, for what this class does not offer. */
  public KafkaClusterTestKit kit() {
    return kit;
  }

  /**
   * Creates a topic with a unique name starting with {@code prefix} and waits until it takes
   * records; returns its name.
   */
  public String createTopic(String prefix, int partitions) {
    String name = prefix + "-" + TOPICS.incrementAndGet() + "-"
        + UUID.randomUUID().toString().substring(0, 8);
    createTopics(Map.of(name, partitions));
    return name;
  }

  /**
   * Creates topics (name → partitions, replication factor 1) and waits, for each partition, until
   * the broker answers {@code ListOffsets} for it. Producing to a partition just created, before
   * that, can fail an idempotent producer's first batch with an out-of-sequence error (a known
   * Kafka bug), so every test should create its topics through here.
   */
  public void createTopics(Map<String, Integer> topics) {
    List<NewTopic> newTopics = new ArrayList<>();
    topics.forEach((name, partitions) -> newTopics.add(new NewTopic(name, partitions, (short) 1)));
    try {
      admin.createTopics(newTopics).all().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("cannot create topics " + topics.keySet() + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    topics.forEach((name, partitions) -> {
      for (int p = 0; p < partitions; p++) {
        request.put(new TopicPartition(name, p), OffsetSpec.latest());
      }
    });
    awaitOffsets(request, "the new topics " + topics.keySet() + " to answer ListOffsets");
  }

  /** The end offset of every partition of {@code topic} (the last stable offset when read committed). */
  public Map<TopicPartition, Long> endOffsets(String topic) {
    try (KafkaConsumer<byte[], byte[]> consumer = newConsumer(null)) {
      List<TopicPartition> partitions = partitions(consumer, topic);
      return consumer.endOffsets(partitions, Duration.ofSeconds(30));
    }
  }

  /**
   * Properties of a consumer on this broker: byte-array deserializers, {@code read_committed},
   * from the earliest offset, no auto commit; with {@code groupId} when not null.
   */
  public Map<String, Object> consumerProperties(String groupId) {
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG,
        IsolationLevel.READ_COMMITTED.toString().toLowerCase(java.util.Locale.ROOT));
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    if (groupId != null) {
      props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    }
    return props;
  }

  /** A new consumer with {@link #consumerProperties}; the caller closes it. */
  public KafkaConsumer<byte[], byte[]> newConsumer(String groupId) {
    return new KafkaConsumer<>(consumerProperties(groupId));
  }

  /**
   * Reads every record of {@code topic} from the beginning up to the end offsets at the time of
   * the call (so call it after the producer was acknowledged), partition by partition in offset
   * order, without a consumer group.
   */
  public List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
    try (KafkaConsumer<byte[], byte[]> consumer = newConsumer(null)) {
      List<TopicPartition> partitions = partitions(consumer, topic);
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
      Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> byPartition = new TreeMap<>(
          java.util.Comparator.comparingInt(TopicPartition::partition));
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!reached(consumer, end)) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("timed out reading " + topic + " up to " + end);
        }
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<byte[], byte[]> r : records) {
          TopicPartition tp = new TopicPartition(r.topic(), r.partition());
          if (r.offset() < end.get(tp)) {
            byPartition.computeIfAbsent(tp, k -> new ArrayList<>()).add(r);
          }
        }
      }
      List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
      byPartition.values().forEach(all::addAll);
      return all;
    }
  }

  private static boolean reached(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (consumer.position(e.getKey(), Duration.ofSeconds(10)) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  private static List<TopicPartition> partitions(KafkaConsumer<?, ?> consumer, String topic) {
    List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30))
        .stream().map(p -> new TopicPartition(topic, p.partition())).collect(Collectors.toList());
    if (partitions.isEmpty()) {
      throw new IllegalStateException("topic " + topic + " has no partitions (does it exist?)");
    }
    return partitions;
  }

  /**
   * Stops the broker (the controller keeps running, so the cluster's metadata survives) and waits
   * until its port refuses connections. Clients see a broker outage. Call {@link #startBroker()}
   * in a {@code finally} block: the broker is shared with the other test classes.
   */
  public synchronized void stopBroker() {
    BrokerServer broker = broker(kit);
    broker.shutdown();
    broker.awaitShutdown();
    log.info("Kafka test broker stopped (port {})", port);
  }

  /**
   * Starts the broker stopped by {@link #stopBroker()} on the same port and waits until it is
   * registered, unfenced and leads its partitions again; does nothing when it runs.
   */
  public synchronized void startBroker() {
    BrokerServer broker = broker(kit);
    if (broker.brokerState() == BrokerState.RUNNING) {
      return;
    }
    broker.startup();
    try {
      kit.waitForReadyBrokers();
    } catch (ExecutionException e) {
      throw new IllegalStateException("the Kafka test broker did not come back: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    awaitRunning();
    // Every partition must have its leader back before tests go on producing.
    try {
      Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
      Map<TopicPartition, OffsetSpec> request = new HashMap<>();
      Map<String, org.apache.kafka.clients.admin.TopicDescription> descriptions =
          admin.describeTopics(topics).allTopicNames().get(30, TimeUnit.SECONDS);
      for (org.apache.kafka.clients.admin.TopicDescription d : descriptions.values()) {
        d.partitions().forEach(p -> request.put(new TopicPartition(d.name(), p.partition()),
            OffsetSpec.latest()));
      }
      awaitOffsets(request, "every partition to answer ListOffsets after the restart");
    } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("cannot list topics after the restart: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    log.info("Kafka test broker started again on {}", bootstrapServers());
  }

  /** True while the broker serves clients. */
  public boolean running() {
    return broker(kit).brokerState() == BrokerState.RUNNING;
  }

  private void awaitRunning() {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (broker(kit).brokerState() != BrokerState.RUNNING) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the Kafka test broker never reached RUNNING: "
            + broker(kit).brokerState());
      }
      pause();
    }
  }

  private void awaitOffsets(Map<TopicPartition, OffsetSpec> request, String what) {
    if (request.isEmpty()) {
      return;
    }
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    Exception last = null;
    while (System.nanoTime() < deadline) {
      try {
        admin.listOffsets(request).all().get(10, TimeUnit.SECONDS);
        return;
      } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
        last = e; // leader not elected yet, or metadata not propagated: ask again
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      pause();
    }
    throw new IllegalStateException("timed out waiting for " + what + ": " + last, last);
  }

  private static void pause() {
    try {
      Thread.sleep(50); // polling interval while the broker converges, not synchronisation
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static BrokerServer broker(KafkaClusterTestKit kit) {
    Collection<BrokerServer> brokers = kit.brokers().values();
    return brokers.iterator().next();
  }

  private void closeQuietly() {
    try {
      admin.close(Duration.ofSeconds(5));
    } catch (RuntimeException e) {
      log.warn("closing the test admin client failed: {}", e.toString());
    }
    try {
      kit.close();
    } catch (Exception e) {
      log.warn("closing the Kafka test broker failed: {}", e.toString());
    }
  }
}
