package dev.sluice.http.wire;

import static dev.sluice.http.wire.Bufs.PAD;
import static dev.sluice.http.wire.Bufs.text;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.AsciiString;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RequestHeadTest {
  private static final String GET = "GET /a/b?q=1&r HTTP/1.1\r\nHost: example.com:8080\r\n"
      + "Accept:  */* \t\r\nX-Empty:\r\n\r\n";

  private final Bufs bufs = new Bufs();
  private final RequestHead head = new RequestHead(64, 256, 8);

  @AfterEach
  void release() {
    bufs.close();
  }

  private int parse(String s) {
    ByteBuf b = bufs.of(s);
    int r = head.parse(b);
    assertThat(b.readerIndex()).as("reader index").isEqualTo(PAD);
    assertThat(b.writerIndex()).as("writer index").isEqualTo(PAD + s.length());
    return r;
  }

  private void assertDeclined(String s) {
    assertThat(parse(s)).as("%s", s).isEqualTo(RequestHead.DECLINED);
  }

  @Test
  void acceptsAPlainHeadAndTellsWhereEverythingIs() {
    ByteBuf b = bufs.of(GET);
    assertThat(head.parse(b)).isEqualTo(GET.length());
    assertThat(head.headLength()).isEqualTo(GET.length());
    assertThat(head.method()).isSameAs(HttpMethod.GET);
    assertThat(head.target()).isEqualTo("/a/b?q=1&r");
    assertThat(text(b, head.targetStart(), head.targetEnd())).isEqualTo("/a/b?q=1&r");
    assertThat(text(b, head.targetStart(), head.pathEnd())).isEqualTo("/a/b");
    assertThat(head.headerCount()).isEqualTo(3);
    assertThat(text(b, head.lineStart(0), head.lineEnd(0)))
        .isEqualTo("Host: example.com:8080\r\n");
    assertThat(text(b, head.nameStart(1), head.nameEnd(1))).isEqualTo("Accept");
    assertThat(text(b, head.valueStart(1), head.valueEnd(1))).isEqualTo("*/*");
    assertThat(head.value(1)).isEqualTo("*/*");
    assertThat(head.value(2)).isEmpty();
    assertThat(text(b, head.lineStart(2), head.lineEnd(2))).isEqualTo("X-Empty:\r\n");
    assertThat(head.lineEnd(2) + 2).isEqualTo(PAD + GET.length());
    assertThat(head.host()).isEqualTo("example.com:8080");
    assertThat(head.contentLength()).isEqualTo(-1);
    assertThat(head.keepAlive()).isTrue();
    assertThat(head.indexOf(AsciiString.cached("accept"))).isEqualTo(1);
    assertThat(head.indexOf(AsciiString.cached("host"))).isZero();
    assertThat(head.indexOf(AsciiString.cached("accept-encoding"))).isEqualTo(-1);
  }

  @Test
  void pathEndIsTargetEndWithoutAQuery() {
    ByteBuf b = bufs.of("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assertThat(head.parse(b)).isPositive();
    assertThat(head.pathEnd()).isEqualTo(head.targetEnd()).isEqualTo(PAD + 6);
  }

  @Test
  void standardMethodsAreNettysConstantsAndOthersAreMade() {
    for (HttpMethod m : new HttpMethod[] {HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT,
        HttpMethod.HEAD, HttpMethod.DELETE, HttpMethod.OPTIONS, HttpMethod.PATCH,
        HttpMethod.TRACE}) {
      assertThat(parse(m.name() + " / HTTP/1.1\r\nHost: h\r\n\r\n")).isPositive();
      assertThat(head.method()).isSameAs(m);
    }
    assertThat(parse("PURGE / HTTP/1.1\r\nHost: h\r\n\r\n")).isPositive();
    assertThat(head.method().name()).isEqualTo("PURGE");
    assertThat(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n")).isPositive();
    assertThat(head.method().name()).isEqualTo("get");
  }

  @Test
  void contentLengthOfOneToEighteenDigits() {
    assertThat(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42 \r\n\r\n")).isPositive();
    assertThat(head.contentLength()).isEqualTo(42);
    assertThat(parse("POST / HTTP/1.1\r\nHost: h\r\ncontent-length:007\r\n\r\n")).isPositive();
    assertThat(head.contentLength()).isEqualTo(7);
    assertThat(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999\r\n\r\n"))
        .isPositive();
    assertThat(head.contentLength()).isEqualTo(999_999_999_999_999_999L);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "1234567890123456789", "+5", "-1", "5,5", "5 5", "0x5", "5a"})
  void declinesOtherContentLengths(String value) {
    assertDeclined("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + value + "\r\n\r\n");
  }

  @Test
  void declinesASecondContentLengthEvenWhenEqual() {
    assertDeclined("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  }

  @ParameterizedTest
  @ValueSource(strings = {
    "GET / HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    "GET / http/1.1\r\nHost: h\r\n\r\n",
    "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
    "GET /\r\nHost: h\r\n\r\n",
    "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /  HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /\u007f HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /\u00e9 HTTP/1.1\r\nHost: h\r\n\r\n",
    "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
    " GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET / HTTP/1.1\nHost: h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\n\n",
    "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\n\rX",
    "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
    "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: a\u000bb\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: a\u007fb\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nX: caf\u00e9\r\n\r\n",
    "GET / HTTP/1.1\r\nX: y\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nhost: other\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: user@h\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: identity\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key1: 1\r\nSec-WebSocket-Key2: 2\r\n\r\n",
  })
  void declinesWhatTheStandardPathMustRead(String request) {
    assertDeclined(request);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "[::1]:80", "a-b.c_d~e%20!$&'()*+,;=:80", "EXAMPLE.com"})
  void acceptsHostsOfAuthorityCharacters(String host) {
    assertThat(parse("GET / HTTP/1.1\r\nHost: " + host + " \r\n\r\n")).isPositive();
    assertThat(head.host()).isEqualTo(host);
  }

  @Test
  void connectionTokensMakeHeadersHopByHopAndCloseEndsKeepAlive() {
    String s = "GET / HTTP/1.1\r\nHost: h\r\nConnection: , X-Secret ,keep-alive\r\n"
        + "x-secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X\r\n"
        + "Proxy-Connection: x\r\nProxy-Authenticate: y\r\nX-Other: 2\r\n\r\n";
    RequestHead roomy = new RequestHead(64, 1024, 20);
    assertThat(roomy.parse(bufs.of(s))).isEqualTo(s.length());
    assertThat(roomy.keepAlive()).isTrue();
    boolean[] hop = new boolean[roomy.headerCount()];
    for (int i = 0; i < hop.length; i++) {
      hop[i] = roomy.hopByHop(i);
    }
    assertThat(hop).containsExactly(false, true, true, true, true, true, true, false, false);

    assertThat(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n")).isPositive();
    assertThat(head.keepAlive()).isFalse();
    assertThat(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n")).isPositive();
    assertThat(head.keepAlive()).isTrue();
  }

  @Test
  void splitHeadNeedsMoreUntilItsLastByte() {
    for (int n = 0; n < GET.length(); n++) {
      assertThat(parse(GET.substring(0, n))).as("first %d bytes", n)
          .isEqualTo(RequestHead.NEED_MORE);
    }
    assertThat(parse(GET)).isEqualTo(GET.length());
    assertThat(head.host()).isEqualTo("example.com:8080");
  }

  @Test
  void onlyTheFirstOfPipelinedHeadsIsRead() {
    String first = "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    String rest = "abcGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    assertThat(parse(first + rest)).isEqualTo(first.length());
    assertThat(head.target()).isEqualTo("/1");
    assertThat(head.headerCount()).isEqualTo(2);
    assertThat(head.contentLength()).isEqualTo(3);
  }

  @Test
  void requestLineUpToItsLimit() {
    String target = "/" + "a".repeat(64 - "GET  HTTP/1.1".length() - 1);
    String line = "GET " + target + " HTTP/1.1";
    assertThat(line).hasSize(64);
    assertThat(parse(line + "\r\nHost: h\r\n\r\n")).isPositive();
    assertDeclined("GET " + target + "a HTTP/1.1\r\nHost: h\r\n\r\n");
    // Incomplete, but already longer than allowed: no need to wait for the rest.
    assertDeclined("GET " + target + "a".repeat(10));
    assertThat(parse(line)).isEqualTo(RequestHead.NEED_MORE);
    assertThat(parse(line + "\r")).isEqualTo(RequestHead.NEED_MORE);
  }

  @Test
  void headerBytesUpToTheirLimit() {
    String prefix = "GET / HTTP/1.1\r\nHost: h\r\n"; // Host line: 7 bytes without CRLF
    String fill = "X: " + "v".repeat(256 - 7 - 3);
    assertThat(parse(prefix + fill + "\r\n\r\n")).isPositive();
    assertDeclined(prefix + fill + "v\r\n\r\n");
    assertDeclined(prefix + fill + "vv");
    assertThat(parse(prefix + fill + "\r")).isEqualTo(RequestHead.NEED_MORE);
  }

  @Test
  void headerCountUpToItsLimit() {
    StringBuilder s = new StringBuilder("GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < 8; i++) {
      s.append("X").append(i).append(": v\r\n");
    }
    assertThat(parse(s + "\r\n")).isPositive();
    assertThat(head.headerCount()).isEqualTo(8);
    assertDeclined(s + "X8: v\r\n\r\n");
  }

  @Test
  void manyLinesGrowTheOffsetsWhichTheNextParseReuses() {
    RequestHead big = new RequestHead(1024, 64 * 1024, 1000);
    StringBuilder s = new StringBuilder("GET / HTTP/1.1\r\n");
    for (int i = 0; i < 300; i++) {
      s.append("X-").append(i).append(": ").append(i).append("\r\n");
    }
    s.append("Host: h\r\n\r\n");
    ByteBuf b = bufs.of(s.toString());
    assertThat(big.parse(b)).isEqualTo(s.length());
    assertThat(big.headerCount()).isEqualTo(301);
    assertThat(big.value(299)).isEqualTo("299");
    assertThat(big.host()).isEqualTo("h");
    ByteBuf small = bufs.of("GET /s HTTP/1.1\r\nHost: s\r\n\r\n");
    assertThat(big.parse(small)).isPositive();
    assertThat(big.headerCount()).isEqualTo(1);
    assertThat(big.host()).isEqualTo("s");
    assertThat(big.target()).isEqualTo("/s");
  }

  @Test
  void aDeclinedParseLeavesNoHead() {
    assertThat(parse(GET)).isPositive();
    assertDeclined("GET / HTTP/1.0\r\n\r\n");
    assertThat(head.headerCount()).isZero();
    assertThat(head.headLength()).isZero();
  }
}
