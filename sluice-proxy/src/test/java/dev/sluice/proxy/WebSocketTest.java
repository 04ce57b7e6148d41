package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import dev.sluice.proxy.settings.RouteSettings;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A WebSocket through the proxy: the handshake passes, then frames flow both ways until a close. */
class WebSocketTest {
  private static TestBackend backend;
  private static ReverseProxy proxy;

  @BeforeAll
  static void start() {
    backend = TestBackend.start("ws1");
    proxy = ReverseProxy.builder(TestProxies.to(backend.url())).ioThreads(1).build().start();
  }

  @AfterAll
  static void stop() {
    proxy.close();
    backend.close();
  }

  /** Collects what the client hears. */
  private static final class Listener implements WebSocket.Listener {
    final LinkedBlockingQueue<String> texts = new LinkedBlockingQueue<>();
    final CompletableFuture<Integer> closed = new CompletableFuture<>();
    private final StringBuilder partial = new StringBuilder();

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        texts.add(partial.toString());
        partial.setLength(0);
      }
      ws.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
      closed.complete(statusCode);
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      closed.completeExceptionally(error);
    }
  }

  private static WebSocket connect(Listener listener) throws Exception {
    return HttpClient.newHttpClient().newWebSocketBuilder()
        .buildAsync(URI.create("ws://127.0.0.1:" + proxy.localAddress().getPort() + "/ws"),
            listener)
        .get(10, TimeUnit.SECONDS);
  }

  @Test
  void messagesFlowBothWaysAndTheClientsCloseIsAnswered() throws Exception {
    Listener listener = new Listener();
    WebSocket ws = connect(listener);
    for (int i = 0; i < 20; i++) {
      ws.sendText("message " + i, true).get(10, TimeUnit.SECONDS);
      assertThat(listener.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("ws1: message " + i);
    }
    String large = "x".repeat(40_000);
    ws.sendText(large, true).get(10, TimeUnit.SECONDS);
    String echoed = listener.texts.poll(10, TimeUnit.SECONDS);
    assertThat(echoed).as("the echo of 40000 x").isNotNull();
    assertThat(echoed.length()).isEqualTo(large.length() + 5);
    assertThat(echoed).isEqualTo("ws1: " + large);
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);
    assertThat(listener.closed.get(10, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);
  }

  @Test
  void theBackendsCloseReachesTheClient() throws Exception {
    Listener listener = new Listener();
    WebSocket ws = connect(listener);
    ws.sendText("hello", true).get(10, TimeUnit.SECONDS);
    assertThat(listener.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("ws1: hello");
    ws.sendText("bye", true).get(10, TimeUnit.SECONDS);
    assertThat(listener.closed.get(10, TimeUnit.SECONDS)).isEqualTo(1000);
  }

  @Test
  void aSilentTunnelIsClosedAfterTheRoutesIdleTimeout() throws Exception {
    var timeouts = RouteSettings.Timeouts.defaults();
    try (ReverseProxy quick = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("all", "backend").timeouts(new RouteSettings.Timeouts(
            timeouts.connect(), timeouts.firstByte(), timeouts.read(), timeouts.write(),
            Duration.ofMillis(300))).build())
        .build()).ioThreads(1).build().start()) {
      Listener listener = new Listener();
      WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
          .buildAsync(URI.create("ws://127.0.0.1:" + quick.localAddress().getPort() + "/ws"),
              listener)
          .get(10, TimeUnit.SECONDS);
      ws.sendText("once", true).get(10, TimeUnit.SECONDS);
      assertThat(listener.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("ws1: once");
      long start = System.nanoTime();
      // Nothing more is sent either way: the proxy ends the tunnel, which the client hears of as
      // an abnormal closure (1006) or an error, never as a close frame from the backend.
      int code = listener.closed.handle((c, error) -> error != null ? -1 : c)
          .get(10, TimeUnit.SECONDS);
      assertThat(code).isIn(1006, -1);
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(
          Duration.ofMillis(200));
    }
  }

  @Test
  void plainRequestsStillWorkBesideTunnels() throws Exception {
    Listener listener = new Listener();
    WebSocket ws = connect(listener);
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      RawHttp.Response r = c.send("GET /plain HTTP/1.1\r\nHost: a\r\n\r\n").read();
      assertThat(Echoed.parse(r.text()).uri()).isEqualTo("/plain");
    }
    ws.sendText("still open", true).get(10, TimeUnit.SECONDS);
    assertThat(listener.texts.poll(10, TimeUnit.SECONDS)).isEqualTo("ws1: still open");
    ws.abort();
  }
}
