package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.H2cPriorKnowledgeClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The raw HTTP/2 fast path: plain streams are proxied on the connection itself, with no stream
 * channel, and the streams it does not take are served by the standard handlers as before.
 */
class Http2FastPathTest {
  private static final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private static TestBackend backend;
  private static ReverseProxy proxy;

  @BeforeAll
  static void start() throws Exception {
    backend = TestBackend.start("b1");
    proxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend").build())
        .build()).meterRegistry(registry).ioThreads(2).build().start();
  }

  @AfterAll
  static void stop() throws Exception {
    proxy.close();
    backend.close();
  }

  private static double standardStreams() {
    return registry.get("sluice.proxy.http2.streams.standard").counter().count();
  }

  private static long crc(String s) {
    CRC32 c = new CRC32();
    c.update(s.getBytes(StandardCharsets.UTF_8));
    return c.getValue();
  }

  @Test
  void manyStreamsOnOneConnectionStayOnTheFastPath() throws Exception {
    double before = standardStreams();
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(proxy.localAddress())) {
      String body = "a body sent over HTTP/2 ".repeat(5000);
      H2cPriorKnowledgeClient.Response post = client.post("/post", body)
          .get(10, TimeUnit.SECONDS);
      Echoed p = Echoed.parse(post.body());
      assertThat(p.bodyBytes()).isEqualTo(body.length());
    }
    try (H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(proxy.localAddress())) {
      List<CompletableFuture<H2cPriorKnowledgeClient.Response>> all = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        all.add(i % 2 == 0 ? client.get("/delay/20?i=" + i)
            : client.post("/post?i=" + i, "body " + i));
      }
      for (int i = 0; i < all.size(); i++) {
        H2cPriorKnowledgeClient.Response r = all.get(i).get(30, TimeUnit.SECONDS);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        Echoed e = Echoed.parse(r.body());
        if (i % 2 == 0) {
          assertThat(e.uri()).isEqualTo("/delay/20?i=" + i);
        } else {
          assertThat(e.uri()).isEqualTo("/post?i=" + i);
          assertThat(e.bodyCrc()).isEqualTo(crc("body " + i));
        }
        assertThat(e.header("via")).isEqualTo("2 sluice");
        assertThat(r.headers().get("via")).isEqualTo("1.1 sluice");
      }
    }
    assertThat(standardStreams()).isEqualTo(before);
  }
}
