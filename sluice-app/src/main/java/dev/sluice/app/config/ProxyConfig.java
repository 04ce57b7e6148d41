package dev.sluice.app.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.http.net.CidrSet;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.http.upstream.CircuitBreakerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.proxy.route.HeaderEdits;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads the {@code proxy} section into {@link ProxySettings}: listeners, upstream groups, routes
 * and the settings across them. Every problem is recorded with its key path, such as {@code
 * proxy.routes[2].to: upstream "apii" is not defined}; references between the parts (a route's
 * upstreams and listeners) are checked against the names declared, so that a part with problems of
 * its own is not reported a second time as missing.
 */
final class ProxyConfig {
  /** Request header names and methods are HTTP tokens (RFC 9110, section 5.6.2). */
  private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+\\-.^_`|~0-9A-Za-z]+");
  private static final Pattern HOST = Pattern.compile("(\\*\\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?"
      + "(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*");

  static final Duration DEFAULT_HEALTH_INTERVAL = Duration.ofSeconds(5);

  private ProxyConfig() {}

  /** Returns the proxy's settings, or null after recording the problems found. */
  static SluiceConfig.ProxySpec read(ConfigNode p) {
    int before = p.problemCount();
    // Every name declared, including those of listeners with problems of their own.
    Set<String> listenerNames = new LinkedHashSet<>();
    List<ListenerSettings> listeners = listeners(p, listenerNames);
    ConfigNode ups = p.section("upstreams");
    // Every name declared, including those of groups with problems of their own.
    Set<String> upstreamNames = new LinkedHashSet<>(ups.keys());
    Map<String, UpstreamSettings> upstreams = new LinkedHashMap<>();
    for (String name : ups.keys()) {
      UpstreamSettings u = upstream(name, ups.section(name));
      if (u != null) {
        upstreams.put(name, u);
      }
    }
    ups.rejectUnknownKeys();
    if (upstreamNames.isEmpty()) {
      p.problem("upstreams", "at least one upstream group is needed");
    }
    List<RouteSettings> routes = routes(p, listenerNames, upstreamNames);
    List<String> trusted = cidrs(p, "trusted_proxies");
    String via = p.string("via", "sluice");
    if (via.isBlank() || !via.matches("[!#$%&'*+\\-.^_`|~0-9A-Za-z:/]+")) {
      p.problem("via", "must be a single word such as sluice, not \"" + via + "\"");
    }
    boolean accessLog = p.bool("access_log", false);
    boolean tracing = p.bool("tracing", false);
    Duration drain = p.duration("drain_timeout", Duration.ofSeconds(10));
    int ioThreads = p.integer("io_threads", 0, 0, 1024);
    p.rejectUnknownKeys();
    if (p.problemCount() > before) {
      return null;
    }
    try {
      return new SluiceConfig.ProxySpec(new ProxySettings(listeners, upstreams, routes, trusted,
          via, accessLog, tracing, drain), ioThreads);
    } catch (IllegalArgumentException e) {
      p.problem(null, e.getMessage());
      return null;
    }
  }

  private static List<ListenerSettings> listeners(ConfigNode p, Set<String> names) {
    List<ListenerSettings> out = new ArrayList<>();
    JsonNode given = p.value("listeners");
    if (given == null || given.isArray() && given.isEmpty()) {
      p.problem("listeners", "at least one listener is needed, e.g. listeners: [{address: "
          + "0.0.0.0:8080}]");
    }
    List<ConfigNode> sections = p.sections("listeners");
    for (ConfigNode l : sections) {
      int before = l.problemCount();
      String name = l.string("name", "default");
      checkName(l, "name", name);
      if (!names.add(name)) {
        l.problem("name", "another listener is named " + name
            + (l.has("name") ? "" : " (the default name); give each listener a name"));
      }
      HttpServerSettings.Builder server = HttpServerSettings.builder();
      if (!l.has("address")) {
        l.problem("address", "is required, e.g. 0.0.0.0:8080");
      } else {
        server.address(ConfigLoader.endpoint(l, "address", "127.0.0.1:0"));
      }
      boolean http2 = l.bool("http2", true);
      server.http2(http2);
      if (l.has("tls")) {
        TlsSettings tls = TlsConfig.server(l.section("tls"), http2);
        if (tls != null) {
          server.tls(tls);
        }
      }
      server.headerTimeout(l.duration("header_timeout", Duration.ofSeconds(10)));
      // No total deadline by default: a proxy streams long uploads, and a stalled body is cut by
      // the route's write timeout.
      server.bodyTimeout(l.durationOrZero("body_timeout", Duration.ZERO));
      server.idleTimeout(l.duration("idle_timeout", Duration.ofSeconds(60)));
      server.maxHeaderSize((int) l.size("max_header_bytes", 16 * 1024, 1024, 1 << 20));
      server.maxHeaderCount(l.integer("max_header_count", 100, 1, 10_000));
      server.maxConnections(l.integer("max_connections", 10_000, 1, 1_000_000));
      server.maxConcurrentStreams(l.integer("max_concurrent_streams", 250, 1, 10_000));
      server.allow(CidrSet.of(cidrs(l, "allow")));
      server.deny(CidrSet.of(cidrs(l, "deny")));
      server.proxyProtocolSources(CidrSet.of(cidrs(l, "proxy_protocol_from")));
      l.rejectUnknownKeys();
      if (l.problemCount() == before) {
        try {
          out.add(new ListenerSettings(name, server.build()));
        } catch (IllegalArgumentException e) {
          l.problem(null, e.getMessage());
        }
      }
    }
    return out;
  }

  private static UpstreamSettings upstream(String name, ConfigNode u) {
    int before = u.problemCount();
    if (!checkName(u, null, name)) {
      return null;
    }
    List<Endpoint> endpoints = endpoints(u);
    String lb = u.oneOf("load_balancing", "round_robin", "round_robin", "least_requests",
        "power_of_two_choices", "consistent_hash");
    LoadBalancing balancing = LoadBalancing.valueOf(lb.toUpperCase(Locale.ROOT));
    UpstreamSettings.HashKey hashBy = null;
    if (u.has("hash_by")) {
      hashBy = hashKey(u, u.string("hash_by", ""));
      if (balancing != LoadBalancing.CONSISTENT_HASH) {
        u.problem("hash_by", "is used only with load_balancing: consistent_hash");
      }
    }
    HealthCheck health = u.has("health_check") ? healthCheck(u.section("health_check")) : null;
    PassiveEjection ejection = passiveEjection(u.section("passive_ejection"));
    CircuitBreakerSettings breaker = u.has("circuit_breaker")
        ? OtlpHttpExporterConfig.circuitBreaker(u.section("circuit_breaker")) : null;
    ConfigNode lim = u.section("limits");
    UpstreamSettings.Limits d = UpstreamSettings.Limits.defaults();
    int maxConnections = lim.integer("max_connections", d.maxConnectionsPerEndpoint(), 1,
        1_000_000);
    int maxPending = lim.integer("max_pending_requests", d.maxPendingRequests(), 0, 1_000_000);
    int maxRequests = lim.integer("max_requests", d.maxActiveRequests(), 1, 1_000_000);
    int maxRetries = lim.integer("max_retries", d.maxActiveRetries(), 0, 1_000_000);
    lim.rejectUnknownKeys();
    UpstreamTls tls = u.has("tls") ? TlsConfig.upstream(u.section("tls")) : UpstreamTls.defaults();
    Boolean http2 = u.has("http2") ? u.bool("http2", false) : null;
    Duration connectTimeout = u.duration("connect_timeout", Duration.ofSeconds(5));
    u.rejectUnknownKeys();
    if (u.problemCount() > before) {
      return null;
    }
    try {
      return new UpstreamSettings(name, endpoints, balancing, hashBy, health, ejection, breaker,
          new UpstreamSettings.Limits(maxConnections, maxPending, maxRequests, maxRetries), tls,
          http2, connectTimeout);
    } catch (IllegalArgumentException e) {
      u.problem(null, e.getMessage());
      return null;
    }
  }

  /** {@code endpoints: ["http://a:80", {url: "http://b:80", weight: 3}]}. */
  private static List<Endpoint> endpoints(ConfigNode u) {
    List<Endpoint> out = new ArrayList<>();
    JsonNode v = u.value("endpoints");
    String path = u.pathOf("endpoints");
    if (v == null) {
      u.problem("endpoints", "is required: a list of URLs such as http://10.0.0.1:8080");
      return out;
    }
    if (!v.isArray() || v.isEmpty()) {
      u.problem("endpoints", "must be a list of one URL or more, not "
          + ConfigNode.describe(v));
      return out;
    }
    for (int i = 0; i < v.size(); i++) {
      JsonNode item = v.get(i);
      String at = path + "[" + i + "]";
      String url;
      int weight = 1;
      if (item.isObject()) {
        ConfigNode e = u.child(item, at);
        url = e.string("url", null);
        weight = e.integer("weight", 1, 1, 1000);
        e.rejectUnknownKeys();
        if (url == null) {
          e.problem("url", "is required");
          continue;
        }
        at = e.pathOf("url");
      } else if (item.isValueNode() && !item.isNull()) {
        url = item.asText();
      } else {
        u.problemAt(at, "must be a URL or a section with url and weight, not "
            + ConfigNode.describe(item));
        continue;
      }
      try {
        URI uri = new URI(url);
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
          u.problemAt(at, url + " must not have a query or fragment");
          continue;
        }
        out.add(new Endpoint(uri, weight));
      } catch (URISyntaxException | IllegalArgumentException e) {
        u.problemAt(at, e instanceof URISyntaxException ? url + " is not a URL: "
            + e.getMessage() : e.getMessage());
      }
    }
    return out;
  }

  private static UpstreamSettings.HashKey hashKey(ConfigNode n, String v) {
    if (v.equals("client_address")) {
      return UpstreamSettings.HashKey.clientAddress();
    }
    int colon = v.indexOf(':');
    String kind = colon < 0 ? v : v.substring(0, colon);
    String name = colon < 0 ? "" : v.substring(colon + 1).trim();
    if ((kind.equals("header") || kind.equals("cookie")) && !name.isEmpty()) {
      if (kind.equals("header") && !TOKEN.matcher(name).matches()) {
        n.problem("hash_by", "\"" + name + "\" is not a header name");
        return null;
      }
      return new UpstreamSettings.HashKey(kind.equals("header")
          ? UpstreamSettings.HashKey.Source.HEADER : UpstreamSettings.HashKey.Source.COOKIE, name);
    }
    n.problem("hash_by", "must be header:NAME, cookie:NAME or client_address, not \"" + v + "\"");
    return null;
  }

  private static HealthCheck healthCheck(ConfigNode hc) {
    String type = hc.oneOf("type", hc.has("path") ? "http" : "tcp", "http", "tcp");
    String path = hc.string("path", "/");
    Duration interval = hc.duration("interval", DEFAULT_HEALTH_INTERVAL);
    Duration timeout = hc.duration("timeout", Duration.ofSeconds(2));
    int healthy = hc.integer("healthy_threshold", 2, 1, 100);
    int unhealthy = hc.integer("unhealthy_threshold", 3, 1, 100);
    hc.rejectUnknownKeys();
    if (type.equals("tcp") && hc.has("path")) {
      hc.problem("path", "is for type: http; a tcp check only connects");
      return null;
    }
    try {
      return type.equals("tcp") ? HealthCheck.tcp(interval, timeout, healthy, unhealthy)
          : new HealthCheck(path, interval, timeout, healthy, unhealthy);
    } catch (IllegalArgumentException e) {
      hc.problem(null, e.getMessage());
      return null;
    }
  }

  /** On by default; {@code enabled: false} turns it off. */
  private static PassiveEjection passiveEjection(ConfigNode pe) {
    PassiveEjection d = PassiveEjection.defaults();
    boolean enabled = pe.bool("enabled", true);
    int failures = pe.integer("consecutive_failures", d.consecutiveFailures(), 1, 1000);
    Duration base = pe.duration("base_ejection_time", d.baseEjectionTime());
    int percent = pe.integer("max_ejection_percent", d.maxEjectionPercent(), 0, 100);
    Duration max = pe.has("max_ejection_time") ? pe.duration("max_ejection_time", null) : null;
    pe.rejectUnknownKeys();
    if (!enabled) {
      return null;
    }
    try {
      return max == null ? new PassiveEjection(failures, base, percent)
          : new PassiveEjection(failures, base, percent, max);
    } catch (IllegalArgumentException | NullPointerException e) {
      pe.problem(null, e.getMessage());
      return null;
    }
  }

  private static List<RouteSettings> routes(ConfigNode p, Set<String> listenerNames,
      Set<String> upstreamNames) {
    List<RouteSettings> out = new ArrayList<>();
    JsonNode given = p.value("routes");
    List<ConfigNode> sections = p.sections("routes");
    if (given == null || given.isArray() && given.isEmpty()) {
      p.problem("routes", "at least one route is needed, e.g. routes: [{to: "
          + (upstreamNames.isEmpty() ? "NAME" : upstreamNames.iterator().next()) + "}]");
    }
    Set<String> names = new HashSet<>();
    for (int i = 0; i < sections.size(); i++) {
      ConfigNode r = sections.get(i);
      int before = r.problemCount();
      String name = r.string("name", "route-" + i);
      checkName(r, "name", name);
      if (!names.add(name)) {
        r.problem("name", "another route is named " + name);
      }
      List<String> listeners = r.strings("listeners");
      for (int j = 0; j < listeners.size(); j++) {
        if (!listenerNames.contains(listeners.get(j))) {
          r.problemAt(r.pathOf("listeners") + "[" + j + "]", "listener \"" + listeners.get(j)
              + "\" is not defined" + known(listenerNames));
        }
      }
      ConfigNode m = r.section("match");
      RouteSettings.Match match = match(m);
      List<RouteSettings.Target> targets = targets(r, upstreamNames);
      RouteSettings.HeaderRules requestHeaders = headerRules(r.section("request_headers"));
      RouteSettings.HeaderRules responseHeaders = headerRules(r.section("response_headers"));
      RouteSettings.PathRewrite rewrite =
          r.has("rewrite") ? rewrite(r.section("rewrite"), match) : null;
      String host = r.string("host", "keep");
      if (host.isBlank() || host.chars().anyMatch(c -> c <= ' ' || c == '/' || c == 127)) {
        r.problem("host", "must be keep or a host name (with an optional port), not \"" + host
            + "\"");
      }
      RouteSettings.Timeouts timeouts = timeouts(r.section("timeouts"));
      RouteSettings.Retry retry = retry(r.section("retry"));
      RouteSettings.RateLimit rateLimit =
          r.has("rate_limit") ? rateLimit(r.section("rate_limit")) : null;
      List<String> allow = cidrs(r, "allow");
      List<String> deny = cidrs(r, "deny");
      r.rejectUnknownKeys();
      if (r.problemCount() > before) {
        continue;
      }
      try {
        out.add(new RouteSettings(name, listeners, match, targets, requestHeaders,
            responseHeaders, rewrite, host.equals("keep") ? null : host, timeouts, retry,
            rateLimit, allow, deny));
      } catch (IllegalArgumentException e) {
        r.problem(null, e.getMessage());
      }
    }
    return out;
  }

  private static RouteSettings.Match match(ConfigNode m) {
    List<String> hosts = new ArrayList<>();
    List<String> given = m.strings("hosts");
    for (int i = 0; i < given.size(); i++) {
      String h = given.get(i).toLowerCase(Locale.ROOT);
      if (!HOST.matcher(h).matches()) {
        m.problemAt(m.pathOf("hosts") + "[" + i + "]", "\"" + given.get(i) + "\" is not a host"
            + " name or a wildcard such as *.example.com (no port; leave hosts out for any host)");
      } else {
        hosts.add(h);
      }
    }
    RouteSettings.PathMatch path = null;
    int kinds = 0;
    for (String key : new String[] {"path_prefix", "path", "path_regex"}) {
      if (!m.has(key)) {
        continue;
      }
      kinds++;
      String v = m.string(key, "");
      RouteSettings.PathMatch.Kind kind = key.equals("path_prefix")
          ? RouteSettings.PathMatch.Kind.PREFIX : key.equals("path")
          ? RouteSettings.PathMatch.Kind.EXACT : RouteSettings.PathMatch.Kind.REGEX;
      if (kind == RouteSettings.PathMatch.Kind.REGEX && !regex(m, key, v)) {
        continue;
      }
      try {
        path = new RouteSettings.PathMatch(kind, v);
      } catch (IllegalArgumentException e) {
        m.problem(key, e.getMessage());
      }
    }
    if (kinds > 1) {
      m.problem(null, "give at most one of path_prefix, path and path_regex");
    }
    Set<String> methods = new LinkedHashSet<>();
    List<String> givenMethods = m.strings("methods");
    for (int i = 0; i < givenMethods.size(); i++) {
      String method = givenMethods.get(i).toUpperCase(Locale.ROOT);
      if (!TOKEN.matcher(method).matches()) {
        m.problemAt(m.pathOf("methods") + "[" + i + "]", "\"" + givenMethods.get(i)
            + "\" is not an HTTP method");
      } else {
        methods.add(method);
      }
    }
    Map<String, String> headers = new LinkedHashMap<>();
    m.stringMap("headers").forEach((k, v) -> {
      if (!TOKEN.matcher(k).matches()) {
        m.problem("headers", "\"" + k + "\" is not a header name");
      } else {
        headers.put(k.toLowerCase(Locale.ROOT), v);
      }
    });
    m.rejectUnknownKeys();
    return new RouteSettings.Match(hosts, path, methods, headers);
  }

  /** {@code to: api}, or {@code to: [{upstream: api, weight: 90}, {upstream: canary, weight: 10}]}. */
  private static List<RouteSettings.Target> targets(ConfigNode r, Set<String> upstreamNames) {
    List<RouteSettings.Target> out = new ArrayList<>();
    JsonNode v = r.value("to");
    if (v == null) {
      r.problem("to", "is required: the upstream group to send to" + known(upstreamNames));
      return out;
    }
    if (v.isValueNode()) {
      String name = v.asText();
      if (!upstreamNames.contains(name)) {
        r.problem("to", "upstream \"" + name + "\" is not defined" + known(upstreamNames));
      } else {
        out.add(new RouteSettings.Target(name, 1));
      }
      return out;
    }
    if (!v.isArray() || v.isEmpty()) {
      r.problem("to", "must be an upstream name or a list of {upstream, weight}, not "
          + ConfigNode.describe(v));
      return out;
    }
    int total = 0;
    for (int i = 0; i < v.size(); i++) {
      String at = r.pathOf("to") + "[" + i + "]";
      JsonNode item = v.get(i);
      String name;
      int weight = 1;
      if (item.isObject()) {
        ConfigNode t = r.child(item, at);
        name = t.string("upstream", null);
        weight = t.integer("weight", 1, 0, 1_000_000);
        t.rejectUnknownKeys();
        if (name == null) {
          t.problem("upstream", "is required");
          continue;
        }
        at = t.pathOf("upstream");
      } else if (item.isValueNode() && !item.isNull()) {
        name = item.asText();
      } else {
        r.problemAt(at, "must be an upstream name or {upstream, weight}, not "
            + ConfigNode.describe(item));
        continue;
      }
      if (!upstreamNames.contains(name)) {
        r.problemAt(at, "upstream \"" + name + "\" is not defined" + known(upstreamNames));
        continue;
      }
      total += weight;
      out.add(new RouteSettings.Target(name, weight));
    }
    if (out.size() == v.size() && total == 0) {
      r.problem("to", "the weights add up to 0: no request could be sent");
    }
    return out;
  }

  private static final String MANAGED_HEADER = "the proxy sets the framing and connection"
      + " headers of each hop itself (Content-Length, Transfer-Encoding, Connection, Keep-Alive,"
      + " TE, Trailer, Upgrade, Proxy-Connection); a route cannot edit them";

  private static RouteSettings.HeaderRules headerRules(ConfigNode h) {
    Map<String, String> set = headerMap(h, "set");
    Map<String, String> add = headerMap(h, "add");
    List<String> remove = new ArrayList<>();
    List<String> given = h.strings("remove");
    for (int i = 0; i < given.size(); i++) {
      if (!TOKEN.matcher(given.get(i)).matches()) {
        h.problemAt(h.pathOf("remove") + "[" + i + "]", "\"" + given.get(i)
            + "\" is not a header name");
      } else if (HeaderEdits.managed(given.get(i))) {
        h.problemAt(h.pathOf("remove") + "[" + i + "]", MANAGED_HEADER);
      } else {
        remove.add(given.get(i));
      }
    }
    h.rejectUnknownKeys();
    return new RouteSettings.HeaderRules(set, add, remove);
  }

  private static Map<String, String> headerMap(ConfigNode h, String key) {
    Map<String, String> out = new LinkedHashMap<>();
    h.stringMap(key).forEach((k, v) -> {
      if (!TOKEN.matcher(k).matches()) {
        h.problemAt(h.pathOf(key) + "." + k, "is not a header name");
      } else if (v.indexOf('\r') >= 0 || v.indexOf('\n') >= 0) {
        h.problemAt(h.pathOf(key) + "." + k, "a header value must be one line");
      } else if (k.equalsIgnoreCase("host")) {
        h.problemAt(h.pathOf(key) + "." + k, "set the Host header with the route's host key");
      } else if (HeaderEdits.managed(k)) {
        h.problemAt(h.pathOf(key) + "." + k, MANAGED_HEADER);
      } else {
        out.put(k, v);
      }
    });
    return out;
  }

  /** {@code {path_prefix: "/"}} (replaces the matched prefix) or {@code {path_regex, replacement}}. */
  private static RouteSettings.PathRewrite rewrite(ConfigNode rw, RouteSettings.Match match) {
    String prefix = rw.string("path_prefix", null);
    String regex = rw.string("path_regex", null);
    String replacement = rw.string("replacement", null);
    rw.rejectUnknownKeys();
    if ((prefix == null) == (regex == null)) {
      rw.problem(null, "give either path_prefix, or path_regex with replacement");
      return null;
    }
    if (prefix != null) {
      if (replacement != null) {
        rw.problem("replacement", "goes with path_regex; path_prefix is the replacement itself");
        return null;
      }
      if (match.path() == null || match.path().kind() != RouteSettings.PathMatch.Kind.PREFIX) {
        rw.problem("path_prefix", "replaces the prefix of match.path_prefix, which this route"
            + " does not have; use path_regex and replacement");
        return null;
      }
      if (!prefix.startsWith("/")) {
        rw.problem("path_prefix", "must start with '/': " + prefix);
        return null;
      }
      return RouteSettings.PathRewrite.prefix(match.path().value(), prefix);
    }
    if (replacement == null) {
      rw.problem("replacement", "is required with path_regex");
      return null;
    }
    if (!regex(rw, "path_regex", regex)) {
      return null;
    }
    return new RouteSettings.PathRewrite(regex, replacement);
  }

  private static RouteSettings.Timeouts timeouts(ConfigNode t) {
    RouteSettings.Timeouts d = RouteSettings.Timeouts.defaults();
    RouteSettings.Timeouts out = new RouteSettings.Timeouts(t.duration("connect", d.connect()),
        t.duration("first_byte", d.firstByte()), t.duration("read", d.read()),
        t.duration("write", d.write()), t.duration("idle", d.idle()));
    t.rejectUnknownKeys();
    return out;
  }

  private static RouteSettings.Retry retry(ConfigNode r) {
    RouteSettings.Retry d = RouteSettings.Retry.defaults();
    int attempts = r.integer("attempts", d.attempts(), 1, 10);
    Duration perTry = r.has("per_try_timeout") ? r.duration("per_try_timeout", null) : null;
    Set<Integer> onStatus = new LinkedHashSet<>();
    if (r.has("on_status")) {
      List<String> given = r.strings("on_status");
      for (int i = 0; i < given.size(); i++) {
        String s = given.get(i).trim();
        if (!s.matches("[1-5][0-9][0-9]")) {
          r.problemAt(r.pathOf("on_status") + "[" + i + "]", "must be an HTTP status from 100 to"
              + " 599, not \"" + given.get(i) + "\"");
        } else {
          onStatus.add(Integer.parseInt(s));
        }
      }
    } else {
      onStatus.addAll(d.onStatus());
    }
    double budget = r.number("budget_percent", d.budgetPercent(), 0, 100);
    int minRetries = r.integer("min_retries", d.minRetries(), 0, 1_000_000);
    r.rejectUnknownKeys();
    return new RouteSettings.Retry(attempts, perTry, onStatus, budget, minRetries);
  }

  private static RouteSettings.RateLimit rateLimit(ConfigNode rl) {
    int before = rl.problemCount();
    double rps = 0;
    if (!rl.has("requests_per_second")) {
      rl.problem("requests_per_second", "is required");
    } else {
      rps = rl.number("requests_per_second", 0, 0.001, 1_000_000_000);
    }
    int burst = rl.integer("burst", (int) Math.max(1, Math.ceil(rps)), 1, 1_000_000_000);
    String key = rl.string("key", "route");
    RouteSettings.RateLimit.KeySource source = null;
    String keyName = null;
    switch (key) {
      case "route":
        source = RouteSettings.RateLimit.KeySource.ROUTE;
        break;
      case "client_address":
        source = RouteSettings.RateLimit.KeySource.CLIENT_ADDRESS;
        break;
      case "api_key":
        source = RouteSettings.RateLimit.KeySource.API_KEY;
        break;
      default:
        if (key.startsWith("header:") && TOKEN.matcher(key.substring(7)).matches()) {
          source = RouteSettings.RateLimit.KeySource.HEADER;
          keyName = key.substring(7);
        } else {
          rl.problem("key", "must be route, client_address, header:NAME or api_key, not \""
              + key + "\"");
        }
    }
    int maxKeys = rl.integer("max_keys", 100_000, 1, 10_000_000);
    rl.rejectUnknownKeys();
    if (rl.problemCount() > before) {
      return null;
    }
    return new RouteSettings.RateLimit(rps, burst, source, keyName, maxKeys);
  }

  /** A list of addresses and CIDR blocks, each checked. */
  private static List<String> cidrs(ConfigNode n, String key) {
    List<String> out = new ArrayList<>();
    List<String> given = n.strings(key);
    for (int i = 0; i < given.size(); i++) {
      String problem = Cidr.problem(given.get(i).trim());
      if (problem == null) {
        try {
          CidrSet.of(given.get(i).trim()); // also refuses address bits beyond the prefix
        } catch (IllegalArgumentException e) {
          problem = e.getMessage();
        }
      }
      if (problem != null) {
        n.problemAt(n.pathOf(key) + "[" + i + "]", problem);
      } else {
        out.add(given.get(i).trim());
      }
    }
    return out;
  }

  private static boolean regex(ConfigNode n, String key, String regex) {
    try {
      Pattern.compile(regex);
      return true;
    } catch (PatternSyntaxException e) {
      n.problem(key, "is not a valid regular expression: " + e.getDescription() + " near index "
          + e.getIndex() + " of " + regex);
      return false;
    }
  }

  /** Checks a name as the settings model does, recording the problem at {@code key}. */
  private static boolean checkName(ConfigNode n, String key, String name) {
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!(Character.isLetterOrDigit(c) || c == '-' || c == '_' || c == '.')) {
        n.problem(key, "name \"" + name + "\" may hold only letters, digits, '-', '_' and '.'");
        return false;
      }
    }
    if (name.isBlank()) {
      n.problem(key, "must not be empty");
      return false;
    }
    return true;
  }

  private static String known(Set<String> names) {
    return names.isEmpty() ? "" : " (defined: " + String.join(", ", names) + ")";
  }
}
