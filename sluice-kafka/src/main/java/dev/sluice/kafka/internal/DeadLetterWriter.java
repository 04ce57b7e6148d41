package dev.sluice.kafka.internal;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
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
 * Appends what the Kafka exporter cannot send to {@code <directory>/<signal>.jsonl}, one JSON
 * object per line: {@code time} (ISO-8601), {@code exporter}, {@code signal}, {@code topic}, {@code
 * reason}, {@code items}, {@code bytes} (the encoded message size that did not fit), and {@code
 * item}: the OTLP/JSON {@code Export*ServiceRequest} holding just that item with its resource and
 * scope, ready to be posted again to {@code /v1/<signal>}. Bytes that could not be parsed as a
 * request are written as {@code payload_base64} instead.
 *
 * <p>Each line is written with one call and the file is opened for each line, so an operator may
 * move it away at any time. Thread-safe.
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

  /** The file of a signal's dead letters. */
  public Path file(Signal signal) {
    return directory.resolve(signal.id() + ".jsonl");
  }

  /** Appends one item: {@code request} holds it with its resource and scope. */
  public void write(Signal signal, String topic, String reason, int items, int bytes,
      Message request) throws IOException {
    append(signal, topic, reason, items, bytes, OtlpJsonCodec.toJsonBytes(request), null);
  }

  /** Appends bytes that are not a valid request, as base64. */
  public void writeUnparsable(Signal signal, String topic, String reason, int items,
      byte[] payload) throws IOException {
    append(signal, topic, reason, items, payload.length, null, payload);
  }

  private void append(Signal signal, String topic, String reason, int items, int bytes,
      byte[] json, byte[] raw) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream(
        256 + (json != null ? json.length : raw.length * 4 / 3 + 4));
    try (JsonGenerator g = JSON.createGenerator(line, JsonEncoding.UTF8)) {
      g.writeStartObject();
      g.writeStringField("time", clock.instant().toString());
      g.writeStringField("exporter", exporter);
      g.writeStringField("signal", signal.id());
      g.writeStringField("topic", topic);
      g.writeStringField("reason", reason);
      g.writeNumberField("items", items);
      g.writeNumberField("bytes", bytes);
      if (json != null) {
        g.writeFieldName("item");
        g.writeRawValue(new String(json, StandardCharsets.UTF_8));
      } else {
        g.writeStringField("payload_base64", Base64.getEncoder().encodeToString(raw));
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
