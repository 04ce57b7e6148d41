package dev.sluice.receiver.otlp;

import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * A request the receiver answers with an error status; the one place where a failure becomes an
 * HTTP status and a message for the client.
 */
final class RequestRefusedException extends Exception {
  final HttpResponseStatus status;
  final String reason;
  final int retryAfterSeconds;

  /**
   * @param reason a short metrics label: decode_error, too_large, unsupported_media_type, ...
   */
  RequestRefusedException(HttpResponseStatus status, String reason, String message) {
    this(status, reason, message, 0);
  }

  RequestRefusedException(HttpResponseStatus status, String reason, String message,
      int retryAfterSeconds) {
    super(message, null, false, false);
    this.status = status;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
