package dev.sluice.http.server;

import dev.sluice.http.net.CidrSet;
import dev.sluice.http.tls.TlsSettings;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;

/**
 * How an {@link HttpServer} listens and what it tolerates from clients: protocols, TLS, header
 * limits, deadlines and the connection cap. Immutable; made through {@link #builder()}.
 */
public final class HttpServerSettings {
  private final InetSocketAddress address;
  private final TlsSettings tls;
  private final boolean http2;
  private final int maxInitialLineLength;
  private final int maxHeaderSize;
  private final int maxHeaderCount;
  private final Duration headerTimeout;
  private final Duration bodyTimeout;
  private final Duration idleTimeout;
  private final int maxConnections;
  private final int maxConcurrentStreams;
  private final int ioThreads;
  private final CidrSet proxyProtocolSources;
  private final CidrSet allow;
  private final CidrSet deny;

  private HttpServerSettings(Builder b) {
    this.address = b.address;
    this.tls = b.tls;
    this.http2 = b.http2;
    this.maxInitialLineLength = b.maxInitialLineLength;
    this.maxHeaderSize = b.maxHeaderSize;
    this.maxHeaderCount = b.maxHeaderCount;
    this.headerTimeout = b.headerTimeout;
    this.bodyTimeout = b.bodyTimeout;
    this.idleTimeout = b.idleTimeout;
    this.maxConnections = b.maxConnections;
    this.maxConcurrentStreams = b.maxConcurrentStreams;
    this.ioThreads = b.ioThreads;
    this.proxyProtocolSources = b.proxyProtocolSources;
    this.allow = b.allow;
    this.deny = b.deny;
  }

  public static Builder builder() {
    return new Builder();
  }

  public InetSocketAddress address() {
    return address;
  }

  /** TLS settings, or null for cleartext. */
  public TlsSettings tls() {
    return tls;
  }

  /** Whether HTTP/2 is offered: h2c (prior knowledge and upgrade) in cleartext, h2 by ALPN on TLS. */
  public boolean http2() {
    return http2;
  }

  public int maxInitialLineLength() {
    return maxInitialLineLength;
  }

  /** Most bytes of request headers, all together. */
  public int maxHeaderSize() {
    return maxHeaderSize;
  }

  public int maxHeaderCount() {
    return maxHeaderCount;
  }

  /** How long a client may take to send a request's headers, from the first byte. */
  public Duration headerTimeout() {
    return headerTimeout;
  }

  /**
   * How long a client may take to send a request's body, from the end of the headers; zero for no
   * deadline.
   */
  public Duration bodyTimeout() {
    return bodyTimeout;
  }

  /** How long a connection may stay open with no request in progress and no bytes moving. */
  public Duration idleTimeout() {
    return idleTimeout;
  }

  public int maxConnections() {
    return maxConnections;
  }

  public int maxConcurrentStreams() {
    return maxConcurrentStreams;
  }

  /** Event loop threads; 0 means two per core. */
  public int ioThreads() {
    return ioThreads;
  }

  /**
   * Sources whose connections may begin with a PROXY protocol header (v1 or v2) naming the real
   * client; empty (the default) when the PROXY protocol is off. A header from any other source
   * closes the connection.
   */
  public CidrSet proxyProtocolSources() {
    return proxyProtocolSources;
  }

  /** Client addresses that may connect; empty (the default) allows every address not denied. */
  public CidrSet allow() {
    return allow;
  }

  /** Client addresses whose connections are closed at once, even when allowed. */
  public CidrSet deny() {
    return deny;
  }

  @Override
  public String toString() {
    return (tls == null ? "http://" : "https://") + address.getHostString() + ":"
        + address.getPort();
  }

  /** Builds {@link HttpServerSettings}, checking each value as it is set. */
  public static final class Builder {
    private InetSocketAddress address = new InetSocketAddress("127.0.0.1", 0);
    private TlsSettings tls;
    private boolean http2 = true;
    private int maxInitialLineLength = 8192;
    private int maxHeaderSize = 64 * 1024;
    private int maxHeaderCount = 100;
    private Duration headerTimeout = Duration.ofSeconds(10);
    private Duration bodyTimeout = Duration.ofSeconds(60);
    private Duration idleTimeout = Duration.ofSeconds(120);
    private int maxConnections = 10_000;
    private int maxConcurrentStreams = 250;
    private int ioThreads;
    private CidrSet proxyProtocolSources = CidrSet.EMPTY;
    private CidrSet allow = CidrSet.EMPTY;
    private CidrSet deny = CidrSet.EMPTY;

    private Builder() {}

    public Builder address(InetSocketAddress address) {
      this.address = Objects.requireNonNull(address, "address");
      return this;
    }

    public Builder tls(TlsSettings tls) {
      this.tls = tls;
      return this;
    }

    public Builder http2(boolean http2) {
      this.http2 = http2;
      return this;
    }

    public Builder maxInitialLineLength(int bytes) {
      this.maxInitialLineLength = positive(bytes, "max initial line length");
      return this;
    }

    public Builder maxHeaderSize(int bytes) {
      this.maxHeaderSize = positive(bytes, "max header size");
      return this;
    }

    public Builder maxHeaderCount(int count) {
      this.maxHeaderCount = positive(count, "max header count");
      return this;
    }

    public Builder headerTimeout(Duration d) {
      this.headerTimeout = positive(d, "header timeout");
      return this;
    }

    /**
     * How long a client may take to send a request's body; {@link Duration#ZERO} means no
     * deadline, for long streamed uploads (the idle timeout still ends a connection on which no
     * bytes move).
     */
    public Builder bodyTimeout(Duration d) {
      Objects.requireNonNull(d, "body timeout");
      if (d.isNegative()) {
        throw new IllegalArgumentException("body timeout must not be negative: " + d);
      }
      this.bodyTimeout = d;
      return this;
    }

    public Builder idleTimeout(Duration d) {
      this.idleTimeout = positive(d, "idle timeout");
      return this;
    }

    public Builder maxConnections(int count) {
      this.maxConnections = positive(count, "max connections");
      return this;
    }

    public Builder maxConcurrentStreams(int count) {
      this.maxConcurrentStreams = positive(count, "max concurrent streams");
      return this;
    }

    public Builder ioThreads(int threads) {
      if (threads < 0) {
        throw new IllegalArgumentException("io threads must not be negative: " + threads);
      }
      this.ioThreads = threads;
      return this;
    }

    /**
     * Accepts a PROXY protocol header (v1 or v2) on connections from these sources, such as the
     * load balancer in front; {@link ClientAddress#of} then gives the client it names, and the
     * access list is applied to that client.
     */
    public Builder proxyProtocolSources(CidrSet trusted) {
      this.proxyProtocolSources = Objects.requireNonNull(trusted, "proxy protocol sources");
      return this;
    }

    /** Only clients in these blocks may connect; empty allows all. */
    public Builder allow(CidrSet allow) {
      this.allow = Objects.requireNonNull(allow, "allow");
      return this;
    }

    /** Clients in these blocks are refused, whatever {@link #allow} says. */
    public Builder deny(CidrSet deny) {
      this.deny = Objects.requireNonNull(deny, "deny");
      return this;
    }

    public HttpServerSettings build() {
      return new HttpServerSettings(this);
    }

    private static int positive(int v, String what) {
      if (v <= 0) {
        throw new IllegalArgumentException(what + " must be positive: " + v);
      }
      return v;
    }

    private static Duration positive(Duration d, String what) {
      Objects.requireNonNull(d, what);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + " must be positive: " + d);
      }
      return d;
    }
  }
}
