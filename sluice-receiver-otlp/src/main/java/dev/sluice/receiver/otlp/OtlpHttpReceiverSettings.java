package dev.sluice.receiver.otlp;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.otlp.Signal;
import dev.sluice.receiver.otlp.auth.Authenticator;
import dev.sluice.receiver.otlp.cors.CorsPolicy;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * What an {@link OtlpHttpReceiver} serves: its HTTP server settings, the path of each signal, the
 * body size limit, CORS and auth. Immutable; made through {@link #builder()}.
 */
public final class OtlpHttpReceiverSettings {
  /** 64 MiB, checked on the body as sent and again after decompression. */
  public static final long DEFAULT_MAX_REQUEST_BODY_SIZE = 64L * 1024 * 1024;

  private final HttpServerSettings server;
  private final Map<Signal, String> paths;
  private final long maxRequestBodySize;
  private final CorsPolicy cors;
  private final Authenticator auth;

  private OtlpHttpReceiverSettings(Builder b) {
    this.server = b.server;
    this.paths = Map.copyOf(b.paths);
    this.maxRequestBodySize = b.maxRequestBodySize;
    this.cors = b.cors;
    this.auth = b.auth;
  }

  public static Builder builder() {
    return new Builder();
  }

  public HttpServerSettings server() {
    return server;
  }

  public String path(Signal s) {
    return paths.get(s);
  }

  public long maxRequestBodySize() {
    return maxRequestBodySize;
  }

  public CorsPolicy cors() {
    return cors;
  }

  /** The authenticator, or null when auth is off. */
  public Authenticator auth() {
    return auth;
  }

  /** Builds {@link OtlpHttpReceiverSettings}, checking each value as it is set. */
  public static final class Builder {
    private HttpServerSettings server = HttpServerSettings.builder().build();
    private final Map<Signal, String> paths = new EnumMap<>(Signal.class);
    private long maxRequestBodySize = DEFAULT_MAX_REQUEST_BODY_SIZE;
    private CorsPolicy cors = CorsPolicy.disabled();
    private Authenticator auth;

    private Builder() {
      for (Signal s : Signal.values()) {
        paths.put(s, s.defaultPath());
      }
    }

    public Builder server(HttpServerSettings server) {
      this.server = Objects.requireNonNull(server, "server");
      return this;
    }

    public Builder path(Signal signal, String path) {
      Objects.requireNonNull(path, "path");
      if (!path.startsWith("/")) {
        throw new IllegalArgumentException(signal.id() + " path must start with /: " + path);
      }
      for (Map.Entry<Signal, String> e : paths.entrySet()) {
        if (e.getKey() != signal && e.getValue().equals(path)) {
          throw new IllegalArgumentException(
              signal.id() + " path " + path + " is already the path of " + e.getKey().id());
        }
      }
      paths.put(signal, path);
      return this;
    }

    public Builder maxRequestBodySize(long bytes) {
      if (bytes <= 0 || bytes > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException(
            "max request body size must be between 1 and 2 GiB: " + bytes);
      }
      this.maxRequestBodySize = bytes;
      return this;
    }

    public Builder cors(CorsPolicy cors) {
      this.cors = Objects.requireNonNull(cors, "cors");
      return this;
    }

    /** Turns auth on with this authenticator; null turns it off. */
    public Builder auth(Authenticator auth) {
      this.auth = auth;
      return this;
    }

    public OtlpHttpReceiverSettings build() {
      return new OtlpHttpReceiverSettings(this);
    }
  }
}
