package dev.sluice.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.sluice.exporter.otlp.ExportFailedException;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.http.server.ErrorResponder;
import dev.sluice.http.server.HttpServer;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.TestCertificates;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code OTEL_EXPORTER_OTLP_CERTIFICATE}, {@code _CLIENT_CERTIFICATE} and {@code _CLIENT_KEY}
 * against a real TLS server that requires a client certificate signed by the test CA.
 */
class ClientTlsTest {
  private static final String P = "OTEL_EXPORTER_OTLP_";

  private final List<AutoCloseable> closeables = new ArrayList<>();
  /** Each request that arrived: its path and the subject of the client certificate. */
  private final List<String> arrivals = new CopyOnWriteArrayList<>();
  @TempDir Path dir;
  private TestCertificates certs;
  private String url;

  @BeforeEach
  void setUp() {
    certs = TestCertificates.create(dir.resolve("pki"));
    HttpServer server = new HttpServer(HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0))
        .tls(TlsSettings.of(certs.serverCert(), certs.serverKey(), certs.caCert(), "1.2"))
        .build(), http2 -> new Answer(), ErrorResponder.PLAIN_TEXT).start();
    closeables.add(server);
    url = "https://localhost:" + server.localAddress().getPort();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  /** Records the request and answers 200 with an empty protobuf response. */
  private final class Answer extends ChannelInboundHandlerAdapter {
    private HttpRequest head;
    private final ByteArrayOutputStream body = new ByteArrayOutputStream();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
      try {
        if (msg instanceof HttpRequest r) {
          head = r;
          body.reset();
        }
        if (msg instanceof HttpContent c) {
          c.content().readBytes(body, c.content().readableBytes());
        }
        if (msg instanceof LastHttpContent) {
          // over h2 (ALPN) the request is on a stream channel whose parent holds the TLS handler
          Channel ch = ctx.channel().parent() != null ? ctx.channel().parent() : ctx.channel();
          SslHandler ssl = ch.pipeline().get(SslHandler.class);
          X509Certificate peer = ssl == null ? null
              : (X509Certificate) ssl.engine().getSession().getPeerCertificates()[0];
          String path = head.uri();
          arrivals.add(path + " from " + (peer == null ? "?" : peer.getSubjectX500Principal()
              .getName()));
          Signal signal = Signal.byId(path.substring(path.lastIndexOf('/') + 1));
          byte[] answer = signal.response(0, "").toByteArray();
          FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
              HttpResponseStatus.OK, Unpooled.wrappedBuffer(answer));
          response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/x-protobuf")
              .setInt(HttpHeaderNames.CONTENT_LENGTH, answer.length);
          ctx.writeAndFlush(response);
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }
  }

  private SluiceOtlpClient client(Map<String, String> env) {
    Map<String, String> all = new HashMap<>(env);
    all.put(P + "ENDPOINT", url);
    SluiceOtlpClient c = SluiceOtlpClient.builder().fromEnvironment(all)
        .batchTimeout(Duration.ZERO).retry(RetrySettings.disabled())
        .closeTimeout(Duration.ofSeconds(1)).build();
    closeables.add(c);
    return c;
  }

  private static ExportTraceServiceRequest spans() {
    return ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans.newBuilder()
        .addScopeSpans(ScopeSpans.newBuilder().addSpans(Span.newBuilder()
            .setTraceId(ByteString.copyFrom(new byte[16])).setName("tls")))).build();
  }

  private static ExportLogsServiceRequest logs() {
    return ExportLogsServiceRequest.newBuilder().addResourceLogs(ResourceLogs.newBuilder()
        .addScopeLogs(ScopeLogs.newBuilder().addLogRecords(LogRecord.newBuilder()
            .setSeverityText("INFO")))).build();
  }

  private static Throwable failure(java.util.concurrent.CompletableFuture<Void> f)
      throws Exception {
    try {
      f.get(20, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("the export succeeded");
  }

  @Test
  void theCaAndClientCertificateFromTheEnvironmentMakeMutualTls() throws Exception {
    SluiceOtlpClient client = client(Map.of(
        P + "CERTIFICATE", certs.caCert().toString(),
        P + "CLIENT_CERTIFICATE", certs.clientCert().toString(),
        P + "CLIENT_KEY", certs.clientKey().toString()));
    client.export(spans()).get(20, TimeUnit.SECONDS);
    client.export(logs()).get(20, TimeUnit.SECONDS);
    assertThat(arrivals).containsExactly("/v1/traces from CN=sluice-test-client",
        "/v1/logs from CN=sluice-test-client");
    assertThat(client.settings(Signal.TRACES).tls().caFile()).isEqualTo(certs.caCert());
    assertThat(client.settings(Signal.TRACES).toString()).contains("client cert");
  }

  @Test
  void withoutAClientCertificateTheServerRefusesTheConnection() throws Exception {
    SluiceOtlpClient client = client(Map.of(P + "CERTIFICATE", certs.caCert().toString()));
    assertThat(failure(client.export(spans()))).isInstanceOf(ExportFailedException.class);
    assertThat(arrivals).isEmpty();
  }

  @Test
  void withoutTheCaTheServerIsNotTrusted() throws Exception {
    SluiceOtlpClient client = client(Map.of(
        P + "CLIENT_CERTIFICATE", certs.clientCert().toString(),
        P + "CLIENT_KEY", certs.clientKey().toString()));
    assertThat(failure(client.export(spans()))).isInstanceOf(ExportFailedException.class)
        .hasMessageContaining("CONNECT_FAILED");
    assertThat(arrivals).isEmpty();
  }

  @Test
  void aSignalsOwnVariablesWinForThatSignal() throws Exception {
    SluiceOtlpClient client = client(Map.of(
        P + "CERTIFICATE", certs.untrustedCaCert().toString(),
        P + "CLIENT_CERTIFICATE", certs.clientCert().toString(),
        P + "CLIENT_KEY", certs.clientKey().toString(),
        P + "TRACES_CERTIFICATE", certs.caCert().toString()));
    client.export(spans()).get(20, TimeUnit.SECONDS);
    assertThat(failure(client.export(logs()))).isInstanceOf(ExportFailedException.class);
    assertThat(arrivals).containsExactly("/v1/traces from CN=sluice-test-client");
    assertThat(client.settings(Signal.TRACES).tls().certFile()).isEqualTo(certs.clientCert());
    assertThat(client.settings(Signal.LOGS).tls().caFile()).isEqualTo(certs.untrustedCaCert());
  }

  @Test
  void aKeyWithoutItsCertificateIsRefusedNamingBothVariables() {
    assertThatThrownBy(() -> SluiceOtlpClient.builder().fromEnvironment(Map.of(
        P + "METRICS_CLIENT_KEY", certs.clientKey().toString())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(P + "METRICS_CLIENT_KEY is set but "
            + P + "METRICS_CLIENT_CERTIFICATE is not");
  }

  @Test
  void aMissingFileIsRefusedNamingTheVariable() {
    Path missing = dir.resolve("nowhere.pem");
    assertThatThrownBy(() -> SluiceOtlpClient.builder().fromEnvironment(Map.of(
        P + "CERTIFICATE", missing.toString())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(P + "CERTIFICATE: " + missing)
        .hasMessageContaining("does not exist");
  }

  @Test
  void aFileThatHoldsNoCertificateFailsWhenTheClientIsBuilt() {
    Map<String, String> env = Map.of(P + "ENDPOINT", url,
        P + "CERTIFICATE", certs.serverKey().toString());
    assertThatThrownBy(() -> SluiceOtlpClient.builder().fromEnvironment(env).build())
        .hasMessageContaining("TLS").hasMessageContaining(certs.serverKey().toString());
  }
}
