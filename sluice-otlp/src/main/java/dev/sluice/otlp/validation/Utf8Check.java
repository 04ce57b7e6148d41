package dev.sluice.otlp.validation;

/**
 * Checks that bytes are well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF), as protobuf-java's parser does for proto3 strings. Written here because protobuf-java
 * keeps its checker package-private; ASCII, the common case, takes the short loop.
 */
final class Utf8Check {
  private Utf8Check() {}

  static boolean isValid(byte[] b, int from, int to) {
    int i = from;
    while (i < to && b[i] >= 0) {
      i++;
    }
    while (i < to) {
      int c = b[i++];
      if (c >= 0) {
        continue;
      }
      if (c < (byte) 0xC2) {
        return false; // continuation byte first, or overlong 2-byte form
      }
      if (c < (byte) 0xE0) {
        if (i >= to || b[i++] > (byte) 0xBF) {
          return false;
        }
      } else if (c < (byte) 0xF0) {
        if (i + 1 >= to) {
          return false;
        }
        int c2 = b[i++];
        if (c2 > (byte) 0xBF
            || (c == (byte) 0xE0 && c2 < (byte) 0xA0) // overlong
            || (c == (byte) 0xED && c2 >= (byte) 0xA0) // surrogate
            || b[i++] > (byte) 0xBF) {
          return false;
        }
      } else {
        if (i + 2 >= to) {
          return false;
        }
        int c2 = b[i++];
        if (c2 > (byte) 0xBF
            || (((c << 28) + (c2 - (byte) 0x90)) >> 30) != 0 // overlong or past U+10FFFF
            || b[i++] > (byte) 0xBF
            || b[i++] > (byte) 0xBF) {
          return false;
        }
      }
    }
    return true;
  }
}
