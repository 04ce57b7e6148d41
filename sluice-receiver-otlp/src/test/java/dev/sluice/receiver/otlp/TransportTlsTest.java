package dev.sluice.receiver.otlp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Pipeline;
import dev.sluice.testing.TestCertificates;
import dev.sluice.testing.TestCertificates.ClientIdentity;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** OTLP/HTTP protobuf export over TLS: h2 by ALPN, HTTP/1.1, mutual TLS. */
class TransportTlsTest {
  @TempDir static Path dir;
  private static TestCertificates certs;

  private final TransportCapturingExporter exporter = new TransportCapturingExporter();
  private Pipeline pipeline;
  private OtlpHttpReceiver receiver;

  @BeforeAll
  static void makeCertificates() {
    certs = TestCertificates.create(dir.resolve("pki"));
  }

  @AfterEach
  void stop() {
    if (receiver != null) {
      receiver.close(Duration.ofMillis(500));
    }
    if (pipeline != null) {
      pipeline.close();
    }
  }

  private void start(Path clientCa) {
    pipeline = new Pipeline(List.of(exporter), 16 << 20);
    pipeline.start();
    receiver = new OtlpHttpReceiver(OtlpHttpReceiverSettings.builder()
        .server(HttpServerSettings.builder()
            .address(new InetSocketAddress("127.0.0.1", 0))
            .ioThreads(2)
            .tls(TlsSettings.of(certs.serverCert(), certs.serverKey(), clientCa, "1.2"))
            .build())
        .build(), pipeline, new SimpleMeterRegistry()).start();
  }

  private HttpResponse<byte[]> export(HttpClient client, ExportTraceServiceRequest body)
      throws IOException, InterruptedException {
    URI uri = URI.create("https://127.0.0.1:" + receiver.localAddress().getPort() + "/v1/traces");
    return client.send(java.net.http.HttpRequest.newBuilder(uri)
            .header("Content-Type", "application/x-protobuf")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()))
            .timeout(Duration.ofSeconds(10))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  private static HttpClient client(HttpClient.Version version, SSLContext ctx) {
    return HttpClient.newBuilder().version(version).sslContext(ctx)
        .connectTimeout(Duration.ofSeconds(5)).build();
  }

  private void assertExported(int index, ExportTraceServiceRequest sent) throws Exception {
    TransportCapturingExporter.Batch b = exporter.batches().get(index);
    assertThat(b.signal).isEqualTo(Signal.TRACES);
    assertThat(b.items).isEqualTo(sent.getResourceSpans(0).getScopeSpans(0).getSpansCount());
    assertThat(ExportTraceServiceRequest.parseFrom(b.payload)).isEqualTo(sent);
  }

  @Test
  void exportsOverHttp2NegotiatedByAlpn() throws Exception {
    start(null);
    HttpClient client = client(HttpClient.Version.HTTP_2, certs.clientContext());
    ExportTraceServiceRequest a = TransportHttp2Test.traces("tls-a", 3);
    ExportTraceServiceRequest b = TransportHttp2Test.traces("tls-b", 1);

    HttpResponse<byte[]> ra = export(client, a);
    HttpResponse<byte[]> rb = export(client, b);

    assertThat(ra.statusCode()).isEqualTo(200);
    assertThat(ra.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(rb.statusCode()).isEqualTo(200);
    assertThat(rb.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(ExportTraceServiceResponse.parseFrom(rb.body()).hasPartialSuccess()).isFalse();
    assertThat(exporter.batches()).hasSize(2);
    assertExported(0, a);
    assertExported(1, b);
  }

  @Test
  void exportsOverHttp11WithTls() throws Exception {
    start(null);
    HttpClient client = client(HttpClient.Version.HTTP_1_1, certs.clientContext());
    ExportTraceServiceRequest a = TransportHttp2Test.traces("tls-http11", 2);
    HttpResponse<byte[]> r = export(client, a);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
    assertThat(exporter.batches()).hasSize(1);
    assertExported(0, a);
  }

  @Test
  void mutualTlsLetsOnlyTrustedClientsExport() throws Exception {
    start(certs.caCert());
    ExportTraceServiceRequest refused = TransportHttp2Test.traces("no-cert", 1);
    assertThatThrownBy(() -> export(client(HttpClient.Version.HTTP_2, certs.clientContext()),
        refused)).isInstanceOf(IOException.class);
    assertThatThrownBy(() -> export(client(HttpClient.Version.HTTP_2,
        certs.clientContext(ClientIdentity.UNTRUSTED)), refused))
        .isInstanceOf(IOException.class);

    ExportTraceServiceRequest ok = TransportHttp2Test.traces("with-cert", 2);
    HttpResponse<byte[]> r = export(client(HttpClient.Version.HTTP_2,
        certs.clientContext(ClientIdentity.TRUSTED)), ok);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(exporter.batches()).as("only the trusted client's data").hasSize(1);
    assertExported(0, ok);
  }
}
