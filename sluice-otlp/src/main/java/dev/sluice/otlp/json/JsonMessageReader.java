package dev.sluice.otlp.json;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.UnsafeByteOperations;
import dev.sluice.otlp.json.FieldLayout.Kind;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Base64;

/** Builds one protobuf message from a Jackson token stream, following the OTLP/JSON mapping. */
final class JsonMessageReader {
  /** Longer numeric strings are refused before BigDecimal sees them: its parsing is superlinear. */
  private static final int MAX_NUMBER_TEXT = 1000;
  private static final BigInteger TWO_TO_64 = BigInteger.ONE.shiftLeft(64);

  private final JsonParser p;

  JsonMessageReader(JsonParser parser) {
    this.p = parser;
  }

  Message readDocument(Message prototype) throws IOException {
    JsonToken t = p.nextToken();
    if (t == null) {
      throw failure("empty input", "expected a JSON object");
    }
    if (t != JsonToken.START_OBJECT) {
      throw mismatch("an object", t);
    }
    Message.Builder builder = prototype.newBuilderForType();
    readFields(builder, MessageLayout.of(prototype.getDescriptorForType()));
    if (p.nextToken() != null) {
      throw failure("unexpected content after the top-level object", null);
    }
    return builder.buildPartial();
  }

  private void readFields(Message.Builder builder, MessageLayout layout) throws IOException {
    for (String key = p.nextFieldName(); key != null; key = p.nextFieldName()) {
      FieldLayout field = layout.field(key);
      JsonToken t = next();
      if (field == null) {
        // Newer SDKs send fields these proto classes predate; skipping keeps old gateways compatible.
        p.skipChildren();
      } else if (t != JsonToken.VALUE_NULL) {
        if (field.isMap()) {
          readMap(builder, field, t);
        } else if (field.repeated) {
          readRepeated(builder, field, t);
        } else {
          Object value = readValue(builder, field, t);
          if (value != null) {
            builder.setField(field.descriptor, value);
          }
        }
      }
    }
    if (!p.hasToken(JsonToken.END_OBJECT)) {
      throw mismatch("a key or the end of the object", p.currentToken());
    }
  }

  private void readRepeated(Message.Builder builder, FieldLayout field, JsonToken t) throws IOException {
    if (t != JsonToken.START_ARRAY) {
      throw mismatch("an array", t);
    }
    for (t = next(); t != JsonToken.END_ARRAY; t = next()) {
      if (t == JsonToken.VALUE_NULL) {
        throw mismatch(field.kind == Kind.MESSAGE ? "an object" : "a value", t);
      }
      Object value = readValue(builder, field, t);
      if (value != null) {
        builder.addRepeatedField(field.descriptor, value);
      }
    }
  }

  private void readMap(Message.Builder builder, FieldLayout field, JsonToken t) throws IOException {
    if (t != JsonToken.START_OBJECT) {
      throw mismatch("an object", t);
    }
    for (String key = p.nextFieldName(); key != null; key = p.nextFieldName()) {
      t = next();
      if (t == JsonToken.VALUE_NULL) {
        throw mismatch("a map value", t);
      }
      Message.Builder entry = builder.newBuilderForField(field.descriptor);
      Object value = readValue(entry, field.mapValue, t);
      if (value != null) {
        entry.setField(field.mapKey.descriptor, mapKey(field.mapKey, key));
        entry.setField(field.mapValue.descriptor, value);
        builder.addRepeatedField(field.descriptor, entry.buildPartial());
      }
    }
  }

  /** Returns the value to set, or null when it is to be ignored (an enum name this version lacks). */
  private Object readValue(Message.Builder parent, FieldLayout field, JsonToken t) throws IOException {
    switch (field.kind) {
      case MESSAGE:
        if (t != JsonToken.START_OBJECT) {
          throw mismatch("an object", t);
        }
        Message.Builder child = parent.newBuilderForField(field.descriptor);
        readFields(child, field.messageLayout());
        return child.buildPartial();
      case STRING:
        if (t != JsonToken.VALUE_STRING) {
          throw mismatch("a string", t);
        }
        return p.getText();
      case INT32:
      case UINT32:
        return (int) readIntegral(field.kind, t);
      case INT64:
      case UINT64:
        return readIntegral(field.kind, t);
      case DOUBLE:
        return readDoubleValue(t);
      case FLOAT:
        return readFloat(t);
      case BOOL:
        return readBool(t);
      case HEX_ID:
        return readHexId(t);
      case BYTES:
        return readBase64(t);
      case ENUM:
        return readEnum(field.descriptor.getEnumType(), t);
      default:
        throw new AssertionError(field.kind);
    }
  }

  private ByteString readHexId(JsonToken t) throws IOException {
    if (t != JsonToken.VALUE_STRING) {
      throw mismatch("a hex string", t);
    }
    byte[] bytes = HexIds.decode(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
    if (bytes == null) {
      throw failure("invalid hex", quotedText());
    }
    // The array is ours alone, so wrapping it without a copy is safe.
    return UnsafeByteOperations.unsafeWrap(bytes);
  }

  private ByteString readBase64(JsonToken t) throws IOException {
    if (t != JsonToken.VALUE_STRING) {
      throw mismatch("a base64 string", t);
    }
    String text = p.getText();
    // proto3 JSON parsers take both alphabets; '-' or '_' can only mean the URL-safe one.
    boolean urlSafe = text.indexOf('-') >= 0 || text.indexOf('_') >= 0;
    try {
      byte[] bytes = (urlSafe ? Base64.getUrlDecoder() : Base64.getDecoder()).decode(text);
      return UnsafeByteOperations.unsafeWrap(bytes);
    } catch (IllegalArgumentException e) {
      throw failure("invalid base64", quotedText());
    }
  }

  private Boolean readBool(JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_TRUE) {
      return Boolean.TRUE;
    } else if (t == JsonToken.VALUE_FALSE) {
      return Boolean.FALSE;
    } else if (t == JsonToken.VALUE_STRING) {
      String text = p.getText();
      if (text.equals("true")) {
        return Boolean.TRUE;
      } else if (text.equals("false")) {
        return Boolean.FALSE;
      }
      throw failure("invalid boolean", quotedText());
    }
    throw mismatch("a boolean", t);
  }

  private EnumValueDescriptor readEnum(EnumDescriptor type, JsonToken t) throws IOException {
    int number;
    if (t == JsonToken.VALUE_STRING) {
      EnumValueDescriptor named = type.findValueByName(p.getText());
      if (named != null) {
        return named;
      }
      if (!looksLikeInteger(p.getTextCharacters(), p.getTextOffset(), p.getTextLength())) {
        // As for unknown keys: a value name newer than these classes is dropped, not an error.
        return null;
      }
      number = (int) readIntegral(Kind.INT32, t);
    } else if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
      number = (int) readIntegral(Kind.INT32, t);
    } else {
      throw mismatch("an enum number or name", t);
    }
    if (type.isClosed()) {
      EnumValueDescriptor known = type.findValueByNumber(number);
      if (known == null) {
        throw failure("unknown enum number", Integer.toString(number));
      }
      return known;
    }
    // Open (proto3) enums keep numbers this version does not know, as the binary decoder does.
    return type.findValueByNumberCreatingIfUnknown(number);
  }

  private Float readFloat(JsonToken t) throws IOException {
    double value = readDoubleValue(t);
    // Same tolerance as protobuf's JsonFormat: a printed Float.MAX_VALUE may round up a little.
    if (Double.isFinite(value) && Math.abs(value) > Float.MAX_VALUE * (1.0 + 1e-6)) {
      throw failure("number out of range for float", p.getText());
    }
    return (float) value;
  }

  private double readDoubleValue(JsonToken t) throws IOException {
    double value;
    if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
      value = p.getDoubleValue();
    } else if (t == JsonToken.VALUE_STRING) {
      String text = p.getText();
      switch (text) {
        case "NaN":
          return Double.NaN;
        case "Infinity":
          return Double.POSITIVE_INFINITY;
        case "-Infinity":
          return Double.NEGATIVE_INFINITY;
        default:
          if (!looksLikeDecimal(text)) {
            throw failure("invalid number", quotedText());
          }
          try {
            value = Double.parseDouble(text);
          } catch (NumberFormatException e) {
            throw failure("invalid number", quotedText());
          }
      }
    } else {
      throw mismatch("a number", t);
    }
    if (Double.isInfinite(value)) {
      throw failure("number out of range for double", truncate(p.getText()));
    }
    return value;
  }

  /**
   * Reads an integer of the given kind from a JSON number or a decimal string, range-checked. UINT32 comes
   * back in the low 32 bits and UINT64 as the two's complement bit pattern, as protobuf stores them.
   */
  private long readIntegral(Kind kind, JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_NUMBER_INT) {
      if (p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
        return inRange(kind, p.getLongValue());
      }
      return inRange(kind, p.getBigIntegerValue());
    } else if (t == JsonToken.VALUE_NUMBER_FLOAT) {
      return inRange(kind, integral(p.getDecimalValue()));
    } else if (t == JsonToken.VALUE_STRING) {
      return inRange(kind, p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
    }
    throw mismatch("an integer", t);
  }

  private long inRange(Kind kind, char[] text, int offset, int length) {
    // Fast path for the common "1544712660300000000": at most 18 digits cannot overflow a long.
    int i = offset;
    int end = offset + length;
    boolean negative = i < end && text[i] == '-';
    if (negative) {
      i++;
    }
    if (end - i > 0 && end - i <= 18) {
      long value = 0;
      for (; i < end; i++) {
        char c = text[i];
        if (c < '0' || c > '9') {
          break;
        }
        value = value * 10 + (c - '0');
      }
      if (i == end) {
        return inRange(kind, negative ? -value : value);
      }
    }
    if (length == 0 || length > MAX_NUMBER_TEXT || !looksLikeDecimal(text, offset, length)) {
      throw failure("invalid integer", quote(new String(text, offset, Math.min(length, 41))));
    }
    BigDecimal decimal;
    try {
      decimal = new BigDecimal(text, offset, length);
    } catch (NumberFormatException e) {
      throw failure("invalid integer", quote(new String(text, offset, Math.min(length, 41))));
    }
    return inRange(kind, integral(decimal));
  }

  private BigInteger integral(BigDecimal value) {
    BigDecimal stripped = value.stripTrailingZeros();
    if (stripped.scale() > 0) {
      throw failure("expected an integer", truncate(value.toString()));
    }
    // Check the magnitude before toBigInteger(): "1e999999999" would otherwise allocate a huge number.
    if (stripped.precision() - stripped.scale() > 20) {
      throw failure("number out of range", truncate(value.toString()));
    }
    return stripped.toBigIntegerExact();
  }

  private long inRange(Kind kind, BigInteger value) {
    if (kind == Kind.UINT64 && value.signum() >= 0 && value.compareTo(TWO_TO_64) < 0) {
      return value.longValue();
    }
    if (value.bitLength() <= 63) {
      return inRange(kind, value.longValue());
    }
    throw outOfRange(kind, value.toString());
  }

  private long inRange(Kind kind, long value) {
    boolean ok;
    switch (kind) {
      case INT32:
        ok = value >= Integer.MIN_VALUE && value <= Integer.MAX_VALUE;
        break;
      case UINT32:
        ok = value >= 0 && value <= 0xFFFF_FFFFL;
        break;
      case UINT64:
        ok = value >= 0;
        break;
      default:
        ok = true;
    }
    if (!ok) {
      throw outOfRange(kind, Long.toString(value));
    }
    return value;
  }

  private Object mapKey(FieldLayout key, String text) {
    switch (key.kind) {
      case STRING:
        return text;
      case BOOL:
        if (text.equals("true") || text.equals("false")) {
          return Boolean.valueOf(text);
        }
        throw failure("invalid map key", quote(text));
      case INT32:
      case UINT32:
        return (int) inRange(key.kind, text.toCharArray(), 0, text.length());
      case INT64:
      case UINT64:
        return inRange(key.kind, text.toCharArray(), 0, text.length());
      default:
        throw failure("unsupported map key type " + key.kind, null);
    }
  }

  private JsonToken next() throws IOException {
    JsonToken t = p.nextToken();
    if (t == null) {
      throw failure("unexpected end of input", null);
    }
    return t;
  }

  private static boolean looksLikeInteger(char[] text, int offset, int length) {
    int i = offset;
    int end = offset + length;
    if (i < end && text[i] == '-') {
      i++;
    }
    if (i == end) {
      return false;
    }
    for (; i < end; i++) {
      if (text[i] < '0' || text[i] > '9') {
        return false;
      }
    }
    return true;
  }

  private static boolean looksLikeDecimal(String text) {
    return text.length() <= MAX_NUMBER_TEXT && looksLikeDecimal(text.toCharArray(), 0, text.length());
  }

  /**
   * Admits only JSON-number characters, so Java's parsers cannot accept their own extras (hex floats,
   * "1d", surrounding blanks, "Infinity" spelled inside an integer field).
   */
  private static boolean looksLikeDecimal(char[] text, int offset, int length) {
    boolean digit = false;
    for (int i = offset; i < offset + length; i++) {
      char c = text[i];
      if (c >= '0' && c <= '9') {
        digit = true;
      } else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E') {
        return false;
      }
    }
    return digit;
  }

  private String quotedText() {
    try {
      return quote(p.getText());
    } catch (IOException e) {
      return "?";
    }
  }

  private static String quote(String text) {
    return '"' + truncate(text) + '"';
  }

  private static String truncate(String text) {
    return JsonPaths.appendPrintable(new StringBuilder(), text, 40).toString();
  }

  private OtlpJsonException outOfRange(Kind kind, String value) {
    return failure("number out of range for " + kind.name().toLowerCase(java.util.Locale.ROOT), truncate(value));
  }

  private OtlpJsonException mismatch(String expected, JsonToken found) {
    return failure("expected " + expected + " but found " + describe(found), null);
  }

  OtlpJsonException failure(String problem, String detail) {
    return new OtlpJsonException(problem, JsonPaths.of(p.getParsingContext()), detail, null);
  }

  private static String describe(JsonToken t) {
    if (t == null) {
      return "end of input";
    }
    switch (t) {
      case START_OBJECT:
        return "an object";
      case START_ARRAY:
        return "an array";
      case VALUE_STRING:
        return "a string";
      case VALUE_NUMBER_INT:
      case VALUE_NUMBER_FLOAT:
        return "a number";
      case VALUE_TRUE:
      case VALUE_FALSE:
        return "a boolean";
      case VALUE_NULL:
        return "null";
      default:
        return t.asString() == null ? t.name() : "'" + t.asString() + "'";
    }
  }
}
