package dev.sluice.loadgen;

import dev.sluice.otlp.Signal;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What a {@link LoadGenerator} sends, where and how: one {@code sluice send} command line.
 * Immutable; made by {@link #builder()}, which checks every value and says which one is wrong in
 * an {@link IllegalArgumentException}.
 */
public final class LoadSettings {
  public static final String DEFAULT_ENDPOINT = "http://127.0.0.1:4318";
  public static final long DEFAULT_REQUESTS = 1000;
  public static final int DEFAULT_CONNECTIONS = 4;
  public static final int DEFAULT_ITEMS = 100;
  public static final int DEFAULT_ATTRIBUTES = 10;
  public static final long DEFAULT_SEED = 1;
  public static final int DEFAULT_RETRIES = 3;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  /** A header sent with every request. */
  public record Header(String name, String value) {
    public Header {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(value, "value");
      if (name.isEmpty() || !name.chars().allMatch(Header::isTokenChar)) {
        throw new IllegalArgumentException("not a valid header name: '" + name + "'");
      }
      if (value.chars().anyMatch(c -> c == '\r' || c == '\n' || c == 0)) {
        throw new IllegalArgumentException("the value of header " + name
            + " contains a line break");
      }
      String lower = name.toLowerCase(Locale.ROOT);
      if (lower.equals("content-length") || lower.equals("transfer-encoding")
          || lower.equals("connection") || lower.equals("content-encoding")) {
        throw new IllegalArgumentException("header " + name + " is set by sluice send"
            + (lower.equals("content-encoding") ? "; use --compression" : ""));
      }
    }

    /** {@code "Name: value"}, as curl's {@code -H} takes it. */
    public static Header parse(String line) {
      int colon = line.indexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("a header looks like 'Name: value', not '" + line + "'");
      }
      return new Header(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
    }

    private static boolean isTokenChar(int c) {
      return c > 32 && c < 127 && "()<>@,;:\\\"/[]?={}".indexOf(c) < 0;
    }

    /** The name with the value hidden when it looks like a secret, for printing. */
    public String redacted() {
      String lower = name.toLowerCase(Locale.ROOT);
      boolean secret = lower.contains("auth") || lower.contains("key") || lower.contains("token")
          || lower.contains("secret") || lower.contains("cookie");
      return name + ": " + (secret ? "****" : value);
    }
  }

  private final URI endpoint;
  private final Signal signal;
  private final long requests;
  private final Duration duration;
  private final double rate;
  private final int connections;
  private final int items;
  private final int attributes;
  private final Encoding encoding;
  private final Compression compression;
  private final List<Header> headers;
  private final long seed;
  private final int retries;
  private final Duration timeout;
  private final boolean insecure;
  private final Path caFile;
  private final String userAgent;

  private LoadSettings(Builder b) {
    this.signal = b.signal;
    this.endpoint = resolveEndpoint(b.endpoint, b.signal);
    this.requests = b.duration == null ? b.requests : 0;
    this.duration = b.duration;
    this.rate = b.rate;
    this.connections = b.connections;
    this.items = b.items;
    this.attributes = b.attributes;
    this.encoding = b.encoding;
    this.compression = b.compression;
    this.headers = List.copyOf(b.headers);
    this.seed = b.seed;
    this.retries = b.retries;
    this.timeout = b.timeout;
    this.insecure = b.insecure;
    this.caFile = b.caFile;
    this.userAgent = b.userAgent;
    if (!tls() && (insecure || caFile != null)) {
      throw new IllegalArgumentException("--insecure and --ca-file are for https endpoints, and "
          + endpoint + " is not one");
    }
    if (insecure && caFile != null) {
      throw new IllegalArgumentException("--insecure trusts every certificate; drop --ca-file or "
          + "--insecure");
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * The URL requests go to: {@code url} as given when it has a path, otherwise with the signal's
   * default path ({@code /v1/traces}, {@code /v1/metrics}, {@code /v1/logs}) appended.
   *
   * @throws IllegalArgumentException when {@code url} is not an http or https URL with a host
   */
  public static URI resolveEndpoint(String url, Signal signal) {
    String t = url.trim();
    String lower = t.toLowerCase(Locale.ROOT);
    if (!lower.startsWith("http://") && !lower.startsWith("https://")) {
      throw new IllegalArgumentException("the endpoint must be an http:// or https:// URL, like "
          + DEFAULT_ENDPOINT + ", not '" + url + "'");
    }
    URI u;
    try {
      u = new URI(t);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("the endpoint " + url + " is not a URL: "
          + e.getReason());
    }
    String scheme = u.getScheme().toLowerCase(Locale.ROOT);
    if (u.getHost() == null) {
      throw new IllegalArgumentException("the endpoint " + url + " has no host");
    }
    if (u.getRawUserInfo() != null) {
      throw new IllegalArgumentException("the endpoint " + url + " has credentials in it; send "
          + "them with --header 'Authorization: ...'");
    }
    String path = u.getRawPath();
    if (path == null || path.isEmpty() || path.equals("/")) {
      path = signal.defaultPath();
    }
    return URI.create(scheme + "://" + u.getRawAuthority() + path
        + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery()));
  }

  /** The full URL requests go to, with the signal's path. */
  public URI endpoint() {
    return endpoint;
  }

  public boolean tls() {
    return endpoint.getScheme().equalsIgnoreCase("https");
  }

  public String host() {
    return endpoint.getHost();
  }

  public int port() {
    return endpoint.getPort() > 0 ? endpoint.getPort() : tls() ? 443 : 80;
  }

  /** The request target: path and query. */
  public String target() {
    return endpoint.getRawPath() + (endpoint.getRawQuery() == null ? "" : "?"
        + endpoint.getRawQuery());
  }

  /** The Host header: host, and port when it is not the scheme's default. */
  public String hostHeader() {
    String h = endpoint.getHost();
    return endpoint.getPort() > 0 ? h + ":" + endpoint.getPort() : h;
  }

  public Signal signal() {
    return signal;
  }

  /** How many requests to send; 0 when the run is bounded by {@link #duration()} instead. */
  public long requests() {
    return requests;
  }

  /** How long to send; null when the run is bounded by {@link #requests()} instead. */
  public Duration duration() {
    return duration;
  }

  /** Requests per second over all connections; 0 sends as fast as answers come. */
  public double rate() {
    return rate;
  }

  public int connections() {
    return connections;
  }

  /** Spans, data points or log records per request. */
  public int items() {
    return items;
  }

  /** Attributes per item. */
  public int attributes() {
    return attributes;
  }

  public Encoding encoding() {
    return encoding;
  }

  public Compression compression() {
    return compression;
  }

  public List<Header> headers() {
    return headers;
  }

  public long seed() {
    return seed;
  }

  /** How many times a request is retried after 429, 502, 503, 504, a timeout or a connection error. */
  public int retries() {
    return retries;
  }

  /** How long one attempt may take, connecting included. */
  public Duration timeout() {
    return timeout;
  }

  public boolean insecure() {
    return insecure;
  }

  public Path caFile() {
    return caFile;
  }

  public String userAgent() {
    return userAgent;
  }

  /** One line for the start of a run. */
  public String describe() {
    StringBuilder sb = new StringBuilder();
    sb.append(requests > 0 ? String.format(Locale.ROOT, "%,d requests", requests)
        : Durations.format(duration) + " of requests");
    sb.append(" of ").append(items).append(' ').append(signal.itemNoun()).append(" x ")
        .append(attributes).append(" attributes to ").append(endpoint)
        .append(" (").append(encoding.id())
        .append(compression == Compression.NONE ? "" : ", " + compression.id())
        .append(", ").append(connections).append(connections == 1 ? " connection" : " connections")
        .append(rate > 0 ? String.format(Locale.ROOT, ", %s req/s", trim(rate)) : ", no rate limit")
        .append(", seed ").append(seed).append(')');
    return sb.toString();
  }

  private static String trim(double d) {
    return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
  }

  /** Builds {@link LoadSettings}; the defaults are those of {@code sluice send}. */
  public static final class Builder {
    private String endpoint = DEFAULT_ENDPOINT;
    private Signal signal = Signal.TRACES;
    private long requests = DEFAULT_REQUESTS;
    private Duration duration;
    private double rate;
    private int connections = DEFAULT_CONNECTIONS;
    private int items = DEFAULT_ITEMS;
    private int attributes = DEFAULT_ATTRIBUTES;
    private Encoding encoding = Encoding.PROTOBUF;
    private Compression compression = Compression.NONE;
    private final List<Header> headers = new ArrayList<>();
    private long seed = DEFAULT_SEED;
    private int retries = DEFAULT_RETRIES;
    private Duration timeout = DEFAULT_TIMEOUT;
    private boolean insecure;
    private Path caFile;
    private String userAgent = "sluice-send";

    private Builder() {}

    /** The URL, with or without a path; see {@link #resolveEndpoint}. Checked by {@link #build()}. */
    public Builder endpoint(String url) {
      this.endpoint = Objects.requireNonNull(url, "endpoint");
      return this;
    }

    public Builder signal(Signal signal) {
      this.signal = Objects.requireNonNull(signal, "signal");
      return this;
    }

    /** Sends {@code n} requests (and no duration bound). */
    public Builder requests(long n) {
      if (n < 1) {
        throw new IllegalArgumentException("--requests must be at least 1, not " + n);
      }
      this.requests = n;
      this.duration = null;
      return this;
    }

    /** Sends for {@code d} (and no request count bound). */
    public Builder duration(Duration d) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("--duration must be positive, not " + d);
      }
      this.duration = d;
      return this;
    }

    /** Requests per second over all connections; 0 for as fast as possible. */
    public Builder rate(double r) {
      if (!(r >= 0) || Double.isInfinite(r)) {
        throw new IllegalArgumentException("--rate must be 0 (no limit) or a positive number of "
            + "requests per second, not " + r);
      }
      this.rate = r;
      return this;
    }

    public Builder connections(int n) {
      if (n < 1 || n > 10_000) {
        throw new IllegalArgumentException("--connections must be 1 to 10000, not " + n);
      }
      this.connections = n;
      return this;
    }

    public Builder items(int n) {
      if (n < 1 || n > 1_000_000) {
        throw new IllegalArgumentException("--items must be 1 to 1000000, not " + n);
      }
      this.items = n;
      return this;
    }

    public Builder attributes(int n) {
      if (n < 0 || n > 1000) {
        throw new IllegalArgumentException("--attributes must be 0 to 1000, not " + n);
      }
      this.attributes = n;
      return this;
    }

    public Builder encoding(Encoding e) {
      this.encoding = Objects.requireNonNull(e, "encoding");
      return this;
    }

    public Builder compression(Compression c) {
      this.compression = Objects.requireNonNull(c, "compression");
      return this;
    }

    public Builder header(Header h) {
      headers.add(Objects.requireNonNull(h, "header"));
      return this;
    }

    /** Adds a header given as {@code "Name: value"}. */
    public Builder header(String line) {
      return header(Header.parse(line));
    }

    public Builder seed(long s) {
      this.seed = s;
      return this;
    }

    public Builder retries(int n) {
      if (n < 0 || n > 100) {
        throw new IllegalArgumentException("--retries must be 0 to 100, not " + n);
      }
      this.retries = n;
      return this;
    }

    public Builder timeout(Duration d) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("--timeout must be positive, not " + d);
      }
      this.timeout = d;
      return this;
    }

    /** For https: trust any certificate and host name. */
    public Builder insecure(boolean b) {
      this.insecure = b;
      return this;
    }

    /** For https: trust only the CAs in this PEM file (and check the host name). */
    public Builder caFile(Path p) {
      this.caFile = p;
      return this;
    }

    public Builder userAgent(String ua) {
      this.userAgent = Objects.requireNonNull(ua, "userAgent");
      return this;
    }

    /** @throws IllegalArgumentException when the endpoint or the TLS options are not right */
    public LoadSettings build() {
      return new LoadSettings(this);
    }
  }
}
