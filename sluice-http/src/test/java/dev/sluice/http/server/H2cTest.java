package dev.sluice.http.server;

import dev.sluice.testing.H2cPriorKnowledgeClient;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.testing.Await;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** HTTP/2 in cleartext: prior knowledge (Netty's client) and the HTTP/1.1 upgrade (JDK client). */
class H2cTest {
  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @AfterEach
  void stop() {
    servers.close();
  }

  @Test
  void servesPriorKnowledgeClients() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(server.localAddress())) {
      H2cPriorKnowledgeClient.Response get = client.get("/h2/get").get(5, TimeUnit.SECONDS);
      H2cPriorKnowledgeClient.Response post =
          client.post("/h2/post", "twelve bytes").get(5, TimeUnit.SECONDS);

      assertThat(get.status()).isEqualTo(200);
      assertThat(get.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/h2/get", "HTTP/1.1",
          true, 0));
      assertThat(post.status()).isEqualTo(200);
      assertThat(post.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/h2/post",
          "HTTP/1.1", true, 12));
      // Two client streams of one connection.
      assertThat(get.streamId()).isPositive();
      assertThat(post.streamId()).isGreaterThan(get.streamId());
      assertThat(server.openConnections()).isEqualTo(1);
    }
    assertThat(app.unexpected()).as("messages the application should never see").isEmpty();
  }

  @Test
  void servesManyConcurrentStreamsOnOneConnection() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(server.localAddress())) {
      var futures = new java.util.ArrayList<java.util.concurrent.CompletableFuture<
          H2cPriorKnowledgeClient.Response>>();
      for (int i = 0; i < 20; i++) {
        futures.add(client.post("/s" + i, "x".repeat(i)));
      }
      for (int i = 0; i < 20; i++) {
        H2cPriorKnowledgeClient.Response r = futures.get(i).get(5, TimeUnit.SECONDS);
        assertThat(r.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/s" + i,
            "HTTP/1.1", true, i));
      }
    }
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void upgradesHttp11ToH2c() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    HttpClient client = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_2)
        .connectTimeout(Duration.ofSeconds(5))
        .build();

    HttpResponse<String> first = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/first")).GET()
            .timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
    HttpResponse<String> second = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/second")).GET()
            .timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
    HttpResponse<String> post = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/post"))
            .POST(HttpRequest.BodyPublishers.ofString("small body"))
            .timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());

    // The upgrade request itself is answered on stream 1 of the new HTTP/2 connection.
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/first",
        "HTTP/1.1", true, 0));
    assertThat(second.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(second.statusCode()).isEqualTo(200);
    assertThat(second.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/second",
        "HTTP/1.1", true, 0));
    assertThat(post.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(post.statusCode()).isEqualTo(200);
    assertThat(post.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/post",
        "HTTP/1.1", true, 10));
    assertThat(server.openConnections()).as("all on the upgraded connection").isEqualTo(1);
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void upgradeWithABodyIsServed() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();

    // A POST as the very first request: the upgrade request carries the body.
    HttpResponse<String> post = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/first-post"))
            .POST(HttpRequest.BodyPublishers.ofString("0123456789abcdef"))
            .timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
    HttpResponse<String> next = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/after"))
            .POST(HttpRequest.BodyPublishers.ofString("abc"))
            .timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());

    assertThat(post.statusCode()).isEqualTo(200);
    assertThat(post.body()).contains("POST /first-post ").contains("bytes=16");
    assertThat(next.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(next.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/after",
        "HTTP/1.1", true, 3));
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void aLargeFirstRequestWithAnUpgradeIsServed() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    byte[] big = new byte[3 * 1024 * 1024];
    HttpResponse<String> first = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/big-first"))
            .POST(HttpRequest.BodyPublishers.ofByteArray(big))
            .timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.body()).contains("POST /big-first ").contains("bytes=" + big.length);

    HttpResponse<String> second = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "http", "/big-second"))
            .POST(HttpRequest.BodyPublishers.ofByteArray(big))
            .timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(second.statusCode()).isEqualTo(200);
    assertThat(second.body()).contains("bytes=" + big.length);
  }

  @Test
  void aLargeUpgradeRequestIsServedOverHttp11() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    int size = 2 * 1024 * 1024;
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("POST /big-upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
          + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: " + size
          + "\r\n\r\n");
      c.send(new byte[size]);
      RawConnection.Response r = c.readResponse();
      // Too large to hold for an upgrade: answered as the HTTP/1.1 request it also is.
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.body()).contains("POST /big-upgrade HTTP/1.1 h2=false bytes=" + size);
    }
  }

  /** One HTTP/2 frame as read off a raw socket. */
  private static final class Frame {
    final int type;
    final int flags;
    final int stream;
    final byte[] payload;

    Frame(int type, int flags, int stream, byte[] payload) {
      this.type = type;
      this.flags = flags;
      this.stream = stream;
      this.payload = payload;
    }
  }

  private static final int DATA = 0;
  private static final int SETTINGS = 4;
  private static final int GOAWAY = 7;
  private static final byte[] PREFACE =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] EMPTY_SETTINGS = {0, 0, 0, SETTINGS, 0, 0, 0, 0, 0};

  /** Reads one frame, or null at the end of the stream. */
  private static Frame readFrame(DataInputStream in) throws IOException {
    int first = in.read();
    if (first < 0) {
      return null;
    }
    int length = (first << 16) | in.readUnsignedShort();
    int type = in.readUnsignedByte();
    int flags = in.readUnsignedByte();
    int stream = in.readInt() & 0x7fffffff;
    byte[] payload = new byte[length];
    in.readFully(payload);
    return new Frame(type, flags, stream, payload);
  }

  /** Upgrades a raw socket to h2c and returns the text of the DATA answering the upgrade. */
  private static String upgradeRawly(RawConnection c, DataInputStream in, String path)
      throws IOException {
    c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
    RawConnection.Response switching = c.readResponse();
    assertThat(switching.status()).isEqualTo(101);
    assertThat(switching.header("upgrade")).isEqualToIgnoringCase("h2c");
    c.send(PREFACE);
    c.send(EMPTY_SETTINGS);
    StringBuilder data = new StringBuilder();
    Frame f;
    while ((f = readFrame(in)) != null) {
      if (f.type == SETTINGS && (f.flags & 1) == 0) {
        c.send(new byte[] {0, 0, 0, SETTINGS, 1, 0, 0, 0, 0}); // ack
      }
      if (f.type == DATA && f.stream == 1) {
        data.append(new String(f.payload, StandardCharsets.UTF_8));
        if ((f.flags & 1) != 0) {
          return data.toString();
        }
      }
    }
    throw new AssertionError("connection closed before the answer on stream 1; got " + data);
  }

  @Test
  void upgradeAnswersTheUpgradeRequestOnStream1() throws Exception {
    HttpServer server = servers.start(TestServers.settings(), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      DataInputStream in = c.dataInput();
      String answer = upgradeRawly(c, in, "/raw-upgrade");
      assertThat(answer.trim()).isEqualTo(EchoHandlerFactory.line("GET", "/raw-upgrade",
          "HTTP/1.1", true, 0));
    }
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void upgradeAfterAnHttp11RequestOnTheSameConnection() throws Exception {
    HttpServer server = servers.start(TestServers.settings()
        .headerTimeout(Duration.ofMillis(300)), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
      assertThat(c.readResponse().body()).contains("h2=false");
      DataInputStream in = c.dataInput();
      String answer = upgradeRawly(c, in, "/then-h2");
      assertThat(answer).contains("GET /then-h2 ").contains("h2=true");
      // No HTTP/1.1 deadline is left behind: nothing arrives after the header timeout.
      c.socket().setSoTimeout(900);
      assertThatThrownBy(() -> {
        Frame f;
        while ((f = readFrame(in)) != null) {
          assertThat(f.type).as("frame type").isNotEqualTo(GOAWAY);
        }
      }).isInstanceOf(java.net.SocketTimeoutException.class);
    }
  }

  @Test
  void upgradedConnectionIsClosedWhenIdle() throws Exception {
    Duration idle = Duration.ofMillis(300);
    HttpServer server = servers.start(TestServers.settings().idleTimeout(idle), app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      DataInputStream in = c.dataInput();
      upgradeRawly(c, in, "/idle");
      long start = System.nanoTime();
      c.socket().setSoTimeout(3_000);
      Frame f;
      boolean goAway = false;
      while ((f = readFrame(in)) != null) {
        goAway |= f.type == GOAWAY;
      }
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertThat(goAway).as("a GOAWAY before the close").isTrue();
      assertThat(elapsedMs).isBetween(idle.toMillis() - 100, idle.toMillis() + 1500);
    }
    Await.until("the server to forget the connection", Duration.ofSeconds(3),
        () -> server.openConnections() == 0);
  }

  @Test
  void priorKnowledgeConnectionIsClosedWhenIdle() throws Exception {
    HttpServer server = servers.start(TestServers.settings().idleTimeout(Duration.ofMillis(300)),
        app);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      DataInputStream in = c.dataInput();
      c.send(PREFACE);
      c.send(EMPTY_SETTINGS);
      Frame f;
      boolean settings = false;
      while ((f = readFrame(in)) != null) {
        settings |= f.type == SETTINGS;
      }
      assertThat(settings).as("the server spoke HTTP/2").isTrue();
    }
  }

  @Test
  void staysOnHttp11WhenHttp2IsOff() throws Exception {
    HttpServer server = servers.start(TestServers.settings().http2(false), app);
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    for (int i = 0; i < 2; i++) {
      HttpResponse<String> r = client.send(
          HttpRequest.newBuilder(TestServers.uri(server, "http", "/plain")).GET()
              .timeout(Duration.ofSeconds(5)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
      assertThat(r.body()).contains("h2=false");
    }
  }
}
