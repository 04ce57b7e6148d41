package dev.sluice.receiver.otlp.auth;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Locale;

/**
 * Checks the credential a request presents, as {@code Authorization: Bearer <token>} or in the API
 * key header, against the configured ones, and names the tenant it belongs to.
 *
 * <p>Secrets are compared as SHA-256 digests with {@link MessageDigest#isEqual}, over every
 * configured credential without stopping at a match, so the time taken says nothing about which
 * secret was close or how long it is.
 */
public final class Authenticator {
  private final String apiKeyHeader;
  private final String[] tenants;
  private final byte[][] digests;

  /** The result of a check: the tenant, or why the request is refused. */
  public record Result(String tenant, String problem) {
    public boolean ok() {
      return problem == null;
    }
  }

  /**
   * @param apiKeyHeader the header that carries an API key, e.g. {@code X-API-Key}
   */
  public Authenticator(List<Credential> credentials, String apiKeyHeader) {
    if (credentials.isEmpty()) {
      throw new IllegalArgumentException("auth is on but no credentials are configured");
    }
    this.apiKeyHeader = apiKeyHeader.toLowerCase(Locale.ROOT);
    this.tenants = new String[credentials.size()];
    this.digests = new byte[credentials.size()][];
    for (int i = 0; i < credentials.size(); i++) {
      tenants[i] = credentials.get(i).tenant();
      digests[i] = sha256(credentials.get(i).secret());
    }
  }

  public String apiKeyHeader() {
    return apiKeyHeader;
  }

  /** The value of {@code WWW-Authenticate} on a 401 answer. */
  public String challenge() {
    return "Bearer realm=\"sluice\"";
  }

  public Result authenticate(HttpHeaders headers) {
    String presented = null;
    String authorization = headers.get(HttpHeaderNames.AUTHORIZATION);
    if (authorization != null) {
      if (authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
        presented = authorization.substring(7).trim();
      } else {
        return new Result(null, "the Authorization header must use the Bearer scheme");
      }
    } else {
      presented = headers.get(apiKeyHeader);
    }
    if (presented == null || presented.isEmpty()) {
      return new Result(
          null, "missing credentials: send Authorization: Bearer <token> or " + apiKeyHeader);
    }
    byte[] digest = sha256(presented);
    String tenant = null;
    for (int i = 0; i < digests.length; i++) {
      if (MessageDigest.isEqual(digest, digests[i]) && tenant == null) {
        tenant = tenants[i];
      }
    }
    return tenant == null ? new Result(null, "invalid credentials") : new Result(tenant, null);
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  @Override
  public String toString() {
    return "Authenticator(" + tenants.length + " credentials, API key header " + apiKeyHeader + ")";
  }
}
