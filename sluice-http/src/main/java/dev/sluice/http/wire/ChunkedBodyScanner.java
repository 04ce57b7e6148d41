package dev.sluice.http.wire;

import io.netty.buffer.ByteBuf;

/**
 * Finds where a chunked message body ends, across as many buffers as it takes, without copying it:
 * chunk data is skipped by arithmetic and only size lines and trailer fields are read.
 *
 * <p>Lenient like a client decoder: chunk extensions are skipped, lines may end in CRLF or bare LF
 * and trailer fields are not interpreted. A size line longer than 8 KiB, a trailer section longer
 * than 64 KiB, a size of more than 16 hex digits or beyond a long, or a missing line end after
 * chunk data is {@link #MALFORMED}. Call {@link #reset()} before each body.
 */
public final class ChunkedBodyScanner {
  public static final int NEED_MORE = -1;
  public static final int MALFORMED = -2;

  private static final int MAX_SIZE_LINE = 8 * 1024;
  private static final int MAX_TRAILERS = 64 * 1024;

  private static final int SIZE = 0; // reading hex digits
  private static final int SIZE_REST = 1; // past the digits: BWS, extensions, up to the line end
  private static final int SIZE_LF = 2; // the size line's CR seen
  private static final int DATA = 3; // chunk data, remaining bytes in `remaining`
  private static final int DATA_END = 4; // CRLF or LF after chunk data
  private static final int DATA_LF = 5; // its CR seen
  private static final int TRAILER_START = 6; // at the start of a trailer line or the last line
  private static final int TRAILER = 7; // within a trailer field line
  private static final int TRAILER_LF = 8; // a trailer field line's CR seen
  private static final int LAST_LF = 9; // the final line's CR seen
  private static final int DONE = 10;
  private static final int BROKEN = 11;

  private int state;
  private long size;
  private int digits;
  private long remaining;
  private int lineBytes;
  private int trailerBytes;
  private String malformation;

  /** Makes the scanner ready for a new body. */
  public void reset() {
    state = SIZE;
    size = 0;
    digits = 0;
    remaining = 0;
    lineBytes = 0;
    trailerBytes = 0;
    malformation = null;
  }

  /**
   * Scans bytes [from, to) of buf, continuing from earlier calls: returns the index just past the
   * end of the chunked body (last-chunk "0", trailer fields, final CRLF), NEED_MORE when it goes on
   * past {@code to}, MALFORMED on bad syntax. Does not move the buffer's indexes.
   */
  public int scan(ByteBuf buf, int from, int to) {
    if (state == DONE) {
      throw new IllegalStateException("the body has ended; reset() before the next one");
    }
    if (state == BROKEN) {
      return MALFORMED;
    }
    int p = from;
    while (p < to) {
      if (state == DATA) {
        // Skip the data without looking at it.
        long n = Math.min(remaining, to - p);
        p += (int) n;
        remaining -= n;
        if (remaining == 0) {
          state = DATA_END;
        }
        continue;
      }
      byte b = buf.getByte(p++);
      if (state >= TRAILER_START && ++trailerBytes > MAX_TRAILERS) {
        return fail("trailer section longer than " + MAX_TRAILERS + " bytes");
      }
      switch (state) {
        case SIZE: {
          int d = hex(b);
          if (d >= 0) {
            if (++digits > 16 || size > (Long.MAX_VALUE >> 4)) {
              return fail("chunk size too large");
            }
            size = size << 4 | d;
          } else if (digits == 0) {
            return fail("chunk size is not hexadecimal");
          } else if (b == ';' || b == ' ' || b == '\t') {
            state = SIZE_REST;
          } else if (b == '\r') {
            state = SIZE_LF;
          } else if (b == '\n') {
            endSizeLine();
          } else {
            return fail("chunk size is not hexadecimal");
          }
          if (++lineBytes > MAX_SIZE_LINE) {
            return fail("chunk size line longer than " + MAX_SIZE_LINE + " bytes");
          }
          break;
        }
        case SIZE_REST:
          if (b == '\r') {
            state = SIZE_LF;
          } else if (b == '\n') {
            endSizeLine();
          } else if (b < 0x20 && b != '\t' || b == 0x7F) {
            return fail("control character in a chunk extension");
          }
          if (++lineBytes > MAX_SIZE_LINE) {
            return fail("chunk size line longer than " + MAX_SIZE_LINE + " bytes");
          }
          break;
        case SIZE_LF:
          if (b != '\n') {
            return fail("bare CR in a chunk size line");
          }
          endSizeLine();
          break;
        case DATA_END:
          if (b == '\r') {
            state = DATA_LF;
          } else if (b == '\n') {
            startSizeLine();
          } else {
            return fail("no line end after chunk data");
          }
          break;
        case DATA_LF:
          if (b != '\n') {
            return fail("no line end after chunk data");
          }
          startSizeLine();
          break;
        case TRAILER_START:
          if (b == '\n') {
            state = DONE;
            return p;
          }
          state = b == '\r' ? LAST_LF : TRAILER;
          if (state == TRAILER && (b == ' ' || b == '\t' || b == ':')) {
            return fail("invalid trailer field line");
          }
          break;
        case LAST_LF:
          if (b != '\n') {
            return fail("bare CR after the last chunk");
          }
          state = DONE;
          return p;
        case TRAILER:
          if (b == '\r') {
            state = TRAILER_LF;
          } else if (b == '\n') {
            state = TRAILER_START;
          } else if (b < 0x20 && b != '\t' || b == 0x7F) {
            return fail("control character in a trailer field");
          }
          break;
        case TRAILER_LF:
          if (b != '\n') {
            return fail("bare CR in a trailer field");
          }
          state = TRAILER_START;
          break;
        default:
          throw new IllegalStateException("state " + state);
      }
    }
    return NEED_MORE;
  }

  private void endSizeLine() {
    if (size == 0) {
      state = TRAILER_START;
    } else {
      remaining = size;
      state = DATA;
    }
  }

  private void startSizeLine() {
    state = SIZE;
    size = 0;
    digits = 0;
    lineBytes = 0;
  }

  private int fail(String why) {
    malformation = why;
    state = BROKEN;
    return MALFORMED;
  }

  private static int hex(byte b) {
    if (b >= '0' && b <= '9') {
      return b - '0';
    }
    if (b >= 'a' && b <= 'f') {
      return b - 'a' + 10;
    }
    if (b >= 'A' && b <= 'F') {
      return b - 'A' + 10;
    }
    return -1;
  }

  /** Why the last scan answered MALFORMED, a short phrase naming the problem. */
  public String malformation() {
    return malformation;
  }
}
