package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.net.CidrSet;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.testing.Await;
import dev.sluice.testing.H2cPriorKnowledgeClient;
import dev.sluice.testing.TestCertificates;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The PROXY protocol from trusted sources, the client address it gives, and the access list. */
class ProxyProtocolTest {
  private static final String GET = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  private static final CidrSet LOOPBACK = CidrSet.of("127.0.0.0/8", "::1");

  private final TestServers servers = new TestServers();
  private final ClientAddressApp app = new ClientAddressApp();

  @AfterEach
  void stop() {
    servers.close();
  }

  private HttpServer start(HttpServerSettings.Builder settings) {
    return servers.start(settings, app);
  }

  private static String answer(HttpServer server, byte[] bytes) throws Exception {
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(bytes);
      RawConnection.Response r = c.readResponse();
      assertThat(r.status()).isEqualTo(200);
      return r.body().trim();
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(a);
    out.writeBytes(b);
    return out.toByteArray();
  }

  /** A v2 header: PROXY over TCP, IPv4 or IPv6 by the address length. */
  private static byte[] v2(byte command, byte[] src, byte[] dst, int srcPort, int dstPort) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
        0x0A});
    out.write(0x20 | command);
    boolean v4 = src.length == 4;
    out.write(v4 ? 0x11 : 0x21);
    int length = src.length * 2 + 4;
    out.write(length >> 8);
    out.write(length);
    out.writeBytes(src);
    out.writeBytes(dst);
    out.write(srcPort >> 8);
    out.write(srcPort);
    out.write(dstPort >> 8);
    out.write(dstPort);
    return out.toByteArray();
  }

  @Test
  void v1HeaderFromATrustedSourceNamesTheClient() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK));
    assertThat(answer(server, bytes("PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n" + GET)))
        .isEqualTo("203.0.113.9 5555 true false");
    assertThat(answer(server, bytes("PROXY TCP6 2001:db8::7 2001:db8::1 4444 443\r\n" + GET)))
        .isEqualTo("2001:db8:0:0:0:0:0:7 4444 true false");
  }

  @Test
  void v2HeaderFromATrustedSourceNamesTheClient() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK));
    byte[] v4 = v2((byte) 1, new byte[] {(byte) 198, 51, 100, 20}, new byte[] {10, 0, 0, 1}, 40000,
        80);
    assertThat(answer(server, concat(v4, bytes(GET)))).isEqualTo("198.51.100.20 40000 true false");
    byte[] src6 = new byte[16];
    src6[0] = 0x20;
    src6[1] = 0x01;
    src6[15] = 9;
    byte[] v6 = v2((byte) 1, src6, new byte[16], 1234, 443);
    assertThat(answer(server, concat(v6, bytes(GET)))).isEqualTo("2001:0:0:0:0:0:0:9 1234 true false");
  }

  @Test
  void headerSentByteByByteIsRead() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK));
    byte[] all = bytes("PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n" + GET);
    try (RawConnection c = new RawConnection(server.localAddress())) {
      for (byte b : all) {
        c.send(new byte[] {b});
      }
      assertThat(c.readResponse().body().trim()).isEqualTo("203.0.113.9 5555 true false");
    }
  }

  @Test
  void localCommandUnknownSourceAndNoHeaderMeanTheConnectionItself() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK));
    assertThat(answer(server, bytes("PROXY UNKNOWN\r\n" + GET))).startsWith("127.0.0.1 ")
        .endsWith(" false false");
    byte[] local = v2((byte) 0, new byte[4], new byte[4], 0, 0);
    assertThat(answer(server, concat(local, bytes(GET)))).startsWith("127.0.0.1 ")
        .endsWith(" false false");
    assertThat(answer(server, bytes(GET))).startsWith("127.0.0.1 ").endsWith(" false false");
  }

  @Test
  void headerFromAnUntrustedSourceClosesTheConnection() throws Exception {
    HttpServer server = start(TestServers.settings()
        .proxyProtocolSources(CidrSet.of("10.0.0.0/8")));
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n" + GET);
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send(concat(v2((byte) 1, new byte[] {1, 2, 3, 4}, new byte[4], 1, 2), bytes(GET)));
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
    // Without a header the same client is served as itself.
    assertThat(answer(server, bytes(GET))).startsWith("127.0.0.1 ").endsWith(" false false");
  }

  @Test
  void malformedHeaderFromATrustedSourceClosesTheConnection() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK));
    for (String header : new String[] {"PROXY TCP4 nonsense\r\n", "PROXY TCP4 1.2.3.4\r\n",
        "PROXY " + "x".repeat(200) + "\r\n"}) {
      try (RawConnection c = new RawConnection(server.localAddress())) {
        c.send(header + GET);
        assertThat(c.closedWithin(Duration.ofSeconds(5))).as(header).isTrue();
      }
    }
  }

  @Test
  void http2StreamsSeeTheClientOfTheirConnection() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK));
    try (ProxyProtocolRelay relay = new ProxyProtocolRelay(server.localAddress(),
            bytes("PROXY TCP4 203.0.113.77 10.0.0.1 6000 80\r\n"));
        H2cPriorKnowledgeClient client = new H2cPriorKnowledgeClient(relay.address())) {
      H2cPriorKnowledgeClient.Response r = client.get("/h2").get(10, TimeUnit.SECONDS);
      assertThat(r.body().trim()).isEqualTo("203.0.113.77 6000 true true");
    }
  }

  @Test
  void headerComesBeforeTls(@TempDir Path dir) throws Exception {
    TestCertificates certs = TestCertificates.create(dir);
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK)
        .tls(TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2")));
    try (ProxyProtocolRelay relay = new ProxyProtocolRelay(server.localAddress(),
        bytes("PROXY TCP4 203.0.113.78 10.0.0.1 6001 443\r\n"))) {
      HttpClient client = HttpClient.newBuilder().sslContext(certs.clientContext())
          .version(HttpClient.Version.HTTP_2).connectTimeout(Duration.ofSeconds(5)).build();
      HttpResponse<String> r = client.send(HttpRequest.newBuilder(
              URI.create("https://localhost:" + relay.address().getPort() + "/tls"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.body().trim()).isEqualTo("203.0.113.78 6001 true true");
    }
  }

  @Test
  void deniedAndNotAllowedClientsAreClosedAtOnceAndCounted() throws Exception {
    HttpServer denied = start(TestServers.settings().deny(CidrSet.of("127.0.0.1")));
    try (RawConnection c = new RawConnection(denied.localAddress())) {
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
    Await.until("the denial to be counted", Duration.ofSeconds(5),
        () -> denied.deniedConnections() == 1);

    HttpServer notAllowed = start(TestServers.settings().allow(CidrSet.of("10.0.0.0/8")));
    try (RawConnection c = new RawConnection(notAllowed.localAddress())) {
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
    Await.until("the denial to be counted", Duration.ofSeconds(5),
        () -> notAllowed.deniedConnections() == 1);

    HttpServer allowed = start(TestServers.settings().allow(LOOPBACK)
        .deny(CidrSet.of("127.0.0.2")));
    assertThat(answer(allowed, bytes(GET))).startsWith("127.0.0.1 ");
    assertThat(allowed.deniedConnections()).isZero();
  }

  @Test
  void theAccessListJudgesTheClientTheProxyNames() throws Exception {
    HttpServer server = start(TestServers.settings().proxyProtocolSources(LOOPBACK)
        .deny(CidrSet.of("203.0.113.0/24")));
    try (RawConnection c = new RawConnection(server.localAddress())) {
      c.send("PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n" + GET);
      assertThat(c.closedWithin(Duration.ofSeconds(5))).isTrue();
    }
    Await.until("the denial to be counted", Duration.ofSeconds(5),
        () -> server.deniedConnections() == 1);
    assertThat(answer(server, bytes("PROXY TCP4 198.51.100.1 10.0.0.1 5555 80\r\n" + GET)))
        .isEqualTo("198.51.100.1 5555 true false");
  }
}
