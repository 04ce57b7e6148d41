package dev.sluice.http.upstream;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A plain HTTP/1.1 backend on the JDK's server, 127.0.0.1 and an ephemeral port. Answers every
 * request with {@link #status} and its name as the body; {@code /health} with {@link
 * #healthStatus}. Counts requests (health checks apart), the client connections they came on (by
 * remote address) and the most handled at once. While {@link #holding} is set, requests wait
 * until {@link #release()}.
 */
final class JdkBackend implements AutoCloseable {
  static {
    // Without it, headers and body go out in two segments and Nagle holds the second until the
    // client's delayed ACK: 40 ms per request.
    System.setProperty("sun.net.httpserver.nodelay", "true");
  }

  /** One request as the backend saw it. */
  record Seen(String method, String uri, Map<String, List<String>> headers, String body) {
    String header(String name) {
      for (Map.Entry<String, List<String>> e : headers.entrySet()) {
        if (e.getKey() != null && e.getKey().equalsIgnoreCase(name)) {
          return e.getValue().get(0);
        }
      }
      return null;
    }
  }

  final String name;
  private final HttpServer server;
  private final ExecutorService executor;
  final AtomicInteger requests = new AtomicInteger();
  final AtomicInteger healthRequests = new AtomicInteger();
  final AtomicInteger inFlight = new AtomicInteger();
  final AtomicInteger maxInFlight = new AtomicInteger();
  final Set<InetSocketAddress> connections = ConcurrentHashMap.newKeySet();
  final List<Seen> seen = new CopyOnWriteArrayList<>();
  volatile int status = 200;
  volatile int healthStatus = 200;
  volatile boolean holding;
  volatile int responseBytes = -1;
  volatile boolean closeAfterResponse;
  private volatile CompletableFuture<Void> hold = new CompletableFuture<>();
  private boolean closed;

  JdkBackend(String name) throws IOException {
    this(name, 0);
  }

  /** On a given port: a backend restarted where an earlier one listened. */
  JdkBackend(String name, int port) throws IOException {
    this.name = name;
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "backend-" + name);
      t.setDaemon(true);
      return t;
    });
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 100);
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
  }

  int port() {
    return server.getAddress().getPort();
  }

  Endpoint endpoint() {
    return endpoint(1);
  }

  Endpoint endpoint(int weight) {
    return new Endpoint(URI.create("http://127.0.0.1:" + port()), weight);
  }

  /** Lets every held request, now and later, be answered, and stops holding. */
  void release() {
    holding = false;
    hold.complete(null);
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      byte[] in = exchange.getRequestBody().readAllBytes();
      String path = exchange.getRequestURI().getPath();
      if (path.equals("/health")) {
        healthRequests.incrementAndGet();
        respond(exchange, healthStatus, "health".getBytes(StandardCharsets.UTF_8));
        return;
      }
      requests.incrementAndGet();
      connections.add(exchange.getRemoteAddress());
      seen.add(new Seen(exchange.getRequestMethod(), exchange.getRequestURI().toString(),
          Map.copyOf(exchange.getRequestHeaders()), new String(in, StandardCharsets.UTF_8)));
      int now = inFlight.incrementAndGet();
      maxInFlight.accumulateAndGet(now, Math::max);
      try {
        if (holding) {
          hold.get(10, TimeUnit.SECONDS);
        }
      } catch (Exception e) {
        // answer anyway
      } finally {
        inFlight.decrementAndGet();
      }
      byte[] body;
      if (responseBytes >= 0) {
        body = new byte[responseBytes];
        java.util.Arrays.fill(body, (byte) 'x');
      } else {
        body = name.getBytes(StandardCharsets.UTF_8);
      }
      if (closeAfterResponse) {
        exchange.getResponseHeaders().set("Connection", "close");
      }
      respond(exchange, status, body);
    }
  }

  private static void respond(HttpExchange exchange, int status, byte[] body) throws IOException {
    exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    if (body.length > 0) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  /** Stops listening and closes every connection: a dead backend. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    release();
    server.stop(0);
    executor.shutdownNow();
  }
}
