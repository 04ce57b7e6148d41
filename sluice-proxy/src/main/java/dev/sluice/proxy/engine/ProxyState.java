package dev.sluice.proxy.engine;

import dev.sluice.http.net.CidrSet;
import dev.sluice.proxy.metrics.ProxyMetrics;
import dev.sluice.proxy.metrics.RouteMeters;
import dev.sluice.proxy.route.Route;
import dev.sluice.proxy.route.Router;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.RouteSettings;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One generation of the proxy's configuration as it runs: the routes, the upstream groups and what
 * is derived from them. A reload makes a new one; requests keep the one they started with, and the
 * old one's groups close when its last request is done.
 */
public final class ProxyState {
  final ProxySettings settings;
  final Router router;
  final Map<String, UpstreamRuntime> upstreams;
  final CidrSet trustedProxies;
  private final Map<String, RouteAccess> access = new HashMap<>();
  private final Map<String, Map<String, RouteMeters>> meters = new HashMap<>();
  final AtomicInteger inFlight = new AtomicInteger();
  /** The {@code Via} values for each protocol version of the previous hop. */
  final String via10;
  final String via11;
  final String via2;

  public ProxyState(ProxySettings settings, Map<String, UpstreamRuntime> upstreams,
      ProxyMetrics metrics) {
    this.settings = settings;
    this.router = Router.of(settings.routes());
    this.upstreams = Map.copyOf(upstreams);
    this.trustedProxies = CidrSet.of(settings.trustedProxies());
    this.via10 = "1.0 " + settings.via();
    this.via11 = "1.1 " + settings.via();
    this.via2 = "2 " + settings.via();
    for (RouteSettings r : settings.routes()) {
      if (!r.allow().isEmpty() || !r.deny().isEmpty()) {
        access.put(r.name(), new RouteAccess(CidrSet.of(r.allow()), CidrSet.of(r.deny())));
      }
      Map<String, RouteMeters> perUpstream = new HashMap<>();
      for (RouteSettings.Target t : r.targets()) {
        perUpstream.put(t.upstream(), metrics.route(r.name(), t.upstream()));
      }
      meters.put(r.name(), perUpstream);
    }
  }

  public ProxySettings settings() {
    return settings;
  }

  public Map<String, UpstreamRuntime> upstreams() {
    return upstreams;
  }

  /** Requests in flight on this generation. */
  public int inFlight() {
    return inFlight.get();
  }

  RouteMeters meters(Route route, String upstream) {
    return meters.get(route.name()).get(upstream);
  }

  /** Whether the route lets this client in: not denied, and allowed when there is an allow list. */
  boolean admits(Route route, InetAddress client) {
    RouteAccess a = access.get(route.name());
    return a == null || a.admits(client);
  }

  private record RouteAccess(CidrSet allow, CidrSet deny) {
    boolean admits(InetAddress client) {
      if (!deny.isEmpty() && deny.contains(client)) {
        return false;
      }
      return allow.isEmpty() || allow.contains(client);
    }
  }
}
