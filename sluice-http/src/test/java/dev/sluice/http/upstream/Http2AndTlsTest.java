package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.server.ErrorResponder;
import dev.sluice.http.server.HttpServer;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.testing.Await;
import dev.sluice.testing.TestCertificates;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTP/2 (prior knowledge and ALPN) and TLS against the engine's own server. */
class Http2AndTlsTest {
  @TempDir static Path dir;
  private static TestCertificates certs;

  private final RecordingApp app = new RecordingApp();
  private final List<HttpServer> servers = new ArrayList<>();
  private final List<UpstreamGroup> groups = new ArrayList<>();

  @BeforeAll
  static void makeCertificates() {
    certs = TestCertificates.create(dir.resolve("pki"));
  }

  @AfterEach
  void tearDown() {
    groups.forEach(UpstreamGroup::close);
    servers.forEach(s -> s.close(Duration.ofMillis(200)));
  }

  private HttpServer server(TlsSettings tls, boolean http2) {
    HttpServer s = new HttpServer(HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0)).ioThreads(1).tls(tls).http2(http2)
        .build(), app, ErrorResponder.PLAIN_TEXT);
    servers.add(s);
    return s.start();
  }

  private static Endpoint endpoint(String scheme, HttpServer s) {
    return new Endpoint(URI.create(scheme + "://127.0.0.1:" + s.localAddress().getPort()), 1);
  }

  private UpstreamGroup group(UpstreamGroup.Builder b) {
    UpstreamGroup g = b.connectTimeout(Duration.ofSeconds(3)).build();
    groups.add(g);
    return g;
  }

  private static TlsSettings serverTls(Path clientCa) {
    return TlsSettings.of(certs.serverCert(), certs.serverKey(), clientCa, "1.2");
  }

  private static UpstreamTls.Builder trusting() {
    return UpstreamTls.builder().caFile(certs.caCert());
  }

  @Test
  void h2cWithPriorKnowledgeMultiplexesOneConnection() throws Exception {
    HttpServer s = server(null, true);
    Endpoint e = endpoint("http", s);
    UpstreamGroup g = group(UpstreamGroup.builder().name("h2c").endpoints(List.of(e))
        .http2(true));
    List<CompletableFuture<UpstreamResponse>> futures = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      futures.add(g.send(Calls.post("/v1/traces", "payload-" + i)));
    }
    for (CompletableFuture<UpstreamResponse> f : futures) {
      Calls.Answer a = Calls.answer(f);
      assertThat(a.status()).isEqualTo(200);
      assertThat(a.body()).startsWith("h2=true host=127.0.0.1:" + s.localAddress().getPort());
      assertThat(a.headers().contains("x-http2-stream-id")).isFalse();
    }
    assertThat(app.seen).hasSize(50).allMatch(RecordingApp.Seen::http2);
    assertThat(app.seen.get(0).bytes()).isEqualTo("payload-0".length());
    assertThat(s.openConnections()).as("one multiplexed connection").isEqualTo(1);
    assertThat(Calls.status(g, e).openConnections()).isEqualTo(1);
  }

  @Test
  void anHttp2StreamThatTimesOutIsResetAndTheConnectionLives() throws Exception {
    HttpServer s = server(null, true);
    Endpoint e = endpoint("http", s);
    UpstreamGroup g = group(UpstreamGroup.builder().name("h2-timeout").endpoints(List.of(e))
        .http2(true).requestTimeout(Duration.ofMillis(300)));
    assertThat(Calls.send(g, Calls.get("/first")).status()).isEqualTo(200);
    UpstreamException timeout = Calls.failure(g.send(Calls.get("/hold")));
    assertThat(timeout.kind()).isEqualTo(UpstreamException.Kind.TIMEOUT);
    assertThat(timeout.reachedUpstream()).isTrue();
    assertThat(Calls.send(g, Calls.get("/after")).status()).isEqualTo(200);
    assertThat(s.openConnections()).isEqualTo(1);
    Await.until("no stream outstanding", Duration.ofSeconds(5),
        () -> Calls.status(g, e).outstandingRequests() == 0);
  }

  @Test
  void aStreamInFlightWhenTheServerGoesAwayIsConnectionLost() throws Exception {
    HttpServer s = server(null, true);
    Endpoint e = endpoint("http", s);
    UpstreamGroup g = group(UpstreamGroup.builder().name("h2-lost").endpoints(List.of(e))
        .http2(true));
    CompletableFuture<UpstreamResponse> held = g.send(Calls.get("/hold"));
    Await.until("held by the server", Duration.ofSeconds(5), () -> app.held.get() == 1);
    s.close(Duration.ofMillis(100)); // GOAWAY, then the connection closes with the stream open
    UpstreamException lost = Calls.failure(held);
    assertThat(lost.kind()).isEqualTo(UpstreamException.Kind.CONNECTION_LOST);
    assertThat(lost.reachedUpstream()).as("the server had the stream").isTrue();
    Await.until("the connection forgotten", Duration.ofSeconds(5),
        () -> Calls.status(g, e).openConnections() == 0);
  }

  @Test
  void h2cAgainstAnHttp1OnlyServerFailsToConnect() throws Exception {
    HttpServer s = server(null, false);
    UpstreamGroup g = group(UpstreamGroup.builder().name("h2c-refused")
        .endpoints(List.of(endpoint("http", s))).http2(true)
        .connectTimeout(Duration.ofMillis(500)));
    UpstreamException e = Calls.failure(g.send(Calls.get("/x")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(e.reachedUpstream()).isFalse();
  }

  @Test
  void h2ByAlpnOverTls() throws Exception {
    HttpServer s = server(serverTls(null), true);
    UpstreamGroup g = group(UpstreamGroup.builder().name("alpn")
        .endpoints(List.of(endpoint("https", s))).tls(trusting().build()));
    for (int i = 0; i < 10; i++) {
      Calls.Answer a = Calls.send(g, Calls.post("/secure", "x"));
      assertThat(a.status()).isEqualTo(200);
      assertThat(a.body()).startsWith("h2=true ");
    }
    assertThat(app.seen).hasSize(10).allMatch(RecordingApp.Seen::http2);
    assertThat(s.openConnections()).isEqualTo(1);
  }

  @Test
  void http11OverTlsWhenHttp2IsOff() throws Exception {
    HttpServer s = server(serverTls(null), true);
    UpstreamGroup g = group(UpstreamGroup.builder().name("tls-h1")
        .endpoints(List.of(endpoint("https", s))).tls(trusting().build()).http2(false));
    for (int i = 0; i < 5; i++) {
      assertThat(Calls.send(g, Calls.get("/h1")).body()).startsWith("h2=false ");
    }
    assertThat(s.openConnections()).as("kept alive").isEqualTo(1);
  }

  @Test
  void http11ByAlpnWhenTheServerOffersNoH2() throws Exception {
    HttpServer s = server(serverTls(null), false);
    UpstreamGroup g = group(UpstreamGroup.builder().name("alpn-h1")
        .endpoints(List.of(endpoint("https", s))).tls(trusting().build()));
    List<CompletableFuture<UpstreamResponse>> futures = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      futures.add(g.send(Calls.get("/h1")));
    }
    for (CompletableFuture<UpstreamResponse> f : futures) {
      assertThat(Calls.answer(f).body()).startsWith("h2=false ");
    }
  }

  @Test
  void anUntrustedServerCertificateFailsToConnect() throws Exception {
    HttpServer s = server(serverTls(null), true);
    Endpoint e = endpoint("https", s);
    UpstreamGroup wrongCa = group(UpstreamGroup.builder().name("wrong-ca").endpoints(List.of(e))
        .tls(UpstreamTls.builder().caFile(certs.untrustedCaCert()).build()));
    UpstreamException failure = Calls.failure(wrongCa.send(Calls.get("/x")));
    assertThat(failure.kind()).isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(failure.reachedUpstream()).isFalse();

    // The JDK's trust store does not know the test CA either: verification is on by default.
    UpstreamGroup jdk = group(UpstreamGroup.builder().name("jdk-trust").endpoints(List.of(e)));
    assertThat(Calls.failure(jdk.send(Calls.get("/x"))).kind())
        .isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(app.seen).isEmpty();

    // Trusting the CA works; so does skipping verification, on request.
    UpstreamGroup trusted = group(UpstreamGroup.builder().name("right-ca").endpoints(List.of(e))
        .tls(trusting().build()));
    assertThat(Calls.send(trusted, Calls.get("/x")).status()).isEqualTo(200);
    UpstreamGroup insecure = group(UpstreamGroup.builder().name("insecure").endpoints(List.of(e))
        .tls(UpstreamTls.builder().insecureSkipVerify(true).build()));
    assertThat(Calls.send(insecure, Calls.get("/x")).status()).isEqualTo(200);
  }

  @Test
  void theHostnameIsVerified() throws Exception {
    HttpServer s = server(serverTls(null), true);
    Endpoint e = endpoint("https", s);
    // The certificate names localhost and 127.0.0.1, not this.
    UpstreamGroup wrongName = group(UpstreamGroup.builder().name("wrong-name")
        .endpoints(List.of(e)).tls(trusting().serverName("wrong.example").build()));
    UpstreamException mismatch = Calls.failure(wrongName.send(Calls.get("/x")));
    assertThat(mismatch.kind()).isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(mismatch.getMessage()).contains("wrong.example");
    UpstreamGroup unchecked = group(UpstreamGroup.builder().name("no-name-check")
        .endpoints(List.of(e)).tls(trusting().serverName("wrong.example")
            .verifyHostname(false).build()));
    assertThat(Calls.send(unchecked, Calls.get("/x")).status()).isEqualTo(200);
    UpstreamGroup rightName = group(UpstreamGroup.builder().name("right-name")
        .endpoints(List.of(e)).tls(trusting().serverName("localhost").build()));
    assertThat(Calls.send(rightName, Calls.get("/x")).status()).isEqualTo(200);
  }

  @Test
  void mutualTlsPresentsTheClientCertificate() throws Exception {
    HttpServer s = server(serverTls(certs.caCert()), true);
    Endpoint e = endpoint("https", s);
    UpstreamGroup anonymous = group(UpstreamGroup.builder().name("anonymous")
        .endpoints(List.of(e)).tls(trusting().build()));
    UpstreamException refused = Calls.failure(anonymous.send(Calls.get("/anon")));
    assertThat(refused.kind()).isIn(UpstreamException.Kind.CONNECT_FAILED,
        UpstreamException.Kind.CONNECTION_LOST);
    // Over HTTP/1.1 too: the server's alert is a lost connection, not a malformed response.
    UpstreamGroup anonymousH1 = group(UpstreamGroup.builder().name("anonymous-h1")
        .endpoints(List.of(e)).tls(trusting().build()).http2(false));
    UpstreamException refusedH1 = Calls.failure(anonymousH1.send(Calls.get("/anon")));
    assertThat(refusedH1.kind()).isIn(UpstreamException.Kind.CONNECT_FAILED,
        UpstreamException.Kind.CONNECTION_LOST);
    assertThat(app.seen).isEmpty();

    UpstreamGroup withCert = group(UpstreamGroup.builder().name("mtls").endpoints(List.of(e))
        .tls(trusting().clientCertificate(certs.clientCert(), certs.clientKey()).build()));
    Calls.Answer a = Calls.send(withCert, Calls.post("/friend", "hi"));
    assertThat(a.status()).isEqualTo(200);
    assertThat(a.body()).startsWith("h2=true ");
    assertThat(app.seen).hasSize(1);
  }

  @Test
  void missingTlsFilesAreNamed() {
    Path missing = dir.resolve("missing.pem");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> UpstreamGroup.builder()
            .endpoints(List.of(Endpoint.of("https://127.0.0.1:1")))
            .tls(UpstreamTls.builder().caFile(missing).build()).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(missing.toString());
  }
}
