package dev.sluice.otlp.validation;

/** A request body that does not decode as the OTLP message it claims to be. */
public final class MalformedOtlpException extends Exception {
  public MalformedOtlpException(String message) {
    super(message, null, false, false);
  }
}
