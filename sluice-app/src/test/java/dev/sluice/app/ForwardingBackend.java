package dev.sluice.app;

import com.github.luben.zstd.ZstdInputStream;
import com.google.protobuf.Message;
import com.google.rpc.Status;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPInputStream;

/**
 * An OTLP/HTTP backend for the forwarding tests: the JDK's HTTP server on 127.0.0.1, which
 * decompresses (gzip, zstd) and decodes (protobuf or JSON, by Content-Type) every export request,
 * records it with its arrival time and the status it was answered with, and answers as its {@link
 * Responder} says (by default 200 with an empty {@code Export*ServiceResponse}). {@code GET
 * /health} answers {@link #healthStatus(int)} (200 by default) and is counted apart.
 */
public final class ForwardingBackend implements AutoCloseable {
  /** One export request as it arrived, and the status it was answered with. */
  public record Request(int index, String path, Map<String, String> headers, Signal signal,
      Message message, String error, long arrivalNanos, int status) {
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }

    public boolean accepted() {
      return status >= 200 && status < 300;
    }

    /** The items of the request (span ids, metric names or log bodies); empty if undecoded. */
    public List<String> itemKeys() {
      return message == null ? List.of() : OtlpItems.keys(message);
    }
  }

  /** An answer. */
  public record Reply(int status, Map<String, String> headers, byte[] body) {
    public static Reply status(int status) {
      return new Reply(status, Map.of(), new byte[0]);
    }

    /** An error answer with a {@code google.rpc.Status} body carrying {@code message}. */
    public static Reply error(int status, String message) {
      return new Reply(status, Map.of("Content-Type", "application/x-protobuf"),
          Status.newBuilder().setCode(3).setMessage(message).build().toByteArray());
    }

    public Reply header(String name, String value) {
      Map<String, String> h = new HashMap<>(headers);
      h.put(name, value);
      return new Reply(status, h, body);
    }
  }

  /** Decides the answer to a request; {@code null} means the default success. */
  @FunctionalInterface
  public interface Responder {
    Reply reply(Request request);
  }

  private final HttpServer server;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "forwarding-test-backend");
    t.setDaemon(true);
    return t;
  });
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private final AtomicInteger count = new AtomicInteger();
  private final AtomicInteger healthChecks = new AtomicInteger();
  private volatile int healthStatus = 200;
  private volatile Responder responder = r -> null;

  private ForwardingBackend(int port) throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
    server.createContext("/", this::handle);
    server.setExecutor(threads);
    server.start();
  }

  /** A backend on a port of its own. */
  public static ForwardingBackend start() throws IOException {
    return new ForwardingBackend(0);
  }

  /** A backend on {@code port}, for one that comes up where Sluice already sends. */
  public static ForwardingBackend start(int port) throws IOException {
    return new ForwardingBackend(port);
  }

  /** A port nobody listens on now (for a backend started later). */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public int port() {
    return server.getAddress().getPort();
  }

  public String url() {
    return "http://127.0.0.1:" + port();
  }

  public ForwardingBackend responder(Responder r) {
    this.responder = r;
    return this;
  }

  public ForwardingBackend healthStatus(int status) {
    this.healthStatus = status;
    return this;
  }

  /** Every export request, in order of arrival. */
  public List<Request> requests() {
    return List.copyOf(requests);
  }

  /** Export requests answered with a 2xx. */
  public List<Request> accepted() {
    return requests.stream().filter(Request::accepted).toList();
  }

  /** How often each item (span id, metric name, log body) was accepted. */
  public Map<String, Integer> acceptedItemCounts() {
    Map<String, Integer> out = new HashMap<>();
    for (Request r : accepted()) {
      for (String k : r.itemKeys()) {
        out.merge(k, 1, Integer::sum);
      }
    }
    return out;
  }

  /** The accepted items with their content, by key; later copies replace earlier ones. */
  public Map<String, OtlpItems.Item> acceptedItems() {
    Map<String, OtlpItems.Item> out = new LinkedHashMap<>();
    for (Request r : accepted()) {
      for (OtlpItems.Item i : OtlpItems.items(r.message())) {
        out.put(i.key(), i);
      }
    }
    return out;
  }

  public int healthChecks() {
    return healthChecks.get();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      long now = System.nanoTime();
      String path = ex.getRequestURI().getRawPath();
      if (ex.getRequestMethod().equals("GET") && path.equals("/health")) {
        healthChecks.incrementAndGet();
        ex.getRequestBody().readAllBytes();
        ex.sendResponseHeaders(healthStatus, -1);
        return;
      }
      int index = count.getAndIncrement();
      Map<String, String> headers = new HashMap<>();
      ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), v.get(0)));
      Signal signal = Signal.byId(path.substring(path.lastIndexOf('/') + 1));
      byte[] raw = ex.getRequestBody().readAllBytes();
      boolean json = String.valueOf(headers.get("content-type")).contains("json");
      Message message = null;
      String error = null;
      try {
        if (signal == null) {
          throw new IOException("no signal in path " + path);
        }
        byte[] plain = decompress(headers.get("content-encoding"), raw);
        message = json ? OtlpJsonCodec.parse(plain, 0, plain.length, signal.requestPrototype())
            : signal.parseRequest(plain, 0, plain.length);
      } catch (Exception e) {
        error = e.toString();
      }
      Request provisional = new Request(index, path, Map.copyOf(headers), signal, message, error,
          now, 0);
      Reply reply;
      try {
        reply = responder.reply(provisional);
      } catch (RuntimeException e) {
        reply = Reply.error(500, "responder failed: " + e);
      }
      if (reply == null) {
        reply = error != null ? Reply.error(400, error) : ok(signal, json);
      }
      requests.add(new Request(index, path, Map.copyOf(headers), signal, message, error, now,
          reply.status()));
      reply.headers().forEach((k, v) -> ex.getResponseHeaders().set(k, v));
      byte[] body = reply.body();
      ex.sendResponseHeaders(reply.status(), body.length == 0 ? -1 : body.length);
      if (body.length > 0) {
        try (OutputStream out = ex.getResponseBody()) {
          out.write(body);
        }
      }
    }
  }

  private static Reply ok(Signal signal, boolean json) {
    Message m = signal.response(0, "");
    return json
        ? new Reply(200, Map.of("Content-Type", "application/json"), OtlpJsonCodec.toJsonBytes(m))
        : new Reply(200, Map.of("Content-Type", "application/x-protobuf"), m.toByteArray());
  }

  private static byte[] decompress(String coding, byte[] raw) throws IOException {
    if (coding == null || coding.isEmpty() || coding.equals("identity")) {
      return raw;
    }
    InputStream in;
    switch (coding) {
      case "gzip":
        in = new GZIPInputStream(new ByteArrayInputStream(raw));
        break;
      case "zstd":
        in = new ZstdInputStream(new ByteArrayInputStream(raw));
        break;
      default:
        throw new IOException("unknown Content-Encoding " + coding);
    }
    try (in) {
      return in.readAllBytes();
    }
  }

  @Override
  public void close() {
    server.stop(0);
    threads.shutdownNow();
    try {
      threads.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
