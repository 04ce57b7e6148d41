package dev.sluice.otlp.validation;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import java.util.HashMap;
import java.util.Map;

/**
 * A compact table of one message type's fields by number, built once from the protobuf descriptor,
 * so the scanner can check the wire format without descriptor look-ups or building objects.
 */
final class WireSchema {
  static final byte UNKNOWN = 0;
  static final byte VARINT = 1;
  static final byte FIXED64 = 2;
  static final byte FIXED32 = 3;
  static final byte BYTES = 4;
  static final byte STRING = 5;
  static final byte MESSAGE = 6;

  /** What the scanner does at the end of a message of this type. */
  enum Role {
    NONE,
    SPAN,
    LOG_RECORD,
    METRIC,
    DATA_POINT
  }

  final String name;
  final Role role;
  /** Kind of each field by field number; UNKNOWN for numbers the type does not declare. */
  final byte[] kinds;
  /** True for repeated scalar fields, which may also come packed in one length-delimited field. */
  final boolean[] packable;
  final WireSchema[] children;

  private WireSchema(String name, Role role, int maxField) {
    this.name = name;
    this.role = role;
    this.kinds = new byte[maxField + 1];
    this.packable = new boolean[maxField + 1];
    this.children = new WireSchema[maxField + 1];
  }

  static WireSchema of(Descriptor root) {
    return build(root, new HashMap<>());
  }

  private static WireSchema build(Descriptor d, Map<String, WireSchema> done) {
    WireSchema existing = done.get(d.getFullName());
    if (existing != null) {
      return existing; // recursive types (AnyValue -> ArrayValue -> AnyValue) share one table
    }
    int max = 0;
    for (FieldDescriptor f : d.getFields()) {
      max = Math.max(max, f.getNumber());
    }
    WireSchema s = new WireSchema(d.getFullName(), roleOf(d.getFullName()), max);
    done.put(d.getFullName(), s);
    for (FieldDescriptor f : d.getFields()) {
      int n = f.getNumber();
      s.kinds[n] = kindOf(f);
      s.packable[n] = f.isRepeated() && f.isPackable();
      if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        s.children[n] = build(f.getMessageType(), done);
      }
    }
    return s;
  }

  private static Role roleOf(String fullName) {
    switch (fullName) {
      case "opentelemetry.proto.trace.v1.Span":
        return Role.SPAN;
      case "opentelemetry.proto.logs.v1.LogRecord":
        return Role.LOG_RECORD;
      case "opentelemetry.proto.metrics.v1.Metric":
        return Role.METRIC;
      case "opentelemetry.proto.metrics.v1.NumberDataPoint":
      case "opentelemetry.proto.metrics.v1.HistogramDataPoint":
      case "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint":
      case "opentelemetry.proto.metrics.v1.SummaryDataPoint":
        return Role.DATA_POINT;
      default:
        return Role.NONE;
    }
  }

  private static byte kindOf(FieldDescriptor f) {
    switch (f.getType()) {
      case DOUBLE:
      case FIXED64:
      case SFIXED64:
        return FIXED64;
      case FLOAT:
      case FIXED32:
      case SFIXED32:
        return FIXED32;
      case STRING:
        return STRING;
      case BYTES:
        return BYTES;
      case MESSAGE:
        return MESSAGE;
      case GROUP:
        return UNKNOWN;
      default:
        return VARINT; // int32, int64, uint*, sint*, bool, enum
    }
  }
}
