package dev.sluice.otlp.json;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.google.protobuf.Message;
import com.google.protobuf.MessageOrBuilder;
import java.io.ByteArrayOutputStream;
import java.io.CharConversionException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Objects;

/**
 * Converts OTLP protobuf messages to and from OTLP/JSON: proto3 JSON with hex trace and span ids and
 * integer enums, as the OTLP specification defines it.
 *
 * <p>Reading accepts what the specification asks receivers to accept: lowerCamelCase and snake_case keys,
 * ids in either hex case, enum numbers or names, 64-bit integers as numbers or strings, "NaN" and
 * "Infinity" strings for doubles, standard or URL-safe base64 with or without padding. Unknown keys are
 * skipped with their whole value and {@code null} means "not set"; of a key given twice the last value
 * wins, except that the elements of a repeated field add up. Any defect in the input, from malformed
 * JSON to an out-of-range number or nesting deeper than 64 levels, is reported as
 * an {@link OtlpJsonException} naming the JSON path; an id of the wrong length is decoded as given, for
 * validation to reject. Writing emits compact UTF-8 JSON that leaves out default values, with lowercase hex
 * ids, integer enums and 64-bit integers as decimal strings.
 *
 * <p>Well-known types (Any, Timestamp, Struct, wrappers) get no special treatment, since OTLP uses none;
 * they are encoded as ordinary messages. All methods are thread-safe.
 */
public final class OtlpJsonCodec {
  /** Deep enough for AnyValue kvlists nested a dozen levels, shallow enough to bound recursion. */
  static final int MAX_NESTING_DEPTH = 64;

  private static final JsonFactory FACTORY = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING_DEPTH).build())
      // Keys come from the network: interning them would let a client fill the JVM's string table.
      .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
      // The caller owns the streams it passes in.
      .disable(StreamReadFeature.AUTO_CLOSE_SOURCE)
      .disable(StreamWriteFeature.AUTO_CLOSE_TARGET)
      // A write that fails halfway must not be completed with closing brackets into plausible JSON.
      .disable(StreamWriteFeature.AUTO_CLOSE_CONTENT)
      // Otherwise characters outside the BMP would come out as escaped surrogate pairs, not UTF-8.
      .enable(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8)
      .build();

  private OtlpJsonCodec() {}

  /**
   * Parses one OTLP/JSON document from {@code json[offset, offset + length)} into a message of
   * {@code defaultInstance}'s type, e.g. {@code parse(bytes, 0, n, ExportTraceServiceRequest.getDefaultInstance())}.
   *
   * @throws OtlpJsonException for any defect in the input
   * @throws IndexOutOfBoundsException when the range lies outside {@code json}
   */
  public static <T extends Message> T parse(byte[] json, int offset, int length, T defaultInstance) {
    Objects.requireNonNull(json, "json");
    Objects.requireNonNull(defaultInstance, "defaultInstance");
    Objects.checkFromIndexSize(offset, length, json.length);
    JsonParser parser;
    try {
      parser = FACTORY.createParser(json, offset, length);
    } catch (IOException e) {
      // Jackson sniffs the encoding here, so even this can meet bad input.
      throw inputFailure(e, "$");
    }
    return parse(parser, defaultInstance);
  }

  /**
   * Parses one OTLP/JSON document read from {@code json} to its end; the stream is not closed.
   *
   * @throws OtlpJsonException for any defect in the input, and when reading the stream fails (then with the
   *     {@link IOException} as its cause)
   */
  public static <T extends Message> T parse(InputStream json, T defaultInstance) {
    Objects.requireNonNull(json, "json");
    Objects.requireNonNull(defaultInstance, "defaultInstance");
    JsonParser parser;
    try {
      parser = FACTORY.createParser(json);
    } catch (IOException e) {
      // Jackson sniffs the encoding here, so even this can meet bad input.
      throw inputFailure(e, "$");
    }
    return parse(parser, defaultInstance);
  }

  @SuppressWarnings("unchecked") // buildPartial() of defaultInstance's builder yields defaultInstance's type
  private static <T extends Message> T parse(JsonParser parser, T defaultInstance) {
    // Not try-with-resources: that would close the parser before the catch blocks read its position.
    try {
      return (T) new JsonMessageReader(parser).readDocument(defaultInstance);
    } catch (OtlpJsonException e) {
      throw e;
    } catch (IOException e) {
      throw inputFailure(e, pathOf(parser));
    } catch (RuntimeException e) {
      // Defence in depth: callers answer OtlpJsonException with a 400 and anything else with a 500.
      throw new OtlpJsonException("cannot decode", pathOf(parser), e.toString(), e);
    } finally {
      closeQuietly(parser);
    }
  }

  private static void closeQuietly(JsonParser parser) {
    try {
      // Only returns buffers to Jackson's pool: the source is never closed (AUTO_CLOSE_SOURCE is off).
      parser.close();
    } catch (IOException e) {
      // Nothing was read from it here, so nothing to report.
    }
  }

  /**
   * Writes {@code message} as compact OTLP/JSON (UTF-8, one line, no trailing newline) and flushes; the
   * stream is not closed.
   *
   * @throws UncheckedIOException when the stream fails
   * @throws OtlpJsonException when the message nests deeper than Jackson writes (1000 levels of JSON)
   */
  public static void write(MessageOrBuilder message, OutputStream out) {
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(out, "out");
    JsonGenerator generator;
    try {
      generator = FACTORY.createGenerator(out, JsonEncoding.UTF8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      new JsonMessageWriter(generator).writeMessage(message, MessageLayout.of(message.getDescriptorForType()));
      generator.close();
    } catch (JsonProcessingException e) {
      // Jackson's own limits, reachable only by messages built in code: the wire format stops at 100 levels.
      throw new OtlpJsonException("cannot encode", JsonPaths.of(generator.getOutputContext()),
          e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Returns {@code message} as compact OTLP/JSON in UTF-8. */
  public static byte[] toJsonBytes(MessageOrBuilder message) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    write(message, out);
    return out.toByteArray();
  }

  private static OtlpJsonException inputFailure(IOException e, String path) {
    if (e instanceof StreamConstraintsException limit) {
      return new OtlpJsonException("input exceeds a limit", path, limit.getOriginalMessage(), e);
    } else if (e instanceof JsonProcessingException jackson) {
      return new OtlpJsonException("malformed JSON", path, jackson.getOriginalMessage() + location(jackson), e);
    } else if (e instanceof CharConversionException) {
      return new OtlpJsonException("malformed JSON", path, e.getMessage(), e);
    }
    // The stream itself failed; still this type, so callers have one exception to handle.
    return new OtlpJsonException("cannot read input", path, String.valueOf(e.getMessage()), e);
  }

  private static String pathOf(JsonParser parser) {
    JsonStreamContext context = parser.getParsingContext();
    return context == null ? "$" : JsonPaths.of(context);
  }

  private static String location(JsonProcessingException e) {
    var at = e.getLocation();
    return at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
  }
}
