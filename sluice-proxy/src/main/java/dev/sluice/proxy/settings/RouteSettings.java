package dev.sluice.proxy.settings;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * One route: which requests it takes ({@link Match}), where it sends them (weighted
 * {@link Target}s, for canary splits), and what it does on the way.
 *
 * @param listeners the listeners the route serves; empty for all
 * @param hostRewrite the {@code Host} sent upstream, or null to keep the client's
 * @param rateLimit the route's rate limit, or null for none
 * @param allow client addresses or CIDR blocks allowed on this route; empty allows all
 * @param deny client addresses or CIDR blocks refused on this route (403), checked first
 */
public record RouteSettings(String name, List<String> listeners, Match match, List<Target> targets,
    HeaderRules requestHeaders, HeaderRules responseHeaders, PathRewrite pathRewrite,
    String hostRewrite, Timeouts timeouts, Retry retry, RateLimit rateLimit, List<String> allow,
    List<String> deny) {
  public RouteSettings {
    Names.check(name, "route");
    listeners = List.copyOf(listeners);
    Objects.requireNonNull(match, "match");
    targets = List.copyOf(targets);
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("route " + name + " sends nowhere: give it an upstream");
    }
    if (targets.stream().mapToInt(Target::weight).sum() <= 0) {
      throw new IllegalArgumentException("route " + name + ": the weights of its upstreams add up"
          + " to zero");
    }
    Objects.requireNonNull(requestHeaders, "requestHeaders");
    Objects.requireNonNull(responseHeaders, "responseHeaders");
    Objects.requireNonNull(timeouts, "timeouts");
    Objects.requireNonNull(retry, "retry");
    allow = List.copyOf(allow);
    deny = List.copyOf(deny);
  }

  /**
   * What a request must look like for the route to take it; every condition given must hold.
   *
   * @param hosts exact names ({@code api.example.com}) or wildcards ({@code *.example.com}, one or
   *     more labels); empty for any host. Compared without the port, ignoring case.
   * @param path the path condition, or null for any path
   * @param methods the methods taken; empty for all
   * @param headers header name to required value; the value {@code "*"} only requires presence
   */
  public record Match(List<String> hosts, PathMatch path, Set<String> methods,
      Map<String, String> headers) {
    public Match {
      hosts = List.copyOf(hosts);
      methods = Set.copyOf(methods);
      headers = Map.copyOf(headers);
    }

    public static Match any() {
      return new Match(List.of(), null, Set.of(), Map.of());
    }
  }

  /** A condition on the request path (without the query). */
  public record PathMatch(Kind kind, String value) {
    public enum Kind { PREFIX, EXACT, REGEX }

    public PathMatch {
      Objects.requireNonNull(kind, "kind");
      Objects.requireNonNull(value, "value");
      if (kind != Kind.REGEX && !value.startsWith("/")) {
        throw new IllegalArgumentException("path " + kind.name().toLowerCase() + " must start"
            + " with '/': " + value);
      }
    }
  }

  /** An upstream group and its share of the route's requests. */
  public record Target(String upstream, int weight) {
    public Target {
      Objects.requireNonNull(upstream, "upstream");
      if (weight < 0) {
        throw new IllegalArgumentException("weight of " + upstream + " must not be negative");
      }
    }
  }

  /** Headers set (replacing), added (appending) and removed, in that order: remove, set, add. */
  public record HeaderRules(Map<String, String> set, Map<String, String> add, List<String> remove) {
    public HeaderRules {
      set = Map.copyOf(set);
      add = Map.copyOf(add);
      remove = List.copyOf(remove);
    }

    public static HeaderRules none() {
      return new HeaderRules(Map.of(), Map.of(), List.of());
    }

    public boolean isEmpty() {
      return set.isEmpty() && add.isEmpty() && remove.isEmpty();
    }
  }

  /**
   * A rewrite of the path sent upstream: the first match of {@code pattern} (a regular
   * expression) is replaced by {@code replacement} ({@code $1} refers to groups). A prefix
   * rewrite is {@code prefix("/api/", "/")}.
   */
  public record PathRewrite(String pattern, String replacement) {
    public PathRewrite {
      Objects.requireNonNull(pattern, "pattern");
      Objects.requireNonNull(replacement, "replacement");
    }

    public static PathRewrite prefix(String from, String to) {
      return new PathRewrite("^" + java.util.regex.Pattern.quote(from),
          java.util.regex.Matcher.quoteReplacement(to));
    }
  }

  /**
   * The route's deadlines.
   *
   * @param connect to open a connection to an upstream
   * @param firstByte from the end of the request to the first byte of the response head
   * @param read between two reads of the response body
   * @param write between two writes of the request body to the upstream
   * @param idle a connection's (WebSocket's) silence in both directions
   */
  public record Timeouts(Duration connect, Duration firstByte, Duration read, Duration write,
      Duration idle) {
    public Timeouts {
      for (Duration d : new Duration[] {connect, firstByte, read, write, idle}) {
        if (d == null || d.isNegative() || d.isZero()) {
          throw new IllegalArgumentException("route timeouts must be positive");
        }
      }
    }

    /** connect 5 s, first byte 60 s, read 60 s, write 60 s, idle 300 s. */
    public static Timeouts defaults() {
      return new Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofSeconds(60),
          Duration.ofSeconds(60), Duration.ofSeconds(300));
    }
  }

  /**
   * When a failed try is made again, on another endpoint. Only idempotent requests and requests
   * that never reached an upstream are retried, within the retry budget.
   *
   * @param attempts tries in all, the first included (1: no retries)
   * @param perTryTimeout a try's deadline for the response head, or null for the route's
   * @param onStatus response statuses that count as failed tries (besides connection errors)
   * @param budgetPercent retries may be at most this share of the active requests
   * @param minRetries retries always allowed at once, whatever the budget
   */
  public record Retry(int attempts, Duration perTryTimeout, Set<Integer> onStatus,
      double budgetPercent, int minRetries) {
    public Retry {
      if (attempts < 1) {
        throw new IllegalArgumentException("retry attempts must be at least 1");
      }
      onStatus = Set.copyOf(onStatus);
      if (budgetPercent < 0 || budgetPercent > 100) {
        throw new IllegalArgumentException("retry budget must be a percentage: " + budgetPercent);
      }
      if (minRetries < 0) {
        throw new IllegalArgumentException("minimum retries must not be negative");
      }
    }

    /** 2 attempts on connection errors and 502/503/504, budget 20% of active requests, 3 minimum. */
    public static Retry defaults() {
      return new Retry(2, null, Set.of(502, 503, 504), 20, 3);
    }

    public static Retry none() {
      return new Retry(1, null, Set.of(), 20, 3);
    }
  }

  /**
   * A token bucket per key: {@code requestsPerSecond} sustained, {@code burst} at once. Requests
   * over it get 429 with {@code Retry-After}.
   *
   * @param key what the buckets are kept per
   * @param keyName the header's name, for {@link KeySource#HEADER}
   * @param maxKeys the most buckets kept; the least recently used go first (memory stays bounded
   *     whatever the number of clients)
   */
  public record RateLimit(double requestsPerSecond, int burst, KeySource key, String keyName,
      int maxKeys) {
    public enum KeySource { ROUTE, CLIENT_ADDRESS, HEADER, API_KEY }

    public RateLimit {
      if (!(requestsPerSecond > 0)) {
        throw new IllegalArgumentException("rate limit must be positive: " + requestsPerSecond);
      }
      if (burst < 1) {
        throw new IllegalArgumentException("rate limit burst must be at least 1");
      }
      Objects.requireNonNull(key, "key");
      if (key == KeySource.HEADER && (keyName == null || keyName.isBlank())) {
        throw new IllegalArgumentException("a rate limit per header needs the header's name");
      }
      if (maxKeys < 1) {
        throw new IllegalArgumentException("rate limit max keys must be at least 1");
      }
    }
  }
}
