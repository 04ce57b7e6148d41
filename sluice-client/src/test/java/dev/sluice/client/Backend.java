package dev.sluice.client;

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
import java.util.zip.GZIPInputStream;

/**
 * An OTLP/HTTP backend for the client's tests: the JDK's HTTP server on 127.0.0.1 that decompresses
 * and decodes each request (protobuf, or OTLP/JSON by its Content-Type), records it, and answers
 * 200 with an empty protobuf body, after {@link #hold()} only once {@link #release()} was called.
 */
public final class Backend implements AutoCloseable {
  /** One request as it arrived. */
  public record Received(String path, Map<String, String> headers, byte[] body, Signal signal,
      Message message, String error) {
    public String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  private final HttpServer server;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "client-test-backend");
    t.setDaemon(true);
    return t;
  });
  private final List<Received> received = new CopyOnWriteArrayList<>();
  private volatile CountDownLatch gate;

  public Backend() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.createContext("/", this::handle);
    server.setExecutor(threads);
    server.start();
  }

  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /** From now on, requests are recorded at once but answered only after {@link #release()}. */
  public Backend hold() {
    gate = new CountDownLatch(1);
    return this;
  }

  /** Answers the held requests, and the following ones at once. */
  public void release() {
    CountDownLatch g = gate;
    gate = null;
    if (g != null) {
      g.countDown();
    }
  }

  public List<Received> received() {
    return List.copyOf(received);
  }

  public List<Message> messages() {
    return received.stream().map(Received::message).toList();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      Map<String, String> headers = new HashMap<>();
      ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), v.get(0)));
      String path = ex.getRequestURI().getRawPath();
      Signal signal = Signal.byId(path.substring(path.lastIndexOf('/') + 1));
      byte[] raw = ex.getRequestBody().readAllBytes();
      Message message = null;
      String error = null;
      try {
        byte[] plain = decompress(headers.get("content-encoding"), raw);
        if (signal == null) {
          throw new IOException("no signal at the end of " + path);
        }
        message = String.valueOf(headers.get("content-type")).contains("json")
            ? OtlpJsonCodec.parse(plain, 0, plain.length, signal.requestPrototype())
            : signal.parseRequest(plain, 0, plain.length);
      } catch (Exception e) {
        error = e.toString();
      }
      received.add(new Received(path, Map.copyOf(headers), raw, signal, message, error));
      CountDownLatch g = gate;
      if (g != null) {
        try {
          g.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          return; // closing
        }
      }
      byte[] body = error != null ? error.getBytes() : new byte[0];
      ex.getResponseHeaders().set("Content-Type",
          error != null ? "text/plain" : "application/x-protobuf");
      ex.sendResponseHeaders(error != null ? 400 : 200, body.length == 0 ? -1 : body.length);
      if (body.length > 0) {
        try (OutputStream out = ex.getResponseBody()) {
          out.write(body);
        }
      }
    }
  }

  private static byte[] decompress(String coding, byte[] raw) throws IOException {
    if (coding == null || coding.isEmpty()) {
      return raw;
    }
    if (!coding.equals("gzip")) {
      throw new IOException("unexpected Content-Encoding " + coding);
    }
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
      return in.readAllBytes();
    }
  }

  @Override
  public void close() {
    release();
    server.stop(0);
    threads.shutdownNow();
    try {
      threads.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
