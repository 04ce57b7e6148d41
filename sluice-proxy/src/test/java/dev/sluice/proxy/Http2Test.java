package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.H2cPriorKnowledgeClient;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** HTTP/2 on either side of the proxy, or both. */
class Http2Test {
  private static TestBackend http1Backend;
  private static TestBackend http2Backend;
  private static ReverseProxy toHttp1;
  private static ReverseProxy toHttp2;

  @BeforeAll
  static void start() {
    http1Backend = TestBackend.start("h1");
    http2Backend = TestBackend.startHttp2("h2");
    toHttp1 = ReverseProxy.builder(TestProxies.to(http1Backend.url())).ioThreads(2).build()
        .start();
    toHttp2 = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(http2Backend.url()).http2(true).build())
        .route(TestProxies.route("all", "backend").build()).build()).ioThreads(2).build()
        .start();
  }

  @AfterAll
  static void stop() {
    toHttp1.close();
    toHttp2.close();
    http1Backend.close();
    http2Backend.close();
  }

  private static long crc(String s) {
    CRC32 crc = new CRC32();
    crc.update(s.getBytes(StandardCharsets.UTF_8));
    return crc.getValue();
  }

  @Test
  void h2cClientToHttp1Backend() throws Exception {
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(toHttp1.localAddress())) {
      H2cPriorKnowledgeClient.Response get = client.get("/h2?x=1").get(10, TimeUnit.SECONDS);
      assertThat(get.status()).as(get.body()).isEqualTo(200);
      Echoed e = Echoed.parse(get.body());
      assertThat(e.method()).isEqualTo("GET");
      assertThat(e.uri()).isEqualTo("/h2?x=1");
      assertThat(e.header("host")).isEqualTo("127.0.0.1:" + toHttp1.localAddress().getPort());
      assertThat(e.header("via")).isEqualTo("2 sluice");
      assertThat(e.header("x-forwarded-proto")).isEqualTo("http");
      assertThat(e.headers().keySet()).noneMatch(h -> h.startsWith("x-http2-"));
      assertThat(get.headers().get("via")).isEqualTo("1.1 sluice");
      assertThat(get.headers().get("x-backend")).isEqualTo("h1");
      assertThat(get.headers()).doesNotContainKeys("connection", "keep-alive", "x-hop-response");

      String body = "a body sent over HTTP/2 ".repeat(5000);
      H2cPriorKnowledgeClient.Response post = client.post("/post", body)
          .get(10, TimeUnit.SECONDS);
      Echoed p = Echoed.parse(post.body());
      assertThat(p.bodyBytes()).isEqualTo(body.length());
      assertThat(p.bodyCrc()).isEqualTo(crc(body));
    }
  }

  @Test
  void manyConcurrentStreamsOnOneClientConnection() throws Exception {
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(toHttp1.localAddress())) {
      List<CompletableFuture<H2cPriorKnowledgeClient.Response>> all = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        all.add(i % 2 == 0 ? client.get("/delay/20?i=" + i)
            : client.post("/post?i=" + i, "body " + i));
      }
      for (int i = 0; i < all.size(); i++) {
        H2cPriorKnowledgeClient.Response r = all.get(i).get(30, TimeUnit.SECONDS);
        assertThat(r.status()).isEqualTo(200);
        Echoed e = Echoed.parse(r.body());
        if (i % 2 == 0) {
          assertThat(e.uri()).isEqualTo("/delay/20?i=" + i);
        } else {
          assertThat(e.uri()).isEqualTo("/post?i=" + i);
          assertThat(e.bodyCrc()).isEqualTo(crc("body " + i));
        }
      }
    }
  }

  @Test
  void http1ClientToH2cBackend() throws Exception {
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    String base = "http://127.0.0.1:" + toHttp2.localAddress().getPort();
    HttpResponse<String> get = client.send(HttpRequest.newBuilder(URI.create(base + "/g"))
        .header("x-end-to-end", "yes").build(), HttpResponse.BodyHandlers.ofString());
    assertThat(get.statusCode()).as(get.body()).isEqualTo(200);
    assertThat(get.headers().firstValue("x-backend")).hasValue("h2");
    assertThat(get.headers().allValues("via")).containsExactly("2 sluice");
    Echoed e = Echoed.parse(get.body());
    assertThat(e.uri()).isEqualTo("/g");
    assertThat(e.header("x-end-to-end")).isEqualTo("yes");
    assertThat(e.header("via")).isEqualTo("1.1 sluice");

    String body = "posted to an HTTP/2 backend ".repeat(10000);
    HttpResponse<String> post = client.send(HttpRequest.newBuilder(URI.create(base + "/p"))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
    Echoed p = Echoed.parse(post.body());
    assertThat(p.bodyBytes()).isEqualTo(body.length());
    assertThat(p.bodyCrc()).isEqualTo(crc(body));

    // a body of unknown length (chunked from the client) ends with the stream
    HttpResponse<String> chunked = client.send(HttpRequest.newBuilder(URI.create(base + "/c"))
        .POST(HttpRequest.BodyPublishers.ofInputStream(
            () -> new java.io.ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8))))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertThat(Echoed.parse(chunked.body()).bodyCrc()).isEqualTo(crc(body));

    // a streamed download over an HTTP/2 upstream stream
    HttpResponse<byte[]> bytes = client.send(HttpRequest.newBuilder(
        URI.create(base + "/bytes/" + (4 << 20))).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(bytes.body()).hasSize(4 << 20);
    for (int i = 0; i < bytes.body().length; i += 4093) {
      assertThat(bytes.body()[i]).isEqualTo((byte) (i % 251));
    }
  }

  @Test
  void concurrentRequestsShareOneHttp2UpstreamConnection() throws Exception {
    int before = http2Backend.connections.get();
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    String base = "http://127.0.0.1:" + toHttp2.localAddress().getPort();
    List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      all.add(client.sendAsync(HttpRequest.newBuilder(URI.create(base + "/delay/50?i=" + i))
          .build(), HttpResponse.BodyHandlers.ofString()));
    }
    for (int i = 0; i < all.size(); i++) {
      HttpResponse<String> r = all.get(i).get(30, TimeUnit.SECONDS);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(Echoed.parse(r.body()).uri()).isEqualTo("/delay/50?i=" + i);
    }
    assertThat(http2Backend.connections.get() - before).as("new upstream connections")
        .isLessThanOrEqualTo(2);
  }

  /**
   * Client connections land on either of the proxy's two event loops, the one upstream HTTP/2
   * connection on one of them: bodies cross loops, and must arrive once, whole.
   */
  @Test
  void h2cOnBothSides() throws Exception {
    for (int connection = 0; connection < 3; connection++) {
      h2cPosts();
    }
  }

  private void h2cPosts() throws Exception {
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(toHttp2.localAddress())) {
      List<CompletableFuture<H2cPriorKnowledgeClient.Response>> all = new ArrayList<>();
      for (int i = 0; i < 50; i++) {
        all.add(client.post("/both?i=" + i, "both ways " + i));
      }
      for (int i = 0; i < all.size(); i++) {
        H2cPriorKnowledgeClient.Response r = all.get(i).get(30, TimeUnit.SECONDS);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().get("via")).isEqualTo("2 sluice");
        Echoed e = Echoed.parse(r.body());
        assertThat(e.header("via")).isEqualTo("2 sluice");
        assertThat(e.bodyCrc()).isEqualTo(crc("both ways " + i));
      }
    }
  }
}
