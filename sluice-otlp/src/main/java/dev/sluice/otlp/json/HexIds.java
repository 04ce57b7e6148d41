package dev.sluice.otlp.json;

import com.google.protobuf.ByteString;
import java.util.Arrays;

/** Hex encoding of trace and span ids, the one place OTLP/JSON departs from proto3's base64 for bytes. */
final class HexIds {
  private static final char[] DIGITS = "0123456789abcdef".toCharArray();
  // Character.digit would also accept non-ASCII digits, so decode through a table of the 22 valid chars.
  private static final byte[] VALUES = new byte[128];

  static {
    Arrays.fill(VALUES, (byte) -1);
    for (int i = 0; i < 16; i++) {
      VALUES[DIGITS[i]] = (byte) i;
      VALUES[Character.toUpperCase(DIGITS[i])] = (byte) i;
    }
  }

  private HexIds() {}

  /**
   * Decodes hex digits of either case; returns null for an odd count or a non-hex character. Any even
   * length is accepted, since a wrong id length is for validation to report per item, not for the decoder.
   */
  static byte[] decode(char[] text, int offset, int length) {
    if ((length & 1) != 0) {
      return null;
    }
    byte[] out = new byte[length >> 1];
    for (int i = 0; i < out.length; i++) {
      int hi = value(text[offset + 2 * i]);
      int lo = value(text[offset + 2 * i + 1]);
      if ((hi | lo) < 0) {
        return null;
      }
      out[i] = (byte) (hi << 4 | lo);
    }
    return out;
  }

  private static int value(char c) {
    return c < 128 ? VALUES[c] : -1;
  }

  /** Writes lowercase hex for {@code bytes} into {@code out}, which must hold twice as many chars. */
  static void encode(ByteString bytes, char[] out) {
    for (int i = 0, n = bytes.size(); i < n; i++) {
      int b = bytes.byteAt(i) & 0xff;
      out[2 * i] = DIGITS[b >>> 4];
      out[2 * i + 1] = DIGITS[b & 0xf];
    }
  }
}
