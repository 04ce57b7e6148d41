package dev.sluice.proxy.engine;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.util.AsciiString;

/**
 * The header names most responses carry, as Netty's shared constants: a response head converted
 * for HTTP/2 names them with these instead of a new string each, and their hashes (which the
 * header map and the HPACK encoder compute) are computed once.
 */
final class ResponseHeaderNames {
  private static final int MAX_LENGTH = 32;
  /** The names by length, each array short. */
  private static final AsciiString[][] BY_LENGTH = new AsciiString[MAX_LENGTH + 1][];

  static {
    AsciiString[] names = {
        HttpHeaderNames.DATE, HttpHeaderNames.SERVER, HttpHeaderNames.CONTENT_TYPE,
        HttpHeaderNames.CONTENT_LENGTH, HttpHeaderNames.CONTENT_ENCODING,
        HttpHeaderNames.LAST_MODIFIED, HttpHeaderNames.ETAG, HttpHeaderNames.ACCEPT_RANGES,
        HttpHeaderNames.CACHE_CONTROL, HttpHeaderNames.EXPIRES, HttpHeaderNames.VARY,
        HttpHeaderNames.AGE, HttpHeaderNames.LOCATION, HttpHeaderNames.SET_COOKIE,
        HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, HttpHeaderNames.CONTENT_SECURITY_POLICY,
        HttpHeaderNames.RETRY_AFTER, HttpHeaderNames.WWW_AUTHENTICATE,
    };
    for (AsciiString name : names) {
      int n = name.length();
      AsciiString[] same = BY_LENGTH[n];
      AsciiString[] grown = same == null ? new AsciiString[1]
          : java.util.Arrays.copyOf(same, same.length + 1);
      grown[grown.length - 1] = name;
      BY_LENGTH[n] = grown;
    }
  }

  private ResponseHeaderNames() {}

  /**
   * The shared constant for the lower-case name in {@code bytes[offset, offset + length)}, or
   * null when it is not one of the common names.
   */
  static AsciiString common(byte[] bytes, int offset, int length) {
    if (length > MAX_LENGTH) {
      return null;
    }
    AsciiString[] candidates = BY_LENGTH[length];
    if (candidates == null) {
      return null;
    }
    for (AsciiString name : candidates) {
      if (same(name, bytes, offset, length)) {
        return name;
      }
    }
    return null;
  }

  private static boolean same(AsciiString name, byte[] bytes, int offset, int length) {
    for (int i = 0; i < length; i++) {
      if (name.byteAt(i) != bytes[offset + i]) {
        return false;
      }
    }
    return true;
  }
}
