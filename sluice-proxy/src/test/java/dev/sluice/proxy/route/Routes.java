package dev.sluice.proxy.route;

import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.RouteSettings.HeaderRules;
import dev.sluice.proxy.settings.RouteSettings.Match;
import dev.sluice.proxy.settings.RouteSettings.PathMatch;
import dev.sluice.proxy.settings.RouteSettings.PathRewrite;
import dev.sluice.proxy.settings.RouteSettings.RateLimit;
import dev.sluice.proxy.settings.RouteSettings.Target;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Route settings for tests, built a piece at a time. */
final class Routes {
  private final String name;
  private List<String> listeners = List.of();
  private List<String> hosts = List.of();
  private PathMatch path;
  private Set<String> methods = Set.of();
  private final Map<String, String> headers = new LinkedHashMap<>();
  private final List<Target> targets = new ArrayList<>();
  private HeaderRules requestHeaders = HeaderRules.none();
  private HeaderRules responseHeaders = HeaderRules.none();
  private PathRewrite rewrite;
  private RateLimit rateLimit;

  private Routes(String name) {
    this.name = name;
  }

  static Routes route(String name) {
    return new Routes(name);
  }

  Routes listeners(String... names) {
    listeners = List.of(names);
    return this;
  }

  Routes hosts(String... patterns) {
    hosts = List.of(patterns);
    return this;
  }

  Routes prefix(String value) {
    path = new PathMatch(PathMatch.Kind.PREFIX, value);
    return this;
  }

  Routes exact(String value) {
    path = new PathMatch(PathMatch.Kind.EXACT, value);
    return this;
  }

  Routes regex(String value) {
    path = new PathMatch(PathMatch.Kind.REGEX, value);
    return this;
  }

  Routes methods(String... names) {
    methods = Set.of(names);
    return this;
  }

  Routes header(String header, String value) {
    headers.put(header, value);
    return this;
  }

  Routes target(String upstream, int weight) {
    targets.add(new Target(upstream, weight));
    return this;
  }

  Routes requestHeaders(HeaderRules rules) {
    requestHeaders = rules;
    return this;
  }

  Routes responseHeaders(HeaderRules rules) {
    responseHeaders = rules;
    return this;
  }

  Routes rewrite(PathRewrite value) {
    rewrite = value;
    return this;
  }

  Routes rateLimit(RateLimit value) {
    rateLimit = value;
    return this;
  }

  RouteSettings settings() {
    List<Target> t = targets.isEmpty() ? List.of(new Target("backend", 1)) : targets;
    return new RouteSettings(name, listeners, new Match(hosts, path, methods, headers), t,
        requestHeaders, responseHeaders, rewrite, null, RouteSettings.Timeouts.defaults(),
        RouteSettings.Retry.defaults(), rateLimit, List.of(), List.of());
  }

  Route build() {
    return Router.of(List.of(settings())).routes().get(0);
  }
}
