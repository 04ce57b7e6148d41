package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request heads two servers could frame or route differently, sent as raw bytes: each is answered
 * with its status and a reason naming the problem, and the connection is closed; the valid edge
 * cases next to them are still served.
 */
class RequestSmugglingTest {
  private static final TestServers servers = new TestServers();
  private static final EchoHandlerFactory app = new EchoHandlerFactory();
  private static HttpServer server;

  @BeforeAll
  static void start() {
    server = servers.start(TestServers.settings(), app);
  }

  @AfterAll
  static void stop() {
    servers.close();
  }

  private static final String POST = "POST /p HTTP/1.1\r\nHost: x\r\n";
  private static final String CHUNKED = POST + "Transfer-Encoding: chunked\r\n\r\n";

  static Stream<Arguments> refused() {
    return Stream.of(
        bad("CL and TE", POST + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400, "both Content-Length and Transfer-Encoding"),
        bad("TE and CL", POST + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            400, "both Content-Length and Transfer-Encoding"),
        bad("CL twice, same value", POST + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nab",
            400, "Multiple Content-Length"),
        bad("CL twice, different values", POST + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400, "Multiple Content-Length"),
        bad("CL list", POST + "Content-Length: 1, 1\r\n\r\na", 400, "Multiple Content-Length"),
        bad("CL twice in HTTP/1.0",
            "POST /p HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nabcde",
            400, "more than one Content-Length"),
        bad("CL plus sign", POST + "Content-Length: +1\r\n\r\na", 400, "Content-Length"),
        bad("CL minus sign", POST + "Content-Length: -1\r\n\r\na", 400, "Content-Length"),
        bad("CL inner space", POST + "Content-Length: 1 1\r\n\r\na", 400, "Content-Length"),
        bad("CL vertical tab", POST + "Content-Length:\u000b1\r\n\r\na", 400, "separator"),
        bad("CL not digits", POST + "Content-Length: 1a\r\n\r\na", 400, "Content-Length"),
        bad("CL hex", POST + "Content-Length: 0x1\r\n\r\na", 400, "Content-Length"),
        bad("CL empty", POST + "Content-Length: \r\n\r\n", 400, "Content-Length"),
        bad("CL overflow", POST + "Content-Length: 99999999999999999999\r\n\r\n", 400,
            "Content-Length"),
        bad("TE gzip then chunked", POST + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            400, "unsupported transfer coding"),
        bad("TE chunked then gzip", POST + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400,
            "chunked must be the last"),
        bad("TE unknown", POST + "Transfer-Encoding: xchunked\r\n\r\n", 400,
            "final transfer coding must be chunked"),
        bad("TE identity", POST + "Transfer-Encoding: identity\r\n\r\n", 400,
            "final transfer coding must be chunked"),
        bad("TE chunked twice", POST + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
            + "\r\n\r\n0\r\n\r\n", 400, "more than once"),
        bad("TE empty element", POST + "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400,
            "unsupported transfer coding"),
        bad("TE in HTTP/1.0", "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400, "Transfer-Encoding is not allowed before HTTP/1.1"),
        bad("space before colon", POST + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400,
            "token"),
        bad("tab before colon", POST + "Content-Length\t: 1\r\n\r\na", 400, "token"),
        bad("bare LF after request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "bare LF"),
        bad("bare LF after a header", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400, "bare LF"),
        bad("bare LF ends the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400, "bare LF"),
        bad("NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n", 400, "0x0"),
        bad("CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, "0xd"),
        bad("DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\u007fb\r\n\r\n", 400, "0x7f"),
        bad("control in a name", "GET / HTTP/1.1\r\nHost: x\r\nX\u0001Y: v\r\n\r\n", 400,
            "token"),
        bad("non-token name", "GET / HTTP/1.1\r\nHost: x\r\nX(Y): v\r\n\r\n", 400, "token"),
        bad("empty name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400, "empty"),
        bad("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, "line folding"),
        bad("obs-fold with tab", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400,
            "line folding"),
        bad("first header line folded", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400,
            "line folding"),
        bad("folded Transfer-Encoding", POST + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
            400, "line folding"),
        bad("no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host"),
        bad("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
            "more than one Host"),
        bad("Host with user info", "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400, "invalid Host"),
        bad("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host"),
        bad("absolute-form, other host", "GET http://evil/ HTTP/1.1\r\nHost: good\r\n\r\n", 400,
            "does not match"),
        bad("absolute-form, user info", "GET http://u@good/ HTTP/1.1\r\nHost: good\r\n\r\n", 400,
            "invalid authority"),
        bad("absolute-form, no authority", "GET http:///x HTTP/1.1\r\nHost: good\r\n\r\n", 400,
            "invalid authority"),
        bad("absolute-form, other scheme", "GET ftp://good/ HTTP/1.1\r\nHost: good\r\n\r\n", 400,
            "must begin with /"),
        bad("asterisk-form with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400,
            "only allowed with OPTIONS"),
        bad("relative target", "GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", 400,
            "must begin with /"),
        bad("CONNECT with a path", "CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n", 400,
            "CONNECT needs an authority-form"),
        bad("control in target", "GET /a\u0001b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "0x1"),
        bad("non-ASCII in target", "GET /caf\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "0xe9"),
        bad("trailing space in request line", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400,
            "request line"),
        bad("HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, "HTTP/1.2"),
        bad("HTTP/2.0 as text", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0"),
        bad("chunk size not hex", CHUNKED + "zz\r\nab\r\n0\r\n\r\n", 400, "invalid chunk size"),
        bad("chunk size with sign", CHUNKED + "+2\r\nab\r\n0\r\n\r\n", 400, "invalid chunk size"),
        bad("chunk size 0x", CHUNKED + "0x2\r\nab\r\n0\r\n\r\n", 400, "invalid chunk size"),
        bad("chunk size empty", CHUNKED + "\r\nab\r\n0\r\n\r\n", 400, "invalid chunk size"),
        bad("chunk size overflow", CHUNKED + "fffffffffff\r\nab\r\n0\r\n\r\n", 400,
            "invalid chunk size"),
        bad("chunk size line with bare LF", CHUNKED + "2\nab\r\n0\r\n\r\n", 400,
            "bare LF in a chunk size line"),
        bad("chunk extension with control", CHUNKED + "2;a=\u0001\r\nab\r\n0\r\n\r\n", 400,
            "chunk extension"),
        bad("chunk extension unterminated quote", CHUNKED + "2;a=\"b\r\nab\r\n0\r\n\r\n", 400,
            "chunk extension"),
        bad("chunk data too long", CHUNKED + "2\r\nabc\r\n0\r\n\r\n", 400,
            "chunk data not followed by CR LF"),
        bad("header section too large", "GET / HTTP/1.1\r\nHost: x\r\nX: " + "a".repeat(70_000)
            + "\r\n\r\n", 431, "larger than"),
        bad("request line too long", "GET /" + "a".repeat(9000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
            414, "longer than"));
  }

  private static Arguments bad(String name, String request, int status, String reason) {
    return Arguments.of(name, request, status, reason);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("refused")
  void refusedWithAReasonAndClosed(String name, String request, int status, String reason)
      throws Exception {
    int answeredBefore = app.answered();
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(request);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).as("status").isEqualTo(status);
      assertThat(r.body()).as("reason").contains(reason);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.closedWithin(Duration.ofSeconds(5))).as("closed").isTrue();
    }
    assertThat(app.answered()).as("the application answered nothing").isEqualTo(answeredBefore);
    assertThat(app.unexpected()).isEmpty();
  }

  static Stream<Arguments> accepted() {
    return Stream.of(
        ok("chunked with trailers", CHUNKED + "5\r\nhello\r\n0\r\nX-Trailer: v\r\n\r\n", 5),
        ok("chunk extensions", CHUNKED + "5;name=value;q=\"a b\"\r\nhello\r\n0\r\n\r\n", 5),
        ok("chunked, any case", POST + "Transfer-Encoding: Chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
            2),
        ok("Content-Length 0", POST + "Content-Length: 0\r\n\r\n", 0),
        ok("Content-Length with spaces around", POST + "Content-Length:   3  \r\n\r\nabc", 3),
        ok("Content-Length with leading zeros", POST + "Content-Length: 003\r\n\r\nabc", 3),
        ok("leading blank lines", "\r\n\r\nGET /p HTTP/1.1\r\nHost: x\r\n\r\n", 0),
        ok("HTTP/1.0 without Host", "GET /p HTTP/1.0\r\n\r\n", 0),
        ok("absolute-form with the same Host", "GET http://Good:8080/p HTTP/1.1\r\n"
            + "Host: good:8080\r\n\r\n", 0),
        ok("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0),
        ok("obs-text in a value", "GET /p HTTP/1.1\r\nHost: x\r\nX: caf\u00e9\r\n\r\n", 0),
        ok("tab inside a value", "GET /p HTTP/1.1\r\nHost: x\r\nX: a\tb\r\n\r\n", 0),
        ok("IPv6 Host", "GET /p HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0));
  }

  private static Arguments ok(String name, String request, int bodyBytes) {
    return Arguments.of(name, request, bodyBytes);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("accepted")
  void validEdgeCasesAreServed(String name, String request, int bodyBytes) throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(request);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).as(r.toString()).isEqualTo(200);
      assertThat(r.body()).contains("bytes=" + bodyBytes);
    }
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void pipelinedRequestsWithBodiesThatLookLikeHeadsAreAllServed() throws Exception {
    // Bodies full of blank lines and lines that begin with a space: only the heads are read as
    // heads, so none of it counts as folding, and every request is served in order.
    String chunkData = "a\r\n\r\n b\r\n\tc";
    String fixed = "x\r\n y\r\n\r\n\r\n";
    String pipeline =
        CHUNKED + Integer.toHexString(chunkData.length()) + "\r\n" + chunkData + "\r\n0\r\n\r\n"
            + "POST /fixed HTTP/1.1\r\nHost: x\r\nContent-Length: " + fixed.length() + "\r\n\r\n"
            + fixed
            + "GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
            + CHUNKED + "0\r\nX-T: 1\r\n\r\n"
            + "GET /last HTTP/1.1\r\nHost: x\r\n\r\n";
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(pipeline);
      assertThat(c.readResponse().body()).contains("POST /p").contains("bytes=" + chunkData.length());
      assertThat(c.readResponse().body()).contains("POST /fixed").contains("bytes=" + fixed.length());
      assertThat(c.readResponse().body()).contains("GET /after");
      assertThat(c.readResponse().body()).contains("POST /p").contains("bytes=0");
      assertThat(c.readResponse().body()).contains("GET /last");
    }
  }

  @Test
  void aFoldInAPipelinedHeadIsFoundBehindABody() throws Exception {
    String pipeline = POST + "Content-Length: 3\r\n\r\nabc"
        + "GET /folded HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n";
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(pipeline);
      assertThat(c.readResponse().status()).isEqualTo(200);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.body()).contains("line folding");
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
  }

  @Test
  void aHeadSentOneByteAtATimeIsStillChecked() throws Exception {
    byte[] folded = "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n".getBytes(
        java.nio.charset.StandardCharsets.ISO_8859_1);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      for (byte b : folded) {
        c.send(new byte[] {b});
      }
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.body()).contains("line folding");
    }
  }
}
