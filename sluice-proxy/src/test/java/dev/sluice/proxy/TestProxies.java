package dev.sluice.proxy;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.CircuitBreakerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Settings for proxies under test: one listener on a free loopback port. */
final class TestProxies {
  private TestProxies() {}

  static ListenerSettings listener() {
    return new ListenerSettings("main", HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0)).build());
  }

  static UpstreamSettings upstream(String name, LoadBalancing lb, String... urls) {
    return upstream(name).lb(lb).urls(urls).build();
  }

  static RouteSettings route(String name, RouteSettings.Match match, String upstream) {
    return route(name, upstream).match(match).build();
  }

  /** Everything to one upstream group of the given URLs, round robin. */
  static ProxySettings to(String... urls) {
    return proxy().upstream(upstream("backend").urls(urls).build())
        .route(route("all", "backend").build()).build();
  }

  static ProxyBuilder proxy() {
    return new ProxyBuilder();
  }

  static UpstreamBuilder upstream(String name) {
    return new UpstreamBuilder(name);
  }

  static RouteBuilder route(String name, String upstream) {
    return new RouteBuilder(name).to(upstream, 1);
  }

  static RouteSettings.Match path(RouteSettings.PathMatch.Kind kind, String value) {
    return new RouteSettings.Match(List.of(), new RouteSettings.PathMatch(kind, value),
        java.util.Set.of(), Map.of());
  }

  /** The whole proxy; one listener, nothing else on unless asked. */
  static final class ProxyBuilder {
    private final List<ListenerSettings> listeners = new ArrayList<>(List.of(TestProxies.listener()));
    private final Map<String, UpstreamSettings> upstreams = new LinkedHashMap<>();
    private final List<RouteSettings> routes = new ArrayList<>();
    private List<String> trusted = List.of();
    private boolean accessLog;
    private boolean tracing;
    private Duration drain = Duration.ofSeconds(5);

    ProxyBuilder listener(ListenerSettings l) {
      listeners.clear();
      listeners.add(l);
      return this;
    }

    ProxyBuilder upstream(UpstreamSettings u) {
      upstreams.put(u.name(), u);
      return this;
    }

    ProxyBuilder route(RouteSettings r) {
      routes.add(r);
      return this;
    }

    ProxyBuilder trusted(String... cidrs) {
      trusted = List.of(cidrs);
      return this;
    }

    ProxyBuilder accessLog(boolean on) {
      accessLog = on;
      return this;
    }

    ProxyBuilder tracing(boolean on) {
      tracing = on;
      return this;
    }

    ProxyBuilder drain(Duration d) {
      drain = d;
      return this;
    }

    ProxySettings build() {
      return new ProxySettings(listeners, upstreams, routes, trusted, "sluice", accessLog,
          tracing, drain);
    }
  }

  /** An upstream group; round robin, default limits, 2 s connect timeout unless set. */
  static final class UpstreamBuilder {
    private final String name;
    private final List<Endpoint> endpoints = new ArrayList<>();
    private LoadBalancing lb = LoadBalancing.ROUND_ROBIN;
    private UpstreamSettings.HashKey hashBy;
    private HealthCheck healthCheck;
    private PassiveEjection ejection;
    private CircuitBreakerSettings breaker;
    private UpstreamSettings.Limits limits = UpstreamSettings.Limits.defaults();
    private Boolean http2;
    private Duration connectTimeout = Duration.ofSeconds(2);

    UpstreamBuilder(String name) {
      this.name = name;
    }

    UpstreamBuilder urls(String... urls) {
      for (String u : urls) {
        endpoints.add(Endpoint.of(u));
      }
      return this;
    }

    UpstreamBuilder endpoint(String url, int weight) {
      endpoints.add(new Endpoint(java.net.URI.create(url), weight));
      return this;
    }

    UpstreamBuilder lb(LoadBalancing lb) {
      this.lb = lb;
      return this;
    }

    UpstreamBuilder hashBy(UpstreamSettings.HashKey key) {
      this.hashBy = key;
      return this;
    }

    UpstreamBuilder healthCheck(HealthCheck h) {
      this.healthCheck = h;
      return this;
    }

    UpstreamBuilder ejection(PassiveEjection e) {
      this.ejection = e;
      return this;
    }

    UpstreamBuilder breaker(CircuitBreakerSettings b) {
      this.breaker = b;
      return this;
    }

    UpstreamBuilder limits(UpstreamSettings.Limits l) {
      this.limits = l;
      return this;
    }

    UpstreamBuilder http2(Boolean on) {
      this.http2 = on;
      return this;
    }

    UpstreamBuilder connectTimeout(Duration d) {
      this.connectTimeout = d;
      return this;
    }

    UpstreamSettings build() {
      return new UpstreamSettings(name, endpoints, lb, hashBy, healthCheck, ejection, breaker,
          limits, UpstreamTls.defaults(), http2, connectTimeout);
    }
  }

  /** A route; matches everything, default timeouts and retries unless set. */
  static final class RouteBuilder {
    private final String name;
    private RouteSettings.Match match = RouteSettings.Match.any();
    private final List<RouteSettings.Target> targets = new ArrayList<>();
    private RouteSettings.HeaderRules requestHeaders = RouteSettings.HeaderRules.none();
    private RouteSettings.HeaderRules responseHeaders = RouteSettings.HeaderRules.none();
    private RouteSettings.PathRewrite rewrite;
    private String hostRewrite;
    private RouteSettings.Timeouts timeouts = RouteSettings.Timeouts.defaults();
    private RouteSettings.Retry retry = RouteSettings.Retry.defaults();
    private RouteSettings.RateLimit rateLimit;
    private List<String> allow = List.of();
    private List<String> deny = List.of();

    RouteBuilder(String name) {
      this.name = name;
    }

    /** Adds a target; the first call (from {@link TestProxies#route}) is replaced by later ones. */
    RouteBuilder to(String upstream, int weight) {
      targets.add(new RouteSettings.Target(upstream, weight));
      return this;
    }

    RouteBuilder onlyTo(String upstream, int weight) {
      targets.clear();
      return to(upstream, weight);
    }

    RouteBuilder match(RouteSettings.Match m) {
      this.match = m;
      return this;
    }

    RouteBuilder requestHeaders(RouteSettings.HeaderRules r) {
      this.requestHeaders = r;
      return this;
    }

    RouteBuilder responseHeaders(RouteSettings.HeaderRules r) {
      this.responseHeaders = r;
      return this;
    }

    RouteBuilder rewrite(RouteSettings.PathRewrite r) {
      this.rewrite = r;
      return this;
    }

    RouteBuilder hostRewrite(String host) {
      this.hostRewrite = host;
      return this;
    }

    RouteBuilder timeouts(RouteSettings.Timeouts t) {
      this.timeouts = t;
      return this;
    }

    RouteBuilder firstByte(Duration d) {
      this.timeouts = new RouteSettings.Timeouts(timeouts.connect(), d, timeouts.read(),
          timeouts.write(), timeouts.idle());
      return this;
    }

    RouteBuilder retry(RouteSettings.Retry r) {
      this.retry = r;
      return this;
    }

    RouteBuilder rateLimit(RouteSettings.RateLimit r) {
      this.rateLimit = r;
      return this;
    }

    RouteBuilder allow(String... cidrs) {
      this.allow = List.of(cidrs);
      return this;
    }

    RouteBuilder deny(String... cidrs) {
      this.deny = List.of(cidrs);
      return this;
    }

    RouteSettings build() {
      return new RouteSettings(name, List.of(), match, targets, requestHeaders, responseHeaders,
          rewrite, hostRewrite, timeouts, retry, rateLimit, allow, deny);
    }
  }
}
