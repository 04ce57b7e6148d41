package dev.sluice.http.upstream;

import dev.sluice.http.tls.TlsSettings;
import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.net.ssl.SSLException;

/**
 * How an {@link UpstreamGroup} talks TLS to its {@code https://} endpoints. Verification is on by
 * default: the server's chain must lead to a trusted CA (the JDK's trust store, or {@link
 * Builder#caFile}) and its certificate must name the host dialled (or {@link Builder#serverName}),
 * checked as HTTPS clients do. Made through {@link #builder()}; {@link #defaults()} is the JDK trust
 * store with full verification.
 */
public final class UpstreamTls {
  private final Path caFile;
  private final Path certFile;
  private final Path keyFile;
  private final boolean verifyHostname;
  private final boolean insecureSkipVerify;
  private final String serverName;
  private final String minVersion;

  private UpstreamTls(Builder b) {
    this.caFile = b.caFile;
    this.certFile = b.certFile;
    this.keyFile = b.keyFile;
    this.verifyHostname = b.verifyHostname;
    this.insecureSkipVerify = b.insecureSkipVerify;
    this.serverName = b.serverName;
    this.minVersion = b.minVersion;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The JDK trust store, hostname verification, no client certificate. */
  public static UpstreamTls defaults() {
    return builder().build();
  }

  /** PEM CA certificates to trust instead of the JDK's trust store, or null. */
  public Path caFile() {
    return caFile;
  }

  /** PEM client certificate presented for mutual TLS, or null. */
  public Path certFile() {
    return certFile;
  }

  public Path keyFile() {
    return keyFile;
  }

  public boolean verifyHostname() {
    return verifyHostname && !insecureSkipVerify;
  }

  public boolean insecureSkipVerify() {
    return insecureSkipVerify;
  }

  /** The name sent as SNI and verified in the certificate instead of the endpoint's host, or null. */
  public String serverName() {
    return serverName;
  }

  /**
   * Builds the client context. ALPN offers h2 and http/1.1 when {@code http2}, only http/1.1
   * otherwise.
   *
   * @throws IllegalArgumentException when a file is missing or unreadable; the message names it
   */
  SslContext clientContext(boolean http2) {
    if (caFile != null) {
      check(caFile, "ca_file");
    }
    if (certFile != null) {
      check(certFile, "cert_file");
      check(keyFile, "key_file");
    }
    try {
      SslContextBuilder b = SslContextBuilder.forClient()
          .sslProvider(SslProvider.JDK)
          .protocols(minVersion.equals("1.3") ? TlsSettings.PROTOCOLS_1_3
              : TlsSettings.PROTOCOLS_1_2)
          .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
          .endpointIdentificationAlgorithm(verifyHostname() ? "HTTPS" : null);
      if (insecureSkipVerify) {
        b.trustManager(InsecureTrustManagerFactory.INSTANCE);
      } else if (caFile != null) {
        b.trustManager(caFile.toFile());
      }
      if (certFile != null) {
        b.keyManager(certFile.toFile(), keyFile.toFile());
      }
      b.applicationProtocolConfig(new ApplicationProtocolConfig(
          ApplicationProtocolConfig.Protocol.ALPN,
          ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
          ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
          http2 ? List.of(ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1)
              : List.of(ApplicationProtocolNames.HTTP_1_1)));
      return b.build();
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException("cannot load upstream TLS material (" + this + "): "
          + e.getMessage(), e);
    }
  }

  private static void check(Path file, String key) {
    if (!Files.isReadable(file)) {
      throw new IllegalArgumentException(key + " " + file + " does not exist or is not readable");
    }
  }

  @Override
  public String toString() {
    return "UpstreamTls(" + (caFile == null ? "JDK trust store" : "ca " + caFile)
        + (certFile == null ? "" : ", client cert " + certFile + ", key " + keyFile)
        + (insecureSkipVerify ? ", NO VERIFICATION" : verifyHostname ? "" : ", no hostname check")
        + (serverName == null ? "" : ", server name " + serverName) + ", min " + minVersion + ")";
  }

  /** Builds {@link UpstreamTls}. */
  public static final class Builder {
    private Path caFile;
    private Path certFile;
    private Path keyFile;
    private boolean verifyHostname = true;
    private boolean insecureSkipVerify;
    private String serverName;
    private String minVersion = "1.2";

    private Builder() {}

    public Builder caFile(Path caFile) {
      this.caFile = caFile;
      return this;
    }

    /** The client certificate and its PKCS#8 key, for mutual TLS; both or neither. */
    public Builder clientCertificate(Path certFile, Path keyFile) {
      if ((certFile == null) != (keyFile == null)) {
        throw new IllegalArgumentException("give both the client certificate and its key");
      }
      this.certFile = certFile;
      this.keyFile = keyFile;
      return this;
    }

    public Builder verifyHostname(boolean verify) {
      this.verifyHostname = verify;
      return this;
    }

    /** Trusts any certificate for any name. For tests against throw-away servers only. */
    public Builder insecureSkipVerify(boolean insecure) {
      this.insecureSkipVerify = insecure;
      return this;
    }

    public Builder serverName(String serverName) {
      this.serverName = serverName;
      return this;
    }

    /** "1.2" (default) or "1.3". */
    public Builder minVersion(String minVersion) {
      if (!"1.2".equals(minVersion) && !"1.3".equals(minVersion)) {
        throw new IllegalArgumentException("min_version must be 1.2 or 1.3, not " + minVersion);
      }
      this.minVersion = minVersion;
      return this;
    }

    public UpstreamTls build() {
      return new UpstreamTls(this);
    }
  }
}
