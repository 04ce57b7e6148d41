package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.RouteSettings.PathMatch.Kind;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What the proxy does to headers on the way: hop-by-hop rules, forwarding headers, route edits. */
class HeadersTest {
  private static TestBackend backend;
  private static ReverseProxy plain;
  private static ReverseProxy trusting;

  @BeforeAll
  static void start() {
    backend = TestBackend.start("b1");
    RouteSettings.HeaderRules requestRules = new RouteSettings.HeaderRules(
        Map.of("x-set", "by-proxy"), Map.of("x-added", "by-proxy"), List.of("x-secret"));
    RouteSettings.HeaderRules responseRules = new RouteSettings.HeaderRules(
        Map.of("content-type", "text/x-set"), Map.of("x-served-by", "sluice"),
        List.of("x-backend"));
    plain = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("rewritten", "backend")
            .match(TestProxies.path(Kind.PREFIX, "/api/"))
            .rewrite(RouteSettings.PathRewrite.prefix("/api/", "/v2/"))
            .hostRewrite("internal.svc")
            .requestHeaders(requestRules).responseHeaders(responseRules).build())
        .route(TestProxies.route("all", "backend").build())
        .build()).ioThreads(1).build().start();
    trusting = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend").build())
        .trusted("127.0.0.1")
        .build()).ioThreads(1).build().start();
  }

  @AfterAll
  static void stop() {
    plain.close();
    trusting.close();
    backend.close();
  }

  private static RawHttp.Response exchange(ReverseProxy proxy, String request) throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      return c.send(request).read();
    }
  }

  @Test
  void hopByHopRequestHeadersStayBehind() throws Exception {
    RawHttp.Response r = exchange(plain, "GET /echo HTTP/1.1\r\n"
        + "Host: app.example\r\n"
        + "Connection: keep-alive, X-Named-Hop\r\n"
        + "X-Named-Hop: secret\r\n"
        + "Keep-Alive: timeout=5\r\n"
        + "TE: trailers\r\n"
        + "Trailer: x-checksum\r\n"
        + "Upgrade: foo/1\r\n"
        + "Proxy-Connection: keep-alive\r\n"
        + "X-End-To-End: kept\r\n"
        + "\r\n");
    assertThat(r.status()).as(r.toString()).isEqualTo(200);
    Echoed e = Echoed.parse(r.text());
    assertThat(e.headers()).doesNotContainKeys("x-named-hop", "keep-alive", "te", "trailer",
        "upgrade", "proxy-connection", "transfer-encoding");
    // the upstream connection is the proxy's: whatever Connection it carries is not the client's
    assertThat(e.headers().getOrDefault("connection", List.of()).toString())
        .doesNotContainIgnoringCase("x-named-hop");
    assertThat(e.header("x-end-to-end")).isEqualTo("kept");
    assertThat(e.header("host")).isEqualTo("app.example");
  }

  @Test
  void chunkedRequestBodyIsReframedAndArrivesWhole() throws Exception {
    RawHttp.Response r = exchange(plain, "POST /upload HTTP/1.1\r\n"
        + "Host: app.example\r\n"
        + "Transfer-Encoding: chunked\r\n"
        + "\r\n"
        + "5\r\nhello\r\n"
        + "6\r\n world\r\n"
        + "0\r\n\r\n");
    Echoed e = Echoed.parse(r.text());
    CRC32 crc = new CRC32();
    crc.update("hello world".getBytes());
    assertThat(e.bodyBytes()).isEqualTo(11);
    assertThat(e.bodyCrc()).isEqualTo(crc.getValue());
    assertThat(e.header("transfer-encoding")).isEqualTo("chunked");
    assertThat(e.has("content-length")).isFalse();

    RawHttp.Response sized = exchange(plain, "POST /upload HTTP/1.1\r\n"
        + "Host: app.example\r\n"
        + "Content-Length: 11\r\n"
        + "\r\n"
        + "hello world");
    Echoed s = Echoed.parse(sized.text());
    assertThat(s.bodyCrc()).isEqualTo(crc.getValue());
    assertThat(s.header("content-length")).isEqualTo("11");
    assertThat(s.has("transfer-encoding")).isFalse();
  }

  @Test
  void hopByHopResponseHeadersStayBehind() throws Exception {
    RawHttp.Response r = exchange(plain, "GET /hop HTTP/1.1\r\nHost: app.example\r\n\r\n");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.headers()).doesNotContainKeys("x-named-hop", "keep-alive", "te", "trailer",
        "upgrade", "proxy-connection");
    assertThat(r.all("connection").toString()).doesNotContainIgnoringCase("x-named-hop");
    assertThat(r.header("x-end-to-end")).isEqualTo("passes");
    assertThat(r.text()).isEqualTo("hop by hop");
    assertThat(r.chunked()).as("a body of unknown length goes on chunked").isTrue();
    assertThat(r.all("via")).containsExactly("1.1 sluice");
    // and the named hop header of the echo's own responses
    RawHttp.Response echo = exchange(plain, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assertThat(echo.headers()).doesNotContainKeys("x-hop-response", "keep-alive");
  }

  @Test
  void anHttp10ClientGetsABodyOfUnknownLengthEndedByTheClose() throws Exception {
    try (RawHttp c = new RawHttp(plain.localAddress())) {
      c.send("GET /hop HTTP/1.0\r\nHost: app.example\r\n\r\n");
      RawHttp.Response head = c.readHead();
      assertThat(head.status()).isEqualTo(200);
      assertThat(head.headers()).doesNotContainKeys("transfer-encoding", "content-length");
      assertThat(head.header("connection")).isEqualToIgnoringCase("close");
      byte[] body = c.input().readAllBytes(); // to the end of the stream: the proxy closes
      assertThat(new String(body, java.nio.charset.StandardCharsets.UTF_8))
          .isEqualTo("hop by hop");
    }
  }

  @Test
  void forwardingHeadersAreAddedAndReplacedFromUntrustedClients() throws Exception {
    RawHttp.Response r = exchange(plain, "GET /echo HTTP/1.1\r\n"
        + "Host: app.example:8080\r\n"
        + "X-Forwarded-For: 203.0.113.7\r\n"
        + "X-Forwarded-Proto: https\r\n"
        + "X-Forwarded-Host: spoofed.example\r\n"
        + "Via: 1.1 edge\r\n"
        + "\r\n");
    Echoed e = Echoed.parse(r.text());
    assertThat(e.header("x-forwarded-for")).isEqualTo("127.0.0.1");
    assertThat(e.header("x-forwarded-proto")).isEqualTo("http");
    assertThat(e.header("x-forwarded-host")).isEqualTo("app.example:8080");
    assertThat(e.headers().get("via")).containsExactly("1.1 edge", "1.1 sluice");
    assertThat(r.all("via")).containsExactly("1.1 sluice");
  }

  @Test
  void forwardingHeadersFromTrustedProxiesAreExtended() throws Exception {
    RawHttp.Response r = exchange(trusting, "GET /echo HTTP/1.1\r\n"
        + "Host: app.example\r\n"
        + "X-Forwarded-For: 203.0.113.7\r\n"
        + "X-Forwarded-For: 198.51.100.2\r\n"
        + "X-Forwarded-Proto: https\r\n"
        + "X-Forwarded-Host: public.example\r\n"
        + "\r\n");
    Echoed e = Echoed.parse(r.text());
    assertThat(e.header("x-forwarded-for")).isEqualTo("203.0.113.7, 198.51.100.2, 127.0.0.1");
    assertThat(e.header("x-forwarded-proto")).isEqualTo("https");
    assertThat(e.header("x-forwarded-host")).isEqualTo("public.example");

    Echoed fresh = Echoed.parse(exchange(trusting,
        "GET /echo HTTP/1.1\r\nHost: app.example\r\n\r\n").text());
    assertThat(fresh.header("x-forwarded-for")).isEqualTo("127.0.0.1");
    assertThat(fresh.header("x-forwarded-proto")).isEqualTo("http");
    assertThat(fresh.header("x-forwarded-host")).isEqualTo("app.example");
  }

  @Test
  void viaNamesTheClientsProtocolVersion() throws Exception {
    RawHttp.Response r = exchange(plain, "GET /echo HTTP/1.0\r\nHost: old.example\r\n\r\n");
    Echoed e = Echoed.parse(r.text());
    assertThat(e.header("via")).isEqualTo("1.0 sluice");
  }

  @Test
  void routeRewritesPathHostAndEditsHeadersBothWays() throws Exception {
    RawHttp.Response r = exchange(plain, "GET /api/items?page=2 HTTP/1.1\r\n"
        + "Host: app.example\r\n"
        + "X-Set: by-client\r\n"
        + "X-Added: by-client\r\n"
        + "X-Secret: hunter2\r\n"
        + "\r\n");
    assertThat(r.status()).isEqualTo(200);
    Echoed e = Echoed.parse(r.text());
    assertThat(e.uri()).isEqualTo("/v2/items?page=2");
    assertThat(e.header("host")).isEqualTo("internal.svc");
    assertThat(e.header("x-forwarded-host")).isEqualTo("app.example");
    assertThat(e.header("x-set")).isEqualTo("by-proxy");
    assertThat(e.headers().get("x-added")).containsExactly("by-client", "by-proxy");
    assertThat(e.has("x-secret")).isFalse();
    assertThat(r.header("content-type")).isEqualTo("text/x-set");
    assertThat(r.header("x-served-by")).isEqualTo("sluice");
    assertThat(r.header("x-backend")).isNull();

    // another route: neither rewritten nor edited
    RawHttp.Response other = exchange(plain, "GET /items HTTP/1.1\r\nHost: app.example\r\n"
        + "X-Secret: hunter2\r\n\r\n");
    Echoed o = Echoed.parse(other.text());
    assertThat(o.uri()).isEqualTo("/items");
    assertThat(o.header("host")).isEqualTo("app.example");
    assertThat(o.header("x-secret")).isEqualTo("hunter2");
    assertThat(other.header("x-backend")).isEqualTo("b1");
  }
}
