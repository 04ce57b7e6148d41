package dev.sluice.otlp.json;

import com.fasterxml.jackson.core.Base64Variants;
import com.fasterxml.jackson.core.JsonGenerator;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MessageOrBuilder;
import java.io.IOException;

/** Writes one protobuf message to a Jackson generator, following the OTLP/JSON mapping. */
final class JsonMessageWriter {
  private final JsonGenerator g;
  /** Reused for hex ids and int64 digits so the common values cost no String each. */
  private char[] scratch = new char[64];

  JsonMessageWriter(JsonGenerator generator) {
    this.g = generator;
  }

  void writeMessage(MessageOrBuilder message, MessageLayout layout) throws IOException {
    g.writeStartObject();
    for (FieldLayout field : layout.fields) {
      FieldDescriptor descriptor = field.descriptor;
      if (field.repeated) {
        int count = message.getRepeatedFieldCount(descriptor);
        if (count == 0) {
          continue;
        }
        g.writeFieldName(field.jsonKey);
        if (field.isMap()) {
          writeMap(message, field, count);
        } else {
          g.writeStartArray();
          for (int i = 0; i < count; i++) {
            writeValue(field, message.getRepeatedField(descriptor, i));
          }
          g.writeEndArray();
        }
      } else if (message.hasField(descriptor)) {
        // hasField is false for proto3 fields at their default, so defaults are left out as proto3 JSON wants.
        g.writeFieldName(field.jsonKey);
        writeValue(field, message.getField(descriptor));
      }
    }
    g.writeEndObject();
  }

  private void writeMap(MessageOrBuilder message, FieldLayout field, int count) throws IOException {
    g.writeStartObject();
    for (int i = 0; i < count; i++) {
      MessageOrBuilder entry = (MessageOrBuilder) message.getRepeatedField(field.descriptor, i);
      g.writeFieldName(String.valueOf(mapKeyText(field.mapKey, entry.getField(field.mapKey.descriptor))));
      writeValue(field.mapValue, entry.getField(field.mapValue.descriptor));
    }
    g.writeEndObject();
  }

  private static Object mapKeyText(FieldLayout key, Object value) {
    switch (key.kind) {
      case UINT32:
        return Integer.toUnsignedString((Integer) value);
      case UINT64:
        return Long.toUnsignedString((Long) value);
      default:
        return value;
    }
  }

  private void writeValue(FieldLayout field, Object value) throws IOException {
    switch (field.kind) {
      case MESSAGE:
        writeMessage((MessageOrBuilder) value, field.messageLayout());
        break;
      case STRING:
        g.writeString((String) value);
        break;
      case INT32:
        g.writeNumber((int) (Integer) value);
        break;
      case UINT32:
        g.writeNumber(Integer.toUnsignedLong((Integer) value));
        break;
      case INT64:
      case UINT64:
        writeInt64((Long) value, field.kind == FieldLayout.Kind.UINT64);
        break;
      case DOUBLE:
        writeDouble((Double) value);
        break;
      case FLOAT:
        float f = (Float) value;
        if (Float.isFinite(f)) {
          g.writeNumber(f);
        } else {
          writeDouble(f);
        }
        break;
      case BOOL:
        g.writeBoolean((Boolean) value);
        break;
      case HEX_ID:
        writeHex((ByteString) value);
        break;
      case BYTES:
        byte[] bytes = ((ByteString) value).toByteArray();
        // MIME_NO_LINEFEEDS is the standard alphabet with padding, what proto3 JSON writers emit.
        g.writeBinary(Base64Variants.MIME_NO_LINEFEEDS, bytes, 0, bytes.length);
        break;
      case ENUM:
        g.writeNumber(((EnumValueDescriptor) value).getNumber());
        break;
      default:
        throw new AssertionError(field.kind);
    }
  }

  private void writeDouble(double value) throws IOException {
    if (Double.isNaN(value)) {
      g.writeString("NaN");
    } else if (value == Double.POSITIVE_INFINITY) {
      g.writeString("Infinity");
    } else if (value == Double.NEGATIVE_INFINITY) {
      g.writeString("-Infinity");
    } else {
      g.writeNumber(value);
    }
  }

  /** int64 goes out as a decimal string because JSON readers in JavaScript lose precision above 2^53. */
  private void writeInt64(long value, boolean unsigned) throws IOException {
    if (unsigned && value < 0) {
      g.writeString(Long.toUnsignedString(value));
      return;
    }
    if (value == Long.MIN_VALUE) {
      g.writeString(Long.toString(value));
      return;
    }
    char[] digits = scratch;
    int pos = 20;
    long rest = Math.abs(value);
    do {
      digits[--pos] = (char) ('0' + rest % 10);
      rest /= 10;
    } while (rest != 0);
    if (value < 0) {
      digits[--pos] = '-';
    }
    g.writeString(digits, pos, 20 - pos);
  }

  private void writeHex(ByteString id) throws IOException {
    int length = id.size() * 2;
    if (scratch.length < length) {
      scratch = new char[length];
    }
    HexIds.encode(id, scratch);
    g.writeString(scratch, 0, length);
  }
}
