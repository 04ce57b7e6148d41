package dev.sluice.queue;

/**
 * An append was refused because it would take the queue past its {@code maxBytes}. Nothing that
 * is already in the queue is dropped to make room: space comes back only when every reader has
 * committed past a whole segment and that segment is deleted.
 */
public final class QueueFullException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final long retryAfterSeconds;

  public QueueFullException(String message, long retryAfterSeconds) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** A hint for the sender (e.g. an HTTP {@code Retry-After}): when trying again may succeed. */
  public long retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
