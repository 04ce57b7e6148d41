package dev.sluice.http.server;

import dev.sluice.testing.H2cPriorKnowledgeClient;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The same limits on HTTP/2 streams: they end the stream, never the connection. */
class Http2LimitsTest {
  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @AfterEach
  void stop() {
    servers.close();
  }

  private static HttpRequest post(String path, int contentLength) {
    HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path);
    head.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, contentLength);
    return head;
  }

  @Test
  void moreHeadersThanTheCountLimitGet431OnTheStream() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxHeaderCount(10), app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      HttpRequest head = post("/many", 0);
      for (int i = 0; i < 20; i++) {
        head.headers().set("x-header-" + i, "v");
      }
      H2cPriorKnowledgeClient.Response r = h2.send(head, new byte[0], true).get(5,
          TimeUnit.SECONDS);
      assertThat(r.status()).isEqualTo(431);
      assertThat(r.headers()).doesNotContainKey("connection");

      // The connection is still good for the next stream.
      H2cPriorKnowledgeClient.Response ok = h2.get("/fine").get(5, TimeUnit.SECONDS);
      assertThat(ok.status()).isEqualTo(200);
      assertThat(ok.body()).startsWith("GET /fine ");
      assertThat(h2.channel().isActive()).isTrue();
    }
    assertThat(app.answered()).isEqualTo(1);
  }

  @Test
  void headersOverTheSizeLimitGet431() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxHeaderSize(1024), app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      HttpRequest head = post("/big", 0);
      head.headers().set("x-big", "a".repeat(1100)); // a header list of over 1024 bytes
      H2cPriorKnowledgeClient.Response r = h2.send(head, new byte[0], true).get(5,
          TimeUnit.SECONDS);
      assertThat(r.status()).isEqualTo(431);
      assertThat(h2.get("/fine").get(5, TimeUnit.SECONDS).status()).isEqualTo(200);
    }
    assertThat(app.answered()).isEqualTo(1);
  }

  @Test
  void headersFarOverTheSizeLimitEndTheConnection() throws Exception {
    HttpServer server = servers.start(TestServers.settings().maxHeaderSize(1024), app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      HttpRequest head = post("/huge", 0);
      head.headers().set("x-huge", "0123456789abcdef".repeat(500));
      var r = h2.send(head, new byte[0], true);
      // HTTP/2 connection error (GOAWAY): the server does not decode a header block that large.
      Await.until("the connection to be closed", Duration.ofSeconds(5),
          () -> !h2.channel().isActive());
      Await.until("the stream to end", Duration.ofSeconds(5), r::isDone);
      assertThat(r).isCompletedExceptionally();
    }
    assertThat(app.answered()).isZero();
    Await.until("the server to forget the connection", Duration.ofSeconds(3),
        () -> server.openConnections() == 0);
  }

  @Test
  void slowBodyOnAStreamGets408AndTheConnectionLives() throws Exception {
    Duration deadline = Duration.ofMillis(400);
    HttpServer server = servers.start(TestServers.settings().bodyTimeout(deadline), app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      long start = System.nanoTime();
      H2cPriorKnowledgeClient.Response r = h2.send(post("/slow", 1000),
          "0123456789".getBytes(StandardCharsets.US_ASCII), false).get(5, TimeUnit.SECONDS);
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(r.status()).isEqualTo(408);
      assertThat(elapsedMs).isBetween(deadline.toMillis() - 50, deadline.toMillis() + 1000);

      assertThat(h2.post("/after", "ok").get(5, TimeUnit.SECONDS).body()).startsWith("POST /after ");
      assertThat(h2.channel().isActive()).isTrue();
    }
    assertThat(app.answered()).isEqualTo(1);
  }

  @Test
  void idleHttp2ConnectionIsClosedAfterTheIdleTimeout() throws Exception {
    HttpServer server = servers.start(TestServers.settings().idleTimeout(Duration.ofMillis(300)),
        app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      assertThat(h2.get("/once").get(5, TimeUnit.SECONDS).status()).isEqualTo(200);
      long start = System.nanoTime();
      Await.until("the server to close the idle connection", Duration.ofSeconds(3),
          () -> !h2.channel().isActive());
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isGreaterThan(200);
    }
  }

  @Test
  void http2ConnectionWithAStreamInProgressIsNotClosedForIdleness() throws Exception {
    HttpServer server = servers.start(TestServers.settings().idleTimeout(Duration.ofMillis(200))
        .bodyTimeout(Duration.ofSeconds(10)), app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      var held = h2.post("/hold/long", "x");
      Await.until("the request to reach the application", Duration.ofSeconds(5),
          () -> app.held() == 1);
      // Several idle periods pass with the stream open and nothing moving.
      long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(700);
      Await.until("700 ms with the connection open", Duration.ofSeconds(5),
          () -> !h2.channel().isActive() || System.nanoTime() > until);
      assertThat(h2.channel().isActive()).isTrue();
      app.release();
      assertThat(held.get(5, TimeUnit.SECONDS).status()).isEqualTo(200);
    }
  }
}
