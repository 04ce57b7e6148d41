package dev.sluice.otlp.json;

import com.fasterxml.jackson.core.io.SerializedString;
import com.google.protobuf.Descriptors.FieldDescriptor;

/** How one protobuf field maps to JSON, computed once per field. */
final class FieldLayout {

  /** The JSON treatment of a field's values; proto types with the same JSON form share a kind. */
  enum Kind {
    INT32, UINT32, INT64, UINT64, FLOAT, DOUBLE, BOOL, STRING, BYTES, HEX_ID, ENUM, MESSAGE
  }

  final FieldDescriptor descriptor;
  final Kind kind;
  final boolean repeated;
  /** Pre-encoded so the writer copies bytes instead of escaping the name on every message. */
  final SerializedString jsonKey;
  /** Set only for map fields: the entry's key and value fields. */
  final FieldLayout mapKey;
  final FieldLayout mapValue;

  // Resolved lazily: building it eagerly would recurse through self-referencing types (AnyValue).
  private volatile MessageLayout messageLayout;

  FieldLayout(FieldDescriptor descriptor) {
    this.descriptor = descriptor;
    this.kind = kindOf(descriptor);
    this.repeated = descriptor.isRepeated();
    this.jsonKey = new SerializedString(descriptor.getJsonName());
    if (descriptor.isMapField()) {
      var entry = descriptor.getMessageType();
      this.mapKey = new FieldLayout(entry.findFieldByNumber(1));
      this.mapValue = new FieldLayout(entry.findFieldByNumber(2));
    } else {
      this.mapKey = null;
      this.mapValue = null;
    }
  }

  boolean isMap() {
    return mapKey != null;
  }

  MessageLayout messageLayout() {
    MessageLayout layout = messageLayout;
    if (layout == null) {
      layout = MessageLayout.of(descriptor.getMessageType());
      messageLayout = layout;
    }
    return layout;
  }

  private static Kind kindOf(FieldDescriptor f) {
    switch (f.getType()) {
      case INT32:
      case SINT32:
      case SFIXED32:
        return Kind.INT32;
      case UINT32:
      case FIXED32:
        return Kind.UINT32;
      case INT64:
      case SINT64:
      case SFIXED64:
        return Kind.INT64;
      case UINT64:
      case FIXED64:
        return Kind.UINT64;
      case FLOAT:
        return Kind.FLOAT;
      case DOUBLE:
        return Kind.DOUBLE;
      case BOOL:
        return Kind.BOOL;
      case STRING:
        return Kind.STRING;
      case BYTES:
        return isHexId(f) ? Kind.HEX_ID : Kind.BYTES;
      case ENUM:
        return Kind.ENUM;
      case MESSAGE:
      case GROUP:
        return Kind.MESSAGE;
      default:
        throw new IllegalArgumentException("unsupported field type " + f.getType() + " of " + f.getFullName());
    }
  }

  /** OTLP/JSON deviates from proto3 JSON here: trace and span ids are hex so they match what people see elsewhere. */
  private static boolean isHexId(FieldDescriptor f) {
    String name = f.getName();
    return name.equals("trace_id") || name.equals("span_id") || name.equals("parent_span_id");
  }
}
