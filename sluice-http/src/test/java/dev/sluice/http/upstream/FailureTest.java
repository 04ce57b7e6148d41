package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.transport.Transport;
import dev.sluice.testing.Await;
import io.netty.channel.EventLoopGroup;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Connect failures, timeouts, lost connections and bad responses. */
class FailureTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (AutoCloseable c : closeables) {
      c.close();
    }
  }

  private <T extends AutoCloseable> T keep(T c) {
    closeables.add(0, c); // groups close before their backends
    return c;
  }

  private UpstreamGroup group(String name, Endpoint endpoint, Duration requestTimeout) {
    return keep(UpstreamGroup.builder().name(name).endpoints(List.of(endpoint))
        .connectTimeout(Duration.ofSeconds(2)).requestTimeout(requestTimeout).build());
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static long millisSince(long start) {
    return (System.nanoTime() - start) / 1_000_000;
  }

  @Test
  void nothingListeningFailsFastWithConnectFailed() throws Exception {
    Endpoint nowhere = new Endpoint(URI.create("http://127.0.0.1:" + freePort()), 1);
    UpstreamGroup g = group("refused", nowhere, Duration.ofSeconds(10));
    long start = System.nanoTime();
    UpstreamException e = Calls.failure(g.send(Calls.post("/x", "payload")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(e.reachedUpstream()).isFalse();
    assertThat(e.endpoint()).isEqualTo(nowhere);
    assertThat(millisSince(start)).as("ms to fail").isLessThan(2_000);
    assertThat(Calls.status(g, nowhere).totalFailures()).isEqualTo(1);
  }

  @Test
  void aBackendThatNeverAnswersTimesOut() throws Exception {
    RawBackend silent = keep(new RawBackend(s -> { }));
    UpstreamGroup g = group("silent", silent.endpoint(), Duration.ofMillis(300));
    long start = System.nanoTime();
    UpstreamException e = Calls.failure(g.send(Calls.post("/x", "payload")));
    long elapsed = millisSince(start);
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.TIMEOUT);
    assertThat(e.reachedUpstream()).isTrue();
    assertThat(silent.requests.get()).isEqualTo(1);
    assertThat(elapsed).as("ms to time out").isBetween(280L, 2_000L);
    // The connection is not reused after a timeout: the next request opens another.
    UpstreamException again = Calls.failure(g.send(Calls.get("/y")));
    assertThat(again.kind()).isEqualTo(UpstreamException.Kind.TIMEOUT);
    assertThat(Calls.status(g, silent.endpoint()).openConnections()).isLessThanOrEqualTo(1);
  }

  @Test
  void theRequestsOwnTimeoutOverridesTheGroups() throws Exception {
    RawBackend silent = keep(new RawBackend(s -> { }));
    UpstreamGroup g = group("own-timeout", silent.endpoint(), Duration.ofSeconds(20));
    long start = System.nanoTime();
    UpstreamException e = Calls.failure(g.send(
        Calls.withTimeout(Calls.get("/x"), Duration.ofMillis(150))));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.TIMEOUT);
    assertThat(millisSince(start)).isBetween(140L, 2_000L);
  }

  @Test
  void aBackendKilledMidResponseIsConnectionLost() throws Exception {
    RawBackend killer = keep(new RawBackend(s -> {
      RawBackend.write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it");
      s.close();
    }));
    UpstreamGroup g = group("killed", killer.endpoint(), Duration.ofSeconds(10));
    UpstreamException e = Calls.failure(g.send(Calls.post("/x", "payload")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CONNECTION_LOST);
    assertThat(e.reachedUpstream()).isTrue();
    assertThat(killer.requests.get()).as("not retried").isEqualTo(1);
  }

  @Test
  void aBackendClosingWithoutAnAnswerIsConnectionLostAndNotRetried() throws Exception {
    RawBackend closer = keep(new RawBackend(s -> s.close()));
    UpstreamGroup g = group("closer", closer.endpoint(), Duration.ofSeconds(10));
    UpstreamException e = Calls.failure(g.send(Calls.post("/x", "payload")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CONNECTION_LOST);
    assertThat(e.reachedUpstream()).isTrue();
    assertThat(closer.requests.get()).isEqualTo(1);
  }

  @Test
  void garbageIsABadResponse() throws Exception {
    RawBackend garbage = keep(new RawBackend(s -> {
      RawBackend.write(s, "SMTP ready, not HTTP at all\r\n\r\n");
    }));
    UpstreamGroup g = group("garbage", garbage.endpoint(), Duration.ofSeconds(10));
    UpstreamException e = Calls.failure(g.send(Calls.get("/x")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.BAD_RESPONSE);
    assertThat(e.reachedUpstream()).isTrue();
  }

  @Test
  void informationalResponsesAreSkippedAndReadUntilCloseBodiesWork() throws Exception {
    RawBackend raw = keep(new RawBackend(s -> {
      RawBackend.write(s, "HTTP/1.1 100 Continue\r\n\r\n"
          + "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbody until close");
      s.close();
    }));
    UpstreamGroup g = group("informational", raw.endpoint(), Duration.ofSeconds(10));
    Calls.Answer a = Calls.send(g, Calls.get("/x"));
    assertThat(a.status()).isEqualTo(503);
    assertThat(a.body()).isEqualTo("body until close");
  }

  @Test
  void cancellingAbandonsTheExchangeAndReleasesTheBody() throws Exception {
    RawBackend silent = keep(new RawBackend(s -> { }));
    UpstreamGroup g = group("cancel", silent.endpoint(), Duration.ofSeconds(10));
    UpstreamRequest r = Calls.post("/x", "payload");
    r.body().retain();
    CompletableFuture<UpstreamResponse> f = g.send(r);
    dev.sluice.testing.Await.until("at the backend", Duration.ofSeconds(5),
        () -> silent.requests.get() == 1);
    f.cancel(true);
    dev.sluice.testing.Await.until("the exchange abandoned", Duration.ofSeconds(5),
        () -> Calls.status(g, silent.endpoint()).outstandingRequests() == 0
            && r.body().refCnt() == 1);
    assertThat(Calls.status(g, silent.endpoint()).openConnections()).isZero();
    assertThat(Calls.status(g, silent.endpoint()).totalFailures()).isZero();
    r.body().release();
  }

  @Test
  void aStaleConnectionIsRetriedOnAFreshOneWhenNothingWasWritten() throws Exception {
    CountDownLatch reset = new CountDownLatch(1);
    AtomicBoolean wasReset = new AtomicBoolean();
    AtomicInteger connections = new AtomicInteger();
    RawBackend raw = keep(new RawBackend(s -> {
      int n = connections.incrementAndGet();
      RawBackend.write(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      if (n == 1) {
        try {
          reset.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        s.setSoLinger(true, 0);
        s.close(); // a reset: the client's next write on it fails at once
        wasReset.set(true);
      }
    }));
    // One event loop for everything, so that the test can hold it while the connection dies:
    // the request is then given the pooled connection before the loop has seen the reset.
    EventLoopGroup loop = Transport.best().newGroup(1, "stale-loop");
    try {
      UpstreamGroup g = keep(UpstreamGroup.builder().name("stale").endpoints(List.of(
          raw.endpoint())).eventLoopGroup(loop).build());
      assertThat(Calls.send(g, Calls.get("/first")).status()).isEqualTo(200);

      CountDownLatch holding = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      loop.execute(() -> {
        holding.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      assertThat(holding.await(5, TimeUnit.SECONDS)).isTrue();
      reset.countDown();
      Await.until("the backend reset the connection", Duration.ofSeconds(5), wasReset::get);
      CompletableFuture<UpstreamResponse> second = g.send(Calls.post("/second", "payload"));
      release.countDown();

      Calls.Answer a = Calls.answer(second);
      assertThat(a.status()).isEqualTo(200);
      assertThat(connections.get()).as("sent again on a new connection").isEqualTo(2);
      assertThat(raw.requests.get()).isEqualTo(2);
      assertThat(Calls.status(g, raw.endpoint()).totalFailures()).isZero();
      g.close();
    } finally {
      loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
  }
}
