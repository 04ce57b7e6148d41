package dev.sluice.app;

import static dev.sluice.app.OtlpItems.attr;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.app.ForwardingBackend.Reply;
import dev.sluice.app.ForwardingBackend.Request;
import dev.sluice.app.config.ConfigLoader;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.testing.Await;
import dev.sluice.testing.TestCertificates;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sluice as a forwarding gateway, in process: started from YAML on ports 0 with the default durable
 * queue and an {@code otlphttp} exporter to test backends ({@link ForwardingBackend}) that record
 * what they receive and answer as each test scripts. Clients are {@link HttpClient}s sending
 * protobuf and OTLP/JSON; what the backends accepted is compared item by item with what was sent.
 */
class ForwardingEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  /** Fast retries, so that recoveries take milliseconds. */
  private static final String FAST_RETRY = ""
      + "    retry_on_failure:\n"
      + "      initial_interval: 50ms\n"
      + "      max_interval: 200ms\n";
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dataDir;

  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      AutoCloseable c = closeables.get(i);
      if (c instanceof Sluice s) {
        s.close(Duration.ofSeconds(1));
      } else {
        c.close();
      }
    }
  }

  // ---- set-up ---------------------------------------------------------------------------------

  private ForwardingBackend backend() throws IOException {
    return backendOn(0);
  }

  private ForwardingBackend backendOn(int port) throws IOException {
    ForwardingBackend b = ForwardingBackend.start(port);
    closeables.add(b);
    return b;
  }

  /**
   * Starts Sluice on {@code dir} with {@code exporter} as the body of {@code exporters.otlphttp}
   * (indented by four spaces) and {@code top} as more top-level YAML.
   */
  private Sluice sluice(Path dir, String exporter, String top) {
    String yaml = ""
        + "data_dir: '" + dir + "'\n"
        + "receivers:\n"
        + "  otlp:\n"
        + "    endpoint: 127.0.0.1:0\n"
        + "admin:\n"
        + "  endpoint: 127.0.0.1:0\n"
        + top
        + "exporters:\n"
        + "  otlphttp:\n"
        + exporter;
    Sluice s = Sluice.start(new ConfigLoader(Map.of()).load("forwarding.yaml", yaml,
        ConfigLoader.Overrides.NONE));
    closeables.add(s);
    return s;
  }

  private Sluice sluice(String exporter) {
    return sluice(dataDir, exporter, "");
  }

  private static String base(Sluice s) {
    return "http://127.0.0.1:" + s.receiver().localAddress().getPort();
  }

  private HttpResponse<String> post(Sluice s, Signal signal, Message request, boolean json,
      boolean gzip) {
    byte[] body = json ? OtlpJsonCodec.toJsonBytes(request) : request.toByteArray();
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base(s) + signal.defaultPath()))
        .header("Content-Type", json ? "application/json" : "application/x-protobuf")
        .timeout(Duration.ofSeconds(10));
    if (gzip) {
      body = gzip(body);
      b.header("Content-Encoding", "gzip");
    }
    try {
      return http.send(b.POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  /** Sends and expects a 200; returns the keys of the items sent. */
  private List<String> send(Sluice s, Signal signal, Message request, boolean json) {
    HttpResponse<String> r = post(s, signal, request, json, false);
    assertThat(r.statusCode()).as("Sluice's answer: %s", r.body()).isEqualTo(200);
    return OtlpItems.keys(request);
  }

  private List<String> send(Sluice s, ExportTraceServiceRequest request) {
    return send(s, Signal.TRACES, request, false);
  }

  private static byte[] gzip(byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream z = new GZIPOutputStream(out)) {
      z.write(b);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Items accepted by all the backends together, with how often. */
  private static Map<String, Integer> acceptedCounts(ForwardingBackend... backends) {
    Map<String, Integer> out = new HashMap<>();
    for (ForwardingBackend b : backends) {
      b.acceptedItemCounts().forEach((k, n) -> out.merge(k, n, Integer::sum));
    }
    return out;
  }

  /** One line of a dead-letter file. */
  private record DeadLetter(String exporter, String signal, String endpoint, int status,
      String message, int items, List<String> keys) {}

  private static List<DeadLetter> deadLetters(Path file) {
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return List.of();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<DeadLetter> out = new ArrayList<>();
    for (String line : lines) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode n;
      try {
        n = JSON.readTree(line);
      } catch (IOException e) {
        throw new AssertionError("a dead-letter line that is not JSON: " + line, e);
      }
      Signal signal = Signal.byId(n.path("signal").asText());
      assertThat(signal).as("signal of %s", line).isNotNull();
      assertThat(n.has("request")).as("the request as OTLP/JSON in %s", line).isTrue();
      byte[] request = n.get("request").toString().getBytes(StandardCharsets.UTF_8);
      Message m = OtlpJsonCodec.parse(request, 0, request.length, signal.requestPrototype());
      out.add(new DeadLetter(n.path("exporter").asText(), signal.id(),
          n.path("endpoint").asText(), n.path("status").asInt(), n.path("message").asText(),
          n.path("items").asInt(), OtlpItems.keys(m)));
    }
    return out;
  }

  private static Set<String> deadLetteredKeys(Path file) {
    Set<String> out = new HashSet<>();
    deadLetters(file).forEach(d -> out.addAll(d.keys()));
    return out;
  }

  private Path deadLetterFile(String exporter, Signal signal) {
    return dataDir.resolve("dead-letter").resolve(exporter).resolve(signal.id() + ".jsonl");
  }

  // ---- content ----------------------------------------------------------------------------------

  @ParameterizedTest(name = "encoding {0}, compression {1}")
  @CsvSource({"proto, gzip", "json, none", "proto, zstd"})
  void forwardsTracesMetricsAndLogsWithTheirContent(String encoding, String compression)
      throws IOException {
    ForwardingBackend backend = backend();
    Sluice sluice = sluice(""
        + "    endpoint: " + backend.url() + "\n"
        + "    encoding: " + encoding + "\n"
        + "    compression: " + compression + "\n"
        + "    headers:\n"
        + "      x-tenant-token: secret-123\n");

    Map<String, OtlpItems.Item> sent = new LinkedHashMap<>();
    for (int i = 0; i < 10; i++) {
      ExportTraceServiceRequest t = OtlpItems.traces("checkout-" + (i % 3), 5,
          attr("request.number", i));
      // Inbound: protobuf and JSON, some gzip-compressed.
      HttpResponse<String> r = post(sluice, Signal.TRACES, t, i % 2 == 1, i % 3 == 0);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      OtlpItems.items(t).forEach(item -> sent.put(item.key(), item));
    }
    for (int i = 0; i < 4; i++) {
      Message m = OtlpItems.metrics("billing", "app" + i + ".requests", "app" + i + ".memory");
      send(sluice, Signal.METRICS, m, i % 2 == 0);
      OtlpItems.items(m).forEach(item -> sent.put(item.key(), item));
    }
    for (int i = 0; i < 4; i++) {
      Message m = OtlpItems.logs("billing", "log " + i + " a", "log " + i + " b",
          "log " + i + " c");
      send(sluice, Signal.LOGS, m, i % 2 == 1);
      OtlpItems.items(m).forEach(item -> sent.put(item.key(), item));
    }
    assertThat(sent).hasSize(10 * 5 + 4 * 6 + 4 * 3);

    Await.until("every item at the backend", WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(sent.keySet()));
    // Equal content, item by item, whatever Sluice merged or cut; each item exactly once.
    assertThat(backend.acceptedItems()).isEqualTo(sent);
    assertThat(backend.acceptedItemCounts().values()).allMatch(n -> n == 1);
    assertThat(backend.requests()).allMatch(Request::accepted);
    for (Request r : backend.requests()) {
      assertThat(r.error()).isNull();
      assertThat(r.path()).isEqualTo(r.signal().defaultPath());
      assertThat(r.header("Content-Type")).isEqualTo(encoding.equals("json")
          ? "application/json" : "application/x-protobuf");
      assertThat(r.header("Content-Encoding"))
          .isEqualTo(compression.equals("none") ? null : compression);
      assertThat(r.header("User-Agent")).startsWith("Sluice/");
      assertThat(r.header("x-tenant-token")).isEqualTo("secret-123");
    }
    Map<Signal, Long> bySignal = backend.requests().stream()
        .collect(Collectors.groupingBy(Request::signal, Collectors.counting()));
    assertThat(bySignal).containsOnlyKeys(Signal.TRACES, Signal.METRICS, Signal.LOGS);
  }

  // ---- failures of the backend --------------------------------------------------------------------

  @Test
  void deliversWhatWasAcceptedWhileTheBackendWasDown() throws IOException {
    int port = ForwardingBackend.freePort();
    Sluice sluice = sluice(""
        + "    endpoint: http://127.0.0.1:" + port + "\n"
        + FAST_RETRY);

    Set<String> sent = new HashSet<>();
    for (int i = 0; i < 20; i++) {
      sent.addAll(send(sluice, Signal.TRACES, OtlpItems.traces("down", 3), i % 2 == 0));
    }
    sent.addAll(send(sluice, Signal.METRICS, OtlpItems.metrics("down", "while.down"), false));
    sent.addAll(send(sluice, Signal.LOGS, OtlpItems.logs("down", "while down 1", "while down 2"),
        true));
    // Sluice is trying: its exporter holds what it could not deliver.
    Await.until("connection attempts counted as retries", WAIT,
        () -> retries(sluice) > 0);

    ForwardingBackend backend = backendOn(port);
    Await.until("everything at the backend once it is up", WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(sent));
    assertThat(backend.acceptedItemCounts()).hasSize(sent.size());
    assertThat(backend.acceptedItemCounts().values()).allMatch(n -> n == 1);
  }

  private static double retries(Sluice s) {
    return s.registry().find("sluice.exporter.retries").counters().stream()
        .mapToDouble(c -> c.count()).sum();
  }

  @Test
  void honoursRetryAfterOfA503() throws IOException {
    ForwardingBackend backend = backend();
    int refusals = 3;
    backend.responder(r -> r.index() < refusals
        ? Reply.error(503, "busy, come back later").header("Retry-After", "1") : null);
    Sluice sluice = sluice(""
        + "    endpoint: " + backend.url() + "\n"
        + "    batch:\n"
        + "      timeout: 0\n"
        + FAST_RETRY);

    Set<String> sent = new HashSet<>();
    for (int i = 0; i < 4; i++) {
      sent.addAll(send(sluice, OtlpItems.traces("retry-after", 4)));
    }
    Await.until("everything at the backend", WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(sent));

    List<Request> all = backend.requests();
    assertThat(all.stream().filter(r -> r.status() == 503)).hasSize(refusals);
    // Each request is identified by its items; its attempts in order of arrival.
    Map<Set<String>, List<Request>> attempts = new LinkedHashMap<>();
    for (Request r : all) {
      attempts.computeIfAbsent(Set.copyOf(r.itemKeys()), k -> new ArrayList<>()).add(r);
    }
    List<Long> gapsMillis = new ArrayList<>();
    for (List<Request> tries : attempts.values()) {
      assertThat(tries.get(tries.size() - 1).status()).isEqualTo(200);
      for (int i = 0; i + 1 < tries.size(); i++) {
        assertThat(tries.get(i).status()).isEqualTo(503);
        long gap = TimeUnit.NANOSECONDS.toMillis(
            tries.get(i + 1).arrivalNanos() - tries.get(i).arrivalNanos());
        gapsMillis.add(gap);
        // Retry-After: 1 wins over the 50 ms backoff, and not by some other long wait.
        assertThat(gap).as("ms between a 503 with Retry-After: 1 and the next attempt")
            .isBetween(1000L, 10_000L);
      }
    }
    assertThat(gapsMillis).hasSize(refusals);
    System.out.println("retry gaps after 503 + Retry-After: 1 (ms): " + gapsMillis);
    assertThat(backend.acceptedItemCounts()).hasSize(sent.size());
  }

  @Test
  void deadLettersWhatTheBackendRefusesAndKeepsGoing() throws IOException {
    ForwardingBackend backend = backend();
    backend.responder(r -> {
      for (OtlpItems.Item i : OtlpItems.items(r.message())) {
        for (KeyValue kv : ((Span) i.item()).getAttributesList()) {
          if (kv.getKey().equals("test.poison")) {
            return Reply.error(400, "span " + i.key() + " has a poison attribute");
          }
        }
      }
      return null;
    });
    Sluice sluice = sluice(""
        + "    endpoint: " + backend.url() + "\n"
        + "    batch:\n"
        + "      timeout: 0\n"
        + FAST_RETRY);

    Set<String> good = new HashSet<>();
    Set<String> poison = new HashSet<>();
    for (int i = 0; i < 12; i++) {
      if (i == 3 || i == 7) {
        poison.addAll(send(sluice, Signal.TRACES,
            OtlpItems.traces("poison", 4, attr("test.poison", "yes")), i == 7));
      } else {
        good.addAll(send(sluice, Signal.TRACES, OtlpItems.traces("good", 4), i % 2 == 0));
      }
    }
    Path file = deadLetterFile("otlphttp", Signal.TRACES);
    Await.until("the good spans at the backend and the poison ones in " + file, WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(good)
            && deadLetteredKeys(file).containsAll(poison));

    assertThat(backend.acceptedItemCounts().keySet()).isEqualTo(good);
    List<DeadLetter> letters = deadLetters(file);
    assertThat(letters).hasSize(2);
    for (DeadLetter d : letters) {
      assertThat(d.status()).isEqualTo(400);
      assertThat(d.message()).matches("span [0-9a-f]{16} has a poison attribute");
      assertThat(d.exporter()).isEqualTo("otlphttp");
      assertThat(d.signal()).isEqualTo("traces");
      assertThat(d.endpoint()).contains("127.0.0.1:" + backend.port());
      assertThat(d.items()).isEqualTo(4);
    }
    assertThat(deadLetteredKeys(file)).isEqualTo(poison);
    // A 400 is permanent: each refused request was tried once.
    assertThat(backend.requests().stream().filter(r -> r.status() == 400)).hasSize(2);
  }

  // ---- several backends -----------------------------------------------------------------------

  @Test
  void balancesOverThreeBackends() throws IOException {
    ForwardingBackend a = backend();
    ForwardingBackend b = backend();
    ForwardingBackend c = backend();
    Sluice sluice = sluice(""
        + "    endpoints: [" + a.url() + ", " + b.url() + ", " + c.url() + "]\n"
        + "    batch:\n"
        + "      timeout: 0\n"
        + FAST_RETRY);

    Set<String> sent = new HashSet<>();
    for (int i = 0; i < 30; i++) {
      sent.addAll(send(sluice, Signal.TRACES, OtlpItems.traces("lb", 2), i % 2 == 0));
    }
    Await.until("everything at the backends", WAIT,
        () -> acceptedCounts(a, b, c).keySet().containsAll(sent));
    assertThat(acceptedCounts(a, b, c)).hasSize(sent.size());
    assertThat(acceptedCounts(a, b, c).values()).allMatch(n -> n == 1);
    List<Integer> perBackend = List.of(a.requests().size(), b.requests().size(),
        c.requests().size());
    System.out.println("requests per backend, round robin: " + perBackend);
    assertThat(perBackend).allMatch(n -> n >= 5);
  }

  @Test
  void ejectsABackendThatKeepsFailing() throws IOException {
    ForwardingBackend a = backend();
    ForwardingBackend b = backend();
    ForwardingBackend broken = backend();
    broken.responder(r -> Reply.error(500, "broken backend"));
    Sluice sluice = sluice(""
        + "    endpoints: [" + a.url() + ", " + broken.url() + ", " + b.url() + "]\n"
        + "    batch:\n"
        + "      timeout: 0\n"
        + "    passive_ejection:\n"
        + "      consecutive_failures: 3\n"
        + "      base_ejection_time: 2m\n"
        + FAST_RETRY);
    Path file = deadLetterFile("otlphttp", Signal.TRACES);

    Set<String> sent = new HashSet<>();
    for (int i = 0; i < 30; i++) {
      sent.addAll(send(sluice, OtlpItems.traces("eject", 2)));
    }
    Await.until("the first 30 requests delivered or dead-lettered", WAIT,
        () -> accounted(sent, file, a, b));
    int brokenAfterFirst = broken.requests().size();
    System.out.println("requests to the broken backend before its ejection: " + brokenAfterFirst);
    // Ejected after 3 failures in a row; a few more may have been on their way meanwhile.
    assertThat(brokenAfterFirst).isBetween(3, 3 + 10);

    for (int i = 0; i < 30; i++) {
      sent.addAll(send(sluice, OtlpItems.traces("eject", 2)));
    }
    Await.until("the next 30 requests delivered or dead-lettered", WAIT,
        () -> accounted(sent, file, a, b));
    assertThat(broken.requests()).as("requests to the ejected backend").hasSize(brokenAfterFirst);

    // Nothing lost: every span reached a healthy backend or the dead-letter file, not both.
    Set<String> delivered = acceptedCounts(a, b).keySet();
    Set<String> dead = deadLetteredKeys(file);
    assertThat(dead).as("spans the broken backend refused").isNotEmpty();
    Set<String> both = new HashSet<>(delivered);
    both.retainAll(dead);
    assertThat(both).as("spans both delivered and dead-lettered").isEmpty();
    Set<String> union = new HashSet<>(delivered);
    union.addAll(dead);
    assertThat(union).isEqualTo(sent);
    assertThat(deadLetters(file)).hasSize(brokenAfterFirst).allSatisfy(d -> {
      assertThat(d.status()).isEqualTo(500);
      assertThat(d.message()).isEqualTo("broken backend");
      assertThat(d.endpoint()).contains("127.0.0.1:" + broken.port());
    });
    assertThat(a.requests()).isNotEmpty();
    assertThat(b.requests()).isNotEmpty();
  }

  /** Whether every key sent was accepted by one of {@code backends} or dead-lettered. */
  private static boolean accounted(Set<String> sent, Path deadLetters,
      ForwardingBackend... backends) {
    Set<String> seen = new HashSet<>(acceptedCounts(backends).keySet());
    seen.addAll(deadLetteredKeys(deadLetters));
    return seen.containsAll(sent);
  }

  @Test
  void healthCheckKeepsDataAwayFromAnUnhealthyBackend() throws IOException {
    ForwardingBackend a = backend();
    ForwardingBackend sick = backend().healthStatus(503);
    ForwardingBackend b = backend();
    Sluice sluice = sluice(""
        + "    endpoints: [" + a.url() + ", " + sick.url() + ", " + b.url() + "]\n"
        + "    batch:\n"
        + "      timeout: 0\n"
        + "    health_check:\n"
        + "      path: /health\n"
        + "      interval: 100ms\n"
        + FAST_RETRY);
    // Unhealthy after 3 failed checks (the default threshold); the next check is scheduled only
    // once the third one's answer was handled.
    Await.until("4 health checks of the sick backend", WAIT, () -> sick.healthChecks() >= 4);

    Set<String> sent = new HashSet<>();
    for (int i = 0; i < 30; i++) {
      sent.addAll(send(sluice, OtlpItems.traces("health", 2)));
    }
    Await.until("everything at the healthy backends", WAIT,
        () -> acceptedCounts(a, b).keySet().containsAll(sent));
    assertThat(sick.requests()).as("export requests to the unhealthy backend").isEmpty();
    assertThat(a.requests()).isNotEmpty();
    assertThat(b.requests()).isNotEmpty();
    assertThat(a.healthChecks()).isPositive();
    assertThat(acceptedCounts(a, b)).hasSize(sent.size());
  }

  @Test
  void routesEveryTraceToExactlyOneBackend() throws IOException {
    ForwardingBackend a = backend();
    ForwardingBackend b = backend();
    ForwardingBackend c = backend();
    Sluice sluice = sluice(""
        + "    endpoints: [" + a.url() + ", " + b.url() + ", " + c.url() + "]\n"
        + "    route_traces_by_trace_id: true\n"
        + FAST_RETRY);

    // 30 traces of 6 spans; span k of every trace travels in request k, so each trace is spread
    // over 6 requests, and each request holds a span of every trace.
    int traces = 30;
    int spans = 6;
    List<ByteString> traceIds = new ArrayList<>();
    for (int t = 0; t < traces; t++) {
      traceIds.add(OtlpItems.newTraceId());
    }
    Map<String, String> traceOf = new HashMap<>();
    for (int k = 0; k < spans; k++) {
      List<Span> list = new ArrayList<>();
      for (ByteString id : traceIds) {
        list.add(OtlpItems.span(id, "step " + k));
      }
      ExportTraceServiceRequest r = OtlpItems.traces("routed", list);
      traceOf.putAll(OtlpItems.traceIdsBySpanId(r));
      send(sluice, Signal.TRACES, r, k % 2 == 0);
    }
    Await.until("every span at a backend", WAIT,
        () -> acceptedCounts(a, b, c).keySet().containsAll(traceOf.keySet()));

    Map<String, Set<Integer>> backendsOfTrace = new TreeMap<>();
    for (ForwardingBackend backend : List.of(a, b, c)) {
      for (Request r : backend.accepted()) {
        Map<String, String> here = OtlpItems.traceIdsBySpanId(
            (ExportTraceServiceRequest) r.message());
        // Each trace goes out in requests of its own.
        assertThat(Set.copyOf(here.values())).as("trace ids in one request").hasSize(1);
        here.values().forEach(t -> backendsOfTrace.computeIfAbsent(t, x -> new HashSet<>())
            .add(backend.port()));
      }
    }
    assertThat(backendsOfTrace).hasSize(traces);
    assertThat(backendsOfTrace.values()).allSatisfy(set -> assertThat(set).hasSize(1));
    long used = List.of(a, b, c).stream().filter(x -> !x.accepted().isEmpty()).count();
    System.out.println("traces per backend: " + List.of(a, b, c).stream()
        .map(x -> backendsOfTrace.values().stream().filter(s -> s.contains(x.port())).count())
        .toList());
    assertThat(used).as("backends that got traces").isGreaterThanOrEqualTo(2);
    assertThat(acceptedCounts(a, b, c)).hasSize(traces * spans);
  }

  // ---- the queue ------------------------------------------------------------------------------

  @Test
  void aFullQueueAnswers503AndEverythingAcceptedArrivesLater() throws IOException {
    int port = ForwardingBackend.freePort();
    Sluice sluice = sluice(dataDir, ""
        + "    endpoint: http://127.0.0.1:" + port + "\n"
        + FAST_RETRY,
        "pipeline:\n"
        + "  queue:\n"
        + "    max_bytes: 1MiB\n"
        + "    segment_bytes: 256KiB\n");

    KeyValue padding = attr("padding", "p".repeat(700));
    Set<String> acknowledged = new HashSet<>();
    HttpResponse<String> full = null;
    int accepted = 0;
    for (int i = 0; i < 1000 && full == null; i++) {
      ExportTraceServiceRequest r = OtlpItems.traces("fill", 20, padding);
      HttpResponse<String> answer = post(sluice, Signal.TRACES, r, false, false);
      if (answer.statusCode() == 200) {
        acknowledged.addAll(OtlpItems.keys(r));
        accepted++;
      } else {
        full = answer;
      }
    }
    assertThat(full).as("a refusal before 1000 requests of ~16 KB filled a 1 MiB queue")
        .isNotNull();
    assertThat(full.statusCode()).as(full.body()).isEqualTo(503);
    assertThat(full.headers().firstValue("Retry-After")).hasValueSatisfying(
        v -> assertThat(Integer.parseInt(v)).isPositive());
    System.out.println("requests accepted before the queue was full: " + accepted);
    assertThat(accepted).isBetween(20, 200);

    ForwardingBackend backend = backendOn(port);
    Await.until("every acknowledged span at the backend", WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(acknowledged));
    assertThat(backend.acceptedItemCounts()).hasSize(acknowledged.size());

    // Delivered, the queue has room again.
    ExportTraceServiceRequest after = OtlpItems.traces("after", 3);
    Await.until("a 200 once the queue drained", WAIT,
        () -> post(sluice, Signal.TRACES, after, false, false).statusCode() == 200);
    Await.until("the request after the drain at the backend", WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(OtlpItems.keys(after)));
  }

  // ---- Sluice to Sluice -------------------------------------------------------------------------

  @Test
  void forwardsToAnotherSluiceOverMutualTlsAndHttp2() {
    TestCertificates certs = TestCertificates.create(dataDir.resolve("certs"));
    Path downstreamDir = dataDir.resolve("downstream");
    String downstreamYaml = ""
        + "data_dir: '" + downstreamDir + "'\n"
        + "receivers:\n"
        + "  otlp:\n"
        + "    endpoint: 127.0.0.1:0\n"
        + "    tls:\n"
        + "      cert_file: '" + certs.serverCert() + "'\n"
        + "      key_file: '" + certs.serverKey() + "'\n"
        + "      client_ca_file: '" + certs.caCert() + "'\n"
        + "admin:\n"
        + "  endpoint: 127.0.0.1:0\n";
    Sluice downstream = Sluice.start(new ConfigLoader(Map.of()).load("downstream.yaml",
        downstreamYaml, ConfigLoader.Overrides.NONE));
    closeables.add(downstream);
    int port = downstream.receiver().localAddress().getPort();

    // The certificate names localhost; the URL says 127.0.0.1 and server_name_override fixes it.
    Sluice gateway = sluice(dataDir.resolve("gateway"), ""
        + "    endpoint: https://127.0.0.1:" + port + "\n"
        + "    http2: true\n"
        + "    tls:\n"
        + "      ca_file: '" + certs.caCert() + "'\n"
        + "      cert_file: '" + certs.clientCert() + "'\n"
        + "      key_file: '" + certs.clientKey() + "'\n"
        + "      server_name_override: localhost\n"
        + "      min_version: \"1.3\"\n"
        + FAST_RETRY, "");

    Map<String, OtlpItems.Item> sent = new LinkedHashMap<>();
    for (int i = 0; i < 5; i++) {
      ExportTraceServiceRequest r = OtlpItems.traces("chained", 4);
      send(gateway, Signal.TRACES, r, i % 2 == 0);
      OtlpItems.items(r).forEach(item -> sent.put(item.key(), item));
    }
    Path export = downstreamDir.resolve("export");
    Map<String, OtlpItems.Item> received = new LinkedHashMap<>();
    Await.until("the spans in the downstream Sluice's export", WAIT, () -> {
      received.clear();
      ExportFiles.traces(export).forEach(
          r -> OtlpItems.items(r).forEach(item -> received.put(item.key(), item)));
      return received.keySet().containsAll(sent.keySet());
    });
    assertThat(received).isEqualTo(sent);
  }

  // ---- names ------------------------------------------------------------------------------------

  @Test
  void aLabelledExporterForwardsAndKeepsItsOwnDeadLetters() throws IOException {
    ForwardingBackend backend = backend();
    backend.responder(r -> r.signal() == Signal.LOGS ? Reply.error(400, "no logs here") : null);
    String yaml = ""
        + "data_dir: '" + dataDir + "'\n"
        + "receivers:\n"
        + "  otlp:\n"
        + "    endpoint: 127.0.0.1:0\n"
        + "admin:\n"
        + "  endpoint: 127.0.0.1:0\n"
        + "exporters:\n"
        + "  otlphttp/primary:\n"
        + "    endpoint: " + backend.url() + "\n"
        + FAST_RETRY;
    Sluice sluice = Sluice.start(new ConfigLoader(Map.of()).load("labelled.yaml", yaml,
        ConfigLoader.Overrides.NONE));
    closeables.add(sluice);

    Set<String> spans = new HashSet<>(send(sluice, OtlpItems.traces("labelled", 3)));
    Set<String> logs = new HashSet<>(send(sluice, Signal.LOGS,
        OtlpItems.logs("labelled", "refused log"), false));
    Path file = deadLetterFile("otlphttp-primary", Signal.LOGS);
    Await.until("spans at the backend, logs in " + file, WAIT,
        () -> backend.acceptedItemCounts().keySet().containsAll(spans)
            && deadLetteredKeys(file).containsAll(logs));
    assertThat(deadLetters(file)).singleElement()
        .satisfies(d -> assertThat(d.exporter()).isEqualTo("otlphttp/primary"));
  }
}
