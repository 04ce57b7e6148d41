package dev.sluice.queue;

/** The queue (or the reader) was closed: it takes no more appends, polls or commits. */
public final class QueueClosedException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public QueueClosedException(String message) {
    super(message);
  }
}
