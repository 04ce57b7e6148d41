package dev.sluice.kafka.twotier;

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
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

/**
 * The OTLP/HTTP backend at the end of the chain: the JDK's HTTP server on 127.0.0.1, which
 * decompresses (gzip) and decodes (protobuf or JSON, by Content-Type) every export request,
 * records it, and answers 200 with an empty {@code Export*ServiceResponse}; a request it cannot
 * decode is recorded with its error and answered 400.
 */
final class OtlpBackend implements AutoCloseable {
  /** One request as it arrived: its path, headers of interest and the decoded request. */
  record Received(String path, String contentType, String contentEncoding, Signal signal,
      Message request, String error) {}

  private final HttpServer server;
  private final ExecutorService threads = Executors.newFixedThreadPool(4, r -> {
    Thread t = new Thread(r, "twotier-backend");
    t.setDaemon(true);
    return t;
  });
  private final List<Received> received = new CopyOnWriteArrayList<>();

  OtlpBackend() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.createContext("/", this::handle);
    server.setExecutor(threads);
    server.start();
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  List<Received> received() {
    return List.copyOf(received);
  }

  /** The decoded requests of {@code signal}, in arrival order. */
  List<Message> requests(Signal signal) {
    List<Message> out = new ArrayList<>();
    for (Received r : received) {
      if (r.signal() == signal && r.request() != null) {
        out.add(r.request());
      }
    }
    return out;
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      String contentType = ex.getRequestHeaders().getFirst("Content-Type");
      String contentEncoding = ex.getRequestHeaders().getFirst("Content-Encoding");
      byte[] raw = ex.getRequestBody().readAllBytes();
      Signal signal = null;
      for (Signal s : Signal.values()) {
        if (s.defaultPath().equals(path)) {
          signal = s;
        }
      }
      Message request = null;
      String error = null;
      boolean json = contentType != null
          && contentType.toLowerCase(Locale.ROOT).startsWith("application/json");
      try {
        if (!"POST".equals(ex.getRequestMethod())) {
          throw new IOException("method " + ex.getRequestMethod());
        }
        if (signal == null) {
          throw new IOException("no OTLP signal at " + path);
        }
        byte[] plain = decompress(contentEncoding, raw);
        request = json ? OtlpJsonCodec.parse(plain, 0, plain.length, signal.requestPrototype())
            : signal.parseRequest(plain, 0, plain.length);
      } catch (Exception e) {
        error = e.toString();
      }
      received.add(new Received(path, contentType, contentEncoding, signal, request, error));
      byte[] body;
      int status;
      if (error == null) {
        status = 200;
        Message response = signal.response(0, "");
        body = json ? OtlpJsonCodec.toJsonBytes(response) : response.toByteArray();
      } else {
        status = 400;
        body = new byte[0];
      }
      ex.getResponseHeaders().set("Content-Type",
          json ? "application/json" : "application/x-protobuf");
      ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
      if (body.length > 0) {
        try (OutputStream out = ex.getResponseBody()) {
          out.write(body);
        }
      }
    }
  }

  private static byte[] decompress(String encoding, byte[] raw) throws IOException {
    if (encoding == null || encoding.isEmpty() || encoding.equalsIgnoreCase("identity")) {
      return raw;
    }
    if (!encoding.equalsIgnoreCase("gzip")) {
      throw new IOException("unexpected Content-Encoding " + encoding);
    }
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
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
