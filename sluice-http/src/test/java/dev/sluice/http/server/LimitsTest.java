package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.testing.Await;
import java.io.IOException;
import java.net.SocketException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Header limits, malformed requests, deadlines and the connection cap, over raw sockets. */
class LimitsTest {
  private static ScheduledExecutorService slowSender;
  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @BeforeAll
  static void startSender() {
    slowSender = Executors.newSingleThreadScheduledExecutor();
  }

  @AfterAll
  static void stopSender() {
    slowSender.shutdownNow();
  }

  @AfterEach
  void stop() {
    servers.close();
  }

  private static String headers(int count) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < count; i++) {
      b.append("X-Header-").append(i).append(": v\r\n");
    }
    return b.toString();
  }

  @Test
  void moreHeadersThanTheCountLimitGet431AndClose() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxHeaderCount(10), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      // Host plus 9 more is exactly the limit: served.
      c.send("GET /ok HTTP/1.1\r\nHost: x\r\n" + headers(9) + "\r\n");
      assertThat(c.readResponse().status()).isEqualTo(200);
      c.send("GET /many HTTP/1.1\r\nHost: x\r\n" + headers(10) + "\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(431);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(r.body()).contains("11 headers").contains("10");
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
    assertThat(app.answered()).as("the refused request never reached the application")
        .isEqualTo(1);
  }

  @Test
  void headersLargerThanTheSizeLimitGet431() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxHeaderSize(1024), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(2000) + "\r\n\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(431);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /small HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(500) + "\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(200);
    }
    assertThat(app.answered()).isEqualTo(1);
  }

  @Test
  void requestLineLongerThanTheLimitGets414() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxInitialLineLength(256), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /" + "p".repeat(1000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(414);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
    assertThat(app.answered()).isZero();
  }

  @Test
  void malformedRequestLineGets400() throws Exception {
    HttpServer server = servers.start(TestServers.settings().headerTimeout(Duration.ofSeconds(5)),
        app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GARBAGE\r\n\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(400);
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /x HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(400);
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
    assertThat(app.answered()).isZero();
  }

  @Test
  void slowHeadersGet408WithinTheHeaderDeadline() throws Exception {
    Duration deadline = Duration.ofMillis(500);
    HttpServer server = servers.start(TestServers.settings().headerTimeout(deadline), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      long start = System.nanoTime();
      c.send("POST / HTTP/1.1\r\nHost: x\r\n");
      byte[] header = "X-Slow: abcdefghijklmnopqrstuvwxyz0123456789\r\n".getBytes();
      AtomicInteger next = new AtomicInteger();
      var dripping = slowSender.scheduleAtFixedRate(() -> {
        int i = next.getAndIncrement();
        try {
          c.send(new byte[] {header[i % header.length]});
        } catch (IOException e) {
          throw new RuntimeException(e); // closed by the server: stops the schedule
        }
      }, 100, 100, TimeUnit.MILLISECONDS);
      try {
        RawConnection.Response r = c.readResponse();
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(r.status()).isEqualTo(408);
        assertThat(elapsedMs).as("answered at the deadline, not before and not much later")
            .isBetween(deadline.toMillis() - 50, deadline.toMillis() + 1000);
        assertThat(c.closedWithin(Duration.ofSeconds(2))).isTrue();
        assertThat(next.get()).as("bytes kept coming, yet the deadline held").isGreaterThan(2);
      } finally {
        dripping.cancel(false);
      }
    }
    assertThat(app.answered()).isZero();
  }

  @Test
  void slowBodyGets408AfterTheBodyDeadline() throws Exception {
    Duration deadline = Duration.ofMillis(500);
    HttpServer server = servers.start(TestServers.settings().bodyTimeout(deadline), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
      long start = System.nanoTime();
      RawConnection.Response r = c.readResponse();
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(r.status()).isEqualTo(408);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(elapsedMs).isBetween(deadline.toMillis() - 50, deadline.toMillis() + 1000);
      assertThat(c.closedWithin(Duration.ofSeconds(2))).isTrue();
    }
    assertThat(app.answered()).isZero();
  }

  @Test
  void aZeroBodyTimeoutLetsABodyTakeAsLongAsItNeeds() throws Exception {
    HttpServer server = servers.start(TestServers.settings().bodyTimeout(Duration.ZERO)
        .idleTimeout(Duration.ofSeconds(30)), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234");
      // Well past the default deadline of other tests here: still open, nothing answered.
      assertThat(c.closedWithin(Duration.ofMillis(1500))).isFalse();
      c.send("56789");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).contains("bytes=10");
    }
    assertThatThrownBy(() -> TestServers.settings().bodyTimeout(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("body timeout");
  }

  @Test
  void idleKeepAliveConnectionIsClosedAfterTheIdleTimeout() throws Exception {
    Duration idle = Duration.ofMillis(300);
    HttpServer server = servers.start(TestServers.settings().idleTimeout(idle), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /once HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(200);
      long start = System.nanoTime();
      assertThat(c.closedWithin(Duration.ofSeconds(3))).as("closed by the server").isTrue();
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(elapsedMs).isBetween(idle.toMillis() - 100, idle.toMillis() + 1500);
    }
    Await.until("the server to forget the connection", Duration.ofSeconds(3),
        () -> server.openConnections() == 0);
  }

  @Test
  void aConnectionThatSendsNothingIsClosedAfterTheIdleTimeout() throws Exception {
    HttpServer server = servers.start(TestServers.settings().idleTimeout(Duration.ofMillis(300)),
        app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
  }

  @Test
  void connectionsBeyondTheCapAreClosedAtOnce() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxConnections(2), app);
    RawConnection a = new RawConnection(server.localAddress());
    try (RawConnection b = new RawConnection(server.localAddress())) {
      a.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(a.readResponse().status()).isEqualTo(200);
      b.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(b.readResponse().status()).isEqualTo(200);
      assertThat(server.openConnections()).isEqualTo(2);

      try (RawConnection third = new RawConnection(server.localAddress())) {
        assertThat(closedOrFailsToTalk(third)).as("third connection refused").isTrue();
      }
      Await.until("the refusal to be counted", Duration.ofSeconds(3),
          () -> server.refusedConnections() == 1);
      assertThat(server.openConnections()).isEqualTo(2);

      a.close();
      Await.until("a slot to free", Duration.ofSeconds(3), () -> server.openConnections() == 1);
      try (RawConnection fourth = new RawConnection(server.localAddress())) {
        fourth.send("GET /d HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(fourth.readResponse().status()).isEqualTo(200);
      }
      // b is still served.
      b.send("GET /b2 HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(b.readResponse().body()).startsWith("GET /b2 ");
    } finally {
      a.close();
    }
    assertThat(server.refusedConnections()).isEqualTo(1);
  }

  /** True when the server closes or resets the connection rather than answering a request. */
  private static boolean closedOrFailsToTalk(RawConnection c) throws IOException {
    try {
      c.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    } catch (SocketException e) {
      return true;
    }
    return c.closedWithin(Duration.ofSeconds(3));
  }

  @Test
  void bodyLeftAfterAnEarlyAnswerDoesNotStartAHeaderDeadline() throws Exception {
    Duration deadline = Duration.ofMillis(300);
    HttpServer server = servers.start(TestServers.settings().headerTimeout(deadline), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
      RawConnection.Response early = c.readResponse();
      assertThat(early.status()).isEqualTo(200);
      assertThat(early.body().trim()).isEqualTo("early");
      c.send("0123456789"); // the rest of the request, read and dropped
      // The connection is idle now: no request started, so no 408 may come.
      assertThat(c.closedWithin(deadline.multipliedBy(3))).as("still open").isFalse();
      c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      RawConnection.Response next = c.readResponse();
      assertThat(next.status()).isEqualTo(200);
      assertThat(next.body()).startsWith("GET /next ");
    }
  }

  @Test
  void bodyLeftAfterAnEarlyAnswerIsStillBoundByTheBodyDeadline() throws Exception {
    Duration deadline = Duration.ofMillis(400);
    HttpServer server = servers.start(TestServers.settings().bodyTimeout(deadline), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
      long start = System.nanoTime();
      assertThat(c.readResponse().body().trim()).isEqualTo("early");
      c.send("a few bytes of 100");
      // Answered already: the server has nothing more to say and just ends the connection.
      assertThat(c.closedWithin(Duration.ofSeconds(3))).isTrue();
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(elapsedMs).isBetween(deadline.toMillis() - 50, deadline.toMillis() + 1500);
    }
  }

  @Test
  void aHundredContinueDoesNotEndTheRequest() throws Exception {
    Duration deadline = Duration.ofMillis(300);
    HttpServer server = servers.start(TestServers.settings().headerTimeout(deadline)
        .bodyTimeout(Duration.ofSeconds(5)), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
          + "Expect: 100-continue\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(100);
      c.send("data");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).contains("bytes=4");
      // Idle between requests: a header deadline started by the body bytes would answer 408.
      assertThat(c.closedWithin(deadline.multipliedBy(3))).as("still open").isFalse();
      c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(c.readResponse().body()).startsWith("GET /next ");
    }
  }

  @Test
  void theBodyDeadlineStillHoldsAfterAHundredContinue() throws Exception {
    Duration deadline = Duration.ofMillis(400);
    HttpServer server = servers.start(TestServers.settings().bodyTimeout(deadline), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
          + "Expect: 100-continue\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(100);
      c.send("only some");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(408);
      assertThat(c.closedWithin(Duration.ofSeconds(2))).isTrue();
    }
    assertThat(app.answered()).isZero();
  }

  @Test
  void headerDeadlineAppliesToEachRequestOfAConnection() throws Exception {
    Duration deadline = Duration.ofMillis(300);
    HttpServer server = servers.start(TestServers.settings().headerTimeout(deadline), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(200);
      c.send("GET /second HTTP/1.1\r\nHost: x\r\n"); // headers never finished
      long start = System.nanoTime();
      RawConnection.Response r = c.readResponse();
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(r.status()).isEqualTo(408);
      assertThat(elapsedMs).isBetween(deadline.toMillis() - 50, deadline.toMillis() + 1000);
      assertThat(c.closedWithin(Duration.ofSeconds(2))).isTrue();
    }
  }
}
