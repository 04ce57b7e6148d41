package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.http.tls.TlsSettings;
import dev.sluice.testing.TestCertificates;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** {@code https://} endpoints: a receiver with TLS, trusted through --ca-file or --insecure. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TlsTest {
  private TestCertificates certs;
  private TestReceiver receiver;

  @BeforeAll
  void start(@TempDir Path dir) {
    certs = TestCertificates.create(dir);
    receiver = TestReceiver.start(r -> { }, s -> s.tls(
        TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2")));
  }

  @AfterAll
  void stop() {
    receiver.close();
  }

  private String url() {
    return "https://127.0.0.1:" + receiver.port();
  }

  @Test
  void theCaFileMakesTheServerTrusted() throws Exception {
    long before = receiver.exporter.items();
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url())
        .caFile(certs.caCert()).requests(10).items(10).connections(2).build()).run();
    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(receiver.exporter.items() - before).isEqualTo(100);
  }

  @Test
  void insecureTrustsAnyCertificate() throws Exception {
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).insecure(true)
        .requests(3).items(5).build()).run();
    assertThat(s.allAccepted()).as(s.format()).isTrue();
  }

  @Test
  void anUntrustedServerIsRefusedBeforeAnyLoad() throws Exception {
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url())
        .caFile(certs.untrustedCaCert()).requests(3).items(5).build()).run();
    assertThat(s.requestsSent()).isZero();
    assertThat(s.abortReason()).startsWith("cannot connect to 127.0.0.1:" + receiver.port());
    assertThat(s.exitCode()).isEqualTo(1);
  }

  @Test
  void aMissingCaFileIsAUsageError() {
    assertThatThrownBy(() -> new LoadGenerator(LoadSettings.builder().endpoint(url())
        .caFile(Path.of("/nonexistent/ca.pem")).build()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/nonexistent/ca.pem");
  }
}
