package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** HTTP/1.1 persistent connections, Connection: close and HTTP/1.0 over a raw socket. */
class Http1KeepAliveTest {
  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();
  private HttpServer server;

  @BeforeEach
  void start() {
    server = servers.start(TestServers.settings(), app);
  }

  @AfterEach
  void stop() {
    servers.close();
  }

  @Test
  void servesSeveralRequestsOnOneConnection() throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
      RawConnection.Response first = c.readResponse();
      c.send("POST /two?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
      RawConnection.Response second = c.readResponse();
      c.send("POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          + "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
      RawConnection.Response third = c.readResponse();

      assertThat(first.status()).isEqualTo(200);
      assertThat(first.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/one", "HTTP/1.1",
          false, 0));
      assertThat(second.status()).isEqualTo(200);
      assertThat(second.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/two?q=1",
          "HTTP/1.1", false, 5));
      assertThat(third.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/three",
          "HTTP/1.1", false, 7));
      for (RawConnection.Response r : new RawConnection.Response[] {first, second, third}) {
        assertThat(r.header("connection")).as("keep-alive response").isNotEqualToIgnoringCase(
            "close");
      }
      // One connection served all three and stays open.
      assertThat(server.openConnections()).isEqualTo(1);
      assertThat(c.closedWithin(Duration.ofMillis(100))).isFalse();
    }
    Await.until("the server to see the connection closed", Duration.ofSeconds(5),
        () -> server.openConnections() == 0);
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void answersPipelinedRequestsInOrder() throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
          + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
          + "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(c.readResponse().body()).startsWith("GET /a ");
      assertThat(c.readResponse().body()).startsWith("POST /b ").contains("bytes=2");
      assertThat(c.readResponse().body()).startsWith("GET /c ");
    }
  }

  @Test
  void honoursConnectionClose() throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).startsWith("GET /bye HTTP/1.1");
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.closedWithin(Duration.ofSeconds(3))).as("closed after the response").isTrue();
    }
  }

  @Test
  void answersHttp10AndCloses() throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /old HTTP/1.0\r\n\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/old", "HTTP/1.0",
          false, 0));
      assertThat(c.closedWithin(Duration.ofSeconds(3)))
          .as("an HTTP/1.0 request without keep-alive ends the connection").isTrue();
    }
  }

  @Test
  void answers100ContinueThenTheRequest() throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
          + "Expect: 100-continue\r\n\r\n");
      assertThat(c.readResponse().status()).isEqualTo(100);
      c.send("data");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).contains("bytes=4");
      c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(c.readResponse().body()).startsWith("GET /next ");
    }
  }
}
