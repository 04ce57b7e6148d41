package dev.sluice.http.server;

import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/** Starts servers on 127.0.0.1 with an ephemeral port and closes them after each test. */
final class TestServers implements AutoCloseable {
  private final List<HttpServer> servers = new ArrayList<>();

  /** Loopback, port 0, two event loop threads; everything else at its default. */
  static HttpServerSettings.Builder settings() {
    return HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0))
        .ioThreads(2);
  }

  HttpServer start(HttpServerSettings.Builder settings, RequestHandlerFactory handlers) {
    HttpServer s = new HttpServer(settings.build(), handlers, ErrorResponder.PLAIN_TEXT);
    servers.add(s);
    return s.start();
  }

  static URI uri(HttpServer server, String scheme, String path) {
    return URI.create(scheme + "://127.0.0.1:" + server.localAddress().getPort() + path);
  }

  @Override
  public void close() {
    for (HttpServer s : servers) {
      s.close(java.time.Duration.ofMillis(500));
    }
    servers.clear();
  }
}
