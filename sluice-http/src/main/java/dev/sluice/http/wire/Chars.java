package dev.sluice.http.wire;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** Byte classes for the parsers, one table lookup per byte. */
final class Chars {
  /** RFC 9110 tchar: a byte of a token (method, field name). */
  static final int TCHAR = 1;
  /** A byte of an authority (host and port) as the server's validator allows it. */
  static final int AUTHORITY = 2;
  /** A byte the request side allows in a header value: VCHAR, SP, HTAB. */
  static final int VALUE = 4;
  /** A byte the response side allows in a header value or reason: VCHAR, SP, HTAB, obs-text. */
  static final int LENIENT_VALUE = 8;

  private static final byte[] CLASSES = new byte[256];
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;

  static {
    for (int b = 0; b < 256; b++) {
      int c = 0;
      boolean alnum = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9';
      if (alnum || b < 0x80 && "!#$%&'*+-.^_`|~".indexOf(b) >= 0) {
        c |= TCHAR;
      }
      if (alnum || b < 0x80 && "-._~%!$&'()*+,;=:[]".indexOf(b) >= 0) {
        c |= AUTHORITY;
      }
      if (b >= 0x20 && b <= 0x7E || b == '\t') {
        c |= VALUE | LENIENT_VALUE;
      }
      if (b >= 0x80) {
        c |= LENIENT_VALUE;
      }
      CLASSES[b] = (byte) c;
    }
  }

  private Chars() {}

  static boolean is(byte b, int cls) {
    return (CLASSES[b & 0xFF] & cls) != 0;
  }

  /**
   * The index of the first byte in a[p, end) that is not in 0x20..0x7E, or the index where fewer
   * than eight bytes are left: header values are mostly such bytes, and eight at a time they cost
   * a fraction of a table lookup each. The caller goes on byte by byte from there.
   */
  static int skipVisible(byte[] a, int p, int end) {
    while (p <= end - 8) {
      long x = (long) LONGS.get(a, p);
      // High bit of each byte below 0x20 (borrow), of 0x7F (carry) and of 0x80 and above. Carries
      // and borrows only run upwards from a flagged byte, so the lowest flag is exact.
      long flags = ((x - 0x20 * ONES) & ~x | (x + ONES) | x) & HIGHS;
      if (flags != 0) {
        return p + (Long.numberOfTrailingZeros(flags) >>> 3);
      }
      p += 8;
    }
    return p;
  }
}
