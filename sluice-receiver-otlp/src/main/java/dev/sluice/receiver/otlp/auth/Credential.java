package dev.sluice.receiver.otlp.auth;

import java.util.Objects;

/**
 * A secret that a client presents, as a bearer token or in the API key header, and the tenant it
 * stands for. {@link #toString()} never shows the secret.
 */
public record Credential(String tenant, String secret) {
  public Credential {
    Objects.requireNonNull(tenant, "tenant");
    Objects.requireNonNull(secret, "secret");
    if (tenant.isBlank()) {
      throw new IllegalArgumentException("a credential needs a tenant name");
    }
    if (secret.length() < 8) {
      throw new IllegalArgumentException(
          "the secret of tenant " + tenant + " is shorter than 8 characters");
    }
  }

  @Override
  public String toString() {
    return "Credential(tenant " + tenant + ", secret ****)";
  }
}
