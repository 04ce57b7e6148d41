package dev.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The header lines of the last parsed head as offsets into the parser's copy of it, in arrays that
 * grow when a head is longer or has more lines than seen before and are reused by the next parse.
 *
 * <p>The parsers read a copy because ByteBuf.getByte checks bounds and accessibility on every
 * byte, which made those calls most of the parsing cost; one getBytes into a reused array, then
 * plain array loops, cost a fraction of that. Offsets are kept relative to the copy and turned
 * into buffer indexes by the accessors.
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

  private static final byte[][] KNOWN = {
    null,
    ascii("host"),
    ascii("content-length"),
    ascii("transfer-encoding"),
    ascii("upgrade"),
    ascii("expect"),
    ascii("http2-settings"),
    ascii("connection"),
    ascii("keep-alive"),
    ascii("te"),
    ascii("trailer"),
    ascii("proxy-connection"),
    ascii("sec-websocket-key1"),
    ascii("sec-websocket-key2"),
  };

  /** Connection tokens that the parsers act on, as bits of {@link #markConnectionTokens}. */
  static final int TOKEN_CLOSE = 1;
  static final int TOKEN_KEEP_ALIVE = 2;
  private static final byte[] CLOSE = ascii("close");

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
  private byte[] bytes = new byte[1024];
  private int base;

  /**
   * Copies n bytes of buf from index from into the reused array, which it returns; the offsets
   * added next are relative to it, and from is the buffer index they are reported against.
   */
  byte[] load(ByteBuf buf, int from, int n) {
    if (n > bytes.length) {
      bytes = new byte[n];
    }
    buf.getBytes(from, bytes, 0, n);
    base = from;
    count = 0;
    return bytes;
  }

  void clear() {
    count = 0;
  }

  int count() {
    return count;
  }

  /** Adds a line (offsets into the copy) and returns its kind; hop-by-hop names are marked so. */
  int add(int lineStart, int nameEnd, int valueStart, int valueEnd, int lineEnd) {
    int o = count * STRIDE;
    if (o + STRIDE > at.length) {
      at = Arrays.copyOf(at, at.length * 2);
    }
    int kind = kind(bytes, lineStart, nameEnd - lineStart);
    int[] at = this.at;
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
    return base + at[check(i) * STRIDE + LINE_START];
  }

  int lineEnd(int i) {
    return base + at[check(i) * STRIDE + LINE_END];
  }

  int nameEnd(int i) {
    return base + at[check(i) * STRIDE + NAME_END];
  }

  int valueStart(int i) {
    return base + at[check(i) * STRIDE + VALUE_START];
  }

  int valueEnd(int i) {
    return base + at[check(i) * STRIDE + VALUE_END];
  }

  int kind(int i) {
    return at[check(i) * STRIDE + KIND];
  }

  boolean hopByHop(int i) {
    return at[check(i) * STRIDE + HOP] != 0;
  }

  String value(int i) {
    int o = check(i) * STRIDE;
    int s = at[o + VALUE_START];
    return new String(bytes, s, at[o + VALUE_END] - s, StandardCharsets.ISO_8859_1);
  }

  int indexOf(AsciiString lowerCaseName) {
    int n = lowerCaseName.length();
    for (int i = 0; i < count; i++) {
      int o = i * STRIDE;
      int s = at[o + LINE_START];
      if (at[o + NAME_END] - s == n && equalsLower(bytes, s, lowerCaseName, n)) {
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
    byte[] a = bytes;
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
        while (comma < end && a[comma] != ',') {
          comma++;
        }
        int s = p;
        int e = comma;
        while (s < e && isOws(a[s])) {
          s++;
        }
        while (e > s && isOws(a[e - 1])) {
          e--;
        }
        if (e > s) {
          if (e - s == 5 && equalsLower(a, s, CLOSE)) {
            seen |= TOKEN_CLOSE;
          } else if (e - s == 10 && equalsLower(a, s, KNOWN[KEEP_ALIVE])) {
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
      if (at[o + NAME_END] - ns == n && equalsIgnoreCase(bytes, ns, s, n)) {
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

  static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  static boolean isOws(byte b) {
    return b == ' ' || b == '\t';
  }

  static int lower(int b) {
    return b >= 'A' && b <= 'Z' ? b + 32 : b;
  }

  /** Whether a[at, at+n) equals lowerCase[0, n) ignoring ASCII case. */
  private static boolean equalsLower(byte[] a, int at, AsciiString lowerCase, int n) {
    for (int i = 0; i < n; i++) {
      if (lower(a[at + i]) != lowerCase.byteAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** Whether a[at, at+lowerCase.length) equals lowerCase ignoring ASCII case. */
  static boolean equalsLower(byte[] a, int at, byte[] lowerCase) {
    for (int i = 0; i < lowerCase.length; i++) {
      if (lower(a[at + i]) != lowerCase[i]) {
        return false;
      }
    }
    return true;
  }

  private static boolean equalsIgnoreCase(byte[] a, int x, int y, int n) {
    for (int i = 0; i < n; i++) {
      if (lower(a[x + i]) != lower(a[y + i])) {
        return false;
      }
    }
    return true;
  }

  /**
   * The kind of the name a[start, start+n): the length and first byte leave at most one known
   * name to compare, so most names are told apart without reading further.
   */
  private static int kind(byte[] a, int start, int n) {
    int first = a[start] | 0x20; // as in sameName
    int k;
    switch (n) {
      case 2:
        k = first == 't' ? TE : OTHER;
        break;
      case 4:
        k = first == 'h' ? HOST : OTHER;
        break;
      case 6:
        k = first == 'e' ? EXPECT : OTHER;
        break;
      case 7:
        k = first == 'u' ? UPGRADE : first == 't' ? TRAILER : OTHER;
        break;
      case 10:
        k = first == 'c' ? CONNECTION : first == 'k' ? KEEP_ALIVE : OTHER;
        break;
      case 14:
        k = first == 'c' ? CONTENT_LENGTH : first == 'h' ? HTTP2_SETTINGS : OTHER;
        break;
      case 16:
        k = first == 'p' ? PROXY_CONNECTION : OTHER;
        break;
      case 17:
        k = first == 't' ? TRANSFER_ENCODING : OTHER;
        break;
      case 18:
        k = first != 's' ? OTHER : a[start + 17] == '1' ? SEC_WEBSOCKET_KEY1
            : a[start + 17] == '2' ? SEC_WEBSOCKET_KEY2 : OTHER;
        break;
      default:
        return OTHER;
    }
    return k != OTHER && sameName(a, start, KNOWN[k]) ? k : OTHER;
  }

  /**
   * Whether the token a[at, at+known.length) is the known name: setting bit 0x20 lowers an ASCII
   * letter, and no other tchar becomes a letter, digit or '-' by it, so this needs no branch.
   */
  private static boolean sameName(byte[] a, int at, byte[] known) {
    int diff = 0;
    for (int i = 0; i < known.length; i++) {
      diff |= (a[at + i] | 0x20) ^ known[i];
    }
    return diff == 0;
  }
}
