/**
 * A real Apache Kafka broker for tests, shared by every test class of the JVM — for the Kafka
 * exporter's tests and the Kafka receiver's alike.
 *
 * <h2>Use</h2>
 *
 * <pre>{@code
 * @ExtendWith(KafkaTestBrokerExtension.class)
 * class MyKafkaTest {
 *   private static KafkaTestBroker kafka;
 *
 *   @BeforeAll
 *   static void broker(KafkaTestBroker broker) {   // or KafkaTestBroker.shared()
 *     kafka = broker;
 *   }
 *
 *   @Test
 *   void something() {
 *     String topic = kafka.createTopic("my-test", 3);   // unique name, 3 partitions, ready
 *     // produce with kafka.bootstrapServers() ...
 *     List<ConsumerRecord<byte[], byte[]>> all = kafka.readAll(topic);
 *     // or kafka.newConsumer("my-group") / kafka.consumerProperties("my-group") for a consumer
 *     // group (read_committed, earliest, no auto commit)
 *   }
 * }
 * }</pre>
 *
 * <h2>What to know</h2>
 *
 * <ul>
 *   <li>One broker per test JVM: {@link dev.sluice.kafka.testing.KafkaTestBroker#shared()} starts
 *       it on first use (a few seconds) with Kafka's own {@code KafkaClusterTestKit}, one KRaft
 *       node that is broker and controller; a shutdown hook stops it and deletes its data
 *       ({@code target/kafka-test-broker-<uuid>}) when the JVM exits. Never close it in a test.
 *   <li>It listens on 127.0.0.1 only (PLAINTEXT); {@code bootstrapServers()} is
 *       {@code 127.0.0.1:<port>}.
 *   <li>Topics are not created on demand ({@code auto.create.topics.enable=false}): create each
 *       test's topics with {@code createTopic(prefix, partitions)}, which makes the name unique
 *       (tests share the broker) and waits until every partition answers {@code ListOffsets}.
 *       Producing to a just-created partition earlier can fail an idempotent producer's first
 *       batch with an out-of-order sequence error (a known Kafka bug), so do not skip the wait
 *       by creating topics with the admin client directly; use {@code createTopics(Map)}.
 *   <li>The bootstrap metadata is the latest <em>production</em> metadata version with the
 *       production feature levels for it; unstable API and feature versions are off. Consumer
 *       groups work with both the classic and the new ({@code group.protocol=consumer})
 *       protocol; internal topics have replication factor 1.
 *   <li>{@code stopBroker()} / {@code startBroker()} simulate an outage: the broker stops (the
 *       controller keeps the metadata) and comes back on the same port, with its data; {@code
 *       startBroker()} returns once every partition has a leader again. Always call {@code
 *       startBroker()} in a {@code finally} block: the next test class needs the broker. Test
 *       classes run one after the other in the JVM (Surefire's default), which this relies on.
 *   <li>{@code kit()} gives the underlying {@code KafkaClusterTestKit} for anything else.
 * </ul>
 */
package dev.sluice.kafka.testing;
