package dev.sluice.http.tls;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * A certificate that a TLS server presents to clients asking, by SNI, for one of its server
 * names: exact names such as {@code api.example.com} or wildcards such as {@code *.example.com},
 * which match one label ({@code a.example.com}, not {@code example.com} nor {@code
 * a.b.example.com}). An exact name wins over a wildcard.
 */
public final class SniCertificate {
  private final List<String> serverNames;
  private final Path certFile;
  private final Path keyFile;

  private SniCertificate(List<String> serverNames, Path certFile, Path keyFile) {
    this.serverNames = serverNames;
    this.certFile = certFile;
    this.keyFile = keyFile;
  }

  /**
   * @throws IllegalArgumentException when there is no name, or a name is not a host name or a
   *     {@code *.} wildcard over one; the message names it
   */
  public static SniCertificate of(List<String> serverNames, Path certFile, Path keyFile) {
    Objects.requireNonNull(serverNames, "server_names");
    if (serverNames.isEmpty()) {
      throw new IllegalArgumentException("server_names must name at least one host for cert_file "
          + certFile);
    }
    List<String> names = new ArrayList<>(serverNames.size());
    for (String name : serverNames) {
      names.add(checkName(name));
    }
    return new SniCertificate(List.copyOf(names), Objects.requireNonNull(certFile, "cert_file"),
        Objects.requireNonNull(keyFile, "key_file"));
  }

  private static String checkName(String name) {
    if (name == null) {
      throw new IllegalArgumentException("server name must not be null");
    }
    String n = name.trim().toLowerCase(Locale.ROOT);
    String host = n.startsWith("*.") ? n.substring(2) : n;
    boolean ok = !host.isEmpty() && host.length() <= 253 && !host.startsWith(".")
        && !host.endsWith(".") && !host.contains("..");
    for (int i = 0; ok && i < host.length(); i++) {
      char c = host.charAt(i);
      ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_';
    }
    if (!ok) {
      throw new IllegalArgumentException("invalid server name \"" + name
          + "\": expected a host name such as api.example.com or a wildcard such as"
          + " *.example.com");
    }
    return n;
  }

  /** The names, in lower case. */
  public List<String> serverNames() {
    return serverNames;
  }

  public Path certFile() {
    return certFile;
  }

  public Path keyFile() {
    return keyFile;
  }

  @Override
  public String toString() {
    return serverNames + " -> cert " + certFile + ", key " + keyFile;
  }
}
