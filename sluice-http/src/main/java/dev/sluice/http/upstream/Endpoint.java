package dev.sluice.http.upstream;

import java.net.URI;
import java.util.Locale;
import java.util.Objects;

/**
 * One upstream server: its base URI ({@code http://host:port} or {@code https://host:port}, with an
 * optional base path) and its load-balancing weight.
 */
public record Endpoint(URI uri, int weight) {
  public Endpoint {
    Objects.requireNonNull(uri, "uri");
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new IllegalArgumentException("endpoint " + uri + " must be http:// or https://");
    }
    if (uri.getHost() == null) {
      throw new IllegalArgumentException("endpoint " + uri + " has no host");
    }
    if (weight < 1 || weight > 1000) {
      throw new IllegalArgumentException("weight of " + uri + " must be 1 to 1000, not " + weight);
    }
  }

  public static Endpoint of(String uri) {
    return new Endpoint(URI.create(uri), 1);
  }

  public boolean tls() {
    return uri.getScheme().equalsIgnoreCase("https");
  }

  public int port() {
    return uri.getPort() > 0 ? uri.getPort() : tls() ? 443 : 80;
  }

  /** host:port, for logs and metric labels. */
  public String authority() {
    return uri.getHost() + ":" + port();
  }
}
