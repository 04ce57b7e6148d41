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
 * validation calls and objects per message cost measured throughput. A parse copies the head's
 * bytes once into a reused array (reading the ByteBuf byte by byte cost half as much again),
 * scans them once, never moves the buffer's indexes, and records offsets in reused arrays; it
 * allocates nothing but a longer array for a longer head than seen before, and only the accessors
 * that return strings allocate. An incomplete head is scanned again from its start on the next
 * call, which costs little as heads rarely arrive split.
 *
 * <p>Accepted: {@code method SP origin-form SP HTTP/1.1 CRLF}, then {@code name ":" OWS value OWS
 * CRLF} lines of token names and VCHAR/SP/HTAB values, exactly one Host of authority characters,
 * at most one Content-Length of 1 to 18 digits, and no Transfer-Encoding, Upgrade, Expect,
 * HTTP2-Settings or Sec-WebSocket-Key1/2 (for which Netty infers an 8-byte body). Whatever is
 * accepted is accepted by the standard path too, with the same meaning.
 *
 * <p>After a successful parse the offsets index the buffer given to {@link #parse}; the accessors
 * that return strings read the parser's copy of the head.
 */
public final class RequestHead extends HttpHead {
  /** The head is not complete yet, and within limits so far. */
  public static final int NEED_MORE = -1;
  /** Not a head the fast path accepts: the standard decoder must read it. */
  public static final int DECLINED = -2;

  private static final int VERSION_LENGTH = 8; // "HTTP/1.1"
  private static final byte[] VERSION_CRLF = "HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
  /** Bytes copied for the first try: most heads fit, and a longer one is copied again. */
  private static final int FIRST_WINDOW = 1024;

  private final int maxInitialLineLength;
  private final int maxHeaderSize;
  private final int maxHeaderCount;
  private final long maxHeadLength;

  private byte[] bytes; // the copy of the head that the offsets below index
  private int start; // the buffer index of bytes[0]
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
   * The strings of the previous heads: a keep-alive connection mostly repeats its Host, and often
   * its target, so they are compared before a new String is made.
   */
  private String lastTarget = "";
  private String lastHost = "";

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
    method = null;
    target = null;
    host = null;
    headLength = 0;
    start = buf.readerIndex();
    int readable = buf.writerIndex() - start;
    // No head reaches past maxHeadLength: the scan declines at its first byte beyond the limit,
    // so the bytes after that byte cannot change the answer.
    int bound = (int) Math.min(readable, maxHeadLength + 1);
    int n = Math.min(bound, FIRST_WINDOW);
    int result;
    while (true) {
      // A shorter copy answers NEED_MORE wherever the whole would go on (the limit checks at the
      // end of the bytes fire only past the limits), so a window that is too short just grows.
      bytes = fields.load(buf, start, n);
      result = scan(bytes, n);
      if (result != NEED_MORE || n == bound) {
        break;
      }
      n = (int) Math.min(bound, (long) n * 8);
    }
    if (result < 0) {
      fields.clear();
    }
    return result;
  }

  private int scan(byte[] a, int end) {
    // Request line. Past the line limit the standard decoder refuses anyway.
    int lineLimit = maxInitialLineLength;
    int p = 0;
    int stop = (int) Math.min(end, lineLimit + 1L);
    while (p < stop && Chars.is(a[p], Chars.TCHAR)) {
      p++;
    }
    if (p == stop) {
      return incompleteLine(p);
    }
    if (p == 0 || a[p] != ' ') {
      return DECLINED;
    }
    methodEnd = p;
    if (p == 7 && sameBytes(a, 0, HttpMethod.CONNECT.asciiName())) {
      return DECLINED; // CONNECT takes an authority-form target
    }
    p++;
    targetStart = p;
    if (p >= stop) {
      return incompleteLine(p);
    }
    if (a[p] != '/') {
      return DECLINED;
    }
    int question = -1;
    p++;
    while (p < stop) {
      byte b = a[p];
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
      if (a[p] != VERSION_CRLF[i]) {
        return DECLINED;
      }
      if (i == VERSION_LENGTH - 1 && p >= lineLimit) {
        return DECLINED;
      }
    }

    // Header lines.
    long headLimit = maxHeadLength;
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
      byte b = a[p];
      if (b == '\r') {
        if (p + 1 >= end) {
          return p + 1 > headLimit ? DECLINED : NEED_MORE;
        }
        if (a[p + 1] != '\n' || p + 2 > headLimit) {
          return DECLINED;
        }
        headLength = p + 2;
        break;
      }
      // A line that is not a header line: bare LF, folding, a name that is not a token.
      while (p < end && Chars.is(a[p], Chars.TCHAR)) {
        p++;
      }
      if (p < end && (p == lineStart || a[p] != ':')) {
        return DECLINED;
      }
      int nameEnd = p++;
      while (p < end && HeaderFields.isOws(a[p])) {
        p++;
      }
      int valueStart = p;
      p = Chars.skipVisible(a, p, end);
      while (p < end && Chars.is(a[p], Chars.VALUE)) {
        p++;
      }
      int valueEnd = p;
      while (valueEnd > valueStart && HeaderFields.isOws(a[valueEnd - 1])) {
        valueEnd--;
      }
      if (p >= end - 1) {
        if (p < end && a[p] != '\r') {
          return DECLINED;
        }
        // Incomplete: refuse as soon as the limits are passed (a CR last is not counted).
        return (long) headerBytes + (Math.min(p, end) - lineStart) > maxHeaderSize
            || end > headLimit
            ? DECLINED : NEED_MORE;
      }
      if (a[p] != '\r' || a[p + 1] != '\n') {
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
        case HeaderFields.OTHER:
          break;
        case HeaderFields.HOST:
          if (++hosts > 1) {
            return DECLINED;
          }
          for (int i = valueStart; i < valueEnd; i++) {
            if (!Chars.is(a[i], Chars.AUTHORITY)) {
              return DECLINED;
            }
          }
          hostIndex = fields.count() - 1;
          break;
        case HeaderFields.CONTENT_LENGTH:
          if (++lengths > 1) {
            return DECLINED;
          }
          contentLength = digits(a, valueStart, valueEnd);
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
    return p > maxInitialLineLength ? DECLINED : NEED_MORE;
  }

  /** 1 to 18 ASCII digits as a number, or -1. */
  static long digits(byte[] a, int from, int to) {
    if (to <= from || to - from > 18) {
      return -1;
    }
    long n = 0;
    for (int i = from; i < to; i++) {
      int d = a[i] - '0';
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
        m = HttpMethod.valueOf(new String(bytes, 0, methodEnd, StandardCharsets.US_ASCII));
      }
      method = m;
    }
    return m;
  }

  private HttpMethod standardMethod() {
    for (HttpMethod m : STANDARD) {
      AsciiString name = m.asciiName();
      if (name.length() == methodEnd && sameBytes(bytes, 0, name)) {
        return m;
      }
    }
    return null;
  }

  private static final HttpMethod[] STANDARD = {
    HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.HEAD, HttpMethod.DELETE,
    HttpMethod.OPTIONS, HttpMethod.PATCH, HttpMethod.TRACE, HttpMethod.QUERY,
  };

  private static boolean sameBytes(byte[] a, int at, AsciiString s) {
    for (int i = 0; i < s.length(); i++) {
      if (a[at + i] != s.byteAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The request-target as a string, made on the first call after a parse. */
  public String target() {
    String t = target;
    if (t == null) {
      int n = targetEnd - targetStart;
      t = sameAscii(bytes, targetStart, n, lastTarget) ? lastTarget
          : new String(bytes, targetStart, n, StandardCharsets.US_ASCII);
      target = t;
      lastTarget = t;
    }
    return t;
  }

  public int targetStart() {
    return start + targetStart;
  }

  public int targetEnd() {
    return start + targetEnd;
  }

  /** Index of the first '?' in the target, or targetEnd. */
  public int pathEnd() {
    return start + pathEnd;
  }

  /** The Host value, trimmed, made on the first call after a parse. */
  public String host() {
    String h = host;
    if (h == null && hostIndex >= 0) {
      int from = valueStart(hostIndex) - start;
      int n = valueEnd(hostIndex) - start - from;
      h = sameAscii(bytes, from, n, lastHost) ? lastHost : fields.value(hostIndex);
      host = h;
      lastHost = h;
    }
    return h;
  }

  /** Whether {@code n} bytes at {@code from} spell {@code s} (ASCII). */
  private static boolean sameAscii(byte[] bytes, int from, int n, String s) {
    if (s.length() != n) {
      return false;
    }
    for (int i = 0; i < n; i++) {
      if (bytes[from + i] != s.charAt(i)) {
        return false;
      }
    }
    return true;
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
