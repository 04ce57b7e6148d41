package dev.sluice.http.wire;

import static dev.sluice.http.wire.Bufs.PAD;
import static dev.sluice.http.wire.Bufs.text;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.util.AsciiString;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ResponseHeadTest {
  private static final String OK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
      + "Content-Length: 5\r\nX-Note: caf\u00e9 \r\n\r\n";

  private final Bufs bufs = new Bufs();
  private final ResponseHead head = new ResponseHead(512, 8);

  @AfterEach
  void release() {
    bufs.close();
  }

  private int parse(String s) {
    ByteBuf b = bufs.of(s);
    int r = head.parse(b);
    assertThat(b.readerIndex()).isEqualTo(PAD);
    return r;
  }

  @Test
  void readsAPlainHead() {
    ByteBuf b = bufs.of(OK + "helloHTTP/1.1 204 No Content\r\n\r\n");
    assertThat(head.parse(b)).isEqualTo(OK.length());
    assertThat(head.headLength()).isEqualTo(OK.length());
    assertThat(head.status()).isEqualTo(200);
    assertThat(head.http10()).isFalse();
    assertThat(text(b, head.reasonStart(), head.reasonEnd())).isEqualTo("OK");
    assertThat(head.statusLineEnd()).isEqualTo(PAD + "HTTP/1.1 200 OK\r\n".length());
    assertThat(head.headerCount()).isEqualTo(3);
    assertThat(text(b, head.nameStart(1), head.nameEnd(1))).isEqualTo("Content-Length");
    assertThat(text(b, head.lineStart(2), head.lineEnd(2))).isEqualTo("X-Note: caf\u00e9 \r\n");
    assertThat(head.value(2)).isEqualTo("caf\u00e9");
    assertThat(head.indexOf(AsciiString.cached("content-type"))).isZero();
    assertThat(head.contentLength()).isEqualTo(5);
    assertThat(head.chunked()).isFalse();
    assertThat(head.transferEncoding()).isFalse();
    assertThat(head.keepAlive()).isTrue();
  }

  @Test
  void bareLineFeedsAndLeadingEmptyLines() {
    String s = "\r\n\nHTTP/1.0 404 Not Found\nConnection: Keep-Alive\nX: y\r\n\n";
    ByteBuf b = bufs.of(s);
    assertThat(head.parse(b)).isEqualTo(s.length());
    assertThat(head.status()).isEqualTo(404);
    assertThat(head.http10()).isTrue();
    assertThat(text(b, head.reasonStart(), head.reasonEnd())).isEqualTo("Not Found");
    assertThat(text(b, head.lineStart(0), head.lineEnd(0))).isEqualTo("Connection: Keep-Alive\n");
    assertThat(head.keepAlive()).isTrue();
    assertThat(head.hopByHop(0)).isTrue();
    assertThat(head.hopByHop(1)).isFalse();
  }

  @ParameterizedTest
  @ValueSource(strings = {"HTTP/1.1 200\r\n\r\n", "HTTP/1.1 200 \r\n\r\n", "HTTP/1.1 200  \t\r\n\r\n"})
  void reasonMayBeMissingOrEmpty(String s) {
    ByteBuf b = bufs.of(s);
    assertThat(head.parse(b)).isEqualTo(s.length());
    assertThat(head.reasonEnd()).isEqualTo(head.reasonStart());
    assertThat(head.statusLineEnd()).isEqualTo(PAD + s.length() - 2);
  }

  static Stream<Arguments> malformed() {
    return Stream.of(
        Arguments.of("HTTP/2.0 200 OK\r\n\r\n",
            "not an HTTP/1.x status line"),
        Arguments.of("HTTP/1.2 200 OK\r\n\r\n",
            "unsupported version in the status line"),
        Arguments.of("HTTP/1.1 20 OK\r\n\r\n",
            "status code is not three digits"),
        Arguments.of("HTTP/1.1 2000 OK\r\n\r\n",
            "invalid status line"),
        Arguments.of("HTTP/1.1 099 Odd\r\n\r\n",
            "status code below 100"),
        Arguments.of("ICY 200 OK\r\n\r\n",
            "not an HTTP/1.x status line"),
        Arguments.of("HTTP/1.1 200 O\u0001K\r\n\r\n",
            "invalid status line"),
        Arguments.of("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "obsolete line folding"),
        Arguments.of("HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
            "whitespace before the colon of a header"),
        Arguments.of("HTTP/1.1 200 OK\r\nX\r\n\r\n",
            "header line without a colon"),
        Arguments.of("HTTP/1.1 200 OK\r\n: a\r\n\r\n",
            "invalid header name"),
        Arguments.of("HTTP/1.1 200 OK\r\nX: a\u0000b\r\n\r\n",
            "control character in a header value"),
        Arguments.of("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
            "control character in a header value"),
        Arguments.of("HTTP/1.1 200 OK\r\nX: a\r\n\rX",
            "bare CR in the head"),
        Arguments.of("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "invalid Content-Length"),
        Arguments.of("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
            "invalid Content-Length"),
        Arguments.of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "differing Content-Length values"),
        Arguments.of("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            "invalid Content-Length"),
        Arguments.of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "chunked transfer coding given more than once"),
        Arguments.of("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "Transfer-Encoding in an HTTP/1.0 response"));
  }

  @ParameterizedTest
  @MethodSource("malformed")
  void malformedHeadsSayWhy(String s, String why) {
    assertThat(parse(s)).as(s).isEqualTo(ResponseHead.MALFORMED);
    assertThat(head.malformation()).isEqualTo(why);
  }

  @Test
  void equalContentLengthsAreOne() {
    assertThat(parse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\ncontent-length: 7, 7\r\n\r\n"))
        .isPositive();
    assertThat(head.contentLength()).isEqualTo(7);
  }

  @Test
  void transferEncodingDecidesTheFraming() {
    assertThat(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n"
        + "Content-Length: 3\r\n\r\n")).isPositive();
    assertThat(head.chunked()).isTrue();
    assertThat(head.transferEncoding()).isTrue();
    assertThat(head.contentLength()).isEqualTo(-1);
    assertThat(head.keepAlive()).isTrue();

    assertThat(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        + "Transfer-Encoding: gzip\r\n\r\n")).isEqualTo(ResponseHead.MALFORMED);
    assertThat(head.malformation()).isEqualTo("chunked is not the last transfer coding");

    assertThat(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")).isPositive();
    assertThat(head.chunked()).isFalse();
    assertThat(head.transferEncoding()).isTrue();
    assertThat(head.keepAlive()).as("the body ends with the connection").isFalse();
  }

  @Test
  void keepAliveByVersionAndConnection() {
    assertThat(parse("HTTP/1.0 200 OK\r\n\r\n")).isPositive();
    assertThat(head.keepAlive()).isFalse();
    assertThat(parse("HTTP/1.1 200 OK\r\nConnection: x, close\r\nX: 1\r\n\r\n")).isPositive();
    assertThat(head.keepAlive()).isFalse();
    assertThat(head.hopByHop(1)).isTrue();
  }

  @Test
  void splitHeadNeedsMoreUntilItsLastByte() {
    for (int n = 0; n < OK.length(); n++) {
      assertThat(parse(OK.substring(0, n))).as("first %d bytes", n)
          .isEqualTo(ResponseHead.NEED_MORE);
    }
    assertThat(parse(OK)).isEqualTo(OK.length());
  }

  @Test
  void limits() {
    String line = "HTTP/1.1 200 OK\r\n";
    String fill = "X: " + "v".repeat(512 - line.length() - 3 - 4) + "\r\n";
    assertThat(parse(line + fill + "\r\n")).isEqualTo(512);
    assertThat(parse(line + "X" + fill + "\r\n")).isEqualTo(ResponseHead.MALFORMED);
    assertThat(head.malformation()).isEqualTo("response head larger than 512 bytes");
    assertThat(parse(line + "X" + fill + "\r\n")).as("incomplete but too large")
        .isEqualTo(ResponseHead.MALFORMED);
    assertThat(parse(line + "X: 1\r\n".repeat(8) + "\r\n")).isPositive();
    assertThat(parse(line + "X: 1\r\n".repeat(9) + "\r\n")).isEqualTo(ResponseHead.MALFORMED);
    assertThat(head.malformation()).isEqualTo("more than 8 header lines");
  }
}
