package dev.sluice.receiver.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Pipeline;
import dev.sluice.testing.H2cPriorKnowledgeClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** OTLP/HTTP protobuf export over HTTP/2 in cleartext: the h2c upgrade and prior knowledge. */
class TransportHttp2Test {
  private TransportCapturingExporter exporter;
  private Pipeline pipeline;
  private OtlpHttpReceiver receiver;

  @BeforeEach
  void start() {
    exporter = new TransportCapturingExporter();
    pipeline = new Pipeline(List.of(exporter), 16 << 20);
    pipeline.start();
    receiver = new OtlpHttpReceiver(OtlpHttpReceiverSettings.builder()
        .server(HttpServerSettings.builder()
            .address(new InetSocketAddress("127.0.0.1", 0))
            .ioThreads(2)
            .build())
        .build(), pipeline, new SimpleMeterRegistry()).start();
  }

  @AfterEach
  void stop() {
    receiver.close(Duration.ofMillis(500));
    pipeline.close();
  }

  /** A trace export request with {@code spans} valid spans named after {@code tag}. */
  static ExportTraceServiceRequest traces(String tag, int spans) {
    ScopeSpans.Builder scope = ScopeSpans.newBuilder();
    for (int i = 0; i < spans; i++) {
      byte[] traceId = java.nio.ByteBuffer.allocate(16).putInt(tag.hashCode()).putInt(12, i + 1)
          .array();
      byte[] spanId = java.nio.ByteBuffer.allocate(8).putInt(4, i + 1).array(); // never zero
      scope.addSpans(Span.newBuilder()
          .setTraceId(ByteString.copyFrom(traceId))
          .setSpanId(ByteString.copyFrom(spanId))
          .setName(tag + "-" + i)
          .setStartTimeUnixNano(1_700_000_000_000_000_000L + i)
          .setEndTimeUnixNano(1_700_000_000_000_000_000L + i + 1000));
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(Resource.newBuilder().addAttributes(KeyValue.newBuilder()
                .setKey("service.name")
                .setValue(AnyValue.newBuilder().setStringValue("transport-test"))))
            .addScopeSpans(scope))
        .build();
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + receiver.localAddress().getPort() + path);
  }

  private static java.net.http.HttpRequest protobufPost(URI uri, byte[] body) {
    return java.net.http.HttpRequest.newBuilder(uri)
        .header("Content-Type", "application/x-protobuf")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body))
        .timeout(Duration.ofSeconds(10))
        .build();
  }

  private void assertExported(int index, ExportTraceServiceRequest sent) throws Exception {
    TransportCapturingExporter.Batch b = exporter.batches().get(index);
    assertThat(b.signal).isEqualTo(Signal.TRACES);
    assertThat(b.items).isEqualTo(sent.getResourceSpans(0).getScopeSpans(0).getSpansCount());
    assertThat(ExportTraceServiceRequest.parseFrom(b.payload)).isEqualTo(sent);
  }

  @Test
  void exportsOverAnH2cUpgrade() throws Exception {
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    ExportTraceServiceRequest first = traces("upgrade-first", 3);
    ExportTraceServiceRequest second = traces("upgrade-second", 5);

    HttpResponse<byte[]> r1 = client.send(protobufPost(uri("/v1/traces"), first.toByteArray()),
        HttpResponse.BodyHandlers.ofByteArray());
    HttpResponse<byte[]> r2 = client.send(protobufPost(uri("/v1/traces"), second.toByteArray()),
        HttpResponse.BodyHandlers.ofByteArray());

    assertThat(r1.statusCode()).isEqualTo(200);
    assertThat(r2.statusCode()).isEqualTo(200);
    assertThat(r2.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(r2.headers().firstValue("content-type")).hasValue("application/x-protobuf");
    ExportTraceServiceResponse answer = ExportTraceServiceResponse.parseFrom(r2.body());
    assertThat(answer.hasPartialSuccess()).isFalse();
    assertThat(exporter.batches()).hasSize(2);
    assertExported(0, first);
    assertExported(1, second);
  }

  @Test
  void exportsALargeFirstRequestOverH2cUpgrade() throws Exception {
    // The JDK client puts the upgrade on its first request whatever its size.
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    ExportTraceServiceRequest big = traces("x".repeat(200), 12_000);
    assertThat(big.getSerializedSize()).isGreaterThan(1 << 20);
    HttpResponse<byte[]> r = client.send(protobufPost(uri("/v1/traces"), big.toByteArray()),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(exporter.batches()).hasSize(1);
    assertExported(0, big);
  }

  @Test
  void exportsWithPriorKnowledge() throws Exception {
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(receiver.localAddress())) {
      ExportTraceServiceRequest a = traces("prior-a", 2);
      ExportTraceServiceRequest b = traces("prior-b", 4);
      H2cPriorKnowledgeClient.Response ra = h2.send(post(), a.toByteArray(), true)
          .get(10, TimeUnit.SECONDS);
      H2cPriorKnowledgeClient.Response rb = h2.send(post(), b.toByteArray(), true)
          .get(10, TimeUnit.SECONDS);

      assertThat(ra.status()).isEqualTo(200);
      assertThat(rb.status()).isEqualTo(200);
      assertThat(rb.streamId()).as("second stream of the same connection")
          .isGreaterThan(ra.streamId());
      assertThat(rb.headers().get("content-type")).isEqualTo("application/x-protobuf");
      assertThat(exporter.batches()).hasSize(2);
      assertExported(0, a);
      assertExported(1, b);
    }
  }

  @Test
  void answersErrorsOnTheStreamAndKeepsTheConnection() throws Exception {
    try (H2cPriorKnowledgeClient h2 = new H2cPriorKnowledgeClient(receiver.localAddress())) {
      H2cPriorKnowledgeClient.Response notFound = h2.send(
          new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/v1/nothing"),
          new byte[] {1, 2, 3}, true).get(10, TimeUnit.SECONDS);
      assertThat(notFound.status()).isEqualTo(404);
      ExportTraceServiceRequest ok = traces("after-error", 1);
      H2cPriorKnowledgeClient.Response r = h2.send(post(), ok.toByteArray(), true)
          .get(10, TimeUnit.SECONDS);
      assertThat(r.status()).isEqualTo(200);
      assertThat(exporter.batches()).hasSize(1);
      assertExported(0, ok);
    }
  }

  private static HttpRequest post() {
    HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/v1/traces");
    head.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/x-protobuf");
    return head;
  }
}
