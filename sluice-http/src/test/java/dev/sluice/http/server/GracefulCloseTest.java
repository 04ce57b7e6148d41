package dev.sluice.http.server;

import dev.sluice.testing.H2cPriorKnowledgeClient;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.testing.Await;
import java.io.IOException;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** HttpServer.close(Duration): requests in progress finish, idle connections go at once. */
class GracefulCloseTest {
  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @AfterEach
  void stop() {
    app.release();
    servers.close();
  }

  @Test
  void letsAnHttp11RequestInProgressFinishAndClosesIdleConnections() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    try (RawConnection busy = new RawConnection(server.localAddress());
        RawConnection idle = new RawConnection(server.localAddress())) {
      idle.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(idle.readResponse().status()).isEqualTo(200);
      busy.send("POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
      Await.until("the request to reach the application", Duration.ofSeconds(5),
          () -> app.held() == 1);

      long start = System.nanoTime();
      CompletableFuture<Void> closing =
          CompletableFuture.runAsync(() -> server.close(Duration.ofSeconds(10)));

      // close() has begun: the idle connection goes at once, new ones are refused.
      assertThat(idle.closedWithin(Duration.ofSeconds(3))).as("idle connection closed").isTrue();
      assertThatThrownBy(() -> new Socket("127.0.0.1", server.localAddress().getPort()).close())
          .isInstanceOf(IOException.class);
      assertThat(closing).as("still draining the busy connection").isNotDone();

      app.release();
      RawConnection.Response r = busy.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/hold", "HTTP/1.1",
          false, 3));
      assertThat(busy.closedWithin(Duration.ofSeconds(3))).as("closed once answered").isTrue();
      closing.get(5, TimeUnit.SECONDS);
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start))
          .as("did not wait out the whole drain period").isLessThan(9_000);
    }
  }

  @Test
  void letsAnHttp2StreamInProgressFinish() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress());
        H2cPriorKnowledgeClient idleH2 = new H2cPriorKnowledgeClient(server.localAddress())) {
      assertThat(idleH2.get("/before").get(5, TimeUnit.SECONDS).status()).isEqualTo(200);
      CompletableFuture<H2cPriorKnowledgeClient.Response> held = h2.post("/hold/h2", "xyz");
      Await.until("the request to reach the application", Duration.ofSeconds(5),
          () -> app.held() == 1);

      CompletableFuture<Void> closing =
          CompletableFuture.runAsync(() -> server.close(Duration.ofSeconds(10)));
      Await.until("the idle HTTP/2 connection to be closed", Duration.ofSeconds(5),
          () -> !idleH2.channel().isActive());
      assertThat(held).isNotDone();
      assertThat(h2.channel().isActive()).as("busy connection kept").isTrue();

      app.release();
      H2cPriorKnowledgeClient.Response r = held.get(5, TimeUnit.SECONDS);
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/hold/h2",
          "HTTP/1.1", true, 3));
      closing.get(5, TimeUnit.SECONDS);
      Await.until("the busy connection to be closed after its stream", Duration.ofSeconds(5),
          () -> !h2.channel().isActive());
    }
  }

  @Test
  void closesEverythingWhenTheDrainPeriodRunsOut() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    try (RawConnection busy = new RawConnection(server.localAddress())) {
      busy.send("GET /hold/forever HTTP/1.1\r\nHost: x\r\n\r\n");
      Await.until("the request to reach the application", Duration.ofSeconds(5),
          () -> app.held() == 1);
      long start = System.nanoTime();
      server.close(Duration.ofMillis(300));
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(elapsedMs).isBetween(250L, 5_000L);
      assertThat(busy.closedWithin(Duration.ofSeconds(3))).isTrue();
    }
  }
}
