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
 * skipped with their whole value and {@code null} means "not set". Any defect in the input, from malformed
 * JSON to an out-of-range number or nesting deeper than {@value #MAX_NESTING_DEPTH} levels, is reported as
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
      // Otherwise characters outside the BMP would come out as \\ud83d\\ude00 escape pairs.
      .enable(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8)
      .build();

  private OtlpJsonCodec() {}

  /**
   * Parses one OTLP/JSON document from {@code json[offset, offset + length)} into a message of
   * {@code defaultInstance}'s type, e.g. {@code parse(bytes, 0, n, ExportTraceServiceRequest.getDefaultInstance())}.
   *
   * @throws OtlpJsonException for any defect in the input
   */
  public static <T extends Message> T parse(byte[] json, int offset, int length, T defaultInstance) {
    Objects.requireNonNull(defaultInstance, "defaultInstance");
    Objects.checkFromIndexSize(offset, length, json.length);
    JsonParser parser;
    try {
      parser = FACTORY.createParser(json, offset, length);
    } catch (IOException e) {
      throw new OtlpJsonException("unreadable input", "$", e.getMessage(), e);
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
      throw new OtlpJsonException("unreadable input", "$", e.getMessage(), e);
    }
    return parse(parser, defaultInstance);
  }

  @SuppressWarnings("unchecked") // buildPartial() of defaultInstance's builder yields defaultInstance's type
  private static <T extends Message> T parse(JsonParser parser, T defaultInstance) {
    try (parser) {
      return (T) new JsonMessageReader(parser).readDocument(defaultInstance);
    } catch (OtlpJsonException e) {
      throw e;
    } catch (StreamConstraintsException e) {
      throw new OtlpJsonException("input exceeds a limit", pathOf(parser), e.getOriginalMessage(), e);
    } catch (JsonProcessingException e) {
      throw new OtlpJsonException("malformed JSON", pathOf(parser), e.getOriginalMessage() + location(e), e);
    } catch (CharConversionException e) {
      throw new OtlpJsonException("malformed JSON", pathOf(parser), e.getMessage(), e);
    } catch (IOException e) {
      throw new OtlpJsonException("cannot read input", pathOf(parser), String.valueOf(e.getMessage()), e);
    } catch (RuntimeException e) {
      // Defence in depth: callers answer OtlpJsonException with a 400 and anything else with a 500.
      throw new OtlpJsonException("cannot decode", pathOf(parser), e.toString(), e);
    }
  }

  /**
   * Writes {@code message} as compact OTLP/JSON (UTF-8, one line, no trailing newline) and flushes; the
   * stream is not closed.
   *
   * @throws UncheckedIOException when the stream fails
   */
  public static void write(MessageOrBuilder message, OutputStream out) {
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(out, "out");
    try (JsonGenerator generator = FACTORY.createGenerator(out, JsonEncoding.UTF8)) {
      new JsonMessageWriter(generator).writeMessage(message, MessageLayout.of(message.getDescriptorForType()));
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

  private static String pathOf(JsonParser parser) {
    JsonStreamContext context = parser.getParsingContext();
    return context == null ? "$" : JsonPaths.of(context);
  }

  private static String location(JsonProcessingException e) {
    var at = e.getLocation();
    return at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
  }
}
