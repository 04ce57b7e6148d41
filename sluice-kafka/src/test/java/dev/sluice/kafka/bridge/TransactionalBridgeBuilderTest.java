package dev.sluice.kafka.bridge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.otlp.Signal;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the builder accepts and what it makes of it; nothing connects here. */
class TransactionalBridgeBuilderTest {

  private static TransactionalBridge.Builder valid() {
    return TransactionalBridge.builder().bootstrapServers("127.0.0.1:9092")
        .groupId("g").instanceId("node-1").signals(Signal.TRACES)
        .outputTopic(Signal.TRACES, "spans-out");
  }

  @Test
  void theClientsAreTransactionalReadCommittedAndStaticMembersWithAStableId() {
    TransactionalBridge bridge = valid().transactionalIdPrefix("bridge")
        .producerProperty("sasl.jaas.config", "org.apache.kafka.common.security.plain"
            + ".PlainLoginModule required username=\"u\" password=\"hunter2\";")
        .producerProperty("security.protocol", "SASL_PLAINTEXT")
        .producerProperty("sasl.mechanism", "PLAIN")
        .build();

    assertThat(bridge.transactionalId()).isEqualTo("bridge-node-1");
    assertThat(bridge.inputTopics()).isEqualTo(Map.of(Signal.TRACES, "otlp_spans"));
    assertThat(bridge.outputTopics()).isEqualTo(Map.of(Signal.TRACES, "spans-out"));
    assertThat(bridge.state()).isEqualTo(TransactionalBridge.State.NEW);
    assertThat(bridge.effectiveConsumerProperties())
        .containsEntry("isolation.level", "read_committed")
        .containsEntry("enable.auto.commit", "false")
        .containsEntry("group.id", "g")
        .containsEntry("group.instance.id", "bridge-node-1");
    assertThat(bridge.effectiveProducerProperties())
        .containsEntry("transactional.id", "bridge-node-1")
        .containsEntry("enable.idempotence", "true")
        .containsEntry("acks", "all")
        .containsEntry("transaction.timeout.ms", "10000")
        .containsEntry("sasl.jaas.config", "****");
    assertThat(bridge.toString()).doesNotContain("hunter2");
  }

  @Test
  void theTransactionalIdPrefixDefaultsToTheGroupAndStaticMembershipCanBeOff() {
    TransactionalBridge bridge = valid().staticMembership(false).build();
    assertThat(bridge.transactionalId()).isEqualTo("g-node-1");
    assertThat(bridge.effectiveConsumerProperties()).doesNotContainKey("group.instance.id");
  }

  @Test
  void refusesWhatWouldBreakExactlyOnce() {
    assertThatThrownBy(() -> valid().consumerProperty("isolation.level", "read_uncommitted"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("isolation.level");
    assertThatThrownBy(() -> valid().consumerProperty("enable.auto.commit", "true"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> valid().producerProperty("transactional.id", "x"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> valid().producerProperty("acks", "1"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void refusesIncompleteOrLoopingConfigurations() {
    assertThatThrownBy(() -> TransactionalBridge.builder().bootstrapServers("127.0.0.1:9092")
        .outputTopic(Signal.TRACES, "a").signals(Signal.TRACES).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("instance id");
    assertThatThrownBy(() -> TransactionalBridge.builder().instanceId("i")
        .outputTopic(Signal.TRACES, "a").signals(Signal.TRACES).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bootstrap");
    assertThatThrownBy(() -> valid().signals(Signal.TRACES, Signal.LOGS).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("logs");
    assertThatThrownBy(() -> valid().outputTopic(Signal.TRACES, "otlp_spans").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("feed itself");
    assertThatThrownBy(() -> valid().maxTransactionTime(Duration.ofSeconds(6)).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("transaction time");
    assertThatThrownBy(() -> valid().instanceId("a b"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> valid().outputTopic(Signal.TRACES, "bad topic"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> valid().consumerProperty("session.timeout.ms", "soon").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("session.timeout.ms");
  }

  @Test
  void closingABridgeThatNeverStartedEndsIt() throws Exception {
    TransactionalBridge bridge = valid().build();
    bridge.close();
    assertThat(bridge.state()).isEqualTo(TransactionalBridge.State.CLOSED);
    assertThat(bridge.termination()).isCompleted();
    assertThatThrownBy(bridge::start).isInstanceOf(IllegalStateException.class);
  }
}
