package dev.sluice.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

class ProxySmokeTest {
  @Test
  void getAndPostGoThroughAndBack() throws Exception {
    try (TestBackend backend = TestBackend.start("b1");
        ReverseProxy proxy = ReverseProxy.builder(TestProxies.to(backend.url())).ioThreads(1)
            .build().start()) {
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      String base = "http://127.0.0.1:" + proxy.localAddress().getPort();
      HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(base + "/hello?x=1"))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      assertTrue(r.body().startsWith("GET /hello?x=1\n"), r.body());
      assertTrue(r.body().contains("x-forwarded-for: 127.0.0.1\n"), r.body());
      assertTrue(r.body().contains("via: 1.1 sluice\n"), r.body());
      HttpResponse<String> p = client.send(HttpRequest.newBuilder(URI.create(base + "/post"))
          .POST(HttpRequest.BodyPublishers.ofString("hello body")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, p.statusCode(), p.body());
      assertTrue(p.body().contains("body-bytes: 10\n"), p.body());
      assertEquals("b1", p.headers().firstValue("x-backend").orElse(null));
      assertTrue(p.headers().firstValue("x-hop-response").isEmpty(), "hop-by-hop header passed");
      assertEquals(1, backend.connections.get(), "the upstream connection was reused");
    }
  }
}
