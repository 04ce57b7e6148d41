package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.testing.Await;
import dev.sluice.testing.SmugglingForms;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The raw HTTP/1.1 fast path: plain requests are proxied without leaving it, responses of every
 * framing reach the client intact, and a request it does not take hands the connection to the
 * standard handlers, which then serve or refuse it exactly as they would have.
 */
class FastPathTest {
  private static final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private static TestBackend backend;
  private static ScriptedBackend scripted;
  private static ReverseProxy proxy;
  private static ReverseProxy scriptedProxy;

  @BeforeAll
  static void start() throws Exception {
    backend = TestBackend.start("b1");
    scripted = ScriptedBackend.start(FastPathTest::script);
    proxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("edited", "backend")
            .match(TestProxies.path(RouteSettings.PathMatch.Kind.PREFIX, "/edited/"))
            .requestHeaders(new RouteSettings.HeaderRules(Map.of("x-set", "yes"), Map.of(),
                List.of()))
            .build())
        .route(TestProxies.route("all", "backend").build())
        .build()).meterRegistry(registry).ioThreads(1).build().start();
    scriptedProxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("scripted").urls(scripted.url()).build())
        .route(TestProxies.route("all", "scripted").build())
        .build()).meterRegistry(new SimpleMeterRegistry()).ioThreads(1).build().start();
  }

  @AfterAll
  static void stop() throws Exception {
    proxy.close();
    scriptedProxy.close();
    backend.close();
    scripted.close();
  }

  private static ScriptedBackend.Reply script(String requestLine) {
    String path = requestLine.split(" ")[1];
    switch (path) {
      case "/until-close":
        return ScriptedBackend.Reply.closing("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
            + "\r\nbody ended by the close");
      case "/chunked":
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n");
      case "/early-hints":
        return ScriptedBackend.Reply.of("HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n"
            + "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      case "/no-content":
        return ScriptedBackend.Reply.of("HTTP/1.1 204 No Content\r\nx-a: b\r\n\r\n");
      case "/too-much":
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcXYZ");
      case "/bare-lf":
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\ncontent-length: 2\nx-lf: 1\n\nok");
      case "/gzip-coded":
        return ScriptedBackend.Reply.closing("HTTP/1.1 200 OK\r\n"
            + "transfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
      case "/garbage":
        return ScriptedBackend.Reply.closing("HTTP/1.1 20x Nope\r\n\r\n");
      case "/hop":
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"
            + "connection: keep-alive, x-hop\r\nx-hop: secret\r\nkeep-alive: timeout=5\r\n"
            + "x-kept: 1\r\n\r\nok");
      default:
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ndefault");
    }
  }

  private static double handOvers() {
    return registry.get("sluice.proxy.http1.handovers").counter().count();
  }

  private static long crc(byte[] b) {
    CRC32 c = new CRC32();
    c.update(b);
    return c.getValue();
  }

  @Test
  void plainRequestsWithAndWithoutBodiesStayOnTheFastPath() throws Exception {
    double before = handOvers();
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      for (int i = 0; i < 50; i++) {
        byte[] body = ("request body " + i).repeat(i).getBytes(StandardCharsets.US_ASCII);
        c.send("POST /post/" + i + "?q=" + i + " HTTP/1.1\r\nHost: app.example\r\n"
            + "Content-Length: " + body.length + "\r\n\r\n");
        c.send(body);
        RawHttp.Response r = c.read();
        assertThat(r.status()).as(r.toString()).isEqualTo(200);
        Echoed e = Echoed.parse(r.text());
        assertThat(e.uri()).isEqualTo("/post/" + i + "?q=" + i);
        assertThat(e.bodyBytes()).isEqualTo(body.length);
        assertThat(e.bodyCrc()).isEqualTo(crc(body));
        assertThat(e.header("x-forwarded-for")).isEqualTo("127.0.0.1");
        assertThat(e.header("x-forwarded-host")).isEqualTo("app.example");
        assertThat(e.header("via")).isEqualTo("1.1 sluice");
        assertThat(r.header("via")).isEqualTo("1.1 sluice");
      }
    }
    assertThat(handOvers()).isEqualTo(before);
  }

  @Test
  void pipelinedRequestsAreAnsweredInOrder() throws Exception {
    StringBuilder pipeline = new StringBuilder();
    for (int i = 0; i < 10; i++) {
      pipeline.append("POST /p").append(i)
          .append(" HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    }
    double before = handOvers();
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      c.send(pipeline.toString());
      for (int i = 0; i < 10; i++) {
        RawHttp.Response r = c.read();
        assertThat(r.status()).isEqualTo(200);
        assertThat(Echoed.parse(r.text()).uri()).isEqualTo("/p" + i);
        assertThat(Echoed.parse(r.text()).bodyBytes()).isEqualTo(3);
      }
    }
    assertThat(handOvers()).isEqualTo(before);
  }

  @Test
  void anUpstreamConnectionOfAnotherEventLoopServesAsWell() throws Exception {
    // One upstream connection for two event loops: the clients of one loop borrow the other's.
    ReverseProxy crossing = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url())
            .limits(new UpstreamSettings.Limits(1, 1000, 1000, 10)).build())
        .route(TestProxies.route("all", "backend").build())
        .build()).meterRegistry(new SimpleMeterRegistry()).ioThreads(2).build().start();
    try (crossing) {
      List<Thread> clients = new ArrayList<>();
      List<Throwable> failures = new CopyOnWriteArrayList<>();
      for (int t = 0; t < 4; t++) {
        int client = t;
        Thread th = new Thread(() -> {
          try (RawHttp c = new RawHttp(crossing.localAddress())) {
            for (int i = 0; i < 100; i++) {
              byte[] body = ("c" + client + "r" + i).repeat(i % 7)
                  .getBytes(StandardCharsets.US_ASCII);
              c.send("POST /c" + client + "/" + i + " HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  + body.length + "\r\n\r\n");
              c.send(body);
              RawHttp.Response r = c.read();
              Echoed e = Echoed.parse(r.text());
              if (r.status() != 200 || !e.uri().equals("/c" + client + "/" + i)
                  || e.bodyCrc() != crc(body)) {
                throw new AssertionError("client " + client + " request " + i + ": " + r);
              }
            }
          } catch (Throwable e) {
            failures.add(e);
          }
        });
        clients.add(th);
        th.start();
      }
      for (Thread th : clients) {
        th.join(60_000);
      }
      assertThat(failures).isEmpty();
    }
  }

  @Test
  void aHeadSplitAcrossWritesIsStillRead() throws Exception {
    byte[] request = "GET /split HTTP/1.1\r\nHost: x\r\nX-Long: value\r\n\r\n"
        .getBytes(StandardCharsets.US_ASCII);
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      for (byte b : request) {
        c.send(new byte[] {b});
      }
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(200);
      assertThat(Echoed.parse(r.text()).header("x-long")).isEqualTo("value");
    }
  }

  @Test
  void aChunkedRequestHandsTheConnectionOverAndItGoesOnWorking() throws Exception {
    double before = handOvers();
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      assertThat(c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n").read().status())
          .isEqualTo(200);
      assertThat(handOvers()).isEqualTo(before);
      RawHttp.Response chunked = c.send("POST /chunked HTTP/1.1\r\nHost: x\r\n"
          + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").read();
      assertThat(chunked.status()).isEqualTo(200);
      assertThat(Echoed.parse(chunked.text()).bodyBytes()).isEqualTo(5);
      assertThat(handOvers()).isEqualTo(before + 1);
      RawHttp.Response after = c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(Echoed.parse(after.text()).uri()).isEqualTo("/after");
    }
  }

  @Test
  void headerEditsAreMadeOnTheFastPathAsOnTheStandardOne() throws Exception {
    SimpleMeterRegistry counted = new SimpleMeterRegistry();
    ReverseProxy edited = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend")
            .requestHeaders(new RouteSettings.HeaderRules(
                Map.of("X-Forwarded-Proto", "edge", "x-set", "yes"), Map.of("x-added", "1"),
                List.of("x-drop", "Via")))
            .responseHeaders(new RouteSettings.HeaderRules(Map.of("x-backend", "hidden"),
                Map.of("x-resp", "2"), List.of("via")))
            .build())
        .build()).meterRegistry(counted).ioThreads(1).build().start();
    String headers = "Host: x\r\nX-Drop: gone\r\nX-Set: no\r\nX-Keep: kept\r\n";
    List<RawHttp.Response> responses = new ArrayList<>();
    try (edited; RawHttp fast = new RawHttp(edited.localAddress());
        RawHttp standard = new RawHttp(edited.localAddress())) {
      responses.add(fast.send("GET /e HTTP/1.1\r\n" + headers + "\r\n").read());
      assertThat(counted.get("sluice.proxy.http1.handovers").counter().count()).isZero();
      // a chunked request goes to the standard handlers, whose edits are the reference
      responses.add(standard.send("POST /e HTTP/1.1\r\n" + headers
          + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").read());
      assertThat(counted.get("sluice.proxy.http1.handovers").counter().count()).isEqualTo(1);
    }
    for (RawHttp.Response r : responses) {
      Echoed e = Echoed.parse(r.text());
      assertThat(e.has("x-drop")).isFalse();
      assertThat(e.has("via")).isFalse();
      assertThat(e.header("x-set")).isEqualTo("yes");
      assertThat(e.header("x-forwarded-proto")).isEqualTo("edge");
      assertThat(e.header("x-added")).isEqualTo("1");
      assertThat(e.header("x-keep")).isEqualTo("kept");
      assertThat(e.header("x-forwarded-for")).isEqualTo("127.0.0.1");
      assertThat(e.header("host")).isEqualTo("x");
      assertThat(r.all("x-backend")).containsExactly("hidden");
      assertThat(r.header("x-resp")).isEqualTo("2");
      assertThat(r.headers()).doesNotContainKey("via");
    }
  }

  @Test
  void aRouteThatEditsTraceHeadersIsServedByTheStandardHandlers() throws Exception {
    SimpleMeterRegistry counted = new SimpleMeterRegistry();
    ReverseProxy traced = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend")
            .requestHeaders(new RouteSettings.HeaderRules(Map.of(), Map.of(),
                List.of("traceparent")))
            .build())
        .build()).meterRegistry(counted).ioThreads(1).build().start();
    try (traced; RawHttp c = new RawHttp(traced.localAddress())) {
      RawHttp.Response r = c.send("GET /f HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(r.status()).isEqualTo(200);
      assertThat(Echoed.parse(r.text()).uri()).isEqualTo("/f");
      assertThat(counted.get("sluice.proxy.http1.handovers").counter().count()).isEqualTo(1);
    }
  }

  @Test
  void refusalsOfTheProxyKeepTheConnection() throws Exception {
    ReverseProxy narrow = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("api", "backend")
            .match(TestProxies.path(RouteSettings.PathMatch.Kind.PREFIX, "/api/")).build())
        .build()).meterRegistry(new SimpleMeterRegistry()).ioThreads(1).build().start();
    try (narrow; RawHttp c = new RawHttp(narrow.localAddress())) {
      RawHttp.Response missing = c.send("POST /elsewhere HTTP/1.1\r\nHost: x\r\n"
          + "Content-Length: 4\r\n\r\nbody").read();
      assertThat(missing.status()).isEqualTo(404);
      assertThat(missing.text()).contains("no route for x/elsewhere");
      RawHttp.Response found = c.send("GET /api/y HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(found.status()).isEqualTo(200);
      assertThat(Echoed.parse(found.text()).uri()).isEqualTo("/api/y");
    }
  }

  @Test
  void aBodyEndedByTheUpstreamsCloseReachesTheClientChunked() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response r = c.send("GET /until-close HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.chunked()).isTrue();
      assertThat(r.text()).isEqualTo("body ended by the close");
      // the client's connection goes on
      assertThat(c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n").read().text())
          .isEqualTo("default");
    }
  }

  @Test
  void bodiesEndedByTheCloseCountAsNoFailureOfTheEndpoint() throws Exception {
    // ejected after two failures in a row, even as the group's only endpoint
    ReverseProxy strict = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("scripted").urls(scripted.url())
            .ejection(new PassiveEjection(2, Duration.ofMinutes(1), 100)).build())
        .route(TestProxies.route("all", "scripted").build())
        .build()).meterRegistry(new SimpleMeterRegistry()).ioThreads(1).build().start();
    try (strict; RawHttp c = new RawHttp(strict.localAddress())) {
      for (int i = 0; i < 5; i++) {
        RawHttp.Response r = c.send("GET /until-close HTTP/1.1\r\nHost: x\r\n\r\n").read();
        assertThat(r.status()).as("response %d: %s", i, r).isEqualTo(200);
        assertThat(r.text()).isEqualTo("body ended by the close");
      }
    }
  }

  @Test
  void aChunkedResponsePassesWithItsTrailers() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response r = c.send("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(r.text()).isEqualTo("hello world");
      assertThat(r.header("x-trailer")).isEqualTo("t");
      assertThat(c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n").read().text())
          .isEqualTo("default");
    }
  }

  @Test
  void informationalResponsesComeBeforeTheFinalOne() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      c.send("GET /early-hints HTTP/1.1\r\nHost: x\r\n\r\n");
      RawHttp.Response hints = c.read();
      assertThat(hints.status()).isEqualTo(103);
      assertThat(hints.header("link")).isEqualTo("</s.css>");
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.text()).isEqualTo("ok");
    }
  }

  @Test
  void bodilessResponsesAndHeadRequests() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response none = c.send("GET /no-content HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(none.status()).isEqualTo(204);
      assertThat(none.header("x-a")).isEqualTo("b");
      RawHttp.Response head = c.send("HEAD /anything HTTP/1.1\r\nHost: x\r\n\r\n").read(true);
      assertThat(head.status()).isEqualTo(200);
      assertThat(head.header("content-length")).isEqualTo("7");
      assertThat(c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n").read().text()).isEqualTo("default");
    }
  }

  @Test
  void bytesPastTheEndOfAResponseAreDroppedWithTheUpstreamConnection() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      int before = scripted.connections();
      assertThat(c.send("GET /too-much HTTP/1.1\r\nHost: x\r\n\r\n").read().text())
          .isEqualTo("abc");
      assertThat(c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n").read().text()).isEqualTo("default");
      assertThat(scripted.connections()).isGreaterThan(before);
    }
  }

  @Test
  void responseHeadsWithBareLineFeedsAreNormalised() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response r = c.send("GET /bare-lf HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(r.text()).isEqualTo("ok");
      assertThat(r.header("x-lf")).isEqualTo("1");
    }
  }

  @Test
  void hopByHopResponseHeadersStayBehind() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response r = c.send("GET /hop HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(r.headers()).doesNotContainKeys("x-hop", "keep-alive");
      assertThat(r.header("x-kept")).isEqualTo("1");
      assertThat(r.header("connection")).isNull();
    }
  }

  @Test
  void aMalformedResponseIsA502() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response r = c.send("POST /garbage HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
          .read();
      assertThat(r.status()).isEqualTo(502);
      assertThat(r.text()).contains("malformed response");
    }
  }

  @Test
  void aTransferCodingOtherThanChunkedIsA502() throws Exception {
    try (RawHttp c = new RawHttp(scriptedProxy.localAddress())) {
      RawHttp.Response r = c.send("GET /gzip-coded HTTP/1.1\r\nHost: x\r\n\r\n").read();
      assertThat(r.status()).isEqualTo(502);
      assertThat(r.text()).contains("unsupported transfer coding \"gzip, chunked\"");
    }
  }

  @Test
  void aClientThatAsksForCloseGetsItAfterTheResponse() throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      RawHttp.Response r = c.send("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
          .read();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      Await.until("the proxy closes the connection", Duration.ofSeconds(10), () -> {
        try {
          return c.closed();
        } catch (Exception e) {
          return true;
        }
      });
    }
  }

  @Test
  void aHeadThatDripsInIsCutOffAtTheHeaderDeadline() throws Exception {
    ReverseProxy impatient = ReverseProxy.builder(TestProxies.proxy()
        .listener(new ListenerSettings("main", HttpServerSettings.builder()
            .address(new InetSocketAddress("127.0.0.1", 0))
            .headerTimeout(Duration.ofMillis(300)).build()))
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend").build())
        .build()).meterRegistry(new SimpleMeterRegistry()).ioThreads(1).build().start();
    try (impatient; RawHttp c = new RawHttp(impatient.localAddress())) {
      // a first request in time, then one whose head never ends
      assertThat(c.send("GET /in-time HTTP/1.1\r\nHost: x\r\n\r\n").read().status())
          .isEqualTo(200);
      c.send("GET /slow HTTP/1.1\r\nHost: x\r\n");
      long start = System.nanoTime();
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(408);
      assertThat(r.text()).contains("request headers were not received within 300 ms");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
      assertThat(c.closed()).isTrue();
    }
  }

  static Stream<SmugglingForms.Refused> refused() {
    return SmugglingForms.refused().stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("refused")
  void requestsOpenToSmugglingAreRefusedAsTheServerRefusesThem(SmugglingForms.Refused form)
      throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      // a plain request first, so that the refused one comes on a connection already in use
      assertThat(c.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n").read().status())
          .isEqualTo(200);
      RawHttp.Response r = c.send(form.request()).read();
      assertThat(r.status()).as(r.toString()).isEqualTo(form.status());
      assertThat(r.text()).contains(form.reason());
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
    }
  }

  static Stream<SmugglingForms.Accepted> accepted() {
    // OPTIONS * asks the proxy itself, which answers it apart
    return SmugglingForms.accepted().stream().filter(f -> !f.request().startsWith("OPTIONS *"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("accepted")
  void validEdgeCasesAreProxied(SmugglingForms.Accepted form) throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      RawHttp.Response r = c.send(form.request()).read();
      assertThat(r.status()).as(r.toString()).isEqualTo(200);
      assertThat(Echoed.parse(r.text()).bodyBytes()).isEqualTo(form.bodyBytes());
    }
  }

  @Test
  void aFoldInAPipelinedHeadIsFoundBehindAFastBody() throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
          + "GET /folded HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n");
      assertThat(c.read().status()).isEqualTo(200);
      RawHttp.Response r = c.read();
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.text()).contains("line folding");
    }
  }
}
