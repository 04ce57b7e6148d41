package dev.sluice.http.server;

import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * A request head the server refuses, with the status to answer; set as the failed decoder result
 * of the request so that {@link RequestGuard} answers it like the decoder's own errors.
 */
final class InvalidRequestException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  private final transient HttpResponseStatus status;

  InvalidRequestException(HttpResponseStatus status, String message) {
    super(message);
    this.status = status;
  }

  InvalidRequestException(String message) {
    this(HttpResponseStatus.BAD_REQUEST, message);
  }

  HttpResponseStatus status() {
    return status;
  }

  @Override
  public synchronized Throwable fillInStackTrace() {
    return this; // an answer to a client, not a fault of ours: the stack says nothing
  }
}
