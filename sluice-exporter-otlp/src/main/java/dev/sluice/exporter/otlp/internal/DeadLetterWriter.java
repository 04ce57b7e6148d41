package dev.sluice.exporter.otlp.internal;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.sluice.otlp.Signal;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.util.Base64;
import java.util.Objects;

/**
 * Appends requests the backend refused for good to {@code <directory>/<signal>.jsonl}, one JSON
 * object per line: {@code time}, {@code exporter}, {@code signal}, {@code endpoint}, {@code status}
 * (0 when there was no HTTP answer), {@code message}, {@code items}, and the request as OTLP/JSON
 * in {@code request}, or, when it cannot be converted, as base64 protobuf in {@code
 * request_base64} with the reason in {@code request_error}.
 *
 * <p>Each line is written with one call and flushed; the file is opened for each line (dead letters
 * are the exception, and an operator may move the file away at any time). Thread-safe.
 */
public final class DeadLetterWriter {
  private static final JsonFactory JSON = new JsonFactory();

  private final Path directory;
  private final String exporter;
  private final Clock clock;

  public DeadLetterWriter(Path directory, String exporter, Clock clock) {
    this.directory = Objects.requireNonNull(directory, "directory");
    this.exporter = Objects.requireNonNull(exporter, "exporter");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  public Path directory() {
    return directory;
  }

  /** The file of a signal's dead letters. */
  public Path file(Signal signal) {
    return directory.resolve(signal.id() + ".jsonl");
  }

  /**
   * Appends one request.
   *
   * @param protobuf the request's protobuf encoding, used when {@code json} is null
   * @param json the request as OTLP/JSON, or null to convert {@code protobuf}
   */
  public void write(Signal signal, String endpoint, int status, String message, int items,
      byte[] protobuf, byte[] json) throws IOException {
    String request = null;
    String error = null;
    if (json == null) {
      try {
        json = BodyCodec.toJson(signal, protobuf);
      } catch (RuntimeException e) {
        error = e.getMessage();
      }
    }
    if (json != null) {
      request = new String(json, StandardCharsets.UTF_8);
    }
    ByteArrayOutputStream line = new ByteArrayOutputStream(
        256 + (request != null ? request.length() : protobuf.length * 4 / 3 + 4));
    try (JsonGenerator g = JSON.createGenerator(line, JsonEncoding.UTF8)) {
      g.writeStartObject();
      g.writeStringField("time", clock.instant().toString());
      g.writeStringField("exporter", exporter);
      g.writeStringField("signal", signal.id());
      g.writeStringField("endpoint", endpoint == null ? "" : endpoint);
      g.writeNumberField("status", status);
      g.writeStringField("message", message == null ? "" : message);
      g.writeNumberField("items", items);
      if (request != null) {
        g.writeFieldName("request");
        g.writeRawValue(request);
      } else {
        g.writeStringField("request_base64", Base64.getEncoder().encodeToString(protobuf));
        g.writeStringField("request_error", error == null ? "" : error);
      }
      g.writeEndObject();
    }
    line.write('\n');
    synchronized (this) {
      Files.createDirectories(directory);
      try (OutputStream out = Files.newOutputStream(file(signal), StandardOpenOption.CREATE,
          StandardOpenOption.APPEND, StandardOpenOption.WRITE)) {
        line.writeTo(out);
      }
    }
  }
}
