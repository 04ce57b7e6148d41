package dev.sluice.exporter.otlp.internal;

/**
 * Reads protobuf wire format from a byte array, a field at a time, without building messages.
 * Malformed input throws {@link MalformedException}.
 */
final class Wire {
  static final int VARINT = 0;
  static final int I64 = 1;
  static final int LEN = 2;
  static final int SGROUP = 3;
  static final int EGROUP = 4;
  static final int I32 = 5;

  private static final int MAX_DEPTH = 100;

  private final byte[] b;
  private int pos;
  private final int end;

  /** The field just read by {@link #next()}: number, wire type, and where it starts. */
  int field;
  int wireType;
  int fieldStart;
  /** For {@link #LEN} fields, the content's range. */
  int valueStart;
  int valueEnd;
  /** For {@link #VARINT} fields, the value. */
  long varint;

  Wire(byte[] b, int start, int end) {
    if (start < 0 || end > b.length || start > end) {
      throw new IndexOutOfBoundsException("range " + start + ".." + end + " of " + b.length);
    }
    this.b = b;
    this.pos = start;
    this.end = end;
  }

  boolean hasNext() {
    return pos < end;
  }

  /** The position after the field just read: its end. */
  int position() {
    return pos;
  }

  /** Reads the next field whole (skipping its content), filling the public fields. */
  void next() {
    fieldStart = pos;
    long tag = readVarint();
    field = (int) (tag >>> 3);
    wireType = (int) (tag & 7);
    if (field <= 0 || (tag >>> 32) != 0) {
      throw new MalformedRequestException("invalid field number at byte " + fieldStart);
    }
    switch (wireType) {
      case VARINT:
        varint = readVarint();
        break;
      case I64:
        skip(8);
        break;
      case I32:
        skip(4);
        break;
      case LEN:
        long len = readVarint();
        if (len < 0 || len > end - pos) {
          throw new MalformedRequestException("a length-delimited field runs past its message at byte "
              + fieldStart);
        }
        valueStart = pos;
        valueEnd = pos + (int) len;
        pos = valueEnd;
        break;
      case SGROUP:
        skipGroup(field, 0);
        break;
      default:
        throw new MalformedRequestException("invalid wire type " + wireType + " at byte " + fieldStart);
    }
  }

  private void skip(int n) {
    if (end - pos < n) {
      throw new MalformedRequestException("a fixed-size field runs past its message");
    }
    pos += n;
  }

  private void skipGroup(int number, int depth) {
    if (depth > MAX_DEPTH) {
      throw new MalformedRequestException("groups nest too deep");
    }
    while (true) {
      if (pos >= end) {
        throw new MalformedRequestException("unterminated group");
      }
      long tag = readVarint();
      int f = (int) (tag >>> 3);
      int wt = (int) (tag & 7);
      switch (wt) {
        case VARINT:
          readVarint();
          break;
        case I64:
          skip(8);
          break;
        case I32:
          skip(4);
          break;
        case LEN:
          long len = readVarint();
          if (len < 0 || len > end - pos) {
            throw new MalformedRequestException("a length-delimited field runs past its message");
          }
          pos += (int) len;
          break;
        case SGROUP:
          skipGroup(f, depth + 1);
          break;
        case EGROUP:
          if (f != number) {
            throw new MalformedRequestException("mismatched end of group");
          }
          return;
        default:
          throw new MalformedRequestException("invalid wire type " + wt);
      }
    }
  }

  private long readVarint() {
    long result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= end) {
        throw new MalformedRequestException("truncated varint");
      }
      byte x = b[pos++];
      result |= (long) (x & 0x7f) << shift;
      if (x >= 0) {
        return result;
      }
    }
    throw new MalformedRequestException("varint longer than 10 bytes");
  }

  /** The number of bytes of {@code value} as a varint. */
  static int varintSize(long value) {
    int n = 1;
    while ((value & ~0x7FL) != 0) {
      value >>>= 7;
      n++;
    }
    return n;
  }

  /** Writes {@code value} as a varint at {@code out[pos]}; returns the position after it. */
  static int writeVarint(byte[] out, int pos, long value) {
    while ((value & ~0x7FL) != 0) {
      out[pos++] = (byte) ((value & 0x7F) | 0x80);
      value >>>= 7;
    }
    out[pos++] = (byte) value;
    return pos;
  }

  /** Size of a length-delimited field of number below 16 whose content is {@code len} bytes. */
  static long lenFieldSize(long len) {
    return 1 + varintSize(len) + len;
  }
}
