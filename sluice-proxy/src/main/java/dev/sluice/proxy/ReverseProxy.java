package dev.sluice.proxy;

import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.trace.SpanSink;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * A reverse proxy driven by {@link ProxySettings}: its listeners accept HTTP/1.1 and HTTP/2, match
 * each request to a route, and stream it to an endpoint of the route's upstream group and the
 * response back.
 *
 * <pre>{@code
 * ReverseProxy proxy = ReverseProxy.builder(settings).meterRegistry(registry).build().start();
 * ...
 * proxy.reload(newSettings);   // routes, upstreams, certificates; in-flight requests finish
 * proxy.close(Duration.ofSeconds(10));
 * }</pre>
 */
public final class ReverseProxy implements AutoCloseable {
  private final Builder config;
  private ProxyRuntime runtime;

  private ReverseProxy(Builder b) {
    this.config = b;
  }

  public static Builder builder(ProxySettings settings) {
    return new Builder(settings);
  }

  /**
   * Binds every listener and starts health checks.
   *
   * @throws java.io.UncheckedIOException when a listener's address cannot be bound; the message
   *     names it
   */
  public synchronized ReverseProxy start() {
    if (runtime != null) {
      throw new IllegalStateException("the proxy is started already");
    }
    runtime = ProxyRuntime.start(config.settings, config.registry, config.spanSink,
        config.ioThreads);
    return this;
  }

  /** The bound address of each listener, by name (with the real port when 0 was asked for). */
  public Map<String, InetSocketAddress> localAddresses() {
    return running().localAddresses();
  }

  /** The bound address of the only or first listener. */
  public InetSocketAddress localAddress() {
    return running().localAddresses().values().iterator().next();
  }

  /**
   * Replaces routes, upstream groups and listener certificates with those of {@code next}. Requests
   * in flight finish on what they started with; new requests see the new settings. Listener
   * addresses cannot change by reload.
   *
   * @throws IllegalArgumentException when {@code next} cannot be applied; the running settings stay
   */
  public void reload(ProxySettings next) {
    running().reload(Objects.requireNonNull(next, "settings"));
  }

  /** The settings in force. */
  public ProxySettings settings() {
    return running().settings();
  }

  /**
   * Stops accepting, lets requests in flight finish for up to {@code drain}, then closes every
   * connection. Idempotent.
   */
  public synchronized void close(Duration drain) {
    if (runtime != null) {
      runtime.close(drain);
    }
  }

  @Override
  public void close() {
    close(config.settings.drainTimeout());
  }

  private ProxyRuntime running() {
    ProxyRuntime r = runtime;
    if (r == null) {
      throw new IllegalStateException("the proxy is not started");
    }
    return r;
  }

  /** Builds a {@link ReverseProxy}. */
  public static final class Builder {
    private final ProxySettings settings;
    private MeterRegistry registry = new SimpleMeterRegistry();
    private SpanSink spanSink;
    private int ioThreads = Math.max(1, Runtime.getRuntime().availableProcessors());

    private Builder(ProxySettings settings) {
      this.settings = Objects.requireNonNull(settings, "settings");
    }

    /** Where the per-route and per-upstream metrics go. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /** Where spans of proxied requests go when tracing is on; none by default. */
    public Builder spanSink(SpanSink sink) {
      this.spanSink = sink;
      return this;
    }

    /** Event loops serving every listener and upstream connection; one per core by default. */
    public Builder ioThreads(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("io threads must be at least 1: " + n);
      }
      this.ioThreads = n;
      return this;
    }

    public ReverseProxy build() {
      return new ReverseProxy(this);
    }
  }
}
