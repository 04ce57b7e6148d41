package dev.sluice.app.config;

import dev.sluice.http.tls.SniCertificate;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.http.upstream.UpstreamTls;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads the {@code tls} sections of listeners (server side) and of upstreams (client side). */
final class TlsConfig {
  private TlsConfig() {}

  /**
   * A listener's {@code tls}: {@code cert_file}, {@code key_file}, {@code client_ca_file}, {@code
   * min_version}, and {@code sni} certificates by server name. The files are loaded now, so that a missing or mismatched one is reported with
   * its key rather than at start. Returns null after recording the problems found.
   */
  static TlsSettings server(ConfigNode t, boolean http2) {
    String cert = t.string("cert_file", null);
    String key = t.string("key_file", null);
    String ca = t.string("client_ca_file", null);
    String min = t.oneOf("min_version", "1.2", "1.2", "1.3");
    List<SniCertificate> sni = t.has("sni") ? sni(t) : List.of();
    if (cert == null) {
      t.problem("cert_file", "is required when tls is configured");
    }
    if (key == null) {
      t.problem("key_file", "is required when tls is configured");
    }
    t.rejectUnknownKeys();
    if (cert == null || key == null) {
      return null;
    }
    try {
      TlsSettings tls = TlsSettings.of(Path.of(cert), Path.of(key),
          ca == null ? null : Path.of(ca), min);
      if (!sni.isEmpty()) {
        tls = tls.withSniCertificates(sni);
      }
      tls.serverContext(http2);
      return tls;
    } catch (IllegalArgumentException e) {
      t.problem(null, e.getMessage());
      return null;
    }
  }

  /** {@code sni: [{server_names: [...], cert_file, key_file}]}: certificates chosen by SNI. */
  private static List<SniCertificate> sni(ConfigNode t) {
    List<SniCertificate> out = new ArrayList<>();
    for (ConfigNode c : t.sections("sni")) {
      List<String> names = c.strings("server_names");
      String cert = c.string("cert_file", null);
      String key = c.string("key_file", null);
      c.rejectUnknownKeys();
      if (cert == null) {
        c.problem("cert_file", "is required");
      }
      if (key == null) {
        c.problem("key_file", "is required");
      }
      if (cert == null || key == null) {
        continue;
      }
      try {
        out.add(SniCertificate.of(names, Path.of(cert), Path.of(key)));
      } catch (IllegalArgumentException e) {
        c.problem("server_names", e.getMessage());
      }
    }
    return out;
  }

  /**
   * An upstream's {@code tls}: {@code ca_file}, {@code cert_file} and {@code key_file} (mutual
   * TLS), {@code insecure_skip_verify}, {@code server_name_override}, {@code min_version}. Returns
   * null after recording the problems found.
   */
  static UpstreamTls upstream(ConfigNode t) {
    UpstreamTls.Builder tls = UpstreamTls.builder();
    String ca = t.string("ca_file", null);
    String cert = t.string("cert_file", null);
    String key = t.string("key_file", null);
    boolean insecure = t.bool("insecure_skip_verify", false);
    String serverName = t.string("server_name_override", null);
    String minVersion = t.oneOf("min_version", "1.2", "1.2", "1.3");
    t.rejectUnknownKeys();
    int before = t.problemCount();
    if ((cert == null) != (key == null)) {
      t.problem(cert == null ? "cert_file" : "key_file",
          "cert_file and key_file go together (a client certificate for mutual TLS)");
    }
    // The files are read when the connections start; a missing one is found now, with its key.
    for (String[] f : new String[][] {{"ca_file", ca}, {"cert_file", cert}, {"key_file", key}}) {
      if (f[1] != null && !Files.isReadable(Path.of(f[1]))) {
        t.problem(f[0], f[1] + " does not exist or is not readable");
      }
    }
    try {
      if (ca != null) {
        tls.caFile(Path.of(ca));
      }
      if (cert != null && key != null) {
        tls.clientCertificate(Path.of(cert), Path.of(key));
      }
      tls.insecureSkipVerify(insecure).minVersion(minVersion);
      if (serverName != null) {
        tls.serverName(serverName);
      }
      UpstreamTls built = tls.build();
      return t.problemCount() > before ? null : built;
    } catch (IllegalArgumentException ex) {
      t.problem(null, ex.getMessage());
      return null;
    }
  }
}
