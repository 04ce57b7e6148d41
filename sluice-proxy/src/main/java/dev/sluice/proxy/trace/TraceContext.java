package dev.sluice.proxy.trace;

import java.util.concurrent.ThreadLocalRandom;

/**
 * The W3C Trace Context of one span: trace id, span id, the parent's span id and the trace flags,
 * read from and written as a {@code traceparent} header value.
 *
 * <pre>{@code
 * TraceContext incoming = TraceContext.parse(request.headers().get("traceparent"));
 * TraceContext server = incoming == null ? TraceContext.newRoot(sampled) : incoming.child();
 * upstreamRequest.headers().set("traceparent", server.traceparent());
 * }</pre>
 *
 * <p>Parsing follows the Trace Context specification (Level 1, "traceparent Header" and
 * "Versioning of traceparent"): version {@code 00} must be exactly 55 characters; higher versions
 * other than {@code ff} are read by their first 55 characters when the rest starts with a dash;
 * only lowercase hex is accepted; an all-zero trace id or span id is invalid. Flags bits this
 * version does not define are cleared, as the specification asks of whoever forwards them. Ids
 * made here come from {@link ThreadLocalRandom}, cheap on any thread and never all zeros.
 */
public final class TraceContext {
  /** The {@code sampled} trace flag. */
  public static final int FLAG_SAMPLED = 0x01;

  /** The {@code random} trace flag of Trace Context Level 2: the trace id's low bits are random. */
  public static final int FLAG_RANDOM = 0x02;

  private static final int KNOWN_FLAGS = FLAG_SAMPLED | FLAG_RANDOM;
  private static final int LENGTH = 55;
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private final long traceIdHigh;
  private final long traceIdLow;
  private final long spanId;
  private final long parentSpanId;
  private final int flags;

  private TraceContext(long traceIdHigh, long traceIdLow, long spanId, long parentSpanId,
      int flags) {
    this.traceIdHigh = traceIdHigh;
    this.traceIdLow = traceIdLow;
    this.spanId = spanId;
    this.parentSpanId = parentSpanId;
    this.flags = flags;
  }

  /**
   * Reads a {@code traceparent} header value; blanks and tabs around it (HTTP's optional white
   * space) are ignored.
   *
   * @return the context, whose {@link #parentSpanId()} is 0 (the header names the caller's span,
   *     which becomes this context's {@link #spanId()}), or null when {@code value} is null or not
   *     a valid {@code traceparent}
   */
  public static TraceContext parse(CharSequence value) {
    if (value == null) {
      return null;
    }
    int start = 0;
    int end = value.length();
    while (start < end && isOws(value.charAt(start))) {
      start++;
    }
    while (end > start && isOws(value.charAt(end - 1))) {
      end--;
    }
    int length = end - start;
    if (length < LENGTH) {
      return null;
    }
    if (!isHex(value, start, 2)) {
      return null;
    }
    int version = (int) parseHex(value, start, 2);
    if (version == 0xff) {
      return null;
    }
    if (version == 0 ? length != LENGTH : length > LENGTH && value.charAt(start + LENGTH) != '-') {
      return null;
    }
    if (value.charAt(start + 2) != '-' || value.charAt(start + 35) != '-'
        || value.charAt(start + 52) != '-') {
      return null;
    }
    if (!isHex(value, start + 3, 32) || !isHex(value, start + 36, 16)
        || !isHex(value, start + 53, 2)) {
      return null;
    }
    long high = parseHex(value, start + 3, 16);
    long low = parseHex(value, start + 19, 16);
    long span = parseHex(value, start + 36, 16);
    if ((high == 0 && low == 0) || span == 0) {
      return null;
    }
    int flags = (int) parseHex(value, start + 53, 2);
    // A later version may give other meanings to bits this one does not know; only "sampled"
    // is certain to mean the same.
    flags &= version == 0 ? KNOWN_FLAGS : FLAG_SAMPLED;
    return new TraceContext(high, low, span, 0, flags);
  }

  /** A new trace: random trace id and span id, no parent. */
  public static TraceContext newRoot(boolean sampled) {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    long high;
    long low;
    do {
      high = random.nextLong();
      low = random.nextLong();
    } while (high == 0 && low == 0);
    return new TraceContext(high, low, nonZero(random), 0, sampled ? FLAG_SAMPLED : 0);
  }

  /** A span of the same trace with the same flags, a new random span id, and this span as parent. */
  public TraceContext child() {
    return new TraceContext(traceIdHigh, traceIdLow, nonZero(ThreadLocalRandom.current()), spanId,
        flags);
  }

  /** This context as a version {@code 00} {@code traceparent} header value. */
  public String traceparent() {
    char[] out = new char[LENGTH];
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    writeHex(out, 3, traceIdHigh, 16);
    writeHex(out, 19, traceIdLow, 16);
    out[35] = '-';
    writeHex(out, 36, spanId, 16);
    out[52] = '-';
    writeHex(out, 53, flags, 2);
    return new String(out);
  }

  /** The upper 64 bits of the trace id. */
  public long traceIdHigh() {
    return traceIdHigh;
  }

  /** The lower 64 bits of the trace id. */
  public long traceIdLow() {
    return traceIdLow;
  }

  /** This span's id; never 0. */
  public long spanId() {
    return spanId;
  }

  /** The parent span's id, or 0 when this context was parsed or is a root. */
  public long parentSpanId() {
    return parentSpanId;
  }

  /** The trace id as 32 lowercase hex digits. */
  public String traceIdHex() {
    char[] out = new char[32];
    writeHex(out, 0, traceIdHigh, 16);
    writeHex(out, 16, traceIdLow, 16);
    return new String(out);
  }

  /** This span's id as 16 lowercase hex digits. */
  public String spanIdHex() {
    return hex16(spanId);
  }

  /** The parent span's id as 16 lowercase hex digits, or null when there is none. */
  public String parentSpanIdHex() {
    return parentSpanId == 0 ? null : hex16(parentSpanId);
  }

  /** The trace flags ({@link #FLAG_SAMPLED}, {@link #FLAG_RANDOM}). */
  public int flags() {
    return flags;
  }

  /** Whether the caller asked for this trace to be recorded. */
  public boolean sampled() {
    return (flags & FLAG_SAMPLED) != 0;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TraceContext t && t.traceIdHigh == traceIdHigh
        && t.traceIdLow == traceIdLow && t.spanId == spanId && t.parentSpanId == parentSpanId
        && t.flags == flags;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(traceIdLow) * 31 + Long.hashCode(spanId);
  }

  @Override
  public String toString() {
    return parentSpanId == 0 ? traceparent() : traceparent() + " (parent " + hex16(parentSpanId)
        + ")";
  }

  private static long nonZero(ThreadLocalRandom random) {
    long id;
    do {
      id = random.nextLong();
    } while (id == 0);
    return id;
  }

  private static boolean isOws(char c) {
    return c == ' ' || c == '\t';
  }

  private static boolean isHex(CharSequence s, int from, int count) {
    for (int i = from; i < from + count; i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    return true;
  }

  /** Reads up to 16 hex digits already checked by {@link #isHex}. */
  private static long parseHex(CharSequence s, int from, int count) {
    long v = 0;
    for (int i = from; i < from + count; i++) {
      char c = s.charAt(i);
      v = (v << 4) | (c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
  }

  private static void writeHex(char[] out, int at, long v, int digits) {
    for (int i = digits - 1; i >= 0; i--) {
      out[at + i] = HEX[(int) (v & 0xf)];
      v >>>= 4;
    }
  }

  private static String hex16(long v) {
    char[] out = new char[16];
    writeHex(out, 0, v, 16);
    return new String(out);
  }
}
