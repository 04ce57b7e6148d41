package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.http.tls.SniCertificate;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.testing.TestCertificates;
import dev.sluice.testing.TestCertificates.ServerCertificate;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Certificates chosen by SNI, the default for other names, and reloading without a restart. */
class SniAndReloadTest {
  @TempDir static Path dir;
  private static TestCertificates certs;
  private static ServerCertificate api;
  private static ServerCertificate wildcard;

  private final TestServers servers = new TestServers();
  private final EchoHandlerFactory app = new EchoHandlerFactory();

  @BeforeAll
  static void makeCertificates() {
    certs = TestCertificates.create(dir.resolve("pki"));
    api = certs.issueServer("api", "api.example.com");
    wildcard = certs.issueServer("wildcard", "*.example.com");
  }

  @AfterEach
  void stop() {
    servers.close();
  }

  private static TlsSettings sni(Path defaultCert, Path defaultKey) {
    return TlsSettings.of(defaultCert, defaultKey, null, "1.2").withSniCertificates(List.of(
        SniCertificate.of(List.of("api.example.com"), api.cert(), api.key()),
        SniCertificate.of(List.of("*.example.com", "other.test"), wildcard.cert(),
            wildcard.key())));
  }

  /** Connects, asks for the name by SNI (none for null) and returns the certificate's subject. */
  private static SSLSocket connect(HttpServer server, String serverName) throws IOException {
    SSLSocket s = (SSLSocket) certs.clientContext().getSocketFactory()
        .createSocket("127.0.0.1", server.localAddress().getPort());
    s.setSoTimeout(10_000);
    SSLParameters p = s.getSSLParameters();
    p.setServerNames(serverName == null ? List.of() : List.of(new SNIHostName(serverName)));
    p.setApplicationProtocols(new String[] {"http/1.1"});
    s.setSSLParameters(p);
    s.startHandshake();
    return s;
  }

  private static String subject(HttpServer server, String serverName) throws IOException {
    try (SSLSocket s = connect(server, serverName)) {
      return subjectOf(s);
    }
  }

  private static String subjectOf(SSLSocket s) throws IOException {
    X509Certificate cert = (X509Certificate) s.getSession().getPeerCertificates()[0];
    return cert.getSubjectX500Principal().getName();
  }

  private static String get(SSLSocket s, String path) throws IOException {
    OutputStream out = s.getOutputStream();
    out.write(("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = s.getInputStream();
    byte[] buf = new byte[4096];
    StringBuilder text = new StringBuilder();
    while (!text.toString().contains("bytes=")) {
      int n = in.read(buf);
      if (n < 0) {
        break;
      }
      text.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
    }
    return text.toString();
  }

  @Test
  void certificateIsChosenByServerName() throws Exception {
    HttpServer server = servers.start(TestServers.settings()
        .tls(sni(certs.serverCert(), certs.serverKey())), app);
    assertThat(subject(server, "api.example.com")).isEqualTo("CN=api.example.com");
    assertThat(subject(server, "API.Example.com")).isEqualTo("CN=api.example.com");
    assertThat(subject(server, "www.example.com")).isEqualTo("CN=*.example.com");
    assertThat(subject(server, "other.test")).isEqualTo("CN=*.example.com");
    // The wildcard covers one label only; everything else gets the default certificate.
    assertThat(subject(server, "a.b.example.com")).isEqualTo("CN=localhost");
    assertThat(subject(server, "example.com")).isEqualTo("CN=localhost");
    assertThat(subject(server, "unknown.test")).isEqualTo("CN=localhost");
    assertThat(subject(server, null)).isEqualTo("CN=localhost");
    try (SSLSocket s = connect(server, "www.example.com")) {
      assertThat(get(s, "/sni")).startsWith("HTTP/1.1 200").contains("GET /sni HTTP/1.1");
    }
  }

  @Test
  void reloadServesNewCertificatesToNewConnectionsOnly() throws Exception {
    Path cert = dir.resolve("live.pem");
    Path key = dir.resolve("live-key.pem");
    ServerCertificate first = certs.issueServer("first", "first.test");
    Files.copy(first.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
    Files.copy(first.key(), key, StandardCopyOption.REPLACE_EXISTING);
    HttpServer server = servers.start(TestServers.settings().tls(sni(cert, key)), app);
    SSLSocket before = connect(server, null);
    assertThat(subjectOf(before)).isEqualTo("CN=first.test");

    ServerCertificate second = certs.issueServer("second", "second.test");
    Files.copy(second.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
    Files.copy(second.key(), key, StandardCopyOption.REPLACE_EXISTING);
    assertThat(subject(server, null)).as("not yet reloaded").isEqualTo("CN=first.test");
    server.reloadTls();
    assertThat(subject(server, null)).isEqualTo("CN=second.test");
    assertThat(subject(server, "api.example.com")).isEqualTo("CN=api.example.com");
    try (before) {
      assertThat(get(before, "/old")).as("the connection from before goes on")
          .startsWith("HTTP/1.1 200");
    }

    // Bad files: a clear error, and the certificates in use stay.
    Files.writeString(key, "not a key");
    assertThatThrownBy(server::reloadTls).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(key.toString());
    assertThat(subject(server, null)).isEqualTo("CN=second.test");
    Files.copy(first.key(), key, StandardCopyOption.REPLACE_EXISTING); // cert of second, key of first
    assertThatThrownBy(server::reloadTls).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("does not hold the private key");
    assertThat(subject(server, null)).isEqualTo("CN=second.test");

    // New settings: the API name now gets its own new certificate.
    ServerCertificate api2 = certs.issueServer("api2", "api.example.com", "api2.example.com");
    server.reloadTls(TlsSettings.of(second.cert(), second.key(), null, "1.2")
        .withSniCertificates(List.of(
            SniCertificate.of(List.of("api2.example.com"), api2.cert(), api2.key()))));
    assertThat(subject(server, "api2.example.com")).isEqualTo("CN=api.example.com");
    assertThat(subject(server, "api.example.com")).isEqualTo("CN=second.test");
  }

  @Test
  void reloadWithoutSniAndInCleartext() throws Exception {
    Path cert = dir.resolve("plain.pem");
    Path key = dir.resolve("plain-key.pem");
    ServerCertificate first = certs.issueServer("plain-first", "plain-first.test");
    Files.copy(first.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
    Files.copy(first.key(), key, StandardCopyOption.REPLACE_EXISTING);
    HttpServer server = servers.start(TestServers.settings()
        .tls(TlsSettings.of(cert, key, null, "1.2")), app);
    assertThat(subject(server, "anything.test")).isEqualTo("CN=plain-first.test");
    ServerCertificate second = certs.issueServer("plain-second", "plain-second.test");
    Files.copy(second.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
    Files.copy(second.key(), key, StandardCopyOption.REPLACE_EXISTING);
    server.reloadTls();
    assertThat(subject(server, "anything.test")).isEqualTo("CN=plain-second.test");

    HttpServer cleartext = servers.start(TestServers.settings(), app);
    assertThatThrownBy(cleartext::reloadTls).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("cleartext");
  }

  @Test
  void badServerNamesAreRefused() {
    assertThatThrownBy(() -> SniCertificate.of(List.of("a..b"), api.cert(), api.key()))
        .hasMessageContaining("\"a..b\"");
    assertThatThrownBy(() -> SniCertificate.of(List.of("*.*.example.com"), api.cert(), api.key()))
        .hasMessageContaining("*.*.example.com");
    assertThatThrownBy(() -> SniCertificate.of(List.of(), api.cert(), api.key()))
        .hasMessageContaining("at least one");
    assertThatThrownBy(() -> TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2")
        .withSniCertificates(List.of(
            SniCertificate.of(List.of("a.test"), api.cert(), api.key()),
            SniCertificate.of(List.of("A.test"), api.cert(), api.key()))))
        .hasMessageContaining("a.test").hasMessageContaining("more than one");
  }
}
