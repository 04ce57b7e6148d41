/**
 * Exactly-once Kafka to Kafka pipelines: {@link dev.sluice.kafka.bridge.TransactionalBridge}
 * consumes OTLP topics in a consumer group and writes transformed records in Kafka transactions
 * that also commit the input offsets.
 *
 * <pre>{@code
 * TransactionalBridge bridge = TransactionalBridge.builder()
 *     .bootstrapServers("kafka-1:9092,kafka-2:9092")
 *     .groupId("rekey")                         // shared by the instances
 *     .instanceId(System.getenv("HOSTNAME"))    // stable per instance
 *     .outputTopic(Signal.TRACES, "otlp_spans_by_trace")
 *     .outputTopic(Signal.METRICS, "otlp_metrics_by_resource")
 *     .outputTopic(Signal.LOGS, "otlp_logs_by_resource")
 *     .transform(BridgeTransform.rekey())
 *     .build();
 * bridge.start();
 * ...
 * bridge.close();
 * }</pre>
 *
 * <p>Consumers of the output must read with {@code isolation.level=read_committed} to see each
 * input record's output exactly once. See {@code docs/kafka.md} for when to use the bridge and
 * what it costs.
 */
package dev.sluice.kafka.bridge;
