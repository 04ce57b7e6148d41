package dev.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;

/**
 * Parses an HTTP/1.1 request head in place, accepting only a strict, plain subset and declining
 * everything else to the fully validating standard decoder.
 *
 * <p>This is hand-written rather than Netty's {@code HttpObjectDecoder} because the proxy reads
 * hundreds of thousands of heads per second and that decoder's header map, per-character
 * validation calls and objects per message cost measured throughput. A parse scans the bytes once
 * with absolute indexes, never moves the buffer's indexes, and records offsets in reused arrays;
 * it allocates nothing, and only the accessors that return strings do. An incomplete head is
 * scanned again from its start on the next call, which costs little as heads rarely arrive split.
 *
 * <p>Accepted: {@code method SP origin-form SP HTTP/1.1 CRLF}, then {@code name ":" OWS value OWS
 * CRLF} lines of token names and VCHAR/SP/HTAB values, exactly one Host of authority characters,
 * at most one Content-Length of 1 to 18 digits, and no Transfer-Encoding, Upgrade, Expect,
 * HTTP2-Settings or Sec-WebSocket-Key1/2 (for which Netty infers an 8-byte body). Whatever is
 * accepted is accepted by the standard path too, with the same meaning.
 *
 * <p>After a successful parse the offsets index the buffer given to {@link #parse}; the accessors
 * that return strings read that buffer, so call them while its bytes are still there.
 */
public final class RequestHead {
  /** The head is not complete yet, and within limits so far. */
  public static final int NEED_MORE = -1;
  /** Not a head the fast path accepts: the standard decoder must read it. */
  public static final int DECLINED = -2;

  private static final int VERSION_LENGTH = 8; // "HTTP/1.1"
  private static final byte[] VERSION_CRLF = "HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);

  private final int maxInitialLineLength;
  private final int maxHeaderSize;
  private final int maxHeaderCount;
  private final long maxHeadLength;
  private final HeaderFields fields = new HeaderFields();

  private ByteBuf buf;
  private int start;
  private int methodEnd;
  private int targetStart;
  private int targetEnd;
  private int pathEnd;
  private int headLength;
  private int hostIndex;
  private long contentLength;
  private boolean keepAlive;
  private HttpMethod method;
  private String target;
  private String host;

  /**
   * A parser with the limits of the standard decoder it stands in front of: the request line
   * without its CRLF, the header lines without their CRLFs in sum, and the number of header lines.
   */
  public RequestHead(int maxInitialLineLength, int maxHeaderSize, int maxHeaderCount) {
    if (maxInitialLineLength <= 0) {
      throw new IllegalArgumentException("maxInitialLineLength must be positive");
    }
    if (maxHeaderSize <= 0) {
      throw new IllegalArgumentException("maxHeaderSize must be positive");
    }
    if (maxHeaderCount <= 0) {
      throw new IllegalArgumentException("maxHeaderCount must be positive");
    }
    this.maxInitialLineLength = maxInitialLineLength;
    this.maxHeaderSize = maxHeaderSize;
    this.maxHeaderCount = maxHeaderCount;
    this.maxHeadLength = (long) maxHeaderSize + maxInitialLineLength + 4;
  }

  /**
   * Parses the head at buf.readerIndex() .. writerIndex() without moving the indexes; returns the
   * head length in bytes (through the blank line), NEED_MORE or DECLINED.
   */
  public int parse(ByteBuf buf) {
    this.buf = buf;
    method = null;
    target = null;
    host = null;
    headLength = 0;
    fields.clear(buf);
    int result = scan(buf, buf.readerIndex(), buf.writerIndex());
    if (result < 0) {
      this.buf = null; // no offsets to read: drop the reference to the caller's buffer
      fields.clear(null);
    }
    return result;
  }

  private int scan(ByteBuf buf, int start, int end) {
    this.start = start;
    // Request line. Past the line limit the standard decoder refuses anyway.
    int lineLimit = (int) Math.min((long) start + maxInitialLineLength, Integer.MAX_VALUE);
    int p = start;
    int stop = Math.min(end, lineLimit + 1);
    while (p < stop && Chars.is(buf.getByte(p), Chars.TCHAR)) {
      p++;
    }
    if (p == stop) {
      return incompleteLine(p);
    }
    if (p == start || buf.getByte(p) != ' ') {
      return DECLINED;
    }
    methodEnd = p;
    if (p - start == 7 && sameBytes(buf, start, HttpMethod.CONNECT.asciiName())) {
      return DECLINED; // CONNECT takes an authority-form target
    }
    p++;
    targetStart = p;
    if (p >= stop) {
      return incompleteLine(p);
    }
    if (buf.getByte(p) != '/') {
      return DECLINED;
    }
    int question = -1;
    p++;
    while (p < stop) {
      byte b = buf.getByte(p);
      if (b == ' ') {
        break;
      }
      if (b < 0x21 || b > 0x7E) {
        return DECLINED;
      }
      if (b == '?' && question < 0) {
        question = p;
      }
      p++;
    }
    if (p == stop) {
      return incompleteLine(p);
    }
    targetEnd = p;
    pathEnd = question < 0 ? p : question;
    p++;
    // "HTTP/1.1" must end within the limit; its CRLF may follow it.
    for (int i = 0; i < VERSION_CRLF.length; i++, p++) {
      if (p >= end) {
        return NEED_MORE;
      }
      if (buf.getByte(p) != VERSION_CRLF[i]) {
        return DECLINED;
      }
      if (i == VERSION_LENGTH - 1 && p >= lineLimit) {
        return DECLINED;
      }
    }

    // Header lines.
    long headLimit = start + maxHeadLength;
    int headerBytes = 0;
    int hosts = 0;
    int lengths = 0;
    hostIndex = -1;
    contentLength = -1;
    while (true) {
      int lineStart = p;
      if (p >= end) {
        return p > headLimit ? DECLINED : NEED_MORE;
      }
      byte b = buf.getByte(p);
      if (b == '\r') {
        if (p + 1 >= end) {
          return p + 1 > headLimit ? DECLINED : NEED_MORE;
        }
        if (buf.getByte(p + 1) != '\n' || p + 2 > headLimit) {
          return DECLINED;
        }
        headLength = p + 2 - start;
        break;
      }
      // A line that is not a header line: bare LF, folding, a name that is not a token.
      while (p < end && Chars.is(buf.getByte(p), Chars.TCHAR)) {
        p++;
      }
      if (p < end && (p == lineStart || buf.getByte(p) != ':')) {
        return DECLINED;
      }
      int nameEnd = p++;
      while (p < end && HeaderFields.isOws(buf.getByte(p))) {
        p++;
      }
      int valueStart = p;
      int valueEnd = p;
      while (p < end) {
        b = buf.getByte(p);
        if (!Chars.is(b, Chars.VALUE)) {
          break;
        }
        p++;
        if (b != ' ' && b != '\t') {
          valueEnd = p;
        }
      }
      if (p >= end - 1) {
        if (p < end && buf.getByte(p) != '\r') {
          return DECLINED;
        }
        // Incomplete: refuse as soon as the limits are passed (a CR last is not counted).
        return (long) headerBytes + (Math.min(p, end) - lineStart) > maxHeaderSize
            || end > headLimit
            ? DECLINED : NEED_MORE;
      }
      if (buf.getByte(p) != '\r' || buf.getByte(p + 1) != '\n') {
        return DECLINED; // a control byte, obs-text or a bare CR
      }
      headerBytes += p - lineStart;
      p += 2;
      if (headerBytes > maxHeaderSize || p > headLimit
          || fields.count() >= maxHeaderCount) {
        return DECLINED;
      }
      int kind = fields.add(lineStart, nameEnd, valueStart, valueEnd, p);
      switch (kind) {
        case HeaderFields.HOST:
          if (++hosts > 1) {
            return DECLINED;
          }
          for (int i = valueStart; i < valueEnd; i++) {
            if (!Chars.is(buf.getByte(i), Chars.AUTHORITY)) {
              return DECLINED;
            }
          }
          hostIndex = fields.count() - 1;
          break;
        case HeaderFields.CONTENT_LENGTH:
          if (++lengths > 1) {
            return DECLINED;
          }
          contentLength = digits(buf, valueStart, valueEnd);
          if (contentLength < 0) {
            return DECLINED;
          }
          break;
        case HeaderFields.TRANSFER_ENCODING:
        case HeaderFields.UPGRADE:
        case HeaderFields.EXPECT:
        case HeaderFields.HTTP2_SETTINGS:
        case HeaderFields.SEC_WEBSOCKET_KEY1:
        case HeaderFields.SEC_WEBSOCKET_KEY2:
          return DECLINED;
        default:
          break;
      }
    }
    if (hosts != 1) {
      return DECLINED;
    }
    keepAlive = (fields.markConnectionTokens() & HeaderFields.TOKEN_CLOSE) == 0;
    return headLength;
  }

  /** The request line ran out of bytes at p, or passed its limit there. */
  private int incompleteLine(int p) {
    return p - start > maxInitialLineLength ? DECLINED : NEED_MORE;
  }

  /** 1 to 18 ASCII digits as a number, or -1. */
  static long digits(ByteBuf buf, int from, int to) {
    if (to <= from || to - from > 18) {
      return -1;
    }
    long n = 0;
    for (int i = from; i < to; i++) {
      int d = buf.getByte(i) - '0';
      if (d < 0 || d > 9) {
        return -1;
      }
      n = n * 10 + d;
    }
    return n;
  }

  /** The method: Netty's constant for a standard one (no allocation), else a new one. */
  public HttpMethod method() {
    HttpMethod m = method;
    if (m == null) {
      m = standardMethod();
      if (m == null) {
        m = HttpMethod.valueOf(buf.toString(start, methodEnd - start, StandardCharsets.US_ASCII));
      }
      method = m;
    }
    return m;
  }

  private HttpMethod standardMethod() {
    int n = methodEnd - start;
    for (HttpMethod m : STANDARD) {
      AsciiString name = m.asciiName();
      if (name.length() == n && sameBytes(buf, start, name)) {
        return m;
      }
    }
    return null;
  }

  private static final HttpMethod[] STANDARD = {
    HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.HEAD, HttpMethod.DELETE,
    HttpMethod.OPTIONS, HttpMethod.PATCH, HttpMethod.TRACE, HttpMethod.QUERY,
  };

  private static boolean sameBytes(ByteBuf buf, int at, AsciiString s) {
    for (int i = 0; i < s.length(); i++) {
      if (buf.getByte(at + i) != s.byteAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The request-target as a string, made on the first call after a parse. */
  public String target() {
    String t = target;
    if (t == null) {
      t = buf.toString(targetStart, targetEnd - targetStart, StandardCharsets.US_ASCII);
      target = t;
    }
    return t;
  }

  public int targetStart() {
    return targetStart;
  }

  public int targetEnd() {
    return targetEnd;
  }

  /** Index of the first '?' in the target, or targetEnd. */
  public int pathEnd() {
    return pathEnd;
  }

  public int headerCount() {
    return fields.count();
  }

  /** Where header line i begins; it runs through its CRLF to {@link #lineEnd}. */
  public int lineStart(int i) {
    return fields.lineStart(i);
  }

  public int lineEnd(int i) {
    return fields.lineEnd(i);
  }

  public int nameStart(int i) {
    return fields.lineStart(i);
  }

  public int nameEnd(int i) {
    return fields.nameEnd(i);
  }

  /** Where the value of header i begins, past leading SP/HTAB. */
  public int valueStart(int i) {
    return fields.valueStart(i);
  }

  /** Where the value of header i ends, before trailing SP/HTAB. */
  public int valueEnd(int i) {
    return fields.valueEnd(i);
  }

  /** The value of header i as a new string. */
  public String value(int i) {
    return fields.value(i);
  }

  /**
   * Whether header i is hop-by-hop: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
   * Upgrade, Proxy-Connection, or a header named by a token of a Connection header.
   */
  public boolean hopByHop(int i) {
    return fields.hopByHop(i);
  }

  /** The first header with that name (ASCII case-insensitive), or -1; allocates nothing. */
  public int indexOf(AsciiString lowerCaseName) {
    return fields.indexOf(lowerCaseName);
  }

  /** The Host value, trimmed, made on the first call after a parse. */
  public String host() {
    String h = host;
    if (h == null && hostIndex >= 0) {
      h = fields.value(hostIndex);
      host = h;
    }
    return h;
  }

  /** The Content-Length, or -1 when there is none. */
  public long contentLength() {
    return contentLength;
  }

  /** HTTP/1.1 without a "close" token in Connection (every accepted head is HTTP/1.1). */
  public boolean keepAlive() {
    return keepAlive;
  }

  /** Bytes of the head through its blank line, or 0 before a successful parse. */
  public int headLength() {
    return headLength;
  }
}
