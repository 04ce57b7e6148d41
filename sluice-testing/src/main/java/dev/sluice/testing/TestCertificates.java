package dev.sluice.testing;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;

/**
 * A throw-away PKI for TLS tests, written as PEM files (certificate, PKCS#8 private key) into a
 * directory the test chooses, usually a JUnit {@code @TempDir}:
 *
 * <ul>
 *   <li>a CA ({@link #caCert()}),
 *   <li>a server certificate for {@code localhost} and {@code 127.0.0.1} signed by it ({@link
 *       #serverCert()}, {@link #serverKey()}),
 *   <li>a client certificate signed by it ({@link #clientCert()}, {@link #clientKey()}),
 *   <li>a second CA that nobody trusts ({@link #untrustedCaCert()}) with a client certificate of its
 *       own ({@link #untrustedClientCert()}, {@link #untrustedClientKey()}).
 * </ul>
 *
 * <p>{@link #clientContext(ClientIdentity)} gives an {@link SSLContext} for {@code
 * java.net.http.HttpClient} that trusts the CA and presents the chosen client certificate, if any.
 */
public final class TestCertificates {
  /** Which certificate a client presents. */
  public enum ClientIdentity {
    /** No client certificate. */
    NONE,
    /** The client certificate signed by the trusted CA. */
    TRUSTED,
    /** The client certificate signed by the second CA, which the server does not trust. */
    UNTRUSTED
  }

  private final Path dir;
  private final X509Bundle ca;
  private final X509Bundle server;
  private final X509Bundle client;
  private final X509Bundle untrustedCa;
  private final X509Bundle untrustedClient;
  private final Path caCert;
  private final Path serverCert;
  private final Path serverKey;
  private final Path clientCert;
  private final Path clientKey;
  private final Path untrustedCaCert;
  private final Path untrustedClientCert;
  private final Path untrustedClientKey;

  private static CertificateBuilder base() {
    Instant now = Instant.now();
    return new CertificateBuilder()
        .secureRandom(new SecureRandom())
        .ecp256()
        .notBefore(now.minus(1, ChronoUnit.DAYS))
        .notAfter(now.plus(1, ChronoUnit.DAYS));
  }

  private TestCertificates(Path dir) throws Exception {
    this.dir = dir;
    CertificateBuilder base = base();

    ca = base.copy()
        .subject("CN=Sluice Test CA")
        .setIsCertificateAuthority(true)
        .setKeyUsage(true, CertificateBuilder.KeyUsage.keyCertSign,
            CertificateBuilder.KeyUsage.cRLSign, CertificateBuilder.KeyUsage.digitalSignature)
        .buildSelfSigned();
    server = base.copy()
        .subject("CN=localhost")
        .addSanDnsName("localhost")
        .addSanIpAddress("127.0.0.1")
        .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
        .addExtendedKeyUsageServerAuth()
        .buildIssuedBy(ca);
    client = base.copy()
        .subject("CN=sluice-test-client")
        .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
        .addExtendedKeyUsageClientAuth()
        .buildIssuedBy(ca);
    untrustedCa = base.copy()
        .subject("CN=Untrusted Test CA")
        .setIsCertificateAuthority(true)
        .setKeyUsage(true, CertificateBuilder.KeyUsage.keyCertSign,
            CertificateBuilder.KeyUsage.cRLSign, CertificateBuilder.KeyUsage.digitalSignature)
        .buildSelfSigned();
    untrustedClient = base.copy()
        .subject("CN=untrusted-test-client")
        .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
        .addExtendedKeyUsageClientAuth()
        .buildIssuedBy(untrustedCa);

    Files.createDirectories(dir);
    caCert = write(dir.resolve("ca.pem"), ca.getCertificatePEM());
    serverCert = write(dir.resolve("server.pem"), server.getCertificatePEM());
    serverKey = write(dir.resolve("server-key.pem"), server.getPrivateKeyPEM());
    clientCert = write(dir.resolve("client.pem"), client.getCertificatePEM());
    clientKey = write(dir.resolve("client-key.pem"), client.getPrivateKeyPEM());
    untrustedCaCert = write(dir.resolve("untrusted-ca.pem"), untrustedCa.getCertificatePEM());
    untrustedClientCert =
        write(dir.resolve("untrusted-client.pem"), untrustedClient.getCertificatePEM());
    untrustedClientKey =
        write(dir.resolve("untrusted-client-key.pem"), untrustedClient.getPrivateKeyPEM());
  }

  /**
   * Generates the certificates and writes them into {@code dir} (created when missing).
   *
   * @throws IllegalStateException when generation fails
   * @throws UncheckedIOException when a file cannot be written
   */
  public static TestCertificates create(Path dir) {
    try {
      return new TestCertificates(dir);
    } catch (UncheckedIOException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException("cannot generate test certificates: " + e, e);
    }
  }

  private static Path write(Path file, String pem) {
    try {
      Files.writeString(file, pem, StandardCharsets.US_ASCII);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /** A server certificate and its key, as PEM files. */
  public static final class ServerCertificate {
    private final Path cert;
    private final Path key;

    private ServerCertificate(Path cert, Path key) {
      this.cert = cert;
      this.key = key;
    }

    public Path cert() {
      return cert;
    }

    public Path key() {
      return key;
    }
  }

  /**
   * Issues one more server certificate, signed by the CA, for the given DNS names; its subject is
   * {@code CN=<first name>}. A wildcard name such as {@code *.example.com} goes in the subject
   * only, which is enough for a server choosing certificates by SNI, not for a client checking
   * host names. The files are written
   * as {@code <fileStem>.pem} and {@code <fileStem>-key.pem}, replacing any that exist.
   */
  public ServerCertificate issueServer(String fileStem, String... dnsNames) {
    if (dnsNames.length == 0) {
      throw new IllegalArgumentException("a server certificate needs at least one DNS name");
    }
    try {
      CertificateBuilder b = base()
          .subject("CN=" + dnsNames[0])
          .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
          .addExtendedKeyUsageServerAuth();
      for (String name : dnsNames) {
        if (!name.startsWith("*.")) {
          b.addSanDnsName(name); // the certificate builder cannot encode a wildcard there
        }
      }
      X509Bundle bundle = b.buildIssuedBy(ca);
      return new ServerCertificate(
          write(dir.resolve(fileStem + ".pem"), bundle.getCertificatePEM()),
          write(dir.resolve(fileStem + "-key.pem"), bundle.getPrivateKeyPEM()));
    } catch (UncheckedIOException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException("cannot issue a server certificate: " + e, e);
    }
  }

  /** PEM certificate of the trusted CA: the server's client_ca_file for mutual TLS. */
  public Path caCert() {
    return caCert;
  }

  /** PEM certificate for localhost and 127.0.0.1, signed by the CA. */
  public Path serverCert() {
    return serverCert;
  }

  /** PKCS#8 PEM private key of {@link #serverCert()}. */
  public Path serverKey() {
    return serverKey;
  }

  public Path clientCert() {
    return clientCert;
  }

  public Path clientKey() {
    return clientKey;
  }

  /** PEM certificate of the second CA, which the server does not trust. */
  public Path untrustedCaCert() {
    return untrustedCaCert;
  }

  public Path untrustedClientCert() {
    return untrustedClientCert;
  }

  public Path untrustedClientKey() {
    return untrustedClientKey;
  }

  /** A client context that trusts the CA and presents no certificate. */
  public SSLContext clientContext() {
    return clientContext(ClientIdentity.NONE);
  }

  /** A client context (TLS, any version the JDK allows) that trusts the CA. */
  public SSLContext clientContext(ClientIdentity identity) {
    try {
      KeyManager[] keys = null;
      if (identity == ClientIdentity.TRUSTED) {
        keys = client.toKeyManagerFactory().getKeyManagers();
      } else if (identity == ClientIdentity.UNTRUSTED) {
        keys = untrustedClient.toKeyManagerFactory().getKeyManagers();
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(keys, ca.toTrustManagerFactory().getTrustManagers(), new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot build a client SSLContext: " + e, e);
    }
  }
}
