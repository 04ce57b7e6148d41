package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.testing.Await;
import dev.sluice.testing.H2cPriorKnowledgeClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The raw HTTP/2 fast path: plain streams are proxied on the connection itself, with no stream
 * channel, under flow control both ways, and the streams it does not take are served by the
 * standard handlers as before.
 */
class Http2FastPathTest {
  private static final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private static final long DOWNLOAD = 64L << 20;
  private static TestBackend backend;
  private static ScriptedBackend scripted;
  private static ReverseProxy proxy;
  private static ReverseProxy scriptedProxy;
  private static ReverseProxy deadProxy;
  private static ReverseProxy halfDeadProxy;
  private static SimpleMeterRegistry halfDeadRegistry = new SimpleMeterRegistry();

  @BeforeAll
  static void start() throws Exception {
    backend = TestBackend.start("b1");
    scripted = ScriptedBackend.start(Http2FastPathTest::script);
    scriptedProxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("scripted").urls(scripted.url()).build())
        .route(TestProxies.route("all", "scripted").build())
        .build()).meterRegistry(new SimpleMeterRegistry()).ioThreads(1).build().start();
    String dead = "http://127.0.0.1:" + freePort();
    proxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("edited", "backend")
            .match(TestProxies.path(RouteSettings.PathMatch.Kind.PREFIX, "/edited/"))
            .requestHeaders(new RouteSettings.HeaderRules(Map.of("x-set", "yes"), Map.of(),
                List.of()))
            .build())
        .route(TestProxies.route("limited", "backend")
            .match(TestProxies.path(RouteSettings.PathMatch.Kind.PREFIX, "/limited/"))
            .rateLimit(new RouteSettings.RateLimit(0.001, 2,
                RouteSettings.RateLimit.KeySource.HEADER, "x-client", 100))
            .build())
        .route(TestProxies.route("all", "backend").build())
        .build()).meterRegistry(registry).ioThreads(2).build().start();
    deadProxy = ReverseProxy.builder(TestProxies.to(dead))
        .meterRegistry(new SimpleMeterRegistry()).ioThreads(1).build().start();
    halfDeadProxy = ReverseProxy.builder(TestProxies.to(dead, backend.url()))
        .meterRegistry(halfDeadRegistry).ioThreads(1).build().start();
  }

  @AfterAll
  static void stop() throws Exception {
    proxy.close();
    scriptedProxy.close();
    scripted.close();
    deadProxy.close();
    halfDeadProxy.close();
    backend.close();
  }

  private static ScriptedBackend.Reply script(String requestLine) {
    switch (requestLine.split(" ")[1]) {
      case "/chunked":
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n");
      case "/gzip-chunked":
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\n"
            + "transfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
      case "/until-close":
        return ScriptedBackend.Reply.closing("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
            + "\r\nbody ended by the close");
      case "/cut":
        return ScriptedBackend.Reply.closing("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"
            + "only part of it");
      case "/no-content":
        return ScriptedBackend.Reply.of("HTTP/1.1 204 No Content\r\nX-Upper: B\r\n"
            + "Connection: keep-alive\r\nCache-Control: No-Store\r\nDate: Sun, 22 Nov 2026 08:00:00 GMT\r\n\r\n");
      default:
        return ScriptedBackend.Reply.of("HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ndefault");
    }
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static double standardStreams() {
    return registry.get("sluice.proxy.http2.streams.standard").counter().count();
  }

  private static long crc(String s) {
    CRC32 c = new CRC32();
    c.update(s.getBytes(StandardCharsets.UTF_8));
    return c.getValue();
  }

  @Test
  void manyStreamsOnOneConnectionStayOnTheFastPath() throws Exception {
    double before = standardStreams();
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(proxy.localAddress())) {
      List<CompletableFuture<H2cPriorKnowledgeClient.Response>> all = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        all.add(i % 2 == 0 ? client.get("/delay/20?i=" + i)
            : client.post("/post?i=" + i, "body " + i));
      }
      for (int i = 0; i < all.size(); i++) {
        H2cPriorKnowledgeClient.Response r = all.get(i).get(30, TimeUnit.SECONDS);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        Echoed e = Echoed.parse(r.body());
        if (i % 2 == 0) {
          assertThat(e.uri()).isEqualTo("/delay/20?i=" + i);
        } else {
          assertThat(e.uri()).isEqualTo("/post?i=" + i);
          assertThat(e.bodyCrc()).isEqualTo(crc("body " + i));
        }
        assertThat(e.header("via")).isEqualTo("2 sluice");
        assertThat(e.header("host")).isEqualTo("127.0.0.1:" + proxy.localAddress().getPort());
        assertThat(e.header("x-forwarded-proto")).isEqualTo("http");
        assertThat(r.headers().get("via")).isEqualTo("1.1 sluice");
        assertThat(r.headers().get("x-backend")).isEqualTo("b1");
        assertThat(r.headers()).doesNotContainKeys("connection", "keep-alive", "x-hop-response");
      }
    }
    assertThat(standardStreams()).isEqualTo(before);
  }

  @Test
  void requestBodiesWithAndWithoutLengthArriveWhole() throws Exception {
    double before = standardStreams();
    String body = "a body larger than a stream's window ".repeat(8000);
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(proxy.localAddress())) {
      H2cPriorKnowledgeClient.Response sized = client.post("/sized", body)
          .get(30, TimeUnit.SECONDS);
      Echoed s = Echoed.parse(sized.body());
      assertThat(s.header("content-length")).isEqualTo(String.valueOf(body.length()));
      assertThat(s.bodyBytes()).isEqualTo(body.length());
      assertThat(s.bodyCrc()).isEqualTo(crc(body));

      HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.PUT, "/unsized");
      H2cPriorKnowledgeClient.Response unsized = client.send(head,
          body.getBytes(StandardCharsets.UTF_8), true).get(30, TimeUnit.SECONDS);
      Echoed u = Echoed.parse(unsized.body());
      assertThat(u.method()).isEqualTo("PUT");
      assertThat(u.header("transfer-encoding")).isEqualTo("chunked");
      assertThat(u.header("content-length")).isNull();
      assertThat(u.bodyBytes()).isEqualTo(body.length());
      assertThat(u.bodyCrc()).isEqualTo(crc(body));
    }
    assertThat(standardStreams()).isEqualTo(before);
  }

  @Test
  void headerEditsAreMadeOnTheFastPathAsOnTheStandardOne() throws Exception {
    SimpleMeterRegistry counted = new SimpleMeterRegistry();
    RouteSettings.HeaderRules request = new RouteSettings.HeaderRules(
        Map.of("X-Forwarded-Proto", "edge", "x-set", "yes"), Map.of("x-added", "1"),
        List.of("x-drop", "Via"));
    RouteSettings.HeaderRules response = new RouteSettings.HeaderRules(
        Map.of("x-backend", "hidden"), Map.of("x-resp", "2"), List.of("via"));
    // the same edits, and the removal of a traceparent (none is sent), which only the standard
    // path makes: the reference
    RouteSettings.HeaderRules requestToo = new RouteSettings.HeaderRules(request.set(),
        request.add(), List.of("x-drop", "Via", "traceparent"));
    try (ReverseProxy edited = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("standard", "backend")
            .match(TestProxies.path(RouteSettings.PathMatch.Kind.PREFIX, "/standard/"))
            .requestHeaders(requestToo).responseHeaders(response).build())
        .route(TestProxies.route("all", "backend")
            .requestHeaders(request).responseHeaders(response).build())
        .build()).meterRegistry(counted).ioThreads(1).build().start();
        H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(edited.localAddress())) {
      List<H2cPriorKnowledgeClient.Response> responses = new ArrayList<>();
      for (String path : List.of("/fast/x", "/standard/x")) {
        HttpRequest get = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
        get.headers().set("x-drop", "gone").set("x-set", "no").set("x-keep", "kept");
        responses.add(client.send(get, null, true).get(30, TimeUnit.SECONDS));
      }
      assertThat(counted.get("sluice.proxy.http2.streams.standard").counter().count())
          .isEqualTo(1);
      for (H2cPriorKnowledgeClient.Response r : responses) {
        assertThat(r.status()).isEqualTo(200);
        Echoed e = Echoed.parse(r.body());
        assertThat(e.has("x-drop")).isFalse();
        assertThat(e.has("via")).isFalse();
        assertThat(e.header("x-set")).isEqualTo("yes");
        assertThat(e.header("x-forwarded-proto")).isEqualTo("edge");
        assertThat(e.header("x-added")).isEqualTo("1");
        assertThat(e.header("x-keep")).isEqualTo("kept");
        assertThat(e.header("x-forwarded-for")).isEqualTo("127.0.0.1");
        assertThat(r.headers().get("x-backend")).isEqualTo("hidden");
        assertThat(r.headers().get("x-resp")).isEqualTo("2");
        assertThat(r.headers()).doesNotContainKey("via");
      }
    }
  }

  @Test
  void aRateLimitIsAnswered429OnTheFastPath() throws Exception {
    double before = standardStreams();
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(proxy.localAddress())) {
      int[] statuses = new int[4];
      String retryAfter = null;
      for (int i = 0; i < statuses.length; i++) {
        HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST,
            "/limited/" + i);
        head.headers().set("x-client", "c1").setInt("content-length", 3);
        H2cPriorKnowledgeClient.Response r = client.send(head,
            "abc".getBytes(StandardCharsets.UTF_8), true).get(30, TimeUnit.SECONDS);
        statuses[i] = r.status();
        if (r.status() == 429) {
          retryAfter = r.headers().get("retry-after");
          assertThat(r.body()).isEqualTo("429 Too Many Requests: rate limit exceeded\n");
        }
      }
      assertThat(statuses).containsExactly(200, 200, 429, 429);
      assertThat(Long.parseLong(retryAfter)).isPositive();
      // another key has a bucket of its own
      HttpRequest other = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
          "/limited/other");
      other.headers().set("x-client", "c2");
      assertThat(client.send(other, null, true).get(30, TimeUnit.SECONDS).status())
          .isEqualTo(200);
    }
    assertThat(registry.get("sluice.proxy.rate_limited").tag("route", "limited").counter()
        .count()).isEqualTo(2);
    assertThat(standardStreams()).isEqualTo(before);
  }

  @Test
  void aDeadUpstreamIsA502AndARetryFindsTheLiveOne() throws Exception {
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(deadProxy.localAddress())) {
      H2cPriorKnowledgeClient.Response r = client.get("/nobody").get(30, TimeUnit.SECONDS);
      assertThat(r.status()).isEqualTo(502);
      assertThat(r.body()).startsWith("502 Bad Gateway: ");
      // the connection serves the next stream
      assertThat(client.get("/again").get(30, TimeUnit.SECONDS).status()).isEqualTo(502);
    }
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(
        halfDeadProxy.localAddress())) {
      for (int i = 0; i < 6; i++) {
        H2cPriorKnowledgeClient.Response r = client.get("/r" + i).get(30, TimeUnit.SECONDS);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(Echoed.parse(r.body()).uri()).isEqualTo("/r" + i);
      }
    }
    assertThat(halfDeadRegistry.get("sluice.proxy.retries").counter().count())
        .isGreaterThanOrEqualTo(1);
  }

  @Test
  void aLargeDownloadToAStalledClientHoldsTheBackendBackAndArrivesWhole() throws Exception {
    long before = backend.streamed.get();
    try (FrameClient c = new FrameClient(proxy.localAddress())) {
      Http2FrameStream s = c.get("/bytes/" + DOWNLOAD);
      // no window given back: the client reads one window's worth, then nothing
      Await.until("the first window of the body", Duration.ofSeconds(30),
          () -> c.received.get() >= 60_000);
      awaitQuiet(backend.streamed, Duration.ofMillis(500));
      long ahead = backend.streamed.get() - before - c.received.get();
      assertThat(ahead).as("bytes the backend wrote beyond what the client read")
          .isLessThan(16L << 20);
      assertThat(c.status).isEqualTo(200);
      // now the client reads, giving back what it takes as it takes it
      c.eager = true;
      c.giveBack(s);
      Await.until("the end of the stream", Duration.ofSeconds(30), () -> c.ended);
      assertThat(c.received.get()).isEqualTo(DOWNLOAD);
      assertThat(c.mismatch).as("first corrupted byte").isEqualTo(-1);
    }
  }

  @Test
  void aClientResetMidResponseStopsTheUpstream() throws Exception {
    long before = backend.streamed.get();
    try (FrameClient c = new FrameClient(proxy.localAddress())) {
      Http2FrameStream s = c.get("/bytes/" + DOWNLOAD);
      Await.until("the first window of the body", Duration.ofSeconds(30),
          () -> c.received.get() >= 60_000);
      c.channel.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL).stream(s));
      awaitQuiet(backend.streamed, Duration.ofMillis(500));
      assertThat(backend.streamed.get() - before).as("bytes the backend wrote")
          .isLessThan(DOWNLOAD / 2);
      // the connection is fine, and serves the next stream
      c.received.set(0);
      c.ended = false;
      c.get("/bytes/1000");
      Await.until("the next response", Duration.ofSeconds(30), () -> c.ended);
      assertThat(c.received.get()).isEqualTo(1000);
    }
  }

  @Test
  void responsesOfEveryFramingArriveAsFrames() throws Exception {
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(
        scriptedProxy.localAddress())) {
      H2cPriorKnowledgeClient.Response chunked = client.get("/chunked").get(30, TimeUnit.SECONDS);
      assertThat(chunked.status()).isEqualTo(200);
      assertThat(chunked.body()).isEqualTo("hello world");
      assertThat(chunked.headers()).doesNotContainKey("transfer-encoding");
      H2cPriorKnowledgeClient.Response untilClose = client.get("/until-close")
          .get(30, TimeUnit.SECONDS);
      assertThat(untilClose.body()).isEqualTo("body ended by the close");
      H2cPriorKnowledgeClient.Response none = client.get("/no-content").get(30, TimeUnit.SECONDS);
      assertThat(none.status()).isEqualTo(204);
      assertThat(none.body()).isEmpty();
      assertThat(none.headers().get("x-upper")).isEqualTo("B");
      assertThat(none.headers().get("cache-control")).isEqualTo("No-Store");
      assertThat(none.headers().get("date")).isEqualTo("Sun, 22 Nov 2026 08:00:00 GMT");
      assertThat(none.headers()).doesNotContainKey("connection");
      assertThat(client.get("/plain").get(30, TimeUnit.SECONDS).body()).isEqualTo("default");
      // a coding the client would have to undo, unannounced: refused, as over HTTP/1.1
      H2cPriorKnowledgeClient.Response coded = client.get("/gzip-chunked")
          .get(30, TimeUnit.SECONDS);
      assertThat(coded.status()).isEqualTo(502);
      assertThat(coded.body()).contains("unsupported transfer coding \"gzip, chunked\"");
      assertThat(client.get("/after").get(30, TimeUnit.SECONDS).body()).isEqualTo("default");
    }
  }

  @Test
  void eachStreamKeepsItsOwnDeadlineOnTheConnectionsOneTimer() throws Exception {
    SimpleMeterRegistry timed = new SimpleMeterRegistry();
    try (ReverseProxy p = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend").firstByte(Duration.ofMillis(400))
            .retry(RouteSettings.Retry.none()).build())
        .build()).meterRegistry(timed).ioThreads(1).build().start();
        H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(p.localAddress())) {
      long start = System.nanoTime();
      CompletableFuture<H2cPriorKnowledgeClient.Response> late = client.get("/delay/5000");
      CompletableFuture<H2cPriorKnowledgeClient.Response> lateToo = client.get("/delay/6000");
      CompletableFuture<H2cPriorKnowledgeClient.Response> prompt = client.get("/delay/50");
      assertThat(prompt.get(30, TimeUnit.SECONDS).status()).isEqualTo(200);
      assertThat(late.get(30, TimeUnit.SECONDS).status()).isEqualTo(504);
      assertThat(lateToo.get(30, TimeUnit.SECONDS).status()).isEqualTo(504);
      assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(4000);
      // later streams get their own deadlines from the same timer
      CompletableFuture<H2cPriorKnowledgeClient.Response> again = client.get("/delay/5000");
      assertThat(client.get("/delay/10").get(30, TimeUnit.SECONDS).status()).isEqualTo(200);
      assertThat(again.get(30, TimeUnit.SECONDS).status()).isEqualTo(504);
      assertThat(timed.get("sluice.proxy.http2.streams.standard").counter().count())
          .isZero();
    }
  }

  @Test
  void anUpstreamThatBreaksMidResponseResetsTheStreamOnly() throws Exception {
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(
        scriptedProxy.localAddress())) {
      CompletableFuture<H2cPriorKnowledgeClient.Response> cut = client.get("/cut");
      Await.until("the cut response to fail", Duration.ofSeconds(30), cut::isDone);
      assertThat(cut).isCompletedExceptionally();
      assertThat(client.channel().isActive()).isTrue();
      assertThat(client.get("/next").get(30, TimeUnit.SECONDS).body()).isEqualTo("default");
    }
  }

  @Test
  void anUpgradedConnectionServesEveryRequestOnTheFastPath() throws Exception {
    double before = standardStreams();
    java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder()
        .version(java.net.http.HttpClient.Version.HTTP_2).build();
    String base = "http://127.0.0.1:" + proxy.localAddress().getPort();
    for (int i = 0; i < 5; i++) {
      java.net.http.HttpResponse<String> r = client.send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create(base + "/up" + i)).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.version()).isEqualTo(java.net.http.HttpClient.Version.HTTP_2);
      assertThat(Echoed.parse(r.body()).uri()).isEqualTo("/up" + i);
    }
    // the upgrade request too: it arrives as stream 1, validated by the HTTP/1.1 handlers
    assertThat(standardStreams()).isEqualTo(before);
  }

  @Test
  void aHeaderValueThatWouldBreakTheHttp1HeadNeverReachesTheUpstreamAsLines() throws Exception {
    try (FrameClient c = new FrameClient(proxy.localAddress())) {
      c.get("/evil", "x-evil", "a\r\nx-injected: yes");
      Await.until("an answer", Duration.ofSeconds(30), () -> c.ended);
      assertThat(c.text.toString()).doesNotContain("x-injected");
      if (!c.reset) {
        assertThat(c.status).isEqualTo(400);
      }
    }
  }

  /** Waits until {@code counter} has not moved for {@code quiet}. */
  private static void awaitQuiet(AtomicLong counter, Duration quiet) {
    long[] last = {counter.get(), System.nanoTime()};
    Await.until("the counter to stop moving", Duration.ofSeconds(30), () -> {
      long v = counter.get();
      long now = System.nanoTime();
      if (v != last[0]) {
        last[0] = v;
        last[1] = now;
        return false;
      }
      return now - last[1] >= quiet.toNanos();
    });
  }

  /**
   * An h2c client that reads frames on the connection and gives flow-control window back only when
   * told, to play a slow reader; one stream at a time.
   */
  private static final class FrameClient extends Http2ChannelDuplexHandler
      implements AutoCloseable {
    final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    final Channel channel;
    final String authority;
    final AtomicLong received = new AtomicLong();
    final AtomicLong taken = new AtomicLong();
    volatile int status;
    volatile boolean ended;
    volatile boolean reset;
    final StringBuffer text = new StringBuffer();
    volatile long mismatch = -1;
    /** Gives the window back at once, as a reader that keeps up. */
    volatile boolean eager;

    FrameClient(InetSocketAddress address) throws InterruptedException {
      authority = "127.0.0.1:" + address.getPort();
      channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
          .handler(new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(), FrameClient.this);
            }
          }).connect(address).sync().channel();
    }

    Http2FrameStream get(String path) throws Exception {
      return get(path, null, null);
    }

    /** A GET with one extra header, sent as it is. */
    Http2FrameStream get(String path, String name, String value) throws Exception {
      CompletableFuture<Http2FrameStream> f = new CompletableFuture<>();
      channel.eventLoop().execute(() -> {
        Http2FrameStream s = newStream();
        DefaultHttp2Headers h = new DefaultHttp2Headers(false);
        h.method("GET").path(path).scheme("http").authority(authority);
        if (name != null) {
          h.add(name, value);
        }
        channel.writeAndFlush(new DefaultHttp2HeadersFrame(h, true).stream(s));
        f.complete(s);
      });
      return f.get(10, TimeUnit.SECONDS);
    }

    /** Gives back the window of the bytes read so far. */
    void giveBack(Http2FrameStream s) {
      channel.eventLoop().execute(() -> {
        long n = taken.getAndSet(0);
        if (n > 0) {
          channel.writeAndFlush(new DefaultHttp2WindowUpdateFrame((int) n).stream(s));
        }
      });
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof Http2HeadersFrame) {
        Http2HeadersFrame h = (Http2HeadersFrame) msg;
        if (h.headers().status() != null) {
          status = Integer.parseInt(h.headers().status().toString());
        }
        ended |= h.isEndStream();
      } else if (msg instanceof Http2DataFrame) {
        Http2DataFrame d = (Http2DataFrame) msg;
        // one copy: a byte at a time from a leak-aware buffer would make a slow reader of us
        byte[] b = ByteBufUtil.getBytes(d.content());
        long at = received.get();
        for (int i = 0; i < b.length && mismatch < 0; i++) {
          if (b[i] != (byte) ((at + i) % 251)) {
            mismatch = at + i;
          }
        }
        received.addAndGet(b.length);
        if (text.length() < 4096) {
          text.append(new String(b, StandardCharsets.ISO_8859_1));
        }
        ended |= d.isEndStream();
        if (eager && !d.isEndStream() && d.initialFlowControlledBytes() > 0) {
          ctx.writeAndFlush(new DefaultHttp2WindowUpdateFrame(d.initialFlowControlledBytes())
              .stream(d.stream()));
        } else {
          taken.addAndGet(d.initialFlowControlledBytes());
        }
      } else if (msg instanceof Http2ResetFrame) {
        ended = true;
        reset = true;
      }
      ReferenceCountUtil.release(msg);
    }

    @Override
    public void close() {
      channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
  }
}
