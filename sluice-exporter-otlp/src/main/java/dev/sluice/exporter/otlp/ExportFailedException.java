package dev.sluice.exporter.otlp;

/**
 * An export that did not reach the backend: retries ran out ({@code max_elapsed_time}) or were
 * disabled. The data was neither delivered nor dead-lettered; {@link #retriable()} tells the sender
 * (the durable queue) that trying again later may succeed.
 */
public final class ExportFailedException extends RuntimeException {
  private final boolean retriable;
  private final int status;
  private final int attempts;

  /**
   * @param status the last HTTP status received, or 0 when the last attempt got no answer
   * @param attempts how many requests were made
   */
  public ExportFailedException(String message, boolean retriable, int status, int attempts,
      Throwable cause) {
    super(message, cause);
    this.retriable = retriable;
    this.status = status;
    this.attempts = attempts;
  }

  public boolean retriable() {
    return retriable;
  }

  /** The last HTTP status received, or 0 when the last attempt got no answer. */
  public int status() {
    return status;
  }

  public int attempts() {
    return attempts;
  }
}
