package dev.sluice.http.wire;

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
}
