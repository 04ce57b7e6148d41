package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.http.tls.TlsSettings;
import dev.sluice.testing.TestCertificates;
import dev.sluice.testing.TestCertificates.ClientIdentity;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS with ALPN, protocol versions, mutual TLS and bad TLS material. */
class TlsTest {
  @TempDir static Path dir;
  private static TestCertificates certs;

  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @BeforeAll
  static void makeCertificates() {
    certs = TestCertificates.create(dir.resolve("pki"));
  }

  @AfterEach
  void stop() {
    servers.close();
  }

  private static TlsSettings tls(Path clientCa, String minVersion) {
    return TlsSettings.of(certs.serverCert(), certs.serverKey(), clientCa, minVersion);
  }

  private HttpServer startTls(TlsSettings tls) {
    return servers.start(TestServers.settings().tls(tls), app);
  }

  private static HttpClient client(HttpClient.Version version, SSLContext ctx, String... protocols) {
    HttpClient.Builder b = HttpClient.newBuilder()
        .version(version)
        .sslContext(ctx)
        .connectTimeout(Duration.ofSeconds(5));
    if (protocols.length > 0) {
      SSLParameters p = new SSLParameters();
      p.setProtocols(protocols);
      b.sslParameters(p);
    }
    return b.build();
  }

  private static HttpResponse<String> get(HttpClient client, HttpServer server, String path)
      throws IOException, InterruptedException {
    return client.send(HttpRequest.newBuilder(TestServers.uri(server, "https", path))
        .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void negotiatesHttp2ByAlpn() throws Exception {
    HttpServer server = startTls(tls(null, "1.2"));
    HttpClient client = client(HttpClient.Version.HTTP_2, certs.clientContext());
    HttpResponse<String> get = get(client, server, "/secure");
    HttpResponse<String> post = client.send(
        HttpRequest.newBuilder(TestServers.uri(server, "https", "/secure/post"))
            .POST(HttpRequest.BodyPublishers.ofString("payload"))
            .timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());

    assertThat(get.statusCode()).isEqualTo(200);
    assertThat(get.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(get.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/secure", "HTTP/1.1",
        true, 0));
    assertThat(post.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(post.body().trim()).isEqualTo(EchoHandlerFactory.line("POST", "/secure/post",
        "HTTP/1.1", true, 7));
    assertThat(get.sslSession()).hasValueSatisfying(
        s -> assertThat(s.getProtocol()).isIn("TLSv1.3", "TLSv1.2"));
    assertThat(app.unexpected()).isEmpty();
  }

  @Test
  void servesHttp11ToClientsThatAskForIt() throws Exception {
    HttpServer server = startTls(tls(null, "1.2"));
    HttpClient client = client(HttpClient.Version.HTTP_1_1, certs.clientContext());
    HttpResponse<String> r1 = get(client, server, "/one");
    HttpResponse<String> r2 = get(client, server, "/two");
    assertThat(r1.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
    assertThat(r1.body().trim()).isEqualTo(EchoHandlerFactory.line("GET", "/one", "HTTP/1.1",
        false, 0));
    assertThat(r2.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
    assertThat(r2.body()).startsWith("GET /two ");
    assertThat(server.openConnections()).as("kept alive").isEqualTo(1);
  }

  @Test
  void offersOnlyHttp11WhenHttp2IsOff() throws Exception {
    HttpServer server = servers.start(TestServers.settings().http2(false).tls(tls(null, "1.2")),
        app);
    HttpResponse<String> r = get(client(HttpClient.Version.HTTP_2, certs.clientContext()), server,
        "/no-h2");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
    assertThat(r.body()).contains("h2=false");
  }

  @Test
  void refusesTls11() throws Exception {
    HttpServer server = startTls(tls(null, "1.2"));
    // The JDK client with only TLS 1.1 enabled cannot get a connection.
    HttpClient old = client(HttpClient.Version.HTTP_1_1, certs.clientContext(), "TLSv1.1");
    assertThatThrownBy(() -> get(old, server, "/old")).isInstanceOf(IOException.class);

    // And the server itself answers a TLS 1.1 ClientHello with an alert (or a close), never a
    // ServerHello.
    try (Socket s = new Socket("127.0.0.1", server.localAddress().getPort())) {
      s.setSoTimeout(5_000);
      s.getOutputStream().write(tls11ClientHello());
      s.getOutputStream().flush();
      int contentType = readFirstByte(s.getInputStream());
      assertThat(contentType).as("TLS record type (21 = alert, -1 = closed; 22 = handshake)")
          .isIn(21, -1);
      if (contentType == 21) {
        DataInputStream in = new DataInputStream(s.getInputStream());
        in.readUnsignedShort(); // record version
        int length = in.readUnsignedShort();
        byte[] alert = new byte[length];
        in.readFully(alert);
        assertThat(alert[0]).as("fatal").isEqualTo((byte) 2);
        assertThat(alert[1] & 0xff).as("alert description: protocol_version").isEqualTo(70);
      }
    }
  }

  private static int readFirstByte(InputStream in) throws IOException {
    try {
      return in.read();
    } catch (SocketException e) {
      return -1; // reset
    }
  }

  /** A TLS 1.1 ClientHello without the supported_versions extension, as an old client sends. */
  private static byte[] tls11ClientHello() {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.write(0x03);
    body.write(0x02); // client_version TLS 1.1
    for (int i = 0; i < 32; i++) {
      body.write(i); // random
    }
    body.write(0); // session id
    // Suites the server takes on TLS 1.2 (so that only the version can be the problem) and the
    // CBC ones of TLS 1.1.
    int[] suites = {0xc02b, 0xc02f, 0xc009, 0xc013, 0x002f, 0x0035};
    body.write(0);
    body.write(suites.length * 2);
    for (int s : suites) {
      body.write(s >> 8);
      body.write(s & 0xff);
    }
    body.write(1);
    body.write(0); // null compression
    byte[] hello = body.toByteArray();
    ByteArrayOutputStream record = new ByteArrayOutputStream();
    record.write(22); // handshake
    record.write(0x03);
    record.write(0x02);
    int hsLength = hello.length + 4;
    record.write(hsLength >> 8);
    record.write(hsLength & 0xff);
    record.write(1); // client_hello
    record.write(0);
    record.write(hello.length >> 8);
    record.write(hello.length & 0xff);
    record.write(hello, 0, hello.length);
    return record.toByteArray();
  }

  @Test
  void minVersion13RefusesTls12Clients() throws Exception {
    HttpServer server = startTls(tls(null, "1.3"));
    HttpClient tls12 = client(HttpClient.Version.HTTP_1_1, certs.clientContext(), "TLSv1.2");
    assertThatThrownBy(() -> get(tls12, server, "/v12")).isInstanceOf(IOException.class);

    HttpClient tls13 = client(HttpClient.Version.HTTP_1_1, certs.clientContext(), "TLSv1.3");
    HttpResponse<String> ok = get(tls13, server, "/v13");
    assertThat(ok.statusCode()).isEqualTo(200);
    assertThat(ok.sslSession()).hasValueSatisfying(
        s -> assertThat(s.getProtocol()).isEqualTo("TLSv1.3"));
  }

  @Test
  void minVersion12AcceptsTls12Clients() throws Exception {
    HttpServer server = startTls(tls(null, "1.2"));
    HttpClient tls12 = client(HttpClient.Version.HTTP_2, certs.clientContext(), "TLSv1.2");
    HttpResponse<String> r = get(tls12, server, "/v12");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(r.sslSession()).hasValueSatisfying(
        s -> assertThat(s.getProtocol()).isEqualTo("TLSv1.2"));
  }

  @Test
  void mutualTlsRequiresAClientCertificateFromTheConfiguredCa() throws Exception {
    HttpServer server = startTls(tls(certs.caCert(), "1.2"));

    HttpClient anonymous = client(HttpClient.Version.HTTP_2, certs.clientContext());
    assertThatThrownBy(() -> get(anonymous, server, "/anon")).isInstanceOf(IOException.class);

    HttpClient stranger =
        client(HttpClient.Version.HTTP_2, certs.clientContext(ClientIdentity.UNTRUSTED));
    assertThatThrownBy(() -> get(stranger, server, "/stranger")).isInstanceOf(IOException.class);

    HttpClient trusted =
        client(HttpClient.Version.HTTP_2, certs.clientContext(ClientIdentity.TRUSTED));
    HttpResponse<String> r = get(trusted, server, "/friend");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(r.body()).startsWith("GET /friend ");
    assertThat(app.answered()).as("only the trusted client got through").isEqualTo(1);
  }

  @Test
  void mutualTlsOverTls12Too() throws Exception {
    HttpServer server = startTls(tls(certs.caCert(), "1.2"));
    HttpClient anonymous =
        client(HttpClient.Version.HTTP_1_1, certs.clientContext(), "TLSv1.2");
    assertThatThrownBy(() -> get(anonymous, server, "/anon")).isInstanceOf(IOException.class);
    HttpClient trusted = client(HttpClient.Version.HTTP_1_1,
        certs.clientContext(ClientIdentity.TRUSTED), "TLSv1.2");
    assertThat(get(trusted, server, "/friend").statusCode()).isEqualTo(200);
  }

  @Test
  void missingFilesAreNamed() {
    Path missing = dir.resolve("nope.pem");
    assertThatThrownBy(() -> TlsSettings.of(missing, certs.serverKey(), null, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(missing.toString());
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), missing, null, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(missing.toString())
        .hasMessageContaining("key_file");
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), certs.serverKey(), missing, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(missing.toString())
        .hasMessageContaining("client_ca_file");
    // The server refuses to be built with them, before binding anything.
    assertThatThrownBy(() -> new HttpServer(TestServers.settings()
        .tls(TlsSettings.of(missing, certs.serverKey(), null, "1.2")).build(), app,
        ErrorResponder.PLAIN_TEXT))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(missing.toString());
  }

  @Test
  void garbagePemIsRefusedNamingTheFile() throws Exception {
    Path garbage = dir.resolve("garbage.pem");
    Files.writeString(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
        + "-----END CERTIFICATE-----\n", StandardCharsets.US_ASCII);
    Path noise = dir.resolve("noise.pem");
    Files.writeString(noise, "just some text, no PEM\n", StandardCharsets.US_ASCII);

    assertThatThrownBy(() -> TlsSettings.of(garbage, certs.serverKey(), null, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(garbage.toString());
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), noise, null, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(noise.toString());
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), certs.serverKey(), noise, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(noise.toString());
    // A key that does not belong to the certificate.
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), certs.clientKey(), null, "1.2")
        .serverContext(true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(certs.clientKey().toString());
  }

  @Test
  void minVersionMustBe12Or13() {
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1.1");
  }

  @Test
  void aClientThatNeverFinishesTheHandshakeIsDropped() throws Exception {
    HttpServer server = servers.start(TestServers.settings().tls(tls(null, "1.2"))
        .headerTimeout(Duration.ofMillis(300)), app);
    try (Socket s = new Socket("127.0.0.1", server.localAddress().getPort())) {
      s.setSoTimeout(5_000);
      long start = System.nanoTime();
      // Silence after connecting: the handshake deadline ends it.
      int b;
      try {
        b = s.getInputStream().read();
      } catch (SocketException e) {
        b = -1;
      }
      long elapsedMs = (System.nanoTime() - start) / 1_000_000;
      assertThat(b).isEqualTo(-1);
      assertThat(elapsedMs).isBetween(250L, 3_000L);
    }
  }
}
