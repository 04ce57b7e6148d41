package dev.sluice.proxy;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
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
    List<Endpoint> endpoints = new ArrayList<>();
    for (String u : urls) {
      endpoints.add(Endpoint.of(u));
    }
    return new UpstreamSettings(name, endpoints, lb, null, null, null, null,
        UpstreamSettings.Limits.defaults(), UpstreamTls.defaults(), null, Duration.ofSeconds(2));
  }

  static RouteSettings route(String name, RouteSettings.Match match, String upstream) {
    return new RouteSettings(name, List.of(), match, List.of(new RouteSettings.Target(upstream, 1)),
        RouteSettings.HeaderRules.none(), RouteSettings.HeaderRules.none(), null, null,
        RouteSettings.Timeouts.defaults(), RouteSettings.Retry.defaults(), null, List.of(),
        List.of());
  }

  /** Everything to one upstream group of the given URLs, round robin. */
  static ProxySettings to(String... urls) {
    return new ProxySettings(List.of(listener()),
        Map.of("backend", upstream("backend", LoadBalancing.ROUND_ROBIN, urls)),
        List.of(route("all", RouteSettings.Match.any(), "backend")), List.of(), "sluice", false,
        false, Duration.ofSeconds(5));
  }
}
