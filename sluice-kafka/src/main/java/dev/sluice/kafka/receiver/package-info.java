/**
 * The Kafka receiver: OTLP out of Kafka topics, with a consumer group, into a {@link
 * dev.sluice.pipeline.TelemetrySink}.
 *
 * <pre>{@code
 * KafkaReceiver receiver = KafkaReceiver.builder()
 *     .name("kafka")
 *     .bootstrapServers("broker-1:9093,broker-2:9093")
 *     .groupId("sluice")                              // default "sluice"
 *     .initialOffset(InitialOffset.EARLIEST)          // default LATEST, as the Collector
 *     .topic(Signal.TRACES, "otlp_spans")             // the defaults, one signal per topic
 *     .encoding(KafkaEncoding.OTLP_PROTO)             // or OTLP_JSON
 *     .deadLetterTopic("otlp_dlq")                    // the default; null drops bad messages
 *     .consumerProperty("security.protocol", "SASL_SSL")
 *     .consumerProperty("sasl.mechanism", "SCRAM-SHA-512")
 *     .consumerProperty("sasl.jaas.config", "...")
 *     .sink(durablePipeline)
 *     .meterRegistry(registry)
 *     .build();
 * receiver.start();
 * ...
 * receiver.close();
 * }</pre>
 *
 * <p>See {@link dev.sluice.kafka.receiver.KafkaReceiver} for delivery (at least once: offsets
 * are committed only for what the sink accepted), threading and order, back-pressure (pause and
 * resume), dead letters and metrics.
 */
package dev.sluice.kafka.receiver;
