package dev.sluice.proxy.settings;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Everything the reverse proxy runs from: its listeners, upstream groups and routes, and the
 * settings that apply across them. Routes are tried in order; the first that matches serves the
 * request.
 *
 * @param trustedProxies addresses or CIDR blocks whose {@code X-Forwarded-For} is believed and
 *     extended; from anyone else it is replaced by the client's own address
 * @param via the pseudonym in the {@code Via} header the proxy adds ("sluice")
 * @param accessLog whether each request is logged as one structured line
 * @param tracing whether a W3C {@code traceparent} is propagated (created when absent) and spans
 *     of proxied requests are reported
 * @param drainTimeout how long in-flight requests may take to finish on shutdown or reload
 */
public record ProxySettings(List<ListenerSettings> listeners, Map<String, UpstreamSettings> upstreams,
    List<RouteSettings> routes, List<String> trustedProxies, String via, boolean accessLog,
    boolean tracing, Duration drainTimeout) {
  public ProxySettings {
    listeners = List.copyOf(listeners);
    upstreams = Map.copyOf(upstreams);
    routes = List.copyOf(routes);
    trustedProxies = List.copyOf(trustedProxies);
    Objects.requireNonNull(via, "via");
    Objects.requireNonNull(drainTimeout, "drainTimeout");
    if (listeners.isEmpty()) {
      throw new IllegalArgumentException("proxy: at least one listener is needed");
    }
    if (routes.isEmpty()) {
      throw new IllegalArgumentException("proxy: at least one route is needed");
    }
    Set<String> names = new HashSet<>();
    for (ListenerSettings l : listeners) {
      if (!names.add(l.name())) {
        throw new IllegalArgumentException("proxy: two listeners are named " + l.name());
      }
    }
    Set<String> routeNames = new HashSet<>();
    for (RouteSettings r : routes) {
      if (!routeNames.add(r.name())) {
        throw new IllegalArgumentException("proxy: two routes are named " + r.name());
      }
      for (RouteSettings.Target t : r.targets()) {
        if (!upstreams.containsKey(t.upstream())) {
          throw new IllegalArgumentException("proxy: route " + r.name()
              + " sends to upstream " + t.upstream() + ", which is not defined");
        }
      }
      for (String l : r.listeners()) {
        if (!names.contains(l)) {
          throw new IllegalArgumentException("proxy: route " + r.name() + " names listener " + l
              + ", which is not defined");
        }
      }
    }
  }
}
