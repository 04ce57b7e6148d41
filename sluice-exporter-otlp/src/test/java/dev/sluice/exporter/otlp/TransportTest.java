package dev.sluice.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.http.server.ErrorResponder;
import dev.sluice.http.server.HttpServer;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.otlp.Signal;
import dev.sluice.testing.TestCertificates;
import io.netty.buffer.Unpooled;
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
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/2 and TLS through the upstream group, against Sluice's own Netty server as the backend
 * (the JDK's server speaks neither h2 nor, without more set-up, TLS).
 */
class TransportTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final List<Arrival> arrivals = new CopyOnWriteArrayList<>();
  @TempDir Path dir;

  record Arrival(boolean http2, String path, String userAgent, Message message) {}

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  /** Collects each request's body, decodes it and answers 200 with an empty response. */
  private final class Collector extends ChannelInboundHandlerAdapter {
    private final boolean http2;
    private HttpRequest head;
    private final ByteArrayOutputStream body = new ByteArrayOutputStream();

    Collector(boolean http2) {
      this.http2 = http2;
    }

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
          byte[] plain = body.toByteArray();
          if ("gzip".equals(head.headers().get(HttpHeaderNames.CONTENT_ENCODING))) {
            plain = new GZIPInputStream(new ByteArrayInputStream(plain)).readAllBytes();
          }
          String path = head.uri();
          Signal signal = Signal.byId(path.substring(path.lastIndexOf('/') + 1));
          arrivals.add(new Arrival(http2, path, head.headers().get(HttpHeaderNames.USER_AGENT),
              TestData.parse(signal, plain)));
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

  private HttpServer server(TlsSettings tls) {
    HttpServer s = new HttpServer(HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0)).http2(true).tls(tls).build(),
        Collector::new, ErrorResponder.PLAIN_TEXT).start();
    closeables.add(s);
    return s;
  }

  private OtlpHttpExporter start(OtlpHttpExporter.Builder b) {
    OtlpHttpExporter e = b.batchTimeout(Duration.ZERO).version("9.9").build();
    closeables.add(e);
    e.start();
    return e;
  }

  @Test
  void h2cWithPriorKnowledge() throws Exception {
    HttpServer server = server(null);
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint("http://127.0.0.1:" + server.localAddress().getPort())
        .http2(true));
    Message m = TestData.traces(2, 1, 5, 2, 20);
    exporter.export(TestData.batch(Signal.TRACES, m)).get(10, TimeUnit.SECONDS);
    assertThat(arrivals).containsExactly(new Arrival(true, "/v1/traces", "Sluice/9.9", m));
  }

  @Test
  void httpsWithTheTestCaNegotiatesH2ByAlpn() throws Exception {
    TestCertificates certs = TestCertificates.create(dir);
    HttpServer server = server(TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2"));
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint("https://localhost:" + server.localAddress().getPort())
        .tls(UpstreamTls.builder().caFile(certs.caCert()).build()));
    Message m = TestData.logs(1, 2, 3, 0);
    exporter.export(TestData.batch(Signal.LOGS, m)).get(10, TimeUnit.SECONDS);
    assertThat(arrivals).containsExactly(new Arrival(true, "/v1/logs", "Sluice/9.9", m));
  }

  @Test
  void httpsOverHttp11WhenHttp2IsOff() throws Exception {
    TestCertificates certs = TestCertificates.create(dir);
    HttpServer server = server(TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2"));
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint("https://127.0.0.1:" + server.localAddress().getPort())
        .tls(UpstreamTls.builder().caFile(certs.caCert()).build())
        .http2(false));
    Message m = TestData.metrics(1, 1, 2, 2);
    exporter.export(TestData.batch(Signal.METRICS, m)).get(10, TimeUnit.SECONDS);
    assertThat(arrivals).containsExactly(new Arrival(false, "/v1/metrics", "Sluice/9.9", m));
  }

  @Test
  void anUntrustedServerIsAConnectionErrorAndIsRetried() throws Exception {
    TestCertificates certs = TestCertificates.create(dir);
    HttpServer server = server(TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2"));
    OtlpHttpExporter exporter = start(OtlpHttpExporter.builder()
        .endpoint("https://localhost:" + server.localAddress().getPort())
        .tls(UpstreamTls.builder().caFile(certs.untrustedCaCert()).build())
        .retry(new RetrySettings(true, Duration.ofMillis(50), Duration.ofMillis(100),
            Duration.ofMillis(400), 1.5, 0.5)));
    try {
      exporter.export(TestData.batch(Signal.LOGS, TestData.logs(1, 1, 1, 0)))
          .get(10, TimeUnit.SECONDS);
      throw new AssertionError("delivered to an untrusted server");
    } catch (java.util.concurrent.ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(ExportFailedException.class)
          .hasMessageContaining("CONNECT_FAILED");
      assertThat(((ExportFailedException) e.getCause()).attempts()).isGreaterThan(1);
    }
    assertThat(arrivals).isEmpty();
  }
}
