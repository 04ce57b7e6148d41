package dev.sluice.app.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.CircuitBreakerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.HealthCheck;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.PassiveEjection;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.testing.TestCertificates;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code proxy} section: every key, its defaults, and a problem named by key path for each bad value. */
class ProxyConfigTest {
  private static final ConfigLoader NO_ENV = new ConfigLoader(Map.of());

  /** The smallest proxy: one listener, one upstream, one route. */
  private static final String MINIMAL = "proxy:\n"
      + "  listeners: [{address: 127.0.0.1:8080}]\n"
      + "  upstreams:\n    api: {endpoints: [\"http://10.0.0.1:8080\"]}\n"
      + "  routes: [{to: api}]\n";

  @TempDir Path tmp;

  private static SluiceConfig load(String yaml) {
    return NO_ENV.load("test.yaml", yaml, ConfigLoader.Overrides.NONE);
  }

  private static ProxySettings proxy(String yaml) {
    SluiceConfig c = load(yaml);
    assertThat(c.proxy()).isNotNull();
    return c.proxy().settings();
  }

  private static List<String> problems(String yaml) {
    try {
      load(yaml);
    } catch (ConfigException e) {
      return e.problems();
    }
    throw new AssertionError("expected the configuration to be rejected:\n" + yaml);
  }

  /** MINIMAL with {@code extra} lines added to the route (indented as route keys). */
  private static String route(String extra) {
    return "proxy:\n"
        + "  listeners: [{address: 127.0.0.1:8080}]\n"
        + "  upstreams:\n    api: {endpoints: [\"http://10.0.0.1:8080\"]}\n"
        + "  routes:\n    - to: api\n" + extra.indent(6);
  }

  /** MINIMAL with {@code extra} lines added to the upstream (indented as upstream keys). */
  private static String upstream(String extra) {
    return "proxy:\n"
        + "  listeners: [{address: 127.0.0.1:8080}]\n"
        + "  upstreams:\n    api:\n      endpoints: [\"http://10.0.0.1:8080\"]\n"
        + extra.indent(6)
        + "  routes: [{to: api}]\n";
  }

  /** MINIMAL with {@code extra} lines added to the listener. */
  private static String listener(String extra) {
    return "proxy:\n"
        + "  listeners:\n    - address: 127.0.0.1:8080\n" + extra.indent(6)
        + "  upstreams:\n    api: {endpoints: [\"http://10.0.0.1:8080\"]}\n"
        + "  routes: [{to: api}]\n";
  }

  @Nested
  class Defaults {
    @Test
    void aProxyAloneIsValidAndStartsNoReceiverNorPipeline() {
      SluiceConfig c = load(MINIMAL);
      assertThat(c.receiver()).isNull();
      assertThat(c.kafkaReceiver()).isNull();
      assertThat(c.needsPipeline()).isFalse();
      assertThat(c.proxy().ioThreads()).isZero();
    }

    @Test
    void withoutAProxySectionThereIsNoProxyAndTheReceiverRunsAsBefore() {
      SluiceConfig c = load("");
      assertThat(c.proxy()).isNull();
      assertThat(c.receiver()).isNotNull();
    }

    @Test
    void withAProxyTheReceiverRunsWhenConfigured() {
      SluiceConfig c = load(MINIMAL + "receivers:\n  otlp:\n    endpoint: 127.0.0.1:4318\n");
      assertThat(c.receiver()).isNotNull();
      assertThat(c.needsPipeline()).isTrue();
      assertThat(c.proxy()).isNotNull();
    }

    @Test
    void tracingNeedsThePipelineEvenWithoutReceivers() {
      SluiceConfig c = load(MINIMAL + "  tracing: true\n");
      assertThat(c.receiver()).isNull();
      assertThat(c.needsPipeline()).isTrue();
      assertThat(c.exporters()).isNotEmpty();
    }

    @Test
    void topLevelDefaults() {
      ProxySettings p = proxy(MINIMAL);
      assertThat(p.via()).isEqualTo("sluice");
      assertThat(p.accessLog()).isFalse();
      assertThat(p.tracing()).isFalse();
      assertThat(p.drainTimeout()).isEqualTo(Duration.ofSeconds(10));
      assertThat(p.trustedProxies()).isEmpty();
    }

    @Test
    void listenerDefaults() {
      ListenerSettings l = proxy(MINIMAL).listeners().get(0);
      assertThat(l.name()).isEqualTo("default");
      HttpServerSettings s = l.server();
      assertThat(s.address()).isEqualTo(new InetSocketAddress("127.0.0.1", 8080));
      assertThat(s.http2()).isTrue();
      assertThat(s.tls()).isNull();
      assertThat(s.headerTimeout()).isEqualTo(Duration.ofSeconds(10));
      assertThat(s.bodyTimeout()).isEqualTo(Duration.ZERO);
      assertThat(s.idleTimeout()).isEqualTo(Duration.ofSeconds(60));
      assertThat(s.maxHeaderSize()).isEqualTo(16384);
      assertThat(s.maxHeaderCount()).isEqualTo(100);
      assertThat(s.maxConnections()).isEqualTo(10_000);
      assertThat(s.maxConcurrentStreams()).isEqualTo(250);
    }

    @Test
    void upstreamDefaults() {
      UpstreamSettings u = proxy(MINIMAL).upstreams().get("api");
      assertThat(u.name()).isEqualTo("api");
      assertThat(u.endpoints()).containsExactly(new Endpoint(URI.create("http://10.0.0.1:8080"), 1));
      assertThat(u.loadBalancing()).isEqualTo(LoadBalancing.ROUND_ROBIN);
      assertThat(u.hashBy()).isNull();
      assertThat(u.healthCheck()).isNull();
      assertThat(u.passiveEjection()).isEqualTo(PassiveEjection.defaults());
      assertThat(u.circuitBreaker()).isNull();
      assertThat(u.limits()).isEqualTo(UpstreamSettings.Limits.defaults());
      assertThat(u.tls().verifyHostname()).isTrue();
      assertThat(u.tls().caFile()).isNull();
      assertThat(u.http2()).isNull();
      assertThat(u.connectTimeout()).isEqualTo(Duration.ofSeconds(5));
    }

    @Test
    void routeDefaults() {
      RouteSettings r = proxy(MINIMAL).routes().get(0);
      assertThat(r.name()).isEqualTo("route-0");
      assertThat(r.listeners()).isEmpty();
      assertThat(r.match()).isEqualTo(RouteSettings.Match.any());
      assertThat(r.targets()).containsExactly(new RouteSettings.Target("api", 1));
      assertThat(r.requestHeaders().isEmpty()).isTrue();
      assertThat(r.responseHeaders().isEmpty()).isTrue();
      assertThat(r.pathRewrite()).isNull();
      assertThat(r.hostRewrite()).isNull();
      assertThat(r.timeouts()).isEqualTo(RouteSettings.Timeouts.defaults());
      assertThat(r.retry()).isEqualTo(RouteSettings.Retry.defaults());
      assertThat(r.rateLimit()).isNull();
      assertThat(r.allow()).isEmpty();
      assertThat(r.deny()).isEmpty();
    }

    @Test
    void aHealthCheckSectionAloneIsATcpCheckEveryFiveSeconds() {
      HealthCheck h = proxy(upstream("health_check: {}")).upstreams().get("api").healthCheck();
      assertThat(h.isTcp()).isTrue();
      assertThat(h.interval()).isEqualTo(Duration.ofSeconds(5));
      assertThat(h.timeout()).isEqualTo(Duration.ofSeconds(2));
      assertThat(h.healthyThreshold()).isEqualTo(2);
      assertThat(h.unhealthyThreshold()).isEqualTo(3);
    }

    @Test
    void aHealthCheckWithAPathIsAnHttpCheck() {
      HealthCheck h = proxy(upstream("health_check: {path: /healthz}")).upstreams().get("api")
          .healthCheck();
      assertThat(h.isTcp()).isFalse();
      assertThat(h.path()).isEqualTo("/healthz");
    }

    @Test
    void aRateLimitsBurstDefaultsToOneSecondOfItsRate() {
      RouteSettings.RateLimit rl = proxy(route("rate_limit: {requests_per_second: 2.5}"))
          .routes().get(0).rateLimit();
      assertThat(rl.requestsPerSecond()).isEqualTo(2.5);
      assertThat(rl.burst()).isEqualTo(3);
      assertThat(rl.key()).isEqualTo(RouteSettings.RateLimit.KeySource.ROUTE);
      assertThat(rl.maxKeys()).isEqualTo(100_000);
    }
  }

  @Nested
  class EveryKey {
    @Test
    void listenerKeys() {
      TestCertificates certs = TestCertificates.create(tmp);
      ListenerSettings l = proxy(listener("name: web\n"
          + "http2: false\n"
          + "tls:\n"
          + "  cert_file: '" + certs.serverCert() + "'\n"
          + "  key_file: '" + certs.serverKey() + "'\n"
          + "  client_ca_file: '" + certs.caCert() + "'\n"
          + "  min_version: \"1.3\"\n"
          + "header_timeout: 3s\n"
          + "body_timeout: 4s\n"
          + "idle_timeout: 5s\n"
          + "max_header_bytes: 32KiB\n"
          + "max_header_count: 50\n"
          + "max_connections: 7\n"
          + "max_concurrent_streams: 9\n"
          + "allow: [10.0.0.0/8]\n"
          + "deny: [10.1.2.3]\n"
          + "proxy_protocol_from: [192.168.1.0/24]\n")).listeners().get(0);
      assertThat(l.name()).isEqualTo("web");
      HttpServerSettings s = l.server();
      assertThat(s.http2()).isFalse();
      assertThat(s.tls().certFile()).isEqualTo(certs.serverCert());
      assertThat(s.tls().keyFile()).isEqualTo(certs.serverKey());
      assertThat(s.tls().clientCaFile()).isEqualTo(certs.caCert());
      assertThat(s.tls().toString()).contains("min 1.3");
      assertThat(s.headerTimeout()).isEqualTo(Duration.ofSeconds(3));
      assertThat(s.bodyTimeout()).isEqualTo(Duration.ofSeconds(4));
      assertThat(s.idleTimeout()).isEqualTo(Duration.ofSeconds(5));
      assertThat(s.maxHeaderSize()).isEqualTo(32 * 1024);
      assertThat(s.maxHeaderCount()).isEqualTo(50);
      assertThat(s.maxConnections()).isEqualTo(7);
      assertThat(s.maxConcurrentStreams()).isEqualTo(9);
      assertThat(s.allow().entries()).containsExactly("10.0.0.0/8");
      assertThat(s.deny().entries()).containsExactly("10.1.2.3");
      assertThat(s.proxyProtocolSources().entries()).containsExactly("192.168.1.0/24");
    }

    @Test
    void listenerSniCertificates() {
      TestCertificates certs = TestCertificates.create(tmp);
      HttpServerSettings s = proxy(listener("tls:\n"
          + "  cert_file: '" + certs.serverCert() + "'\n"
          + "  key_file: '" + certs.serverKey() + "'\n"
          + "  sni:\n"
          + "    - server_names: [api.example.com, \"*.api.example.com\"]\n"
          + "      cert_file: '" + certs.serverCert() + "'\n"
          + "      key_file: '" + certs.serverKey() + "'\n")).listeners().get(0).server();
      assertThat(s.tls().sniCertificates()).singleElement().satisfies(c ->
          assertThat(c.serverNames()).containsExactly("api.example.com", "*.api.example.com"));
    }

    @Test
    void listenerAccessListsAreEmptyByDefault() {
      HttpServerSettings s = proxy(MINIMAL).listeners().get(0).server();
      assertThat(s.allow().isEmpty()).isTrue();
      assertThat(s.deny().isEmpty()).isTrue();
      assertThat(s.proxyProtocolSources().isEmpty()).isTrue();
    }

    @Test
    void upstreamKeys() {
      TestCertificates certs = TestCertificates.create(tmp);
      UpstreamSettings u = proxy("proxy:\n"
          + "  listeners: [{address: 127.0.0.1:8080}]\n"
          + "  upstreams:\n"
          + "    api:\n"
          + "      endpoints: [\"https://10.0.0.1:8443\", {url: \"https://10.0.0.2:8443/base\","
          + " weight: 3}]\n"
          + "      load_balancing: consistent_hash\n"
          + "      hash_by: header:X-User\n"
          + "      health_check: {type: http, path: /health, interval: 7s, timeout: 1s,"
          + " healthy_threshold: 4, unhealthy_threshold: 6}\n"
          + "      passive_ejection: {consecutive_failures: 2, base_ejection_time: 10s,"
          + " max_ejection_percent: 30, max_ejection_time: 1m}\n"
          + "      circuit_breaker: {failure_rate_threshold: 40, minimum_calls: 10, window: 5s,"
          + " open_duration: 15s, half_open_calls: 2}\n"
          + "      limits: {max_connections: 64, max_pending_requests: 32, max_requests: 128,"
          + " max_retries: 4}\n"
          + "      tls:\n"
          + "        ca_file: '" + certs.caCert() + "'\n"
          + "        cert_file: '" + certs.clientCert() + "'\n"
          + "        key_file: '" + certs.clientKey() + "'\n"
          + "        server_name_override: api.internal\n"
          + "        min_version: \"1.3\"\n"
          + "      http2: true\n"
          + "      connect_timeout: 2s\n"
          + "  routes: [{to: api}]\n").upstreams().get("api");
      assertThat(u.endpoints()).containsExactly(
          new Endpoint(URI.create("https://10.0.0.1:8443"), 1),
          new Endpoint(URI.create("https://10.0.0.2:8443/base"), 3));
      assertThat(u.loadBalancing()).isEqualTo(LoadBalancing.CONSISTENT_HASH);
      assertThat(u.hashBy()).isEqualTo(new UpstreamSettings.HashKey(
          UpstreamSettings.HashKey.Source.HEADER, "X-User"));
      assertThat(u.healthCheck()).isEqualTo(new HealthCheck("/health", Duration.ofSeconds(7),
          Duration.ofSeconds(1), 4, 6));
      assertThat(u.passiveEjection()).isEqualTo(new PassiveEjection(2, Duration.ofSeconds(10), 30,
          Duration.ofMinutes(1)));
      assertThat(u.circuitBreaker()).isEqualTo(new CircuitBreakerSettings(40, 10,
          Duration.ofSeconds(5), Duration.ofSeconds(15), 2));
      assertThat(u.limits()).isEqualTo(new UpstreamSettings.Limits(64, 32, 128, 4));
      assertThat(u.tls().caFile()).isEqualTo(certs.caCert());
      assertThat(u.tls().certFile()).isEqualTo(certs.clientCert());
      assertThat(u.tls().keyFile()).isEqualTo(certs.clientKey());
      assertThat(u.tls().serverName()).isEqualTo("api.internal");
      assertThat(u.tls().toString()).contains("min 1.3");
      assertThat(u.http2()).isTrue();
      assertThat(u.connectTimeout()).isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void theOtherBalancingPoliciesAndHashKeys() {
      assertThat(proxy(upstream("load_balancing: least_requests")).upstreams().get("api")
          .loadBalancing()).isEqualTo(LoadBalancing.LEAST_REQUESTS);
      assertThat(proxy(upstream("load_balancing: power_of_two_choices")).upstreams().get("api")
          .loadBalancing()).isEqualTo(LoadBalancing.POWER_OF_TWO_CHOICES);
      assertThat(proxy(upstream("load_balancing: consistent_hash\nhash_by: cookie:session"))
          .upstreams().get("api").hashBy()).isEqualTo(new UpstreamSettings.HashKey(
              UpstreamSettings.HashKey.Source.COOKIE, "session"));
      assertThat(proxy(upstream("load_balancing: consistent_hash\nhash_by: client_address"))
          .upstreams().get("api").hashBy()).isEqualTo(UpstreamSettings.HashKey.clientAddress());
    }

    @Test
    void tcpHealthCheckAndEjectionOffAndInsecureTls() {
      UpstreamSettings u = proxy(upstream("health_check: {type: tcp, interval: 1s}\n"
          + "passive_ejection: {enabled: false}\n"
          + "tls: {insecure_skip_verify: true}\n"
          + "http2: false")).upstreams().get("api");
      assertThat(u.healthCheck()).isEqualTo(HealthCheck.tcp(Duration.ofSeconds(1),
          Duration.ofSeconds(2), 2, 3));
      assertThat(u.passiveEjection()).isNull();
      assertThat(u.tls().insecureSkipVerify()).isTrue();
      assertThat(u.http2()).isFalse();
    }

    @Test
    void routeKeys() {
      ProxySettings p = proxy("proxy:\n"
          + "  listeners:\n"
          + "    - {name: web, address: 127.0.0.1:8080}\n"
          + "    - {name: admin, address: 127.0.0.1:8081}\n"
          + "  upstreams:\n"
          + "    api: {endpoints: [\"http://10.0.0.1:8080\"]}\n"
          + "    canary: {endpoints: [\"http://10.0.0.2:8080\"]}\n"
          + "  routes:\n"
          + "    - name: api\n"
          + "      listeners: [web]\n"
          + "      match:\n"
          + "        hosts: [api.example.com, \"*.Example.com\"]\n"
          + "        path_prefix: /api/\n"
          + "        methods: [get, POST]\n"
          + "        headers: {X-Canary: \"1\"}\n"
          + "      to: [{upstream: api, weight: 90}, {upstream: canary, weight: 10}]\n"
          + "      request_headers: {set: {X-Env: prod}, add: {X-Trace: a}, remove: [Cookie]}\n"
          + "      response_headers: {set: {Cache-Control: no-store}, add: {X-Served-By: s},"
          + " remove: [Server]}\n"
          + "      rewrite: {path_prefix: /}\n"
          + "      host: api.internal:8080\n"
          + "      timeouts: {connect: 1s, first_byte: 2s, read: 3s, write: 4s, idle: 5s}\n"
          + "      retry: {attempts: 3, per_try_timeout: 500ms, on_status: [503], budget_percent:"
          + " 12.5, min_retries: 1}\n"
          + "      rate_limit: {requests_per_second: 100, burst: 200, key: header:X-Tenant,"
          + " max_keys: 1000}\n"
          + "      allow: [10.0.0.0/8, \"2001:db8::/32\"]\n"
          + "      deny: [10.1.2.3]\n"
          + "  trusted_proxies: [192.168.0.0/16]\n"
          + "  via: edge-1\n"
          + "  access_log: true\n"
          + "  tracing: true\n"
          + "  drain_timeout: 3s\n"
          + "  io_threads: 2\n");
      RouteSettings r = p.routes().get(0);
      assertThat(r.name()).isEqualTo("api");
      assertThat(r.listeners()).containsExactly("web");
      assertThat(r.match().hosts()).containsExactly("api.example.com", "*.example.com");
      assertThat(r.match().path()).isEqualTo(new RouteSettings.PathMatch(
          RouteSettings.PathMatch.Kind.PREFIX, "/api/"));
      assertThat(r.match().methods()).containsExactlyInAnyOrder("GET", "POST");
      assertThat(r.match().headers()).isEqualTo(Map.of("x-canary", "1"));
      assertThat(r.targets()).containsExactly(new RouteSettings.Target("api", 90),
          new RouteSettings.Target("canary", 10));
      assertThat(r.requestHeaders()).isEqualTo(new RouteSettings.HeaderRules(
          Map.of("X-Env", "prod"), Map.of("X-Trace", "a"), List.of("Cookie")));
      assertThat(r.responseHeaders()).isEqualTo(new RouteSettings.HeaderRules(
          Map.of("Cache-Control", "no-store"), Map.of("X-Served-By", "s"), List.of("Server")));
      assertThat("/api/users?x=1".replaceFirst(r.pathRewrite().pattern(),
          r.pathRewrite().replacement())).isEqualTo("/users?x=1");
      assertThat(r.hostRewrite()).isEqualTo("api.internal:8080");
      assertThat(r.timeouts()).isEqualTo(new RouteSettings.Timeouts(Duration.ofSeconds(1),
          Duration.ofSeconds(2), Duration.ofSeconds(3), Duration.ofSeconds(4),
          Duration.ofSeconds(5)));
      assertThat(r.retry()).isEqualTo(new RouteSettings.Retry(3, Duration.ofMillis(500),
          Set.of(503), 12.5, 1));
      assertThat(r.rateLimit()).isEqualTo(new RouteSettings.RateLimit(100, 200,
          RouteSettings.RateLimit.KeySource.HEADER, "X-Tenant", 1000));
      assertThat(r.allow()).containsExactly("10.0.0.0/8", "2001:db8::/32");
      assertThat(r.deny()).containsExactly("10.1.2.3");
      assertThat(p.trustedProxies()).containsExactly("192.168.0.0/16");
      assertThat(p.via()).isEqualTo("edge-1");
      assertThat(p.accessLog()).isTrue();
      assertThat(p.tracing()).isTrue();
      assertThat(p.drainTimeout()).isEqualTo(Duration.ofSeconds(3));
      assertThat(load(MINIMAL + "  io_threads: 2\n").proxy().ioThreads()).isEqualTo(2);
    }

    @Test
    void exactAndRegexPathsAndARegexRewrite() {
      RouteSettings exact = proxy(route("match: {path: /exact}")).routes().get(0);
      assertThat(exact.match().path()).isEqualTo(new RouteSettings.PathMatch(
          RouteSettings.PathMatch.Kind.EXACT, "/exact"));
      RouteSettings regex = proxy(route("match: {path_regex: \"^/v[0-9]+/.*\"}\n"
          + "rewrite: {path_regex: \"^/v([0-9]+)/\", replacement: \"/version/$1/\"}"))
          .routes().get(0);
      assertThat(regex.match().path()).isEqualTo(new RouteSettings.PathMatch(
          RouteSettings.PathMatch.Kind.REGEX, "^/v[0-9]+/.*"));
      assertThat(regex.pathRewrite()).isEqualTo(new RouteSettings.PathRewrite("^/v([0-9]+)/",
          "/version/$1/"));
    }

    @Test
    void theOtherRateLimitKeysAndHostKeep() {
      assertThat(proxy(route("rate_limit: {requests_per_second: 1, key: client_address}"))
          .routes().get(0).rateLimit().key())
          .isEqualTo(RouteSettings.RateLimit.KeySource.CLIENT_ADDRESS);
      assertThat(proxy(route("rate_limit: {requests_per_second: 1, key: api_key}"))
          .routes().get(0).rateLimit().key())
          .isEqualTo(RouteSettings.RateLimit.KeySource.API_KEY);
      assertThat(proxy(route("host: keep")).routes().get(0).hostRewrite()).isNull();
    }

    @Test
    void anEnvironmentVariableIsSubstitutedInTheProxySection() {
      SluiceConfig c = new ConfigLoader(Map.of("BACKEND", "http://10.9.9.9:9000"))
          .load("test.yaml", MINIMAL.replace("http://10.0.0.1:8080", "${env:BACKEND}"),
              ConfigLoader.Overrides.NONE);
      assertThat(c.proxy().settings().upstreams().get("api").endpoints().get(0).uri())
          .isEqualTo(URI.create("http://10.9.9.9:9000"));
    }
  }

  @Nested
  class Problems {
    @Test
    void aRouteToAnUpstreamThatIsNotDefined() {
      assertThat(problems("proxy:\n"
          + "  listeners: [{address: 127.0.0.1:8080}]\n"
          + "  upstreams:\n    api: {endpoints: [\"http://10.0.0.1:8080\"]}\n"
          + "  routes:\n    - {to: api}\n    - {name: r, to: api}\n    - {name: r, to: apii}\n"))
          .containsExactlyInAnyOrder(
              "proxy.routes[2].to: upstream \"apii\" is not defined (defined: api)",
              "proxy.routes[2].name: another route is named r");
    }

    @Test
    void aSplitToAnUpstreamThatIsNotDefined() {
      assertThat(problems(route("to: [{upstream: api, weight: 9}, {upstream: nope}]")
          .replace("    - to: api\n", "    -\n")))
          .containsExactly("proxy.routes[0].to[1].upstream: upstream \"nope\" is not defined"
              + " (defined: api)");
    }

    @Test
    void anUpstreamWithProblemsOfItsOwnIsNotAlsoReportedAsMissing() {
      assertThat(problems(MINIMAL.replace("[\"http://10.0.0.1:8080\"]", "[\"ftp://x\"]")))
          .containsExactly("proxy.upstreams.api.endpoints[0]: endpoint ftp://x must be http://"
              + " or https://");
    }

    @Test
    void missingParts() {
      assertThat(problems("proxy: {}\n")).containsExactlyInAnyOrder(
          "proxy.listeners: at least one listener is needed, e.g. listeners: [{address:"
              + " 0.0.0.0:8080}]",
          "proxy.upstreams: at least one upstream group is needed",
          "proxy.routes: at least one route is needed, e.g. routes: [{to: NAME}]");
      assertThat(problems("proxy:\n  listeners: [{name: web}]\n"
          + "  upstreams:\n    api: {}\n  routes: [{name: r}]\n"))
          .containsExactlyInAnyOrder(
              "proxy.listeners[0].address: is required, e.g. 0.0.0.0:8080",
              "proxy.upstreams.api.endpoints: is required: a list of URLs such as"
                  + " http://10.0.0.1:8080",
              "proxy.routes[0].to: is required: the upstream group to send to (defined: api)");
    }

    @Test
    void unknownKeysAtEveryLevel() {
      assertThat(problems(MINIMAL + "  colour: blue\n"))
          .containsExactly("proxy.colour: unknown key (known here: listeners, upstreams,"
              + " routes, trusted_proxies, via, access_log, tracing, drain_timeout, io_threads)");
      assertThat(problems(listener("adress: x"))).singleElement().asString()
          .startsWith("proxy.listeners[0].adress: unknown key");
      assertThat(problems(upstream("health_check: {pth: /x}"))).singleElement().asString()
          .startsWith("proxy.upstreams.api.health_check.pth: unknown key");
      assertThat(problems(upstream("limits: {max_conns: 1}"))).singleElement().asString()
          .startsWith("proxy.upstreams.api.limits.max_conns: unknown key");
      assertThat(problems(route("match: {host: a.example}"))).singleElement().asString()
          .startsWith("proxy.routes[0].match.host: unknown key");
      assertThat(problems(route("retry: {tries: 2}"))).singleElement().asString()
          .startsWith("proxy.routes[0].retry.tries: unknown key");
      assertThat(problems(route("timeouts: {total: 2s}"))).singleElement().asString()
          .startsWith("proxy.routes[0].timeouts.total: unknown key");
      assertThat(problems(route("response_headers: {remove: [Content-Length],"
          + " set: {connection: close}}"))).containsExactlyInAnyOrder(
          "proxy.routes[0].response_headers.remove[0]: the proxy sets the framing and connection"
              + " headers of each hop itself (Content-Length, Transfer-Encoding, Connection,"
              + " Keep-Alive, TE, Trailer, Upgrade, Proxy-Connection); a route cannot edit them",
          "proxy.routes[0].response_headers.set.connection: the proxy sets the framing and"
              + " connection headers of each hop itself (Content-Length, Transfer-Encoding,"
              + " Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-Connection); a route cannot"
              + " edit them");
      assertThat(problems(route("request_headers: {replace: {a: b}}"))).singleElement()
          .asString().startsWith("proxy.routes[0].request_headers.replace: unknown key");
      assertThat(problems(upstream("endpoints: [{url: \"http://a:1\", wieght: 2}]")
          .replace("      endpoints: [\"http://10.0.0.1:8080\"]\n", "")))
          .singleElement().asString()
          .startsWith("proxy.upstreams.api.endpoints[0].wieght: unknown key");
    }

    @Test
    void badListenerValues() {
      assertThat(problems(listener("http2: maybe\nheader_timeout: soon\nmax_header_bytes: 10\n"
          + "max_connections: 0")))
          .containsExactlyInAnyOrder(
              "proxy.listeners[0].http2: must be true or false, not \"maybe\"",
              "proxy.listeners[0].header_timeout: must be a duration such as 500ms, 10s, 5m or"
                  + " 1h, not \"soon\"",
              "proxy.listeners[0].max_header_bytes: must be between 1024 and 1048576 bytes, not"
                  + " 10",
              "proxy.listeners[0].max_connections: must be between 1 and 1000000, not 0");
      assertThat(problems(MINIMAL.replace("127.0.0.1:8080", "nowhere")))
          .containsExactly("proxy.listeners[0].address: must be host:port, not nowhere");
    }

    @Test
    void listenersNeedNamesOfTheirOwn() {
      assertThat(problems(MINIMAL.replace("[{address: 127.0.0.1:8080}]",
          "[{address: 127.0.0.1:8080}, {address: 127.0.0.1:8081}]")))
          .containsExactly("proxy.listeners[1].name: another listener is named default (the"
              + " default name); give each listener a name");
      assertThat(problems(MINIMAL.replace("{address: 127.0.0.1:8080}",
          "{name: \"a b\", address: 127.0.0.1:8080}")))
          .containsExactly("proxy.listeners[0].name: name \"a b\" may hold only letters,"
              + " digits, '-', '_' and '.'");
    }

    @Test
    void aRouteOnAListenerThatIsNotDefined() {
      assertThat(problems(route("listeners: [web]")))
          .containsExactly("proxy.routes[0].listeners[0]: listener \"web\" is not defined"
              + " (defined: default)");
    }

    @Test
    void listenerTlsFilesAreCheckedNow() {
      assertThat(problems(listener("tls: {cert_file: /nonexistent/c.pem, key_file:"
          + " /nonexistent/k.pem}"))).singleElement().asString()
          .isEqualTo("proxy.listeners[0].tls: cert_file /nonexistent/c.pem does not exist or is"
              + " not readable");
      assertThat(problems(listener("tls: {cert_file: /c.pem}")))
          .containsExactly("proxy.listeners[0].tls.key_file: is required when tls is"
              + " configured");
    }

    @Test
    void badUpstreamValues() {
      assertThat(problems(upstream("load_balancing: random\nconnect_timeout: 0s")))
          .containsExactlyInAnyOrder(
              "proxy.upstreams.api.load_balancing: must be one of round_robin, least_requests,"
                  + " power_of_two_choices, consistent_hash, not random",
              "proxy.upstreams.api.connect_timeout: must be longer than 0");
      assertThat(problems(upstream("hash_by: header:X-User")))
          .containsExactly("proxy.upstreams.api.hash_by: is used only with load_balancing:"
              + " consistent_hash");
      assertThat(problems(upstream("load_balancing: consistent_hash\nhash_by: body")))
          .containsExactly("proxy.upstreams.api.hash_by: must be header:NAME, cookie:NAME or"
              + " client_address, not \"body\"");
      assertThat(problems(upstream("health_check: {type: tcp, path: /x}")))
          .containsExactly("proxy.upstreams.api.health_check.path: is for type: http; a tcp"
              + " check only connects");
      assertThat(problems(upstream("health_check: {path: health}")))
          .containsExactly("proxy.upstreams.api.health_check: health check path must start"
              + " with '/': health");
      assertThat(problems(upstream("passive_ejection: {max_ejection_percent: 101}")))
          .containsExactly("proxy.upstreams.api.passive_ejection.max_ejection_percent: must be"
              + " between 0 and 100, not 101");
      assertThat(problems(upstream("circuit_breaker: {failure_rate_threshold: 0}")))
          .containsExactly("proxy.upstreams.api.circuit_breaker.failure_rate_threshold: must be"
              + " between 1 and 100, not 0");
      assertThat(problems(upstream("limits: {max_requests: 0}")))
          .containsExactly("proxy.upstreams.api.limits.max_requests: must be between 1 and"
              + " 1000000, not 0");
      assertThat(problems(upstream("tls: {ca_file: /nonexistent/ca.pem, cert_file: /c}")))
          .containsExactlyInAnyOrder(
              "proxy.upstreams.api.tls.key_file: cert_file and key_file go together (a client"
                  + " certificate for mutual TLS)",
              "proxy.upstreams.api.tls.ca_file: /nonexistent/ca.pem does not exist or is not"
                  + " readable",
              "proxy.upstreams.api.tls.cert_file: /c does not exist or is not readable");
    }

    @Test
    void badEndpoints() {
      String without = "      endpoints: [\"http://10.0.0.1:8080\"]\n";
      assertThat(problems(upstream("endpoints: []").replace(without, "")))
          .containsExactly("proxy.upstreams.api.endpoints: must be a list of one URL or more,"
              + " not a list");
      assertThat(problems(upstream("endpoints: [\"http://\", {url: \"http://a:1\", weight: 0},"
          + " {weight: 2}, [1], \"http://a:1/?q=1\"]").replace(without, "")))
          .containsExactlyInAnyOrder(
              "proxy.upstreams.api.endpoints[0]: http:// is not a URL: Expected authority at"
                  + " index 7: http://",
              "proxy.upstreams.api.endpoints[1].weight: must be between 1 and 1000, not 0",
              "proxy.upstreams.api.endpoints[2].url: is required",
              "proxy.upstreams.api.endpoints[3]: must be a URL or a section with url and weight,"
                  + " not a list",
              "proxy.upstreams.api.endpoints[4]: http://a:1/?q=1 must not have a query or"
                  + " fragment");
      assertThat(problems(upstream("endpoints: \"http://a:1\"").replace(without, "")))
          .containsExactly("proxy.upstreams.api.endpoints: must be a list of one URL or more,"
              + " not \"http://a:1\"");
    }

    @Test
    void badMatches() {
      assertThat(problems(route("match: {hosts: [\"a.example.com:8080\", \"*\", \"x.*.com\"]}")))
          .hasSize(3).allSatisfy(p -> assertThat(p).startsWith("proxy.routes[0].match.hosts[")
              .contains("is not a host name or a wildcard such as *.example.com"));
      assertThat(problems(route("match: {path_prefix: api/}")))
          .containsExactly("proxy.routes[0].match.path_prefix: path prefix must start with '/':"
              + " api/");
      assertThat(problems(route("match: {path_regex: \"^/(v\"}"))).singleElement().asString()
          .startsWith("proxy.routes[0].match.path_regex: is not a valid regular expression:");
      assertThat(problems(route("match: {path: /a, path_prefix: /b}")))
          .containsExactly("proxy.routes[0].match: give at most one of path_prefix, path and"
              + " path_regex");
      assertThat(problems(route("match: {methods: [\"GE T\"], headers: {\"X Bad\": 1}}")))
          .containsExactlyInAnyOrder(
              "proxy.routes[0].match.methods[0]: \"GE T\" is not an HTTP method",
              "proxy.routes[0].match.headers: \"X Bad\" is not a header name");
    }

    @Test
    void badTargets() {
      assertThat(problems(route("").replace("- to: api", "- to: [{upstream: api, weight: 0}]")))
          .containsExactly("proxy.routes[0].to: the weights add up to 0: no request could be"
              + " sent");
      assertThat(problems(route("").replace("- to: api", "- to: {upstream: api}")))
          .containsExactly("proxy.routes[0].to: must be an upstream name or a list of"
              + " {upstream, weight}, not a section");
      assertThat(problems(route("").replace("- to: api",
          "- to: [{upstream: api, weight: -1}]")))
          .containsExactly("proxy.routes[0].to[0].weight: must be between 0 and 1000000, not"
              + " -1");
    }

    @Test
    void badHeaderRules() {
      assertThat(problems(route("request_headers: {set: {\"X Y\": a, Host: b}, add: {X-A:"
          + " \"a\\nb\"}, remove: [\"no good\"]}")))
          .containsExactlyInAnyOrder(
              "proxy.routes[0].request_headers.set.X Y: is not a header name",
              "proxy.routes[0].request_headers.set.Host: set the Host header with the route's"
                  + " host key",
              "proxy.routes[0].request_headers.add.X-A: a header value must be one line",
              "proxy.routes[0].request_headers.remove[0]: \"no good\" is not a header name");
      assertThat(problems(route("response_headers: {set: [a]}")))
          .containsExactly("proxy.routes[0].response_headers.set: must be a section of names"
              + " and values, not a list");
    }

    @Test
    void badRewrites() {
      assertThat(problems(route("rewrite: {path_prefix: /}")))
          .containsExactly("proxy.routes[0].rewrite.path_prefix: replaces the prefix of"
              + " match.path_prefix, which this route does not have; use path_regex and"
              + " replacement");
      assertThat(problems(route("rewrite: {}")))
          .containsExactly("proxy.routes[0].rewrite: give either path_prefix, or path_regex"
              + " with replacement");
      assertThat(problems(route("rewrite: {path_regex: \"^/a\"}")))
          .containsExactly("proxy.routes[0].rewrite.replacement: is required with path_regex");
      assertThat(problems(route("rewrite: {path_regex: \"(\", replacement: x}")))
          .singleElement().asString()
          .startsWith("proxy.routes[0].rewrite.path_regex: is not a valid regular expression");
      assertThat(problems(route("match: {path_prefix: /a/}\nrewrite: {path_prefix: b}")))
          .containsExactly("proxy.routes[0].rewrite.path_prefix: must start with '/': b");
      assertThat(problems(route("host: \"a b\"")))
          .containsExactly("proxy.routes[0].host: must be keep or a host name (with an optional"
              + " port), not \"a b\"");
    }

    @Test
    void badTimeoutsRetriesAndRateLimits() {
      assertThat(problems(route("timeouts: {first_byte: 0s}")))
          .containsExactly("proxy.routes[0].timeouts.first_byte: must be longer than 0");
      assertThat(problems(route("retry: {attempts: 0, on_status: [200x], budget_percent: 120}")))
          .containsExactlyInAnyOrder(
              "proxy.routes[0].retry.attempts: must be between 1 and 10, not 0",
              "proxy.routes[0].retry.on_status[0]: must be an HTTP status from 100 to 599, not"
                  + " \"200x\"",
              "proxy.routes[0].retry.budget_percent: must be between 0 and 100, not 120");
      assertThat(problems(route("rate_limit: {burst: 3, key: user}")))
          .containsExactlyInAnyOrder(
              "proxy.routes[0].rate_limit.requests_per_second: is required",
              "proxy.routes[0].rate_limit.key: must be route, client_address, header:NAME or"
                  + " api_key, not \"user\"");
      assertThat(problems(route("rate_limit: {requests_per_second: 0}")))
          .containsExactly("proxy.routes[0].rate_limit.requests_per_second: must be between"
              + " 0.001 and 1000000000, not 0");
    }

    @Test
    void badAddressLists() {
      assertThat(problems(route("allow: [10.0.0.0/33, example.com]\ndeny: [\"300.1.1.1\","
          + " \"fe80::zz\"]") + "  trusted_proxies: [\"::1/129\"]\n"))
          .containsExactlyInAnyOrder(
              "proxy.routes[0].allow[0]: \"10.0.0.0/33\" has a prefix length that is not a"
                  + " number from 0 to 32",
              "proxy.routes[0].allow[1]: \"example.com\" is not an IP address or CIDR block"
                  + " such as 10.0.0.0/8 (host names are not allowed)",
              "proxy.routes[0].deny[0]: \"300.1.1.1\" is not an IPv4 address or CIDR block",
              "proxy.routes[0].deny[1]: \"fe80::zz\" is not an IP address or CIDR block such as"
                  + " 10.0.0.0/8 (host names are not allowed)",
              "proxy.trusted_proxies[0]: \"::1/129\" has a prefix length that is not a number"
                  + " from 0 to 128");
    }

    @Test
    void badListenerAccessListsAndSni() {
      assertThat(problems(listener("allow: [10.1.0.0/8]\nproxy_protocol_from: [lb.internal]")))
          .hasSize(2)
          .anySatisfy(p -> assertThat(p).startsWith("proxy.listeners[0].allow[0]: ")
              .contains("10.1.0.0/8"))
          .anySatisfy(p -> assertThat(p).isEqualTo("proxy.listeners[0].proxy_protocol_from[0]:"
              + " \"lb.internal\" is not an IP address or CIDR block such as 10.0.0.0/8 (host"
              + " names are not allowed)"));
      assertThat(problems(listener("tls:\n  cert_file: /c\n  key_file: /k\n  sni:\n"
          + "    - {server_names: [\"a b\"], cert_file: /c, key_file: /k}\n"
          + "    - {server_names: [x.example]}\n")))
          .anySatisfy(p -> assertThat(p).startsWith("proxy.listeners[0].tls.sni[0].server_names:"))
          .contains("proxy.listeners[0].tls.sni[1].cert_file: is required",
              "proxy.listeners[0].tls.sni[1].key_file: is required");
    }

    @Test
    void badTopLevelValues() {
      assertThat(problems(MINIMAL + "  via: \"a b\"\n  drain_timeout: long\n  access_log: maybe"
          + "\n  io_threads: -1\n"))
          .containsExactlyInAnyOrder(
              "proxy.via: must be a single word such as sluice, not \"a b\"",
              "proxy.drain_timeout: must be a duration such as 500ms, 10s, 5m or 1h, not"
                  + " \"long\"",
              "proxy.access_log: must be true or false, not \"maybe\"",
              "proxy.io_threads: must be between 0 and 1024, not -1");
      assertThat(problems("proxy: [1]\n"))
          .contains("proxy: must be a section of keys, not a list");
    }
  }
}
