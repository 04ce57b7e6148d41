package dev.sluice.proxy.route;

import dev.sluice.proxy.limit.RateLimiter;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.RouteSettings.PathMatch;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A compiled route: its match conditions, its weighted choice of upstream, and the edits it makes
 * to the request target and headers on the way; immutable and safe to share between event loops.
 *
 * <p>Routes are made by {@link Router#of}, which checks every pattern of the settings up front.
 */
public final class Route {
  private final RouteSettings settings;

  private final String[] listeners;
  private final String[] methods;
  private final HostMatcher hosts;
  private final PathMatch.Kind pathKind;
  private final String pathValue;
  private final Pattern pathRegex;
  // A matcher per thread: matching a regex route then allocates nothing. A plain ThreadLocal,
  // not Netty's FastThreadLocal, so the matchers of routes dropped by a reload can be collected.
  private final ThreadLocal<Matcher> pathMatcher;
  private final AsciiString[] headerNames;
  // Null where the condition only asks for the header to be present.
  private final String[] headerValues;

  private final String[] upstreams;
  // Running totals of the positive weights, in the order of upstreams.
  private final long[] cumulativeWeights;

  private final Pattern rewrite;
  private final String rewriteReplacement;
  private final HeaderEdits requestEdits;
  private final HeaderEdits responseEdits;
  private final RateLimiter rateLimiter;
  private final boolean[] retryOn;

  Route(RouteSettings settings) {
    this.settings = settings;
    String name = settings.name();
    RouteSettings.Match match = settings.match();

    listeners = settings.listeners().toArray(new String[0]);
    for (String method : match.methods()) {
      if (!isToken(method)) {
        throw new IllegalArgumentException("route " + name + ": method '" + method
            + "' is not an HTTP token");
      }
    }
    methods = match.methods().toArray(new String[0]);
    hosts = HostMatcher.compile(name, match.hosts());

    PathMatch path = match.path();
    pathKind = path == null ? null : path.kind();
    pathValue = path == null ? null : path.value();
    if (pathKind == PathMatch.Kind.REGEX) {
      pathRegex = compile(name, "path regex", path.value());
      pathMatcher = ThreadLocal.withInitial(() -> pathRegex.matcher(""));
    } else {
      pathRegex = null;
      pathMatcher = null;
    }

    headerNames = new AsciiString[match.headers().size()];
    headerValues = new String[headerNames.length];
    int h = 0;
    for (Map.Entry<String, String> e : match.headers().entrySet()) {
      checkHeader(name, "match header", e.getKey(), e.getValue());
      headerNames[h] = AsciiString.of(e.getKey());
      headerValues[h] = e.getValue().equals("*") ? null : e.getValue();
      h++;
    }

    List<String> names = new ArrayList<>();
    List<Long> totals = new ArrayList<>();
    long total = 0;
    for (RouteSettings.Target target : settings.targets()) {
      if (target.weight() > 0) {
        total += target.weight();
        names.add(target.upstream());
        totals.add(total);
      }
    }
    upstreams = names.toArray(new String[0]);
    cumulativeWeights = totals.stream().mapToLong(Long::longValue).toArray();

    RouteSettings.PathRewrite pathRewrite = settings.pathRewrite();
    if (pathRewrite != null) {
      rewrite = compile(name, "path rewrite pattern", pathRewrite.pattern());
      rewriteReplacement = pathRewrite.replacement();
      checkReplacement(name, rewrite, rewriteReplacement);
    } else {
      rewrite = null;
      rewriteReplacement = null;
    }
    requestEdits = new HeaderEdits(name, "request header", settings.requestHeaders());
    responseEdits = new HeaderEdits(name, "response header", settings.responseHeaders());
    rateLimiter = settings.rateLimit() == null ? null : RateLimiter.of(settings.rateLimit());
    retryOn = new boolean[600];
    for (int status : settings.retry().onStatus()) {
      if (status >= 0 && status < retryOn.length) {
        retryOn[status] = true;
      }
    }
  }

  /** The settings the route was compiled from. */
  public RouteSettings settings() {
    return settings;
  }

  public String name() {
    return settings.name();
  }

  /**
   * Picks the upstream group for one request: each target with a positive weight is chosen with
   * probability weight / sum of weights, independently per call.
   */
  public String pickUpstream() {
    if (upstreams.length == 1) {
      return upstreams[0];
    }
    long r = ThreadLocalRandom.current().nextLong(cumulativeWeights[cumulativeWeights.length - 1]);
    int i = 0;
    while (r >= cumulativeWeights[i]) {
      i++;
    }
    return upstreams[i];
  }

  /**
   * Applies the route's path rewrite to the path of a request target, keeping the query.
   *
   * <p>The first match of the rewrite pattern in the path is replaced. A path the rewrite leaves
   * empty becomes {@code "/"}, and one it leaves without a leading slash gets one, so
   * {@code prefix("/api/", "")} turns {@code /api/users?x=1} into {@code /users?x=1}. In an
   * absolute-form target ({@code http://host/path?query}) only the path changes. The same String
   * comes back when the route has no rewrite, when the pattern does not match, and for targets
   * with no path ({@code *}, authority-form).
   */
  public String rewriteUri(String uri) {
    if (rewrite == null) {
      return uri;
    }
    int pathStart;
    if (uri.startsWith("/")) {
      pathStart = 0;
    } else {
      int scheme = uri.indexOf("://");
      if (scheme <= 0) {
        return uri;
      }
      pathStart = scheme + 3;
      while (pathStart < uri.length() && "/?#".indexOf(uri.charAt(pathStart)) < 0) {
        pathStart++;
      }
    }
    int pathEnd = pathStart;
    while (pathEnd < uri.length() && uri.charAt(pathEnd) != '?' && uri.charAt(pathEnd) != '#') {
      pathEnd++;
    }
    // An absolute-form target without a path ("http://host?q") stands for the path "/".
    String path = pathEnd > pathStart ? uri.substring(pathStart, pathEnd) : "/";
    Matcher m = rewrite.matcher(path);
    if (!m.find()) {
      return uri;
    }
    StringBuilder out = new StringBuilder(uri.length() + rewriteReplacement.length());
    out.append(uri, 0, pathStart);
    int rewritten = out.length();
    m.appendReplacement(out, rewriteReplacement);
    m.appendTail(out);
    if (out.length() == rewritten || out.charAt(rewritten) != '/') {
      out.insert(rewritten, '/');
    }
    return out.append(uri, pathEnd, uri.length()).toString();
  }

  /** Edits the headers of a request before it goes upstream: remove, then set, then add. */
  public void editRequestHeaders(HttpHeaders headers) {
    requestEdits.apply(headers);
  }

  /** Edits the headers of a response before it goes to the client: remove, then set, then add. */
  public void editResponseHeaders(HttpHeaders headers) {
    responseEdits.apply(headers);
  }

  /** The route's edits of request headers. */
  public HeaderEdits requestEdits() {
    return requestEdits;
  }

  /** The route's edits of response headers. */
  public HeaderEdits responseEdits() {
    return responseEdits;
  }

  /**
   * Whether a response of this status counts as a failed try ({@code retry.on_status}); a table,
   * so that the question per response boxes no Integer.
   */
  public boolean retriesOn(int status) {
    return status >= 0 && status < retryOn.length && retryOn[status];
  }

  /** Whether the route edits request or response headers. */
  public boolean editsHeaders() {
    return !requestEdits.isEmpty() || !responseEdits.isEmpty();
  }

  /**
   * Whether the raw fast paths can make the route's header edits: none touches framing,
   * connection or trace headers.
   */
  public boolean editsFitRawPath() {
    return requestEdits.fitsRawPath() && responseEdits.fitsRawPath();
  }

  /** Whether the route's conditions look at request headers. */
  public boolean matchesHeaders() {
    return headerNames.length > 0;
  }

  /** The route's rate limiter, or null when the route has no rate limit. */
  public RateLimiter rateLimiter() {
    return rateLimiter;
  }

  @Override
  public String toString() {
    return "Route[" + settings.name() + "]";
  }

  /**
   * Whether every condition holds; {@code hostStart < 0} when the request names no host. Cheap
   * conditions go first; nothing here allocates.
   */
  boolean matches(String listener, String method, String host, int hostStart, int hostEnd,
      String path, HttpHeaders headers) {
    return anyEqual(listeners, listener)
        && anyEqual(methods, method)
        && hosts.matches(host, hostStart, hostEnd)
        && pathMatches(path)
        && headersMatch(headers);
  }

  private static boolean anyEqual(String[] allowed, String value) {
    if (allowed.length == 0) {
      return true;
    }
    for (String a : allowed) {
      if (a.equals(value)) {
        return true;
      }
    }
    return false;
  }

  private boolean pathMatches(String path) {
    if (pathKind == null) {
      return true;
    }
    if (path == null) {
      return false;
    }
    switch (pathKind) {
      case PREFIX:
        return path.startsWith(pathValue);
      case EXACT:
        return path.equals(pathValue);
      default:
        return pathMatcher.get().reset(path).matches();
    }
  }

  private boolean headersMatch(HttpHeaders headers) {
    if (headerNames.length == 0) {
      return true;
    }
    if (headers == null) {
      return false;
    }
    for (int i = 0; i < headerNames.length; i++) {
      boolean ok = headerValues[i] == null
          ? headers.contains(headerNames[i])
          : headers.contains(headerNames[i], headerValues[i], false);
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static Pattern compile(String route, String what, String regex) {
    try {
      return Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException("route " + route + ": " + what + " '" + regex
          + "' does not compile: " + e.getDescription() + " near index " + e.getIndex(), e);
    }
  }

  /**
   * Checks the group references of a replacement against the pattern's groups now, rather than
   * as an exception on the first request that matches.
   */
  private static void checkReplacement(String route, Pattern pattern, String replacement) {
    // Java 17 does not list a pattern's named groups, so a pattern with the same groups is made
    // and the replacement is tried on it: appendReplacement applies the very rules it will apply
    // to requests.
    List<String> named = new ArrayList<>();
    Matcher names = Pattern.compile("\\(\\?<([a-zA-Z][a-zA-Z0-9]*)>").matcher(pattern.pattern());
    while (names.find()) {
      named.add(names.group(1));
    }
    int groups = pattern.matcher("").groupCount();
    if (named.size() > groups || named.stream().distinct().count() != named.size()) {
      return; // a "(?<" inside a class or after a backslash; the runtime will judge
    }
    StringBuilder twin = new StringBuilder();
    for (String n : named) {
      twin.append("(?<").append(n).append(">)");
    }
    twin.append("()".repeat(groups - named.size()));
    Matcher m = Pattern.compile(twin.toString()).matcher("");
    m.find();
    try {
      m.appendReplacement(new StringBuilder(), replacement);
    } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
      throw new IllegalArgumentException("route " + route + ": path rewrite replacement '"
          + replacement + "' does not fit the pattern '" + pattern.pattern() + "': "
          + e.getMessage(), e);
    }
  }

  static void checkHeader(String route, String what, String name, String value) {
    if (!isToken(name)) {
      throw new IllegalArgumentException("route " + route + ": " + what + " name '" + name
          + "' is not an HTTP token");
    }
    if (value != null) {
      for (int i = 0; i < value.length(); i++) {
        char c = value.charAt(i);
        if (c == '\r' || c == '\n' || c == 0) {
          throw new IllegalArgumentException("route " + route + ": " + what + " " + name
              + " has a value with a line break or NUL");
        }
      }
    }
  }

  private static boolean isToken(String s) {
    if (s == null || s.isEmpty()) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
      if (!ok) {
        return false;
      }
    }
    return true;
  }
}
