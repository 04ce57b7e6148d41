package dev.sluice.exporter.otlp.testdata;

import com.github.luben.zstd.ZstdInputStream;
import com.google.protobuf.Message;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPInputStream;

/**
 * An OTLP/HTTP backend for tests: the JDK's HTTP server on 127.0.0.1, which decompresses and
 * decodes every request (protobuf or JSON, by its Content-Type), records it, and answers as its
 * {@link Responder} says (by default 200 with an empty Export*ServiceResponse in the request's
 * encoding).
 */
public final class Backend implements AutoCloseable {
  /** One request as it arrived. */
  public record Received(int index, String path, Map<String, String> headers, Signal signal,
      Message message, int protobufBytes, long nanoTime, String error) {
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  /** An answer. */
  public record Reply(int status, Map<String, String> headers, byte[] body) {
    public static Reply status(int status) {
      return new Reply(status, Map.of(), new byte[0]);
    }

    public Reply header(String name, String value) {
      Map<String, String> h = new HashMap<>(headers);
      h.put(name, value);
      return new Reply(status, h, body);
    }

    public Reply body(String contentType, byte[] body) {
      return new Reply(status, headers, body).header("Content-Type", contentType);
    }
  }

  /** Decides the answer to a request; {@code null} means the default success. */
  @FunctionalInterface
  public interface Responder {
    Reply reply(Received request) throws Exception;
  }

  private final HttpServer server;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "test-backend");
    t.setDaemon(true);
    return t;
  });
  private final List<Received> received = new CopyOnWriteArrayList<>();
  private final AtomicInteger count = new AtomicInteger();
  /** Released on close, for responders that hold a request. */
  public final CountDownLatch closing = new CountDownLatch(1);
  private volatile Responder responder = r -> null;

  private Backend(int port) throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.createContext("/", this::handle);
    server.setExecutor(threads);
    server.start();
  }

  public static Backend start() throws IOException {
    return new Backend(0);
  }

  public static Backend start(int port) throws IOException {
    return new Backend(port);
  }

  public int port() {
    return server.getAddress().getPort();
  }

  public String url() {
    return "http://127.0.0.1:" + port();
  }

  public Backend responder(Responder r) {
    this.responder = r;
    return this;
  }

  public List<Received> received() {
    return List.copyOf(received);
  }

  /** Requests decoded without error. */
  public List<Message> messages() {
    return received.stream().filter(r -> r.message() != null).map(Received::message).toList();
  }

  public int requests() {
    return count.get();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      int index = count.getAndIncrement();
      long now = System.nanoTime();
      Map<String, String> headers = new HashMap<>();
      ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), v.get(0)));
      String path = ex.getRequestURI().getRawPath()
          + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery());
      String last = ex.getRequestURI().getPath().substring(
          ex.getRequestURI().getPath().lastIndexOf('/') + 1);
      Signal signal = Signal.byId(last);
      byte[] raw = ex.getRequestBody().readAllBytes();
      Message message = null;
      int protobufBytes = -1;
      String error = null;
      boolean json = String.valueOf(headers.get("content-type")).contains("json");
      try {
        byte[] plain = decompress(headers.get("content-encoding"), raw);
        if (signal == null) {
          throw new IOException("no signal in path " + path);
        }
        if (json) {
          message = OtlpJsonCodec.parse(plain, 0, plain.length, signal.requestPrototype());
          protobufBytes = message.getSerializedSize();
        } else {
          message = signal.parseRequest(plain, 0, plain.length);
          protobufBytes = plain.length;
        }
      } catch (Exception e) {
        error = e.toString();
      }
      Received r = new Received(index, path, Map.copyOf(headers), signal, message, protobufBytes,
          now, error);
      received.add(r);
      Reply reply;
      try {
        reply = responder.reply(r);
      } catch (Exception e) {
        reply = Reply.status(500).body("text/plain", e.toString().getBytes());
      }
      if (reply == null) {
        reply = error != null
            ? Reply.status(400).body("text/plain", error.getBytes())
            : ok(signal, json, 0, "");
      }
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

  /** A 200 with an Export*ServiceResponse, with partial success when {@code rejected > 0}. */
  public static Reply ok(Signal signal, boolean json, long rejected, String message) {
    Message m = signal.response(rejected, message);
    return json
        ? Reply.status(200).body("application/json", OtlpJsonCodec.toJsonBytes(m))
        : Reply.status(200).body("application/x-protobuf", m.toByteArray());
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
    closing.countDown();
    server.stop(0);
    threads.shutdownNow();
    try {
      threads.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
