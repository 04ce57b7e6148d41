package dev.sluice.http.tls;

import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import io.netty.util.DomainWildcardMappingBuilder;
import io.netty.util.Mapping;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import javax.net.ssl.SSLException;

/**
 * Where a TLS endpoint finds its PEM certificate, key and optional client CA, which protocol
 * versions it allows, and which other certificates it presents by SNI ({@link SniCertificate}).
 * Builds the Netty {@link SslContext}s; TLS 1.2 is the oldest version allowed.
 */
public final class TlsSettings {
  /** Protocol versions Sluice speaks, newest first; nothing older than TLS 1.2. */
  public static final List<String> PROTOCOLS_1_2 = List.of("TLSv1.3", "TLSv1.2");

  public static final List<String> PROTOCOLS_1_3 = List.of("TLSv1.3");

  private static final String PKCS8_BEGIN = "-----BEGIN PRIVATE KEY-----";
  private static final String PKCS8_END = "-----END PRIVATE KEY-----";

  private final Path certFile;
  private final Path keyFile;
  private final Path clientCaFile;
  private final String minVersion;
  private final List<SniCertificate> sniCertificates;

  private TlsSettings(Path certFile, Path keyFile, Path clientCaFile, String minVersion) {
    this(certFile, keyFile, clientCaFile, minVersion, List.of());
  }

  private TlsSettings(Path certFile, Path keyFile, Path clientCaFile, String minVersion,
      List<SniCertificate> sniCertificates) {
    this.certFile = Objects.requireNonNull(certFile, "cert_file");
    this.keyFile = Objects.requireNonNull(keyFile, "key_file");
    this.clientCaFile = clientCaFile;
    if (!minVersion.equals("1.2") && !minVersion.equals("1.3")) {
      throw new IllegalArgumentException("min_version must be 1.2 or 1.3, not " + minVersion);
    }
    this.minVersion = minVersion;
    Set<String> seen = new HashSet<>();
    for (SniCertificate c : sniCertificates) {
      for (String name : c.serverNames()) {
        if (!seen.add(name)) {
          throw new IllegalArgumentException("server name " + name
              + " is given to more than one SNI certificate");
        }
      }
    }
    this.sniCertificates = List.copyOf(sniCertificates);
  }

  /**
   * @param clientCaFile PEM certificates of the CAs that sign client certificates; null when
   *     clients need no certificate, otherwise a certificate is required (mutual TLS)
   * @param minVersion "1.2" or "1.3"
   */
  public static TlsSettings of(Path certFile, Path keyFile, Path clientCaFile, String minVersion) {
    return new TlsSettings(certFile, keyFile, clientCaFile, minVersion);
  }

  /**
   * The same settings with these certificates presented by SNI; the certificate of {@link
   * #certFile()} stays the default for other names and for clients that send none.
   *
   * @throws IllegalArgumentException when a server name is given to two certificates
   */
  public TlsSettings withSniCertificates(List<SniCertificate> certificates) {
    return new TlsSettings(certFile, keyFile, clientCaFile, minVersion,
        Objects.requireNonNull(certificates, "sni certificates"));
  }

  /** The certificates chosen by SNI, beside the default one. */
  public List<SniCertificate> sniCertificates() {
    return sniCertificates;
  }

  public Path certFile() {
    return certFile;
  }

  public Path keyFile() {
    return keyFile;
  }

  public Path clientCaFile() {
    return clientCaFile;
  }

  public boolean mutual() {
    return clientCaFile != null;
  }

  /**
   * Builds a server context offering h2 and http/1.1 through ALPN.
   *
   * @throws IllegalArgumentException when a file is missing or does not hold what it should; the
   *     message names the file
   */
  public SslContext serverContext(boolean http2) {
    return serverContext(certFile, keyFile, http2);
  }

  /**
   * Loads every certificate, reading the files now, and maps a server name asked for by SNI to
   * the context of its certificate, or to the default one ({@link #serverContext}) for other
   * names and for null.
   *
   * @throws IllegalArgumentException when a file is missing or does not hold what it should; the
   *     message names the file
   */
  public Mapping<String, SslContext> serverContexts(boolean http2) {
    SslContext defaultContext = serverContext(http2);
    DomainWildcardMappingBuilder<SslContext> b = new DomainWildcardMappingBuilder<>(
        sniCertificates.size() * 2 + 1, defaultContext);
    for (SniCertificate c : sniCertificates) {
      SslContext ctx = serverContext(c.certFile(), c.keyFile(), http2);
      for (String name : c.serverNames()) {
        b.add(name, ctx);
      }
    }
    return b.build();
  }

  private SslContext serverContext(Path certFile, Path keyFile, boolean http2) {
    check(certFile, "cert_file");
    check(keyFile, "key_file");
    if (clientCaFile != null) {
      check(clientCaFile, "client_ca_file");
    }
    try {
      SslContextBuilder b =
          SslContextBuilder.forServer(certFile.toFile(), keyFile.toFile())
              .sslProvider(SslProvider.JDK)
              .protocols(minVersion.equals("1.3") ? PROTOCOLS_1_3 : PROTOCOLS_1_2)
              .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE);
      if (clientCaFile != null) {
        b.trustManager(clientCaFile.toFile()).clientAuth(ClientAuth.REQUIRE);
      }
      List<String> alpn =
          http2
              ? List.of(ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1)
              : List.of(ApplicationProtocolNames.HTTP_1_1);
      b.applicationProtocolConfig(
          new ApplicationProtocolConfig(
              ApplicationProtocolConfig.Protocol.ALPN,
              ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
              ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
              alpn));
      SslContext ctx = b.build();
      checkKeyMatchesCertificate(certFile, keyFile);
      return ctx;
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "cannot load TLS material (cert_file " + certFile + ", key_file " + keyFile
              + (clientCaFile == null ? "" : ", client_ca_file " + clientCaFile) + "): "
              + rootMessage(e),
          e);
    }
  }

  /**
   * The JDK provider takes any key with any certificate, and every handshake would then fail: this
   * signs a probe with the key and verifies it with the certificate. Keys in a form this check
   * cannot read (other than PKCS#8) are left to the handshake.
   */
  private static void checkKeyMatchesCertificate(Path certFile, Path keyFile) {
    PublicKey publicKey;
    PrivateKey privateKey;
    try {
      Certificate cert;
      try (InputStream in = Files.newInputStream(certFile)) {
        cert = CertificateFactory.getInstance("X.509").generateCertificates(in).iterator().next();
      }
      publicKey = cert.getPublicKey();
      String pem = Files.readString(keyFile, StandardCharsets.US_ASCII);
      int begin = pem.indexOf(PKCS8_BEGIN);
      int end = pem.indexOf(PKCS8_END);
      if (begin < 0 || end < begin) {
        return;
      }
      byte[] der = Base64.getMimeDecoder().decode(pem.substring(begin + PKCS8_BEGIN.length(), end));
      privateKey = KeyFactory.getInstance(publicKey.getAlgorithm())
          .generatePrivate(new PKCS8EncodedKeySpec(der));
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      return; // Netty read them; whatever this check cannot read, the handshake will judge
    }
    String algorithm;
    switch (publicKey.getAlgorithm()) {
      case "RSA":
        algorithm = "SHA256withRSA";
        break;
      case "EC":
        algorithm = "SHA256withECDSA";
        break;
      case "Ed25519":
      case "Ed448":
      case "EdDSA":
        algorithm = publicKey.getAlgorithm();
        break;
      default:
        return;
    }
    boolean matches;
    try {
      byte[] probe = "sluice key check".getBytes(StandardCharsets.US_ASCII);
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(privateKey);
      signer.update(probe);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(publicKey);
      verifier.update(probe);
      matches = verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      matches = false;
    }
    if (!matches) {
      throw new IllegalArgumentException("key_file " + keyFile
          + " does not hold the private key of the certificate in cert_file " + certFile);
    }
  }

  private static void check(Path file, String key) {
    if (!Files.isReadable(file)) {
      throw new IllegalArgumentException(key + " " + file + " does not exist or is not readable");
    }
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
  }

  @Override
  public String toString() {
    return "TLS(cert " + certFile + ", key " + keyFile
        + (clientCaFile == null ? "" : ", client CA " + clientCaFile) + ", min " + minVersion
        + (sniCertificates.isEmpty() ? "" : ", SNI " + sniCertificates) + ")";
  }

}
