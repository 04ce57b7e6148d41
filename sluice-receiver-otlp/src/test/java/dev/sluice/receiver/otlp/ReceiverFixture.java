package dev.sluice.receiver.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Pipeline;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * An {@link OtlpHttpReceiver} on 127.0.0.1 with a free port, feeding a {@link Pipeline} whose only
 * exporter is a {@link CapturingExporter}, with a {@link SimpleMeterRegistry} for its metrics and
 * an HTTP/1.1 {@link HttpClient} to talk to it.
 *
 * <pre>{@code
 * try (ReceiverFixture f = ReceiverFixture.start()) {
 *   HttpResponse<byte[]> r = f.post(Signal.TRACES, "application/x-protobuf", bytes);
 *   assertThat(r.statusCode()).isEqualTo(200);
 *   assertThat(f.exporter.only().items()).isEqualTo(3);
 * }
 *
 * ReceiverFixture f = ReceiverFixture.builder()
 *     .receiver(b -> b.maxRequestBodySize(64 * 1024))     // OtlpHttpReceiverSettings.Builder
 *     .server(b -> b.headerTimeout(Duration.ofMillis(300))) // HttpServerSettings.Builder
 *     .maxInFlightBytes(1)
 *     .start();
 * }</pre>
 *
 * <p>Every answer read through {@link #send} or {@link #post} is checked never to be a 500. Close
 * it (in {@code @AfterEach} or try-with-resources): that stops the receiver, fails what the
 * exporter still holds and closes the pipeline.
 */
public final class ReceiverFixture implements AutoCloseable {
  public static final String PROTOBUF = "application/x-protobuf";
  public static final String JSON = "application/json";
  /** How long {@link #send} waits for an answer. */
  public static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(10);

  /** One HTTP/1.1 client for all fixtures; it pools connections per host and port. */
  private static final HttpClient CLIENT =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  public final CapturingExporter exporter;
  public final Pipeline pipeline;
  public final SimpleMeterRegistry registry;
  public final OtlpHttpReceiver receiver;

  private ReceiverFixture(Builder b) {
    this.exporter = new CapturingExporter();
    this.pipeline = new Pipeline(List.of(exporter), b.maxInFlightBytes);
    this.registry = new SimpleMeterRegistry();
    OtlpHttpReceiverSettings settings = b.receiver.server(b.server.build()).build();
    pipeline.start();
    this.receiver = new OtlpHttpReceiver(settings, pipeline, registry).start();
  }

  /** A receiver with default settings (64 MiB body limit, no auth, no CORS). */
  public static ReceiverFixture start() {
    return builder().start();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Settings for a {@link ReceiverFixture}; each method may be called more than once. */
  public static final class Builder {
    private final OtlpHttpReceiverSettings.Builder receiver = OtlpHttpReceiverSettings.builder();
    private final HttpServerSettings.Builder server =
        HttpServerSettings.builder().address(new InetSocketAddress("127.0.0.1", 0)).ioThreads(2);
    private long maxInFlightBytes = 256L * 1024 * 1024;

    private Builder() {}

    /** Changes the receiver settings (paths, body size limit, auth, CORS). */
    public Builder receiver(Consumer<OtlpHttpReceiverSettings.Builder> change) {
      change.accept(receiver);
      return this;
    }

    /** Changes the HTTP server settings; the address stays 127.0.0.1:0 unless changed here. */
    public Builder server(Consumer<HttpServerSettings.Builder> change) {
      change.accept(server);
      return this;
    }

    /** The pipeline's limit on bytes handed to the exporter and not yet confirmed. */
    public Builder maxInFlightBytes(long bytes) {
      this.maxInFlightBytes = bytes;
      return this;
    }

    public ReceiverFixture start() {
      return new ReceiverFixture(this);
    }
  }

  public InetSocketAddress address() {
    return receiver.localAddress();
  }

  public URI uri(String path) {
    return URI.create("http://127.0.0.1:" + address().getPort() + path);
  }

  /** The URI of a signal's default path, e.g. {@code http://127.0.0.1:port/v1/traces}. */
  public URI uri(Signal signal) {
    return uri(signal.defaultPath());
  }

  public HttpClient client() {
    return CLIENT;
  }

  /** A request builder for {@code path} with the answer timeout set. */
  public HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(uri(path)).timeout(ANSWER_TIMEOUT);
  }

  /**
   * POSTs {@code body} to the signal's default path with this Content-Type (none when null) and
   * the extra headers given as name, value, name, value, ...
   */
  public HttpResponse<byte[]> post(Signal signal, String contentType, byte[] body,
      String... headers) {
    HttpRequest.Builder r = request(signal.defaultPath())
        .POST(HttpRequest.BodyPublishers.ofByteArray(body));
    if (contentType != null) {
      r.header("Content-Type", contentType);
    }
    for (int i = 0; i < headers.length; i += 2) {
      r.header(headers[i], headers[i + 1]);
    }
    return send(r.build());
  }

  /** Sends and waits for the answer, which must not be a 500. */
  public HttpResponse<byte[]> send(HttpRequest request) {
    try {
      return checked(CLIENT.send(request, HttpResponse.BodyHandlers.ofByteArray()));
    } catch (IOException e) {
      throw new UncheckedIOException(request.method() + " " + request.uri() + " failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  /** Sends without waiting; the answer, when it comes, must not be a 500. */
  public CompletableFuture<HttpResponse<byte[]>> sendAsync(HttpRequest request) {
    return CLIENT.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
        .thenApply(ReceiverFixture::checked);
  }

  private static HttpResponse<byte[]> checked(HttpResponse<byte[]> r) {
    assertThat(r.statusCode()).as("status of %s %s", r.request().method(), r.request().uri())
        .isNotEqualTo(500);
    return r;
  }

  /** Opens a raw HTTP/1.1 connection to the receiver. */
  public RawHttp raw() throws IOException {
    return RawHttp.connect(address());
  }

  @Override
  public void close() {
    exporter.close(); // fails what it still holds, so no connection stays busy
    try {
      receiver.close(Duration.ofSeconds(2));
    } finally {
      pipeline.close();
    }
  }
}
