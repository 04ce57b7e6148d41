package dev.sluice.http.wire;

import io.netty.buffer.ByteBuf;

/**
 * Parses an HTTP/1.x response head in place, as leniently as Netty's client decoder: CRLF or bare
 * LF line ends, leading empty lines skipped, a missing or empty reason, obs-text in values.
 *
 * <p>Hand-written rather than Netty's {@code HttpObjectDecoder} for the same reason as {@link
 * RequestHead}: that decoder's header map, per-character validation calls and objects per message
 * cost measured proxy throughput. A parse copies the head into a reused array and scans that, as
 * {@link RequestHead} does, without moving the buffer's indexes, keeps offsets in reused arrays and
 * reports them as buffer indexes; an incomplete head is scanned again from its start on the next
 * call.
 *
 * <p>Refused as {@link #MALFORMED}, with {@link #malformation()} naming the problem: another
 * version than HTTP/1.1 and HTTP/1.0, a status that is not three digits from 100, control bytes
 * other than HTAB, a bare CR, obsolete line folding, whitespace before a colon (which a proxy
 * must not pass on), a header line without a colon, Content-Length values that are not 1 to 18
 * digits or differ, chunked given twice or before another coding, Transfer-Encoding in HTTP/1.0,
 * and heads beyond the limits.
 */
public final class ResponseHead extends HttpHead {
  /** The head is not complete yet, and within limits so far. */
  public static final int NEED_MORE = -1;
  /** Bad syntax or beyond the limits: see {@link #malformation()}. */
  public static final int MALFORMED = -2;

  private static final byte[] CHUNKED = HeaderFields.ascii("chunked");
  private static final byte[] HTTP_1 = HeaderFields.ascii("HTTP/1.");
  /** Bytes copied for the first try: most heads fit, and a longer one is copied again. */
  private static final int FIRST_WINDOW = 1024;

  private final int maxHeaderSize;
  private final int maxHeaderCount;

  private String malformation;
  private int start; // the buffer index of the copy's first byte
  private int status;
  private boolean http10;
  private int statusLineEnd;
  private int reasonStart;
  private int reasonEnd;
  private int headLength;
  private long contentLength;
  private boolean chunked;
  private boolean transferEncoding;
  private boolean keepAlive;
  private boolean chunkedSeen;

  /**
   * A parser that refuses heads of more than maxHeaderSize bytes in all (leading empty lines and
   * line ends included) or more than maxHeaderCount header lines.
   */
  public ResponseHead(int maxHeaderSize, int maxHeaderCount) {
    if (maxHeaderSize <= 0) {
      throw new IllegalArgumentException("maxHeaderSize must be positive");
    }
    if (maxHeaderCount <= 0) {
      throw new IllegalArgumentException("maxHeaderCount must be positive");
    }
    this.maxHeaderSize = maxHeaderSize;
    this.maxHeaderCount = maxHeaderCount;
  }

  /**
   * Parses the head at buf.readerIndex() .. writerIndex() without moving the indexes; returns the
   * head length in bytes (leading empty lines and the blank line included), NEED_MORE or
   * MALFORMED.
   */
  public int parse(ByteBuf buf) {
    malformation = null;
    headLength = 0;
    start = buf.readerIndex();
    int readable = buf.writerIndex() - start;
    int bound = Math.min(readable, maxHeaderSize);
    int n = Math.min(bound, FIRST_WINDOW);
    int result;
    while (true) {
      // A shorter copy answers NEED_MORE wherever the whole would go on, so a window that is
      // too short just grows.
      byte[] a = fields.load(buf, start, n);
      result = scan(a, n);
      if (result != NEED_MORE || n == bound) {
        break;
      }
      n = (int) Math.min(bound, (long) n * 8);
    }
    if (result == NEED_MORE && bound < readable) {
      result = malformed("response head larger than " + maxHeaderSize + " bytes");
    }
    if (result < 0) {
      fields.clear();
    }
    return result;
  }

  private int malformed(String why) {
    malformation = why;
    return MALFORMED;
  }

  private int scan(byte[] a, int end) {
    int p = 0;
    while (p < end && (a[p] == '\r' || a[p] == '\n')) {
      p++;
    }
    // "HTTP/1.x SP 3DIGIT", then the line end or SP and a reason.
    if (end - p < 12) {
      int r = prefix(a, p, end, HTTP_1);
      return r < 0 ? r : NEED_MORE;
    }
    int r = prefix(a, p, end, HTTP_1);
    if (r < 0) {
      return r;
    }
    byte minor = a[p + 7];
    if (minor != '1' && minor != '0' || a[p + 8] != ' ') {
      return malformed("unsupported version in the status line");
    }
    http10 = minor == '0';
    int code = 0;
    for (int i = p + 9; i < p + 12; i++) {
      int d = a[i] - '0';
      if (d < 0 || d > 9) {
        return malformed("status code is not three digits");
      }
      code = code * 10 + d;
    }
    if (code < 100) {
      return malformed("status code below 100");
    }
    status = code;
    p += 12;
    int reasonStart = p;
    int reasonEnd = p;
    byte b;
    if (p < end && a[p] == ' ') {
      p++;
      while (p < end && HeaderFields.isOws(a[p])) {
        p++;
      }
      reasonStart = p;
      reasonEnd = p;
      while (p < end) {
        b = a[p];
        if (!Chars.is(b, Chars.LENIENT_VALUE)) {
          break;
        }
        p++;
        if (b != ' ' && b != '\t') {
          reasonEnd = p;
        }
      }
    }
    int lineEnd = lineEnd(a, p, end);
    if (lineEnd < 0) {
      return lineEnd == NEED_MORE ? NEED_MORE : malformed("invalid status line");
    }
    this.reasonStart = reasonStart;
    this.reasonEnd = reasonEnd;
    statusLineEnd = lineEnd;
    p = lineEnd;

    int lengths = 0;
    chunkedSeen = false;
    contentLength = -1;
    transferEncoding = false;
    chunked = false;
    while (true) {
      int lineStart = p;
      if (p >= end) {
        return NEED_MORE;
      }
      b = a[p];
      if (b == '\r' || b == '\n') {
        int blankEnd = lineEnd(a, p, end);
        if (blankEnd < 0) {
          return blankEnd == NEED_MORE ? NEED_MORE : malformed("bare CR in the head");
        }
        headLength = blankEnd;
        break;
      }
      if (b == ' ' || b == '\t') {
        return malformed("obsolete line folding");
      }
      while (p < end && Chars.is(a[p], Chars.TCHAR)) {
        p++;
      }
      if (p >= end) {
        return NEED_MORE;
      }
      b = a[p];
      if (b != ':' || p == lineStart) {
        return malformed(p == lineStart ? "invalid header name"
            : b == ' ' || b == '\t' ? "whitespace before the colon of a header"
            : b == '\r' || b == '\n' ? "header line without a colon"
            : "invalid header name");
      }
      int nameEnd = p++;
      while (p < end && HeaderFields.isOws(a[p])) {
        p++;
      }
      int valueStart = p;
      p = Chars.skipVisible(a, p, end);
      while (p < end && Chars.is(a[p], Chars.LENIENT_VALUE)) {
        p++;
      }
      int valueEnd = p;
      while (valueEnd > valueStart && HeaderFields.isOws(a[valueEnd - 1])) {
        valueEnd--;
      }
      int next = lineEnd(a, p, end);
      if (next < 0) {
        return next == NEED_MORE ? NEED_MORE : malformed("control character in a header value");
      }
      if (fields.count() >= maxHeaderCount) {
        return malformed("more than " + maxHeaderCount + " header lines");
      }
      p = next;
      int kind = fields.add(lineStart, nameEnd, valueStart, valueEnd, p);
      if (kind == HeaderFields.CONTENT_LENGTH) {
        long n = contentLengths(a, valueStart, valueEnd);
        if (n < 0) {
          return malformed("invalid Content-Length");
        }
        if (lengths++ > 0 && n != contentLength) {
          return malformed("differing Content-Length values");
        }
        contentLength = n;
      } else if (kind == HeaderFields.TRANSFER_ENCODING) {
        transferEncoding = true;
        int codings = codings(a, valueStart, valueEnd);
        if (codings == MALFORMED) {
          return malformed("chunked transfer coding given more than once");
        }
        if (codings != 0) {
          chunked = codings > 0;
        }
      }
    }
    if (transferEncoding) {
      if (chunkedSeen && !chunked) {
        return malformed("chunked is not the last transfer coding");
      }
      if (http10) {
        return malformed("Transfer-Encoding in an HTTP/1.0 response");
      }
      contentLength = -1; // RFC 9112 6.3: Transfer-Encoding overrides Content-Length
    }
    int tokens = fields.markConnectionTokens();
    keepAlive = (tokens & HeaderFields.TOKEN_CLOSE) == 0
        && (!http10 || (tokens & HeaderFields.TOKEN_KEEP_ALIVE) != 0)
        && (!transferEncoding || chunked);
    return headLength;
  }

  /** Whether buf at p begins with s: 0 yes, NEED_MORE if the bytes end first, else MALFORMED. */
  private int prefix(byte[] a, int p, int end, byte[] s) {
    for (int i = 0; i < s.length; i++) {
      if (p + i >= end) {
        return NEED_MORE;
      }
      if (a[p + i] != s[i]) {
        return malformed("not an HTTP/1.x status line");
      }
    }
    return 0;
  }

  /** The index past the CRLF or LF at p, NEED_MORE, or MALFORMED if there is no line end at p. */
  private static int lineEnd(byte[] a, int p, int end) {
    if (p >= end) {
      return NEED_MORE;
    }
    byte b = a[p];
    if (b == '\n') {
      return p + 1;
    }
    if (b != '\r') {
      return MALFORMED;
    }
    if (p + 1 >= end) {
      return NEED_MORE;
    }
    return a[p + 1] == '\n' ? p + 2 : MALFORMED;
  }

  /** A comma-separated list of equal 1 to 18 digit numbers as a number, or -1. */
  private static long contentLengths(byte[] a, int from, int to) {
    long value = -1;
    int p = from;
    while (true) {
      int comma = p;
      while (comma < to && a[comma] != ',') {
        comma++;
      }
      int s = p;
      int e = comma;
      while (s < e && HeaderFields.isOws(a[s])) {
        s++;
      }
      while (e > s && HeaderFields.isOws(a[e - 1])) {
        e--;
      }
      long n = RequestHead.digits(a, s, e);
      if (n < 0 || value >= 0 && n != value) {
        return -1;
      }
      value = n;
      if (comma == to) {
        return value;
      }
      p = comma + 1;
    }
  }

  /**
   * The codings of one Transfer-Encoding line: 1 if its last is chunked, -1 if another, 0 if
   * there are none, MALFORMED if chunked appears twice in this head.
   */
  private int codings(byte[] a, int from, int to) {
    int last = 0;
    int p = from;
    while (p <= to) {
      int comma = p;
      while (comma < to && a[comma] != ',') {
        comma++;
      }
      int s = p;
      int e = comma;
      while (s < e && HeaderFields.isOws(a[s])) {
        s++;
      }
      while (e > s && HeaderFields.isOws(a[e - 1])) {
        e--;
      }
      if (e > s) {
        boolean isChunked = e - s == 7 && HeaderFields.equalsLower(a, s, CHUNKED);
        if (isChunked) {
          if (chunkedSeen) {
            return MALFORMED;
          }
          chunkedSeen = true;
        }
        last = isChunked ? 1 : -1;
      }
      p = comma + 1;
    }
    return last;
  }

  /** Why the last parse answered MALFORMED, a short phrase naming the problem. */
  public String malformation() {
    return malformation;
  }

  public int status() {
    return status;
  }

  public boolean http10() {
    return http10;
  }

  /** The index just past the status line's line end. */
  public int statusLineEnd() {
    return start + statusLineEnd;
  }

  /** Where the reason phrase begins; equal to {@link #reasonEnd} when there is none. */
  public int reasonStart() {
    return start + reasonStart;
  }

  /** Where the reason phrase ends, before trailing SP/HTAB. */
  public int reasonEnd() {
    return start + reasonEnd;
  }

  /** Bytes of the head through its blank line, or 0 before a successful parse. */
  public int headLength() {
    return headLength;
  }

  /**
   * The Content-Length (several equal values count as one), or -1 when there is none or when
   * Transfer-Encoding is present.
   */
  public long contentLength() {
    return contentLength;
  }

  /** Transfer-Encoding is present and its last coding is chunked. */
  public boolean chunked() {
    return chunked;
  }

  /** Transfer-Encoding is present at all; Content-Length is then ignored (RFC 9112 6.3). */
  public boolean transferEncoding() {
    return transferEncoding;
  }

  /**
   * HTTP/1.1 without a "close" token, or HTTP/1.0 with "keep-alive"; false when
   * Transfer-Encoding is present without chunked last (the body then ends with the connection).
   */
  public boolean keepAlive() {
    return keepAlive;
  }
}
