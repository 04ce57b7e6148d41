package dev.sluice.testing;

import java.util.List;

/**
 * Request heads that two servers could frame or route differently (request smuggling), each with
 * the status and the words of the reason a Sluice listener answers it with, and the valid edge
 * cases next to them, which must be served. Shared by the tests of the HTTP server and of the
 * reverse proxy, which must refuse exactly the same.
 */
public final class SmugglingForms {
  private static final String POST = "POST /p HTTP/1.1\r\nHost: x\r\n";
  private static final String CHUNKED = POST + "Transfer-Encoding: chunked\r\n\r\n";

  private SmugglingForms() {}

  /** A request refused with {@code status}, a body containing {@code reason}, and a close. */
  public record Refused(String name, String request, int status, String reason) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** A valid request whose body has {@code bodyBytes} bytes. */
  public record Accepted(String name, String request, int bodyBytes) {
    @Override
    public String toString() {
      return name;
    }
  }

  public static List<Refused> refused() {
    return List.of(
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

  public static List<Accepted> accepted() {
    return List.of(
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

  private static Refused bad(String name, String request, int status, String reason) {
    return new Refused(name, request, status, reason);
  }

  private static Accepted ok(String name, String request, int bodyBytes) {
    return new Accepted(name, request, bodyBytes);
  }
}
