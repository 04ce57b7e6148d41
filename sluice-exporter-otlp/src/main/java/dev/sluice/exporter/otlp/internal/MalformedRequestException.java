package dev.sluice.exporter.otlp.internal;

/** The bytes of a request are not valid protobuf where they had to be read. */
public final class MalformedRequestException extends RuntimeException {
  MalformedRequestException(String message) {
    super(message, null, false, false);
  }
}
