package dev.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The header lines of the last parsed head as offsets into its buffer, in arrays that grow when a
 * head has more lines than seen before and are reused by the next parse.
 */
final class HeaderFields {
  // Known names, recognised once per line so that the parsers can act on them without strings.
  static final int OTHER = 0;
  static final int HOST = 1;
  static final int CONTENT_LENGTH = 2;
  static final int TRANSFER_ENCODING = 3;
  static final int UPGRADE = 4;
  static final int EXPECT = 5;
  static final int HTTP2_SETTINGS = 6;
  static final int CONNECTION = 7;
  static final int KEEP_ALIVE = 8;
  static final int TE = 9;
  static final int TRAILER = 10;
  static final int PROXY_CONNECTION = 11;
  static final int SEC_WEBSOCKET_KEY1 = 12;
  static final int SEC_WEBSOCKET_KEY2 = 13;

  private static final AsciiString[] KNOWN = {
    null,
    AsciiString.cached("host"),
    AsciiString.cached("content-length"),
    AsciiString.cached("transfer-encoding"),
    AsciiString.cached("upgrade"),
    AsciiString.cached("expect"),
    AsciiString.cached("http2-settings"),
    AsciiString.cached("connection"),
    AsciiString.cached("keep-alive"),
    AsciiString.cached("te"),
    AsciiString.cached("trailer"),
    AsciiString.cached("proxy-connection"),
    AsciiString.cached("sec-websocket-key1"),
    AsciiString.cached("sec-websocket-key2"),
  };

  /** Connection tokens that the parsers act on, as bits of {@link #markConnectionTokens}. */
  static final int TOKEN_CLOSE = 1;
  static final int TOKEN_KEEP_ALIVE = 2;
  private static final AsciiString CLOSE = AsciiString.cached("close");

  private static final int LINE_START = 0;
  private static final int NAME_END = 1;
  private static final int VALUE_START = 2;
  private static final int VALUE_END = 3;
  private static final int LINE_END = 4;
  private static final int KIND = 5;
  private static final int HOP = 6;
  private static final int STRIDE = 7;

  private int[] at = new int[32 * STRIDE];
  private int count;
  private ByteBuf buf;

  void clear(ByteBuf buf) {
    this.buf = buf;
    count = 0;
  }

  int count() {
    return count;
  }

  /** Adds a line and returns its kind; the seven hop-by-hop names are marked as such. */
  int add(int lineStart, int nameEnd, int valueStart, int valueEnd, int lineEnd) {
    int o = count * STRIDE;
    if (o + STRIDE > at.length) {
      at = Arrays.copyOf(at, at.length * 2);
    }
    int kind = kind(buf, lineStart, nameEnd);
    at[o + LINE_START] = lineStart;
    at[o + NAME_END] = nameEnd;
    at[o + VALUE_START] = valueStart;
    at[o + VALUE_END] = valueEnd;
    at[o + LINE_END] = lineEnd;
    at[o + KIND] = kind;
    at[o + HOP] = kind >= CONNECTION && kind <= PROXY_CONNECTION
        || kind == TRANSFER_ENCODING || kind == UPGRADE ? 1 : 0;
    count++;
    return kind;
  }

  int lineStart(int i) {
    return at[check(i) * STRIDE + LINE_START];
  }

  int lineEnd(int i) {
    return at[check(i) * STRIDE + LINE_END];
  }

  int nameEnd(int i) {
    return at[check(i) * STRIDE + NAME_END];
  }

  int valueStart(int i) {
    return at[check(i) * STRIDE + VALUE_START];
  }

  int valueEnd(int i) {
    return at[check(i) * STRIDE + VALUE_END];
  }

  int kind(int i) {
    return at[check(i) * STRIDE + KIND];
  }

  boolean hopByHop(int i) {
    return at[check(i) * STRIDE + HOP] != 0;
  }

  String value(int i) {
    int s = valueStart(i);
    return buf.toString(s, valueEnd(i) - s, StandardCharsets.ISO_8859_1);
  }

  int indexOf(AsciiString lowerCaseName) {
    int n = lowerCaseName.length();
    for (int i = 0; i < count; i++) {
      int o = i * STRIDE;
      int s = at[o + LINE_START];
      if (at[o + NAME_END] - s == n && equalsLower(buf, s, lowerCaseName, 0, n)) {
        return i;
      }
    }
    return -1;
  }

  /** The first header of the given kind, or -1. */
  int first(int kind) {
    for (int i = 0; i < count; i++) {
      if (at[i * STRIDE + KIND] == kind) {
        return i;
      }
    }
    return -1;
  }

  /**
   * Reads every Connection header's comma-separated tokens (OWS trimmed, empty ones skipped),
   * marks the headers they name as hop-by-hop and returns which of close and keep-alive were there.
   */
  int markConnectionTokens() {
    int seen = 0;
    for (int c = 0; c < count; c++) {
      int o = c * STRIDE;
      if (at[o + KIND] != CONNECTION) {
        continue;
      }
      int p = at[o + VALUE_START];
      int end = at[o + VALUE_END];
      while (p <= end) {
        int comma = p;
        while (comma < end && buf.getByte(comma) != ',') {
          comma++;
        }
        int s = p;
        int e = comma;
        while (s < e && isOws(buf.getByte(s))) {
          s++;
        }
        while (e > s && isOws(buf.getByte(e - 1))) {
          e--;
        }
        if (e > s) {
          if (e - s == 5 && equalsLower(buf, s, CLOSE, 0, 5)) {
            seen |= TOKEN_CLOSE;
          } else if (e - s == 10 && equalsLower(buf, s, KNOWN[KEEP_ALIVE], 0, 10)) {
            seen |= TOKEN_KEEP_ALIVE;
          }
          markNamed(s, e);
        }
        p = comma + 1;
      }
    }
    return seen;
  }

  private void markNamed(int s, int e) {
    int n = e - s;
    for (int i = 0; i < count; i++) {
      int o = i * STRIDE;
      int ns = at[o + LINE_START];
      if (at[o + NAME_END] - ns == n && equalsIgnoreCase(buf, ns, s, n)) {
        at[o + HOP] = 1;
      }
    }
  }

  private int check(int i) {
    if (i < 0 || i >= count) {
      throw new IndexOutOfBoundsException("header " + i + " of " + count);
    }
    return i;
  }

  static boolean isOws(byte b) {
    return b == ' ' || b == '\t';
  }

  static int lower(int b) {
    return b >= 'A' && b <= 'Z' ? b + 32 : b;
  }

  /** Whether buf[at, at+n) equals lowerCase[from, from+n) ignoring ASCII case. */
  static boolean equalsLower(ByteBuf buf, int at, AsciiString lowerCase, int from, int n) {
    for (int i = 0; i < n; i++) {
      if (lower(buf.getByte(at + i)) != lowerCase.byteAt(from + i)) {
        return false;
      }
    }
    return true;
  }

  private static boolean equalsIgnoreCase(ByteBuf buf, int a, int b, int n) {
    for (int i = 0; i < n; i++) {
      if (lower(buf.getByte(a + i)) != lower(buf.getByte(b + i))) {
        return false;
      }
    }
    return true;
  }

  private static int kind(ByteBuf buf, int start, int end) {
    int n = end - start;
    int first = lower(buf.getByte(start));
    for (int k = 1; k < KNOWN.length; k++) {
      AsciiString name = KNOWN[k];
      if (name.length() == n && name.byteAt(0) == first
          && equalsLower(buf, start + 1, name, 1, n - 1)) {
        return k;
      }
    }
    return OTHER;
  }
}
