package dev.sluice.proxy.route;

import dev.sluice.proxy.settings.RouteSettings;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Picks the route of a request: the first, in order, whose conditions all hold.
 *
 * <p>Conditions, all of which must hold when given:
 *
 * <ul>
 *   <li>listener: the request came in on one of the route's listeners;
 *   <li>host: the {@code Host} (HTTP/1.1) or {@code :authority} (HTTP/2) names one of the route's
 *       hosts, compared without the port, the brackets of an IPv6 address and a trailing dot,
 *       ignoring ASCII case. {@code *.example.com} takes {@code a.example.com} and
 *       {@code a.b.example.com} but not {@code example.com}; a request without a host matches no
 *       host condition;
 *   <li>path, the raw path without the query: {@code PREFIX} is a plain string prefix, as in
 *       Envoy and nginx, so {@code /api} takes {@code /api}, {@code /api/x} and also
 *       {@code /apix} (write {@code /api/} to stop at the segment); {@code EXACT} is equality;
 *       {@code REGEX} must match the whole path;
 *   <li>method: one of the route's methods, case-sensitive as HTTP says;
 *   <li>headers: for each, some value of the header equals the given one exactly, or, for
 *       {@code "*"}, the header is present.
 * </ul>
 *
 * <pre>{@code
 * Router router = Router.of(settings.routes());
 * Route route = router.select("public", "GET", request.headers().get("host"), path,
 *     request.headers());
 * if (route == null) { ...404... }
 * }</pre>
 *
 * <p>Immutable and safe to share between threads; {@link #select} allocates nothing.
 */
public final class Router {
  private final Route[] routes;
  private final List<Route> routeList;

  private final boolean matchesHeaders;

  private Router(Route[] routes) {
    this.routes = routes;
    this.routeList = List.of(routes);
    boolean headers = false;
    for (Route r : routes) {
      headers |= r.matchesHeaders();
    }
    this.matchesHeaders = headers;
  }

  /** Whether some route's conditions look at request headers ({@link #select} needs them). */
  public boolean matchesHeaders() {
    return matchesHeaders;
  }

  /**
   * Compiles routes, checking every regular expression, host pattern and header rule now.
   *
   * @throws IllegalArgumentException naming the route and the problem when one is malformed, or
   *     when two routes share a name
   */
  public static Router of(List<RouteSettings> routes) {
    Objects.requireNonNull(routes, "routes");
    List<Route> compiled = new ArrayList<>(routes.size());
    Set<String> names = new HashSet<>();
    for (RouteSettings settings : routes) {
      Objects.requireNonNull(settings, "route");
      if (!names.add(settings.name())) {
        throw new IllegalArgumentException("two routes are named " + settings.name());
      }
      compiled.add(new Route(settings));
    }
    return new Router(compiled.toArray(new Route[0]));
  }

  /**
   * The first route, in order, that takes the request, or null when none does.
   *
   * @param listener the name of the listener the request came in on
   * @param method the request method
   * @param host the {@code Host} or {@code :authority} value as received, or null when absent
   * @param path the raw path of the request target, without the query
   * @param headers the request headers, or null for none
   */
  public Route select(String listener, String method, String host, String path,
      HttpHeaders headers) {
    long bounds = HostMatcher.nameBounds(host);
    int hostStart = (int) (bounds >> 32);
    int hostEnd = (int) bounds;
    for (Route route : routes) {
      if (route.matches(listener, method, host, hostStart, hostEnd, path, headers)) {
        return route;
      }
    }
    return null;
  }

  /** The compiled routes, in the order they are tried. */
  public List<Route> routes() {
    return routeList;
  }

  @Override
  public String toString() {
    return "Router" + routeList;
  }
}
