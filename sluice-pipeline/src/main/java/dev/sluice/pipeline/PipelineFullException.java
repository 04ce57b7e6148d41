package dev.sluice.pipeline;

/**
 * The pipeline cannot take more data now; the sender should retry after {@link
 * #retryAfterSeconds()}. Receivers answer it with 429 or 503 and {@code Retry-After}.
 */
public final class PipelineFullException extends RuntimeException {
  private final int retryAfterSeconds;

  public PipelineFullException(String message, int retryAfterSeconds) {
    super(message, null, false, false);
    this.retryAfterSeconds = retryAfterSeconds;
  }

  public int retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
