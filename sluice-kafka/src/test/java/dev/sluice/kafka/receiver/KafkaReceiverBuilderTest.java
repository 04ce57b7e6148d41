package dev.sluice.kafka.receiver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.otlp.Signal;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The receiver's configuration, checked without a broker. */
class KafkaReceiverBuilderTest {
  private static final String JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule"
      + " required username=\"u\" password=\"hunter2\";";

  private static KafkaReceiver.Builder builder() {
    return KafkaReceiver.builder().bootstrapServers("127.0.0.1:9092")
        .sink(new Fixtures.ControlledSink());
  }

  @Test
  void defaultsFollowTheCollector() {
    KafkaReceiver r = builder().build();

    assertThat(r.topics(Signal.TRACES)).containsExactly("otlp_spans");
    assertThat(r.topics(Signal.METRICS)).containsExactly("otlp_metrics");
    assertThat(r.topics(Signal.LOGS)).containsExactly("otlp_logs");
    assertThat(r.encoding()).isEqualTo(KafkaEncoding.OTLP_PROTO);
    assertThat(r.initialOffset()).isEqualTo(InitialOffset.LATEST);
    assertThat(r.deadLetterTopic()).isEqualTo("otlp_dlq");
    assertThat(r.effectiveConsumerProperties())
        .containsEntry("enable.auto.commit", "false")
        .containsEntry("auto.offset.reset", "latest")
        .containsEntry("group.id", "sluice");
  }

  @Test
  void initialOffsetAndGroupReachTheConsumer() {
    KafkaReceiver r = builder().groupId("g1").initialOffset(InitialOffset.fromId("Earliest"))
        .build();

    assertThat(r.effectiveConsumerProperties()).containsEntry("auto.offset.reset", "earliest")
        .containsEntry("group.id", "g1");
  }

  @Test
  void autoCommitCannotBeTurnedOn() {
    assertThatThrownBy(() -> builder().consumerProperty("enable.auto.commit", true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("enable.auto.commit");
    assertThatThrownBy(() -> builder().consumerProperties(Map.of("enable.auto.commit", "TRUE")))
        .isInstanceOf(IllegalArgumentException.class);
    // Saying false again is harmless.
    KafkaReceiver r = builder().consumerProperty("enable.auto.commit", "false").build();
    assertThat(r.effectiveConsumerProperties()).containsEntry("enable.auto.commit", "false");
  }

  @Test
  void deserializersAndGroupIdPropertyAreRefused() {
    assertThatThrownBy(() -> builder().consumerProperty("value.deserializer", "x"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().consumerProperty("group.id", "x"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("groupId");
  }

  @Test
  void passedThroughPropertiesOverrideAndReachTheDeadLetterProducer() {
    KafkaReceiver r = builder()
        .consumerProperties(Map.of("security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN",
            "sasl.jaas.config", JAAS, "max.poll.records", 50, "auto.offset.reset", "none"))
        .build();

    assertThat(r.effectiveConsumerProperties()).containsEntry("max.poll.records", "50")
        .containsEntry("auto.offset.reset", "none")
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("sasl.jaas.config", "****");
    assertThat(r.effectiveDeadLetterProducerProperties())
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("sasl.mechanism", "PLAIN")
        .containsEntry("sasl.jaas.config", "****")
        .containsEntry("acks", "all")
        .doesNotContainKey("max.poll.records");
  }

  @Test
  void toStringMasksSecrets() {
    KafkaReceiver r = builder().consumerProperty("sasl.jaas.config", JAAS)
        .consumerProperty("ssl.truststore.password", "changeit")
        .deadLetterProducerProperties(Map.of("ssl.key.password", "s3cret"))
        .build();

    String s = r.toString();
    assertThat(s).doesNotContain("hunter2").doesNotContain("changeit").doesNotContain("s3cret")
        .contains("sasl.jaas.config=****").contains("ssl.truststore.password=****")
        .contains("ssl.key.password=****");
  }

  @Test
  void aTopicCarriesOneSignal() {
    assertThatThrownBy(() -> builder().topic(Signal.TRACES, "t").topic(Signal.LOGS, "t").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("topic t");
  }

  @Test
  void theDeadLetterTopicIsNotReadBack() {
    assertThatThrownBy(() -> builder().deadLetterTopic("otlp_logs").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dead-letter");
  }

  @Test
  void noTopicsNoSinkOrNoServersAreRefused() {
    assertThatThrownBy(() -> builder().topics(Signal.TRACES, List.of())
        .topics(Signal.METRICS, List.of()).topics(Signal.LOGS, List.of()).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no topics");
    assertThatThrownBy(() -> KafkaReceiver.builder().bootstrapServers("h:1").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sink");
    assertThatThrownBy(() -> KafkaReceiver.builder().sink(new Fixtures.ControlledSink()).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bootstrap");
  }

  @Test
  void badValuesAreRefused() {
    assertThatThrownBy(() -> builder().topic(Signal.TRACES, "bad topic"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().bootstrapServers("nohost"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().consumerProperty("max.poll.records", "many").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max.poll.records");
    assertThatThrownBy(() -> InitialOffset.fromId("middle"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().maxConcurrentSubmitsPerPartition(0))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void withoutADeadLetterTopicThereIsNoProducer() {
    KafkaReceiver r = builder().deadLetterTopic(null).build();

    assertThat(r.deadLetterTopic()).isNull();
    assertThat(r.effectiveDeadLetterProducerProperties()).isEmpty();
  }

  @Test
  void closeIsIdempotentAndStartAfterCloseFails() {
    KafkaReceiver r = builder().build();
    r.close();
    r.close();
    assertThatThrownBy(r::start).isInstanceOf(IllegalStateException.class);
  }
}
