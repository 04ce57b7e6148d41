package dev.sluice.http.server;

import dev.sluice.testing.H2cPriorKnowledgeClient;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.transport.Transport;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The socket transport: epoll on Linux when it loads; the server works on whichever it uses. */
class TransportTest {
  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @AfterEach
  void stop() {
    servers.close();
  }

  @Test
  void bestIsEpollOnLinux() {
    Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("linux"),
        "not Linux");
    Assumptions.assumeTrue(Epoll.isAvailable(), () -> "epoll is not available: "
        + Epoll.unavailabilityCause());
    Assumptions.assumeFalse(Boolean.getBoolean("sluice.nio"), "NIO forced by -Dsluice.nio");
    assertThat(Transport.best()).isEqualTo(Transport.EPOLL);
    assertThat(Transport.best().toString()).isEqualTo("epoll");
  }

  @Test
  void serverRunsOnTheBestTransport() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    assertThat(server.transport()).isEqualTo(Transport.best());
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /transport HTTP/1.1\r\nHost: x\r\n\r\n");
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).startsWith("GET /transport ");
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void serverRunsOnTheCallersEventLoops(Transport transport) throws Exception {
    if (transport == Transport.EPOLL) {
      Assumptions.assumeTrue(Epoll.isAvailable(), "epoll is not available");
    }
    EventLoopGroup boss = transport.newGroup(1, "test-accept");
    EventLoopGroup workers = transport.newGroup(1, "test-io");
    try {
      HttpServer server = new HttpServer(TestServers.settings().build(), app,
          ErrorResponder.PLAIN_TEXT, boss, workers).start();
      try {
        assertThat(server.transport()).isEqualTo(transport);
        try (RawConnection c = new RawConnection(server.localAddress())) {
          c.send("GET /" + transport + " HTTP/1.1\r\nHost: x\r\n\r\n");
          assertThat(c.readResponse().body()).startsWith("GET /" + transport + " ");
        }
        try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(server.localAddress())) {
          assertThat(h2.get("/h2").get(5, TimeUnit.SECONDS).body()).contains("h2=true");
        }
      } finally {
        server.close(java.time.Duration.ofMillis(200));
      }
      assertThat(workers.isShuttingDown()).as("the caller's loops are the caller's").isFalse();
    } finally {
      boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
      workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }
}
