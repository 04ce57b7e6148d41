package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.SmugglingForms;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request heads two servers could frame or route differently, sent as raw bytes: each is answered
 * with its status and a reason naming the problem, and the connection is closed; the valid edge
 * cases next to them are still served.
 */
class RequestSmugglingTest {
  private static final TestServers servers = new TestServers();
  private static final EchoHandlerFactory app = new EchoHandlerFactory();
  private static HttpServer server;

  @BeforeAll
  static void start() {
    server = servers.start(TestServers.settings(), app);
  }

  @AfterAll
  static void stop() {
    servers.close();
  }

  private static final String POST = "POST /p HTTP/1.1\r\nHost: x\r\n";
  private static final String CHUNKED = POST + "Transfer-Encoding: chunked\r\n\r\n";

  static Stream<Arguments> refused() {
    return SmugglingForms.refused().stream()
        .map(f -> Arguments.of(f.name(), f.request(), f.status(), f.reason()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("refused")
  void refusedWithAReasonAndClosed(String name, String request, int status, String reason)
      throws Exception {
    int answeredBefore = app.answered();
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(request);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).as("status").isEqualTo(status);
      assertThat(r.body()).as("reason").contains(reason);
      assertThat(r.header("connection")).isEqualToIgnoringCase("close");
      assertThat(c.closedWithin(Duration.ofSeconds(5))).as("closed").isTrue();
    }
    assertThat(app.answered()).as("the application answered nothing").isEqualTo(answeredBefore);
    assertThat(app.unexpected()).isEmpty();
  }

  static Stream<Arguments> accepted() {
    return SmugglingForms.accepted().stream()
        .map(f -> Arguments.of(f.name(), f.request(), f.bodyBytes()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("accepted")
  void validEdgeCasesAreServed(String name, String request, int bodyBytes) throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(request);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).as(r.toString()).isEqualTo(200);
      assertThat(r.body()).contains("bytes=" + bodyBytes);
    }
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void pipelinedRequestsWithBodiesThatLookLikeHeadsAreAllServed() throws Exception {
    // Bodies full of blank lines and lines that begin with a space: only the heads are read as
    // heads, so none of it counts as folding, and every request is served in order.
    String chunkData = "a\r\n\r\n b\r\n\tc";
    String fixed = "x\r\n y\r\n\r\n\r\n";
    String pipeline =
        CHUNKED + Integer.toHexString(chunkData.length()) + "\r\n" + chunkData + "\r\n0\r\n\r\n"
            + "POST /fixed HTTP/1.1\r\nHost: x\r\nContent-Length: " + fixed.length() + "\r\n\r\n"
            + fixed
            + "GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
            + CHUNKED + "0\r\nX-T: 1\r\n\r\n"
            + "GET /last HTTP/1.1\r\nHost: x\r\n\r\n";
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(pipeline);
      assertThat(c.readResponse().body()).contains("POST /p").contains("bytes=" + chunkData.length());
      assertThat(c.readResponse().body()).contains("POST /fixed").contains("bytes=" + fixed.length());
      assertThat(c.readResponse().body()).contains("GET /after");
      assertThat(c.readResponse().body()).contains("POST /p").contains("bytes=0");
      assertThat(c.readResponse().body()).contains("GET /last");
    }
  }

  @Test
  void aFoldInAPipelinedHeadIsFoundBehindABody() throws Exception {
    String pipeline = POST + "Content-Length: 3\r\n\r\nabc"
        + "GET /folded HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n";
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(pipeline);
      assertThat(c.readResponse().status()).isEqualTo(200);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.body()).contains("line folding");
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
  }

  @Test
  void aHeadSentOneByteAtATimeIsStillChecked() throws Exception {
    byte[] folded = "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n".getBytes(
        java.nio.charset.StandardCharsets.ISO_8859_1);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      for (byte b : folded) {
        c.send(new byte[] {b});
      }
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.body()).contains("line folding");
    }
  }
}
