package dev.sluice.loadgen;

/**
 * The ids and timestamps of the synthetic payloads, as pure functions of {@code (seed, request
 * index, item index)}, so that a receiver can recompute exactly what a run of {@code sluice send}
 * sent.
 *
 * <p>Request indexes count from 0 in the order requests are claimed (with one connection, the order
 * they are sent); item indexes count from 0 in the order items appear in the request. Within a
 * request, items {@code 10k .. 10k+9} belong to trace {@code k} ({@link #ITEMS_PER_TRACE}): spans
 * of one trace share a trace id, item {@code 10k} is the trace's root span and the parent of the
 * nine others; log records carry the trace and span id of the same positions.
 *
 * <p>The functions mix their arguments with the SplitMix64 finalizer; they are not cryptographic,
 * only spread well enough that ids of different seeds, requests and items do not collide in
 * practice. No id is ever all zeros.
 */
public final class Ids {
  /** Items in one trace: spans {@code 10k .. 10k+9} of a request share trace {@code k}. */
  public static final int ITEMS_PER_TRACE = 10;

  /**
   * Each request is dated this much after the previous one: every timestamp of request {@code r}
   * is that of request 0 plus {@code r} milliseconds.
   */
  public static final long REQUEST_SPACING_NANOS = 1_000_000L;

  /** 2024-09-17T12:00:00Z in nanoseconds: request 0's clock, fixed so that runs repeat exactly. */
  public static final long BASE_NANOS = 1_726_574_400_000_000_000L;

  private static final long TRACE_HIGH = 0x7472616365686921L;
  private static final long TRACE_LOW = 0x74726163656c6f21L;
  private static final long SPAN = 0x7370616e69642121L;

  private Ids() {}

  /** The trace that item {@code item} of a request belongs to. */
  public static int traceOf(int item) {
    return item / ITEMS_PER_TRACE;
  }

  /** The first 8 bytes (big-endian) of the trace id of trace {@code trace} of request {@code request}. */
  public static long traceIdHigh(long seed, long request, int trace) {
    return hash(seed, request, trace, TRACE_HIGH);
  }

  /** The last 8 bytes (big-endian) of that trace id; never zero together with the high half. */
  public static long traceIdLow(long seed, long request, int trace) {
    long low = hash(seed, request, trace, TRACE_LOW);
    return low == 0 && traceIdHigh(seed, request, trace) == 0 ? 1 : low;
  }

  /** The 16-byte trace id of trace {@code trace} of request {@code request}. */
  public static byte[] traceId(long seed, long request, int trace) {
    byte[] id = new byte[16];
    putLong(id, 0, traceIdHigh(seed, request, trace));
    putLong(id, 8, traceIdLow(seed, request, trace));
    return id;
  }

  /** The span id of item {@code item} of request {@code request} as a big-endian long; never 0. */
  public static long spanIdLong(long seed, long request, int item) {
    long id = hash(seed, request, item, SPAN);
    return id == 0 ? 1 : id;
  }

  /** The 8-byte span id of item {@code item} of request {@code request}. */
  public static byte[] spanId(long seed, long request, int item) {
    byte[] id = new byte[8];
    putLong(id, 0, spanIdLong(seed, request, item));
    return id;
  }

  /** Lower-case hex, as OTLP/JSON writes ids. */
  public static String hex(byte[] id) {
    StringBuilder sb = new StringBuilder(id.length * 2);
    for (byte b : id) {
      sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
    }
    return sb.toString();
  }

  static long hash(long seed, long request, long index, long salt) {
    long h = mix(seed ^ salt);
    h = mix(h + 0x9E3779B97F4A7C15L + request * 0xBF58476D1CE4E5B9L);
    return mix(h + 0x9E3779B97F4A7C15L + index * 0x94D049BB133111EBL);
  }

  /** The SplitMix64 finalizer (Stafford's variant 13). */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static void putLong(byte[] b, int at, long v) {
    for (int i = 7; i >= 0; i--) {
      b[at + i] = (byte) v;
      v >>>= 8;
    }
  }
}
