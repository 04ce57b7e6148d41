package dev.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.LeakDetection;
import dev.sluice.testing.LeakDetectionExtension;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

class ChunkedBodyScannerTest {
  private static final String NEXT = "HTTP/1.1 200 OK\r\n\r\n";

  @BeforeContainer
  static void watchLeaks() {
    new LeakDetectionExtension().beforeAll(null);
  }

  @AfterContainer
  static void noLeaks() {
    for (int round = 0; round < 3; round++) {
      System.gc();
      for (int i = 0; i < 64; i++) {
        PooledByteBufAllocator.DEFAULT.buffer(8).release();
      }
    }
    assertThat(LeakDetection.drain()).as("buffer leaks").isEmpty();
  }

  /** Scans the whole of s at once from index 3 of a buffer; the answer is relative to s. */
  private static int scan(ChunkedBodyScanner scanner, String s) {
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer();
    try {
      buf.writeBytes("abc".getBytes(StandardCharsets.US_ASCII));
      buf.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
      int r = scanner.scan(buf, 3, buf.writerIndex());
      assertThat(buf.readerIndex()).isZero();
      return r < 0 ? r : r - 3;
    } finally {
      buf.release();
    }
  }

  private static int scan(String s) {
    ChunkedBodyScanner scanner = new ChunkedBodyScanner();
    scanner.reset();
    return scan(scanner, s);
  }

  @Example
  void findsTheEndOfPlainAndLenientBodies() {
    String[] bodies = {
      "5\r\nhello\r\n0\r\n\r\n",
      "0\r\n\r\n",
      "5;name=\"v;x\" ; other\r\nhello\r\n0;last\r\n\r\n",
      "5 ;ext\r\nhello\r\n0\r\n\r\n",
      "a\nhelloworld\nA\r\n0123456789\r\n0\n\n",
      "000000000000000A\r\n0123456789\r\n0\r\n\r\n",
      "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1\n\r\n",
      "3\r\n\r\n\r\r\n0\r\n\r\n",
    };
    for (String body : bodies) {
      assertThat(scan(body + NEXT)).as(body).isEqualTo(body.length());
    }
  }

  @Example
  void needsMoreUntilTheLastLineEnd() {
    String body = "5\r\nhello\r\n0\r\nX: y\r\n\r\n";
    for (int n = 0; n < body.length(); n++) {
      assertThat(scan(body.substring(0, n))).as("%d bytes", n)
          .isEqualTo(ChunkedBodyScanner.NEED_MORE);
    }
  }

  @Example
  void skipsHugeChunksByArithmetic() {
    ChunkedBodyScanner scanner = new ChunkedBodyScanner();
    scanner.reset();
    assertThat(scan(scanner, "7FFFFFFFFFFFFFFF\r\n")).isEqualTo(ChunkedBodyScanner.NEED_MORE);
    ByteBuf data = PooledByteBufAllocator.DEFAULT.buffer(1 << 20).writeZero(1 << 20);
    try {
      for (int i = 0; i < 100; i++) {
        assertThat(scanner.scan(data, 0, data.writerIndex()))
            .isEqualTo(ChunkedBodyScanner.NEED_MORE);
      }
    } finally {
      data.release();
    }
  }

  @Example
  void malformedBodiesSayWhy() {
    String[][] cases = {
      {"\r\n", "chunk size is not hexadecimal"},
      {"x\r\n", "chunk size is not hexadecimal"},
      {"-1\r\n", "chunk size is not hexadecimal"},
      {"5x\r\n", "chunk size is not hexadecimal"},
      {"00000000000000005\r\n", "chunk size too large"},
      {"8000000000000000\r\n", "chunk size too large"},
      {"5\rX", "bare CR in a chunk size line"},
      {"5;a\u0000\r\n", "control character in a chunk extension"},
      {"5\r\nhelloX\r\n", "no line end after chunk data"},
      {"5\r\nhello\rX", "no line end after chunk data"},
      {"0\r\n\rX", "bare CR after the last chunk"},
      {"0\r\nX: a\rb\r\n\r\n", "bare CR in a trailer field"},
      {"0\r\nX: a\u0001\r\n\r\n", "control character in a trailer field"},
      {"0\r\n folded\r\n\r\n", "invalid trailer field line"},
      {"1;" + "e".repeat(8 * 1024) + "\r\n", "chunk size line longer than 8192 bytes"},
      {"0\r\n" + "X: y\r\n".repeat(11_000) + "\r\n", "trailer section longer than 65536 bytes"},
    };
    for (String[] c : cases) {
      ChunkedBodyScanner scanner = new ChunkedBodyScanner();
      scanner.reset();
      assertThat(scan(scanner, c[0])).as(c[0]).isEqualTo(ChunkedBodyScanner.MALFORMED);
      assertThat(scanner.malformation()).as(c[0]).isEqualTo(c[1]);
    }
  }

  @Example
  void resetStartsOver() {
    ChunkedBodyScanner scanner = new ChunkedBodyScanner();
    scanner.reset();
    assertThat(scan(scanner, "x")).isEqualTo(ChunkedBodyScanner.MALFORMED);
    scanner.reset();
    assertThat(scan(scanner, "0\r\n\r\n")).isEqualTo(5);
    scanner.reset();
    assertThat(scan(scanner, "2\r\nok\r\n0\r\n\r\n")).isEqualTo(12);
  }

  /** Random chunked bodies, followed by other bytes, split into two scans at every position. */
  @Property(tries = 300)
  void findsTheExactEndWhereverTheBytesAreSplit(@ForAll("bodies") String body) {
    byte[] bytes = (body + NEXT).getBytes(StandardCharsets.ISO_8859_1);
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer(bytes.length + 2);
    try {
      buf.writeZero(2).writeBytes(bytes);
      int end = buf.writerIndex();
      ChunkedBodyScanner scanner = new ChunkedBodyScanner();
      for (int split = 2; split <= 2 + body.length(); split++) {
        scanner.reset();
        int first = scanner.scan(buf, 2, split);
        if (split < 2 + body.length()) {
          assertThat(first).as("split at %d", split).isEqualTo(ChunkedBodyScanner.NEED_MORE);
          assertThat(scanner.scan(buf, split, end)).as("split at %d", split)
              .isEqualTo(2 + body.length());
        } else {
          assertThat(first).isEqualTo(2 + body.length());
        }
      }
      // And byte by byte.
      scanner.reset();
      int r = ChunkedBodyScanner.NEED_MORE;
      int p = 2;
      while (r == ChunkedBodyScanner.NEED_MORE && p < end) {
        r = scanner.scan(buf, p, p + 1);
        p++;
      }
      assertThat(r).isEqualTo(2 + body.length());
    } finally {
      buf.release();
    }
  }

  @Provide
  Arbitrary<String> bodies() {
    Arbitrary<String> eol = Arbitraries.of("\r\n", "\n");
    Arbitrary<String> ext = Arbitraries.of("", ";a=b", " ; q=\"x;y\"", ";z");
    Arbitrary<String> data = Arbitraries.strings().withCharRange('\u0000', '\u00ff')
        .ofMinLength(1).ofMaxLength(40);
    Arbitrary<String> chunk = Combinators.combine(data, ext, eol, eol, Arbitraries.of(true, false))
        .as((d, e, l1, l2, upper) -> {
          String size = Integer.toHexString(d.length());
          return (upper ? size.toUpperCase() : size) + e + l1 + d + l2;
        });
    Arbitrary<String> trailer = Arbitraries.of("", "X: 1\r\n", "Expires: 0\nY:\r\n");
    return Combinators.combine(chunk.list().ofMaxSize(5), ext, eol, trailer, eol)
        .as((List<String> chunks, String e, String l1, String t, String l2) ->
            String.join("", chunks) + "0" + e + l1 + t + l2);
  }
}
