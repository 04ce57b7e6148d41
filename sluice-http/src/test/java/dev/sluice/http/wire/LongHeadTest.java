package dev.sluice.http.wire;

import static dev.sluice.http.wire.Bufs.PAD;
import static dev.sluice.http.wire.Bufs.text;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.util.AsciiString;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Heads longer than the parsers' first copy of the bytes, alone in the buffer, followed by body
 * bytes and cut anywhere: the answer must be the one the whole buffer gives.
 */
class LongHeadTest {
  private static final String BODY = "b".repeat(20_000);

  private final Bufs bufs = new Bufs();

  @AfterEach
  void release() {
    bufs.close();
  }

  private static String request(int cookieLength) {
    return "GET /long HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
        + "Cookie: " + "c".repeat(cookieLength) + "\r\nConnection: close\r\n\r\n";
  }

  private static String response(int cookieLength) {
    return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: " + "c".repeat(cookieLength)
        + "\r\nConnection: keep-alive\r\n\r\n";
  }

  @Test
  void aLongRequestHeadIsReadWholeWithOrWithoutABodyAfterIt() {
    RequestHead head = new RequestHead(100, 16_384, 10);
    String s = request(5_000);
    for (String bytes : new String[] {s, s + BODY}) {
      ByteBuf b = bufs.of(bytes);
      assertThat(head.parse(b)).isEqualTo(s.length());
      assertThat(head.headerCount()).isEqualTo(4);
      assertThat(head.value(2)).isEqualTo("c".repeat(5_000));
      assertThat(text(b, head.lineStart(3), head.lineEnd(3))).isEqualTo("Connection: close\r\n");
      assertThat(head.lineEnd(3)).isEqualTo(PAD + s.length() - 2);
      assertThat(head.indexOf(AsciiString.cached("connection"))).isEqualTo(3);
      assertThat(head.keepAlive()).isFalse();
      assertThat(head.host()).isEqualTo("example.com");
    }
  }

  @Test
  void aLongRequestHeadCutAnywhereNeedsMore() {
    RequestHead head = new RequestHead(100, 16_384, 10);
    String s = request(3_000);
    for (int cut = 0; cut < s.length(); cut++) {
      assertThat(head.parse(bufs.of(s.substring(0, cut)))).as("cut at %d", cut)
          .isEqualTo(RequestHead.NEED_MORE);
    }
  }

  @Test
  void requestHeadLimitsHoldWhateverFollowsTheHead() {
    // Header lines without their CRLFs: 17 + 11 + 8 + n + 17 bytes.
    int fits = 3_000 - 17 - 11 - 8 - 17;
    RequestHead head = new RequestHead(100, 3_000, 10);
    for (String tail : new String[] {"", BODY}) {
      assertThat(head.parse(bufs.of(request(fits) + tail))).isEqualTo(request(fits).length());
      assertThat(head.parse(bufs.of(request(fits + 1) + tail))).isEqualTo(RequestHead.DECLINED);
    }
    // An incomplete head is refused as soon as its header bytes pass the limit (3,001 bytes in
    // the last line's 17th byte), waited for up to then.
    assertThat(head.parse(bufs.of(request(fits + 1).substring(0, 3_027))))
        .isEqualTo(RequestHead.DECLINED);
    assertThat(head.parse(bufs.of(request(fits + 1).substring(0, 3_026))))
        .isEqualTo(RequestHead.NEED_MORE);
  }

  @Test
  void aLongResponseHeadIsReadWholeWithOrWithoutABodyAfterIt() {
    ResponseHead head = new ResponseHead(8_192, 10);
    String s = response(5_000);
    for (String bytes : new String[] {s, s + BODY}) {
      ByteBuf b = bufs.of(bytes);
      assertThat(head.parse(b)).isEqualTo(s.length());
      assertThat(head.headerCount()).isEqualTo(3);
      assertThat(head.value(1)).isEqualTo("c".repeat(5_000));
      assertThat(text(b, head.lineStart(2), head.lineEnd(2)))
          .isEqualTo("Connection: keep-alive\r\n");
      assertThat(head.statusLineEnd()).isEqualTo(PAD + 17);
      assertThat(head.contentLength()).isEqualTo(5);
      assertThat(head.keepAlive()).isTrue();
    }
    for (int cut = 0; cut < 3_000; cut++) {
      assertThat(head.parse(bufs.of(response(3_000).substring(0, cut)))).as("cut at %d", cut)
          .isEqualTo(ResponseHead.NEED_MORE);
    }
  }

  @Test
  void responseHeadLimitHoldsWhateverFollowsTheHead() {
    ResponseHead head = new ResponseHead(8_192, 10);
    int fits = 8_192 - response(0).length();
    assertThat(head.parse(bufs.of(response(fits) + BODY))).isEqualTo(8_192);
    assertThat(head.parse(bufs.of(response(fits + 1) + BODY))).isEqualTo(ResponseHead.MALFORMED);
    assertThat(head.malformation()).isEqualTo("response head larger than 8192 bytes");
    assertThat(head.parse(bufs.of(response(fits + 1).substring(0, 8_192))))
        .isEqualTo(ResponseHead.NEED_MORE);
  }

  @Test
  void knownNamesAreToldFromTheirNearNeighbours() {
    RequestHead head = new RequestHead(100, 4_096, 10);
    String line = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (String other : new String[] {"HOSX: 1", "Gost: 1", "Content-Lengtx: x",
        "Sec-WebSocket-Key3: x", "Tf: x", "Upgradx: x", "Expecx: x", "Transfer-Encodinx: x"}) {
      assertThat(head.parse(bufs.of(line + other + "\r\n\r\n"))).as(other).isPositive();
      assertThat(head.hopByHop(1)).as(other).isFalse();
    }
    for (String declined : new String[] {"HOST: g", "content-LENGTH: x", "SEC-websocket-key1: x",
        "Sec-WebSocket-Key2: x", "UPGRADE: x", "Expect: x", "TRANSFER-encoding: x",
        "Http2-Settings: x"}) {
      assertThat(head.parse(bufs.of(line + declined + "\r\n\r\n"))).as(declined)
          .isEqualTo(RequestHead.DECLINED);
    }
    for (String hop : new String[] {"TE: x", "Trailer: x", "KEEP-ALIVE: x",
        "Proxy-Connection: x", "connection: x"}) {
      assertThat(head.parse(bufs.of(line + hop + "\r\n\r\n"))).as(hop).isPositive();
      assertThat(head.hopByHop(1)).as(hop).isTrue();
    }
  }
}
