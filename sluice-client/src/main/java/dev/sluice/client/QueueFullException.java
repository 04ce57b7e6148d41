package dev.sluice.client;

/**
 * The client already holds {@code maxQueuedRequests} exports or {@code maxQueuedBytes} bytes not
 * yet delivered: this export was refused at once, without blocking and without holding its data.
 * Dropping it, or offering it again later, is the caller's choice.
 */
public final class QueueFullException extends RuntimeException {
  public QueueFullException(String message) {
    super(message, null, false, false); // thrown often under load: no stack trace
  }
}
