package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** HTTP/1.1 requests, keep-alive reuse, pool limits, the pending queue and close(). */
class Http1PoolTest {
  private final List<JdkBackend> backends = new ArrayList<>();
  private final List<UpstreamGroup> groups = new ArrayList<>();

  @AfterEach
  void tearDown() {
    groups.forEach(UpstreamGroup::close);
    backends.forEach(JdkBackend::close);
  }

  private JdkBackend backend() throws Exception {
    JdkBackend b = new JdkBackend("b" + backends.size());
    backends.add(b);
    return b;
  }

  private UpstreamGroup group(UpstreamGroup.Builder b) {
    UpstreamGroup g = b.build();
    groups.add(g);
    return g;
  }

  @Test
  void sendsHeadersBodyAndPathAsGiven() throws Exception {
    JdkBackend b = backend();
    Endpoint base = new Endpoint(URI.create("http://127.0.0.1:" + b.port() + "/base/"), 1);
    UpstreamGroup g = group(UpstreamGroup.builder().name("headers").endpoints(List.of(base)));
    HttpHeaders headers = new DefaultHttpHeaders()
        .set("User-Agent", "sluice-test/1.0")
        .set("X-Custom", "kept")
        .set("Content-Type", "application/json")
        .set("Transfer-Encoding", "chunked"); // replaced by a Content-Length
    Calls.Answer a = Calls.send(g, Calls.post("/v1/traces?x=1", headers, "{\"hello\":1}"));
    assertThat(a.status()).isEqualTo(200);
    assertThat(a.body()).isEqualTo("b0");
    assertThat(a.endpoint()).isEqualTo(base);

    JdkBackend.Seen seen = b.seen.get(0);
    assertThat(seen.method()).isEqualTo("POST");
    assertThat(seen.uri()).isEqualTo("/base/v1/traces?x=1");
    assertThat(seen.header("Host")).isEqualTo("127.0.0.1:" + b.port());
    assertThat(seen.header("Content-Length")).isEqualTo("11");
    assertThat(seen.header("Transfer-Encoding")).isNull();
    assertThat(seen.header("User-Agent")).isEqualTo("sluice-test/1.0");
    assertThat(seen.header("X-Custom")).isEqualTo("kept");
    assertThat(seen.header("Content-Type")).isEqualTo("application/json");
    assertThat(seen.body()).isEqualTo("{\"hello\":1}");

    // A GET without a body carries no Content-Length; a Host given by the caller is kept.
    HttpHeaders host = new DefaultHttpHeaders().set("Host", "api.example");
    Calls.send(g, new UpstreamRequest(HttpMethod.GET, "status", host,
        io.netty.buffer.Unpooled.EMPTY_BUFFER, null, null));
    JdkBackend.Seen get = b.seen.get(1);
    assertThat(get.uri()).isEqualTo("/base/status");
    assertThat(get.header("Content-Length")).isNull();
    assertThat(get.header("Host")).isEqualTo("api.example");
  }

  @Test
  void reusesKeepAliveConnections() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group(UpstreamGroup.builder().name("reuse").endpoints(List.of(
        b.endpoint())));
    for (int i = 0; i < 100; i++) {
      assertThat(Calls.send(g, Calls.post("/seq", "n=" + i)).status()).isEqualTo(200);
    }
    assertThat(b.requests.get()).isEqualTo(100);
    assertThat(b.connections).as("connections accepted for 100 sequential requests")
        .hasSizeLessThanOrEqualTo(2);
    assertThat(Calls.status(g, b.endpoint()).openConnections()).isBetween(1, 2);
  }

  @Test
  void dropsConnectionsTheServerCloses() throws Exception {
    JdkBackend b = backend();
    b.closeAfterResponse = true; // "Connection: close" on every response
    UpstreamGroup g = group(UpstreamGroup.builder().name("close").endpoints(List.of(
        b.endpoint())));
    for (int i = 0; i < 5; i++) {
      assertThat(Calls.send(g, Calls.get("/once")).status()).isEqualTo(200);
    }
    assertThat(b.connections).as("a new connection for each request").hasSize(5);
    Await.until("no connection left open", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).openConnections() == 0);
  }

  @Test
  void aConnectionTheServerDropsWhileIdleIsReplaced() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group(UpstreamGroup.builder().name("idle-drop").endpoints(List.of(
        b.endpoint())));
    assertThat(Calls.send(g, Calls.get("/first")).status()).isEqualTo(200);
    assertThat(Calls.status(g, b.endpoint()).openConnections()).isEqualTo(1);
    // The backend restarts on the same port: its connections are gone.
    int port = b.port();
    b.close();
    Await.until("the dropped connection noticed", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).openConnections() == 0);
    JdkBackend again = new JdkBackend("again", port);
    backends.add(again);
    Calls.Answer a = Calls.send(g, Calls.get("/second"));
    assertThat(a.status()).isEqualTo(200);
    assertThat(again.requests.get()).isEqualTo(1);
  }

  @Test
  void moreRequestsThanConnectionsQueueAndAllComplete() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group(UpstreamGroup.builder().name("queue").endpoints(List.of(
        b.endpoint())).maxConnectionsPerEndpoint(2));
    List<CompletableFuture<UpstreamResponse>> futures = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      futures.add(g.send(Calls.post("/many", "request " + i)));
    }
    for (CompletableFuture<UpstreamResponse> f : futures) {
      assertThat(Calls.answer(f).status()).isEqualTo(200);
    }
    assertThat(b.requests.get()).isEqualTo(40);
    assertThat(b.connections).hasSizeLessThanOrEqualTo(2);
    assertThat(b.maxInFlight.get()).isLessThanOrEqualTo(2);
  }

  @Test
  void beyondMaxPendingFailsFastWithOverloaded() throws Exception {
    JdkBackend b = backend();
    b.holding = true;
    UpstreamGroup g = group(UpstreamGroup.builder().name("overload").endpoints(List.of(
        b.endpoint())).maxConnectionsPerEndpoint(2).maxPendingRequests(3));
    List<CompletableFuture<UpstreamResponse>> accepted = new ArrayList<>();
    accepted.add(g.send(Calls.get("/hold")));
    accepted.add(g.send(Calls.get("/hold")));
    Await.until("two requests at the backend", Duration.ofSeconds(5),
        () -> b.inFlight.get() == 2);
    for (int i = 0; i < 3; i++) {
      accepted.add(g.send(Calls.get("/hold")));
    }
    Await.until("three requests waiting", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).pendingRequests() == 3);

    long start = System.nanoTime();
    UpstreamException e = Calls.failure(g.send(Calls.get("/hold")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.OVERLOADED);
    assertThat(e.reachedUpstream()).isFalse();
    assertThat((System.nanoTime() - start) / 1_000_000).as("ms to fail").isLessThan(1_000);

    b.release();
    for (CompletableFuture<UpstreamResponse> f : accepted) {
      assertThat(Calls.answer(f).status()).isEqualTo(200);
    }
    assertThat(b.requests.get()).isEqualTo(5);
  }

  @Test
  void closeFailsWaitingAndRunningRequestsReleasesBodiesAndStopsThreads() throws Exception {
    JdkBackend b = backend();
    b.holding = true;
    UpstreamGroup g = UpstreamGroup.builder().name("closing").endpoints(List.of(b.endpoint()))
        .maxConnectionsPerEndpoint(1).build();
    ByteBuf running = body("running");
    ByteBuf waiting = body("waiting");
    CompletableFuture<UpstreamResponse> first =
        g.send(UpstreamRequest.post("/hold", null, running));
    Await.until("the first at the backend", Duration.ofSeconds(5), () -> b.inFlight.get() == 1);
    CompletableFuture<UpstreamResponse> second =
        g.send(UpstreamRequest.post("/hold", null, waiting));
    Await.until("the second waiting", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).pendingRequests() == 1);
    assertThat(threads("sluice-upstream-closing-")).isNotEmpty();

    g.close();

    UpstreamException e1 = Calls.failure(first);
    UpstreamException e2 = Calls.failure(second);
    assertThat(e1.kind()).isEqualTo(UpstreamException.Kind.CLOSED);
    assertThat(e1.reachedUpstream()).as("the running one was sent").isTrue();
    assertThat(e2.kind()).isEqualTo(UpstreamException.Kind.CLOSED);
    assertThat(e2.reachedUpstream()).as("the waiting one was not").isFalse();
    // Released by the group exactly once: the test's own reference is left.
    assertThat(running.refCnt()).isEqualTo(1);
    assertThat(waiting.refCnt()).isEqualTo(1);
    running.release();
    waiting.release();

    ByteBuf late = body("late");
    UpstreamException e3 = Calls.failure(g.send(UpstreamRequest.post("/late", null, late)));
    assertThat(e3.kind()).isEqualTo(UpstreamException.Kind.CLOSED);
    assertThat(late.refCnt()).isEqualTo(1);
    late.release();
    g.close(); // idempotent
    Await.until("the group's threads gone", Duration.ofSeconds(5),
        () -> threads("sluice-upstream-closing-").isEmpty());
  }

  @Test
  void bodiesAreReleasedExactlyOnceWhateverTheOutcome() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group(UpstreamGroup.builder().name("bodies").endpoints(List.of(
        b.endpoint())).passiveEjection(1, Duration.ofSeconds(30), 100));
    ByteBuf ok = body("ok");
    assertThat(Calls.answer(g.send(UpstreamRequest.post("/ok", null, ok))).status())
        .isEqualTo(200);
    assertThat(ok.refCnt()).isEqualTo(1);
    ok.release();

    // maxPendingRequests 0 and no connection yet: overload.
    JdkBackend other = backend();
    UpstreamGroup cold = group(UpstreamGroup.builder().name("cold").endpoints(List.of(
        other.endpoint())).maxPendingRequests(0));
    ByteBuf refused = body("refused");
    assertThat(Calls.failure(cold.send(UpstreamRequest.post("/x", null, refused))).kind())
        .isEqualTo(UpstreamException.Kind.OVERLOADED);
    assertThat(refused.refCnt()).isEqualTo(1);
    refused.release();

    // A dead endpoint: connect failure, after which it is ejected: no healthy endpoint.
    b.close();
    Await.until("the dropped connection noticed", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).openConnections() == 0);
    ByteBuf failed = body("failed");
    UpstreamException e = Calls.failure(g.send(UpstreamRequest.post("/x", null, failed)));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(e.reachedUpstream()).isFalse();
    assertThat(failed.refCnt()).isEqualTo(1);
    failed.release();
    ByteBuf unhealthy = body("unhealthy");
    e = Calls.failure(g.send(UpstreamRequest.post("/x", null, unhealthy)));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.NO_HEALTHY_ENDPOINT);
    assertThat(unhealthy.refCnt()).isEqualTo(1);
    unhealthy.release();
  }

  @Test
  void responsesLargerThanTheLimitAreBadResponses() throws Exception {
    JdkBackend b = backend();
    b.responseBytes = 2048;
    UpstreamGroup g = group(UpstreamGroup.builder().name("large").endpoints(List.of(
        b.endpoint())).maxResponseBytes(1024));
    UpstreamException e = Calls.failure(g.send(Calls.get("/large")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.BAD_RESPONSE);
    assertThat(e.reachedUpstream()).isTrue();
    b.responseBytes = 1024;
    Calls.Answer a = Calls.send(g, Calls.get("/fits"));
    assertThat(a.body()).hasSize(1024);
  }

  @Test
  void aGroupOnSharedEventLoopsLeavesThemRunning() throws Exception {
    JdkBackend b = backend();
    b.holding = true;
    io.netty.channel.EventLoopGroup shared =
        dev.sluice.http.transport.Transport.best().newGroup(2, "shared-loops");
    try {
      UpstreamGroup g = UpstreamGroup.builder().name("shared").endpoints(List.of(b.endpoint()))
          .eventLoopGroup(shared).build();
      CompletableFuture<UpstreamResponse> f = g.send(Calls.get("/hold"));
      Await.until("at the backend", Duration.ofSeconds(5), () -> b.inFlight.get() == 1);
      g.close();
      assertThat(Calls.failure(f).kind()).isEqualTo(UpstreamException.Kind.CLOSED);
      assertThat(shared.isShuttingDown()).isFalse();
      assertThat(shared.submit(() -> "still running").get(5, java.util.concurrent.TimeUnit.SECONDS))
          .isEqualTo("still running");
    } finally {
      shared.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS)
          .awaitUninterruptibly(5, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  private static ByteBuf body(String text) {
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer();
    buf.writeCharSequence(text, StandardCharsets.UTF_8);
    return buf.retain(); // one reference for the group, one for the test to check
  }

  private static List<String> threads(String prefix) {
    List<String> names = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith(prefix) && t.isAlive()) {
        names.add(t.getName());
      }
    }
    return names;
  }
}
