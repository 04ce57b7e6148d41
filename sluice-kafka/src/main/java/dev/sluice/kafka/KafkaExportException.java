package dev.sluice.kafka;

/**
 * Kafka did not acknowledge every message of a batch: the producer's retries ran out ({@code
 * delivery.timeout.ms}), the broker refused a message for a reason retrying may cure (an ACL, a
 * missing topic), or the exporter was closed before the acknowledgement came. Retriable: the
 * durable pipeline keeps the batch and offers it again. Messages of the batch that Kafka did
 * acknowledge are sent again with it, so delivery is at least once.
 */
public final class KafkaExportException extends RuntimeException {
  private final int failedMessages;

  public KafkaExportException(String message, int failedMessages, Throwable cause) {
    super(message, cause);
    this.failedMessages = failedMessages;
  }

  /** How many messages of the batch were not acknowledged. */
  public int failedMessages() {
    return failedMessages;
  }
}
