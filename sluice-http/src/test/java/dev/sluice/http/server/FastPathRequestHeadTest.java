package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.wire.RequestHead;
import dev.sluice.testing.LeakDetection;
import dev.sluice.testing.LeakDetectionExtension;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Property: the fast path's {@link RequestHead} accepts only heads that the standard path (Netty's
 * decoder as the server configures it, then {@link RequestValidator#check}) accepts too, and reads
 * them the same way: method, target, header lines in order, body length and keep-alive. Plain
 * valid heads are accepted.
 */
class FastPathRequestHeadTest {
  private static final HttpServerSettings SETTINGS = TestServers.settings()
      .maxInitialLineLength(200)
      .maxHeaderSize(600)
      .maxHeaderCount(12)
      .build();

  /** How many generated heads the fast path accepted, to see that the property had teeth. */
  private static final int[] accepted = new int[1];

  @BeforeContainer
  static void watchLeaks() {
    new LeakDetectionExtension().beforeAll(null);
  }

  @AfterContainer
  static void noLeaks() {
    assertThat(accepted[0]).as("mutated heads accepted").isGreaterThan(300);
    for (int round = 0; round < 3; round++) {
      System.gc();
      for (int i = 0; i < 64; i++) {
        PooledByteBufAllocator.DEFAULT.buffer(8).release();
      }
    }
    assertThat(LeakDetection.drain()).as("buffer leaks").isEmpty();
  }

  private static RequestHead newHead() {
    return new RequestHead(SETTINGS.maxInitialLineLength(), SETTINGS.maxHeaderSize(),
        SETTINGS.maxHeaderCount());
  }

  @Property(tries = 3000, shrinking = ShrinkingMode.BOUNDED)
  void whatTheFastPathAcceptsTheStandardPathAcceptsAlike(@ForAll("heads") byte[] bytes) {
    RequestHead head = newHead();
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer(bytes.length + 3);
    try {
      buf.writeBytes(new byte[] {'x', 'y', 'z'}).readerIndex(3);
      buf.writeBytes(bytes);
      int length = head.parse(buf);
      assertThat(buf.readerIndex()).isEqualTo(3);
      if (length > 0) {
        accepted[0]++;
        assertStandardPathAgrees(head, buf, length);
      } else {
        assertThat(length).isIn(RequestHead.NEED_MORE, RequestHead.DECLINED);
      }
    } finally {
      buf.release();
    }
  }

  @Property(tries = 1000)
  void plainValidHeadsAreAccepted(@ForAll("validHeads") String request) {
    RequestHead head = newHead();
    ByteBuf buf = Unpooled.copiedBuffer(request, StandardCharsets.ISO_8859_1);
    try {
      assertThat(head.parse(buf)).as(request).isEqualTo(request.length());
      assertStandardPathAgrees(head, buf, request.length());
    } finally {
      buf.release();
    }
  }

  /** Feeds the head and its declared body to the server's decoder and compares what it reads. */
  private static void assertStandardPathAgrees(RequestHead head, ByteBuf buf, int length) {
    String shown = buf.toString(buf.readerIndex(), length, StandardCharsets.ISO_8859_1);
    EmbeddedChannel ch = new EmbeddedChannel(
        new HttpRequestDecoder(RequestValidator.decoderConfig(SETTINGS)));
    List<Object> read = new ArrayList<>();
    try {
      long bodyLength = Math.max(0, head.contentLength());
      int fed = (int) Math.min(bodyLength, 4096);
      ByteBuf in = ch.alloc().buffer(length + fed);
      in.writeBytes(buf, buf.readerIndex(), length).writeZero(fed);
      ch.writeInbound(in);
      for (Object o; (o = ch.readInbound()) != null; ) {
        read.add(o);
      }
      assertThat(read).as("decoded from %s", shown).isNotEmpty();
      assertThat(read.get(0)).isInstanceOf(HttpRequest.class);
      HttpRequest req = (HttpRequest) read.get(0);
      assertThat(req.decoderResult().isSuccess()).as("decoded %s: %s", shown, req.decoderResult())
          .isTrue();
      assertThat(RequestValidator.check(req)).as("validator on %s", shown).isNull();
      assertThat(req.method()).isEqualTo(head.method());
      assertThat(req.uri()).isEqualTo(head.target());
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < head.headerCount(); i++) {
        expected.add(buf.toString(head.nameStart(i), head.nameEnd(i) - head.nameStart(i),
            StandardCharsets.ISO_8859_1) + "=" + head.value(i));
      }
      List<String> actual = new ArrayList<>();
      for (Map.Entry<String, String> e : req.headers()) {
        actual.add(e.getKey() + "=" + e.getValue());
      }
      assertThat(actual).as("headers of %s", shown).containsExactlyElementsOf(expected);
      assertThat(req.headers().size()).isLessThanOrEqualTo(SETTINGS.maxHeaderCount());
      assertThat(HttpUtil.getContentLength(req, -1L)).isEqualTo(head.contentLength());
      assertThat(HttpUtil.isKeepAlive(req)).isEqualTo(head.keepAlive());
      assertThat(HttpUtil.isTransferEncodingChunked(req)).isFalse();
      if (fed == bodyLength) {
        long content = 0;
        for (Object o : read.subList(1, read.size())) {
          assertThat(o).isInstanceOf(HttpContent.class);
          assertThat(((HttpContent) o).decoderResult().isSuccess()).isTrue();
          content += ((HttpContent) o).content().readableBytes();
        }
        assertThat(content).isEqualTo(bodyLength);
        assertThat(read.get(read.size() - 1)).as("message ended").isInstanceOf(
            LastHttpContent.class);
      }
    } finally {
      for (Object o : read) {
        ReferenceCountUtil.release(o);
      }
      ch.finishAndReleaseAll();
    }
  }

  // Generators: plain valid heads, and heads mutated in the ways that smuggling and lenient
  // parsers care about.

  private static final String TCHARS =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";

  private static Arbitrary<String> token(int max) {
    return Arbitraries.strings().withChars(TCHARS.toCharArray()).ofMinLength(1).ofMaxLength(max);
  }

  private static Arbitrary<String> fieldValue() {
    return Arbitraries.strings().withCharRange(' ', '~').withChars('\t').ofMaxLength(30);
  }

  private static Arbitrary<String> target() {
    return Arbitraries.strings().withCharRange('!', '~').ofMaxLength(40).map(s -> "/" + s);
  }

  private static Arbitrary<String> header() {
    return Arbitraries.oneOf(
        Combinators.combine(token(20), fieldValue()).as((n, v) -> n + ": " + v),
        Combinators.combine(token(20), fieldValue()).as((n, v) -> n + ":" + v),
        Arbitraries.of("Accept: */*", "Connection: close", "Connection: keep-alive, X-A",
            "X-A: 1", "Keep-Alive: timeout=5", "TE: trailers", "User-Agent: t/1.0 (x; y)",
            "Content-Length: 0", "Content-Length: 17", "Cookie: a=b; c=d", "Trailer: X"));
  }

  @Provide
  Arbitrary<String> validHeads() {
    Arbitrary<String> method = Arbitraries.oneOf(
        Arbitraries.of("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"),
        token(10).filter(t -> !t.equals("CONNECT")));
    Arbitrary<String> host = Arbitraries.strings()
        .withChars("abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:[]".toCharArray())
        .ofMaxLength(30);
    return Combinators.combine(method, target(), host, header().list().ofMaxSize(8),
        Arbitraries.integers().between(0, 8))
        .as((m, t, h, headers, hostAt) -> {
          List<String> lines = new ArrayList<>();
          boolean hasLength = false;
          for (String line : headers) {
            boolean isLength = line.regionMatches(true, 0, "content-length:", 0, 15);
            boolean isHost = line.regionMatches(true, 0, "host:", 0, 5);
            boolean banned = line.regionMatches(true, 0, "transfer-encoding:", 0, 18)
                || line.regionMatches(true, 0, "upgrade:", 0, 8)
                || line.regionMatches(true, 0, "expect:", 0, 7)
                || line.regionMatches(true, 0, "http2-settings:", 0, 15)
                || line.regionMatches(true, 0, "sec-websocket-key", 0, 17);
            if (!isHost && !banned && !(isLength && hasLength)) {
              lines.add(line);
              hasLength |= isLength;
            }
          }
          lines.add(Math.min(hostAt, lines.size()), "Host: " + h);
          return m + " " + t + " HTTP/1.1\r\n" + String.join("\r\n", lines) + "\r\n\r\n";
        });
  }

  private static final String[] PIECES = {
    "\r\n", "\n", "\r", " ", "\t", ":", " :", "\u0000", "\u007f", "\u00ff", "\u000b", ",", "?",
    "Host: x\r\n", "host: y\r\n", "Host: a b\r\n", "Content-Length: 5\r\n", "Content-Length: 5\r\n",
    "Content-Length: +5\r\n", "Content-Length: 5, 5\r\n", "Transfer-Encoding: chunked\r\n",
    "Upgrade: h2c\r\n", "Expect: 100-continue\r\n", "Sec-WebSocket-Key1: a\r\n", " folded\r\n",
    "\tfolded\r\n", "X : y\r\n", "Connection: close, X\r\n", "HTTP/1.0", "HTTP/2.0", "http/1.1",
    "CONNECT", "*", "http://x", "x@y", "%", "#", "\u00e9",
  };

  private enum Op { INSERT_BYTE, REPLACE_BYTE, DELETE_BYTE, INSERT_PIECE, REPLACE_WITH_PIECE,
    DUPLICATE_LINE, BARE_LF, TRUNCATE }

  @Provide
  Arbitrary<byte[]> heads() {
    Arbitrary<Object[]> mutation = Combinators.combine(Arbitraries.of(Op.values()),
        Arbitraries.doubles().between(0, 1), Arbitraries.of(PIECES),
        Arbitraries.oneOf(Arbitraries.of('\r', '\n', ' ', '\t', ':', '\u0000', '\u007f', '\u0080',
            '\u00ff', '/', ','), Arbitraries.chars().range('\u0000', '\u00ff')))
        .as((op, where, piece, c) -> new Object[] {op, where, piece, c});
    return Combinators.combine(validHeads(), mutation.list().ofMinSize(0).ofMaxSize(3))
        .as(FastPathRequestHeadTest::mutate);
  }

  private static byte[] mutate(String valid, List<Object[]> mutations) {
    StringBuilder s = new StringBuilder(valid);
    for (Object[] m : mutations) {
      int at = (int) ((double) m[1] * s.length());
      String piece = (String) m[2];
      char c = (char) m[3];
      switch ((Op) m[0]) {
        case INSERT_BYTE:
          s.insert(at, c);
          break;
        case REPLACE_BYTE:
          if (at < s.length()) {
            s.setCharAt(at, c);
          }
          break;
        case DELETE_BYTE:
          if (at < s.length()) {
            s.deleteCharAt(at);
          }
          break;
        case INSERT_PIECE: {
          // At a line start mostly, where whole header lines make sense.
          int nl = s.indexOf("\n", at);
          s.insert(nl < 0 ? at : nl + 1, piece);
          break;
        }
        case REPLACE_WITH_PIECE:
          s.replace(at, Math.min(s.length(), at + piece.length()), piece);
          break;
        case DUPLICATE_LINE: {
          int start = s.lastIndexOf("\n", Math.max(0, at - 1)) + 1;
          int end = s.indexOf("\n", at);
          if (end > start) {
            s.insert(start, s.substring(start, end + 1));
          }
          break;
        }
        case BARE_LF: {
          int crlf = s.indexOf("\r\n", at);
          if (crlf >= 0) {
            s.deleteCharAt(crlf);
          }
          break;
        }
        case TRUNCATE:
          s.setLength(at);
          break;
        default:
          throw new AssertionError(m[0]);
      }
    }
    return s.toString().getBytes(StandardCharsets.ISO_8859_1);
  }
}
