package dev.sluice.app.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.app.ForwardingBackend;
import dev.sluice.app.OtlpItems;
import dev.sluice.exporter.otlp.Compression;
import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.exporter.otlp.OtlpHttpExporter;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.testing.TestCertificates;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.Unpooled;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code exporters.otlphttp} section and {@code --forward}: every key read into the exporter
 * (checked through the built exporter where it shows the setting, on the wire for headers,
 * encoding, compression and signal URLs, and otherwise by its value being checked under its own
 * key path), the defaults, and the problems reported with their key paths.
 */
class OtlpHttpExporterConfigTest {
  private static final ConfigLoader LOADER =
      new ConfigLoader(Map.of("BACKEND_TOKEN", "s3cr3t-t0ken-value"));

  @TempDir Path tmp;

  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  private String head() {
    return "data_dir: '" + tmp + "'\n";
  }

  private static final String MEMORY = "pipeline:\n  queue:\n    type: memory\n";

  /** A configuration whose {@code exporters.otlphttp} body is {@code body} (4-space indent). */
  private String yaml(String top, String body) {
    return head() + top + "exporters:\n  otlphttp:\n" + body;
  }

  private SluiceConfig load(String yaml) {
    return LOADER.load("test.yaml", yaml, ConfigLoader.Overrides.NONE);
  }

  private List<String> problems(String yaml) {
    return problems(yaml, ConfigLoader.Overrides.NONE);
  }

  private List<String> problems(String yaml, ConfigLoader.Overrides overrides) {
    try {
      LOADER.load("test.yaml", yaml, overrides);
    } catch (ConfigException e) {
      return e.problems();
    }
    throw new AssertionError("expected the configuration to be rejected:\n" + yaml);
  }

  private OtlpHttpExporter exporter(SluiceConfig cfg, String name) {
    SluiceConfig.ExporterSpec spec = cfg.exporters().stream()
        .filter(s -> s.name().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no exporter " + name + " in " + cfg.exporters()));
    Exporter e = spec.factory().apply(new SimpleMeterRegistry());
    closeables.add(e::close);
    assertThat(e).isInstanceOf(OtlpHttpExporter.class);
    assertThat(e.name()).isEqualTo(name);
    return (OtlpHttpExporter) e;
  }

  private OtlpHttpExporter exporter(String top, String body) {
    return exporter(load(yaml(top, body)), "otlphttp");
  }

  private OtlpHttpExporter exporter(String body) {
    return exporter("", body);
  }

  // ---- defaults -------------------------------------------------------------------------------

  @Test
  void defaultsWithTheDurableQueue() {
    SluiceConfig cfg = load(yaml("", "    endpoint: http://backend.example:4318\n"));
    assertThat(cfg.exporters()).singleElement().satisfies(s -> {
      assertThat(s.name()).isEqualTo("otlphttp");
      assertThat(s.description()).isEqualTo("otlphttp (otlphttp, http://backend.example:4318)");
    });
    OtlpHttpExporter e = exporter(cfg, "otlphttp");
    assertThat(e.signals()).containsExactlyInAnyOrder(Signal.values());
    for (Signal s : Signal.values()) {
      assertThat(e.url(s)).hasToString("http://backend.example:4318/v1/" + s.id());
      assertThat(e.deadLetterFile(s))
          .isEqualTo(tmp.resolve("dead-letter").resolve("otlphttp").resolve(s.id() + ".jsonl"));
    }
    assertThat(e.encoding()).isEqualTo(Encoding.PROTOBUF);
    assertThat(e.compression()).isEqualTo(Compression.GZIP);
    RetrySettings r = e.retry();
    assertThat(r.enabled()).isTrue();
    assertThat(r.initialInterval()).isEqualTo(Duration.ofSeconds(5));
    assertThat(r.maxInterval()).isEqualTo(Duration.ofSeconds(30));
    assertThat(r.forever()).as("the durable queue holds the data: retry forever").isTrue();
    assertThat(e.toString()).contains("timeout=PT30S", "load_balancing=ROUND_ROBIN",
        "batch{timeout=PT0.2S, max_items=8192, max_bytes=2097152}",
        "max_request_bytes=4194304", "route_traces_by_trace_id=false", "headers=[]");
  }

  @Test
  void retriesFor300SecondsWithTheMemoryQueue() {
    OtlpHttpExporter e = exporter(MEMORY, "    endpoint: http://b:4318\n");
    assertThat(e.retry().forever()).isFalse();
    assertThat(e.retry().maxElapsedTime()).isEqualTo(Duration.ofSeconds(300));
  }

  @ParameterizedTest
  @ValueSource(strings = {"0", "0s", "'0'", "0ms"})
  void maxElapsedTimeZeroRetriesForever(String zero) {
    OtlpHttpExporter e = exporter(MEMORY, ""
        + "    endpoint: http://b:4318\n"
        + "    retry_on_failure:\n"
        + "      max_elapsed_time: " + zero + "\n");
    assertThat(e.retry().forever()).isTrue();
    assertThat(e.retry().maxElapsedTime()).isZero();
  }

  @Test
  void anExplicitMaxElapsedTimeAppliesWithTheDurableQueueToo() {
    OtlpHttpExporter e = exporter(""
        + "    endpoint: http://b:4318\n"
        + "    retry_on_failure:\n"
        + "      max_elapsed_time: 10m\n");
    assertThat(e.retry().forever()).isFalse();
    assertThat(e.retry().maxElapsedTime()).isEqualTo(Duration.ofMinutes(10));
  }

  @ParameterizedTest
  @ValueSource(strings = {"0", "0s", "'0ms'"})
  void batchTimeoutZeroSendsEachRequestAsItComes(String zero) {
    OtlpHttpExporter e = exporter(""
        + "    endpoint: http://b:4318\n"
        + "    batch:\n"
        + "      timeout: " + zero + "\n");
    assertThat(e.toString()).contains("batch{timeout=PT0S,");
  }

  // ---- every key ------------------------------------------------------------------------------

  @Test
  void readsEveryKey() {
    TestCertificates certs = TestCertificates.create(tmp.resolve("certs"));
    Path deadLetters = tmp.resolve("refused");
    SluiceConfig cfg = load(yaml(MEMORY, ""
        + "    endpoint: https://backend.example:4318/otlp/\n"
        + "    traces_endpoint: https://traces.example/api/v2/spans?tenant=a\n"
        + "    encoding: json\n"
        + "    compression: zstd\n"
        + "    headers:\n"
        + "      authorization: \"Bearer ${env:BACKEND_TOKEN}\"\n"
        + "      x-scope-orgid: team-7\n"
        + "    timeout: 7s\n"
        + "    connect_timeout: 2s\n"
        + "    max_connections_per_endpoint: 4\n"
        + "    http2: true\n"
        + "    load_balancing: least_requests\n"
        + "    route_traces_by_trace_id: true\n"
        + "    retry_on_failure:\n"
        + "      enabled: true\n"
        + "      initial_interval: 100ms\n"
        + "      max_interval: 2s\n"
        + "      max_elapsed_time: 1m\n"
        + "    tls:\n"
        + "      ca_file: '" + certs.caCert() + "'\n"
        + "      cert_file: '" + certs.clientCert() + "'\n"
        + "      key_file: '" + certs.clientKey() + "'\n"
        + "      insecure_skip_verify: false\n"
        + "      server_name_override: backend.internal\n"
        + "      min_version: \"1.3\"\n"
        + "    health_check:\n"
        + "      path: /healthz\n"
        + "      interval: 3s\n"
        + "      timeout: 1s\n"
        + "      healthy_threshold: 1\n"
        + "      unhealthy_threshold: 2\n"
        + "    passive_ejection:\n"
        + "      consecutive_failures: 7\n"
        + "      base_ejection_time: 10s\n"
        + "      max_ejection_percent: 30\n"
        + "    circuit_breaker:\n"
        + "      failure_rate_threshold: 40\n"
        + "      minimum_calls: 10\n"
        + "      window: 5s\n"
        + "      open_duration: 15s\n"
        + "      half_open_calls: 2\n"
        + "    batch:\n"
        + "      timeout: 50ms\n"
        + "      max_items: 100\n"
        + "      max_bytes: 64KiB\n"
        + "    max_request_bytes: 1MiB\n"
        + "    max_concurrent_requests: 3\n"
        + "    dead_letter_dir: '" + deadLetters + "'\n"));
    OtlpHttpExporter e = exporter(cfg, "otlphttp");
    assertThat(e.url(Signal.TRACES)).hasToString("https://traces.example/api/v2/spans?tenant=a");
    assertThat(e.url(Signal.METRICS)).hasToString("https://backend.example:4318/otlp/v1/metrics");
    assertThat(e.url(Signal.LOGS)).hasToString("https://backend.example:4318/otlp/v1/logs");
    assertThat(e.encoding()).isEqualTo(Encoding.JSON);
    assertThat(e.compression()).isEqualTo(Compression.ZSTD);
    assertThat(e.retry()).isEqualTo(RetrySettings.defaults().withInitialInterval(
        Duration.ofMillis(100)).withMaxInterval(Duration.ofSeconds(2))
        .withMaxElapsedTime(Duration.ofMinutes(1)));
    assertThat(e.deadLetterFile(Signal.LOGS)).isEqualTo(deadLetters.resolve("logs.jsonl"));
    assertThat(e.toString()).contains("timeout=PT7S", "load_balancing=LEAST_REQUESTS",
        "batch{timeout=PT0.05S, max_items=100, max_bytes=65536}", "max_request_bytes=1048576",
        "route_traces_by_trace_id=true", "headers=[authorization, x-scope-orgid] (values hidden)",
        "dead_letter_dir=" + deadLetters);
    // Header values may be secrets: never in the exporter's text nor in the start-up line.
    assertThat(e.toString()).doesNotContain("s3cr3t", "team-7");
    assertThat(cfg.exporters().get(0).description()).doesNotContain("s3cr3t", "team-7");
  }

  @Test
  void retryOnFailureCanBeTurnedOff() {
    OtlpHttpExporter e = exporter(""
        + "    endpoint: http://b:4318\n"
        + "    retry_on_failure:\n"
        + "      enabled: false\n");
    assertThat(e.retry().enabled()).isFalse();
  }

  @ParameterizedTest
  @CsvSource({"proto, PROTOBUF", "protobuf, PROTOBUF", "json, JSON"})
  void encodings(String value, Encoding expected) {
    assertThat(exporter("    endpoint: http://b:4318\n    encoding: " + value + "\n").encoding())
        .isEqualTo(expected);
  }

  @ParameterizedTest
  @CsvSource({"none, NONE", "gzip, GZIP", "zstd, ZSTD"})
  void compressions(String value, Compression expected) {
    assertThat(exporter("    endpoint: http://b:4318\n    compression: " + value + "\n")
        .compression()).isEqualTo(expected);
  }

  @Test
  void severalEndpointsAreBalancedAndAllNamed() {
    SluiceConfig cfg = load(yaml("", ""
        + "    endpoints:\n"
        + "      - http://a:4318\n"
        + "      - http://b:4318/\n"
        + "      - https://c.example\n"));
    assertThat(cfg.exporters().get(0).description())
        .contains("http://a:4318", "http://b:4318/", "https://c.example");
    OtlpHttpExporter e = exporter(cfg, "otlphttp");
    assertThat(e.url(Signal.TRACES)).hasToString("http://a:4318/v1/traces");
    assertThat(e.toString()).contains("endpoint=http://a:4318|http://b:4318|https://c.example");
  }

  @Test
  void signalEndpointsAloneCoverEverySignal() {
    OtlpHttpExporter e = exporter(""
        + "    traces_endpoint: http://t:1/traces\n"
        + "    metrics_endpoint: http://m:2/metrics\n"
        + "    logs_endpoint: http://l:3/logs\n");
    assertThat(e.url(Signal.TRACES)).hasToString("http://t:1/traces");
    assertThat(e.url(Signal.METRICS)).hasToString("http://m:2/metrics");
    assertThat(e.url(Signal.LOGS)).hasToString("http://l:3/logs");
  }

  @Test
  void aLabelledExporterHasItsOwnNameAndDeadLetterDirectory() {
    SluiceConfig cfg = load(head() + "exporters:\n"
        + "  otlphttp/backup:\n"
        + "    endpoint: http://b:4318\n"
        + "  otlphttp:\n"
        + "    endpoint: http://a:4318\n");
    OtlpHttpExporter backup = exporter(cfg, "otlphttp/backup");
    assertThat(backup.url(Signal.LOGS)).hasToString("http://b:4318/v1/logs");
    assertThat(backup.deadLetterFile(Signal.TRACES)).isEqualTo(
        tmp.resolve("dead-letter").resolve("otlphttp-backup").resolve("traces.jsonl"));
    assertThat(exporter(cfg, "otlphttp").url(Signal.LOGS)).hasToString("http://a:4318/v1/logs");
  }

  /** Headers, encoding, compression and a signal's own URL, as a backend sees them. */
  @Test
  void theSettingsReachTheWire() throws Exception {
    ForwardingBackend backend = ForwardingBackend.start();
    closeables.add(backend);
    OtlpHttpExporter e = exporter(""
        + "    endpoint: http://127.0.0.1:1\n" // nothing listens: only traces may be sent
        + "    traces_endpoint: " + backend.url() + "/custom/v1/traces?tenant=a\n"
        + "    encoding: json\n"
        + "    compression: zstd\n"
        + "    headers:\n"
        + "      authorization: \"Bearer ${env:BACKEND_TOKEN}\"\n"
        + "      User-Agent: my-gateway/2\n"
        + "    batch:\n"
        + "      timeout: 0\n");
    e.start();
    ExportTraceServiceRequest request = OtlpItems.traces("wire", 3);
    byte[] bytes = request.toByteArray();
    TelemetryBatch batch = new TelemetryBatch(Signal.TRACES, Unpooled.wrappedBuffer(bytes), 3,
        "", System.currentTimeMillis());
    e.export(batch).get(20, TimeUnit.SECONDS);

    assertThat(backend.requests()).singleElement().satisfies(r -> {
      assertThat(r.path()).isEqualTo("/custom/v1/traces");
      assertThat(r.header("authorization")).isEqualTo("Bearer s3cr3t-t0ken-value");
      assertThat(r.header("user-agent")).isEqualTo("my-gateway/2");
      assertThat(r.header("content-type")).isEqualTo("application/json");
      assertThat(r.header("content-encoding")).isEqualTo("zstd");
      assertThat(r.error()).isNull();
      assertThat(r.message()).isEqualTo(request);
    });
  }

  // ---- problems, with their key paths ------------------------------------------------------------

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "endpoint: ftp://b:21|exporters.otlphttp.endpoint: |http:// or https://",
      "endpoint: 'http://'|exporters.otlphttp.endpoint: |not a URL",
      "endpoint: 'http://user:pw@b:4318'|exporters.otlphttp.endpoint: |credentials",
      "endpoint: 'http://b:4318/#frag'|exporters.otlphttp.endpoint: |fragment",
      "endpoint: 'http://b:4318/?q=1'|exporters.otlphttp.endpoint: |query",
      "endpoints: [http://a:1, 'b:2']|exporters.otlphttp.endpoints: |http:// or https://",
      "endpoints: [http://a:1, http://a:1]|exporters.otlphttp.endpoints: |twice",
      "traces_endpoint: 'tcp://t:1'|exporters.otlphttp.traces_endpoint: |http:// or https://",
      "encoding: xml|exporters.otlphttp.encoding: |proto or json",
      "compression: brotli|exporters.otlphttp.compression: |none, gzip or zstd",
      "timeout: 10|exporters.otlphttp.timeout: |duration",
      "timeout: 0s|exporters.otlphttp.timeout: |longer than 0",
      "connect_timeout: soon|exporters.otlphttp.connect_timeout: |duration",
      "max_connections_per_endpoint: 0|exporters.otlphttp.max_connections_per_endpoint: |between",
      "http2: maybe|exporters.otlphttp.http2: |true or false",
      "load_balancing: random|exporters.otlphttp.load_balancing: |round_robin",
      "route_traces_by_trace_id: 1|exporters.otlphttp.route_traces_by_trace_id: |true or false",
      "retry_on_failure: {enabled: yes please}|exporters.otlphttp.retry_on_failure.enabled: |true",
      "retry_on_failure: {initial_interval: 5}|exporters.otlphttp.retry_on_failure.initial_interval: |duration",
      "retry_on_failure: {max_interval: 1s, initial_interval: 2s}|exporters.otlphttp.retry_on_failure: |max_interval",
      "retry_on_failure: {max_elapsed_time: -1s}|exporters.otlphttp.retry_on_failure.max_elapsed_time: |duration",
      "tls: {min_version: '1.1'}|exporters.otlphttp.tls.min_version: |1.2, 1.3",
      "tls: {insecure_skip_verify: sure}|exporters.otlphttp.tls.insecure_skip_verify: |true or false",
      "health_check: {path: healthz}|exporters.otlphttp.health_check: |must start with '/'",
      "health_check: {interval: 1}|exporters.otlphttp.health_check.interval: |duration",
      "health_check: {timeout: x}|exporters.otlphttp.health_check.timeout: |duration",
      "health_check: {healthy_threshold: 0}|exporters.otlphttp.health_check.healthy_threshold: |between",
      "health_check: {unhealthy_threshold: 101}|exporters.otlphttp.health_check.unhealthy_threshold: |between",
      "passive_ejection: {consecutive_failures: 0}|exporters.otlphttp.passive_ejection.consecutive_failures: |between",
      "passive_ejection: {base_ejection_time: 3}|exporters.otlphttp.passive_ejection.base_ejection_time: |duration",
      "passive_ejection: {max_ejection_percent: 101}|exporters.otlphttp.passive_ejection.max_ejection_percent: |between",
      "circuit_breaker: {failure_rate_threshold: 0}|exporters.otlphttp.circuit_breaker.failure_rate_threshold: |between",
      "circuit_breaker: {minimum_calls: 0}|exporters.otlphttp.circuit_breaker.minimum_calls: |between",
      "circuit_breaker: {window: 1}|exporters.otlphttp.circuit_breaker.window: |duration",
      "circuit_breaker: {open_duration: 1}|exporters.otlphttp.circuit_breaker.open_duration: |duration",
      "circuit_breaker: {half_open_calls: 0}|exporters.otlphttp.circuit_breaker.half_open_calls: |between",
      "batch: {timeout: 1}|exporters.otlphttp.batch.timeout: |duration",
      "batch: {max_items: 0}|exporters.otlphttp.batch.max_items: |between",
      "batch: {max_bytes: 10}|exporters.otlphttp.batch.max_bytes: |between",
      "max_request_bytes: lots|exporters.otlphttp.max_request_bytes: |size",
      "max_concurrent_requests: 0|exporters.otlphttp.max_concurrent_requests: |between",
      "headers: {Content-Type: text/plain}|exporters.otlphttp.headers: |cannot be set",
      "headers: {'bad header': x}|exporters.otlphttp.headers: |not a valid header name",
      "headers: {x-a: [1, 2]}|exporters.otlphttp.headers.x-a: |single value",
      "headers: [a, b]|exporters.otlphttp.headers: |section",
      "dead_letter_dir: {a: 1}|exporters.otlphttp.dead_letter_dir: |single value",
  })
  void aBadValueIsReportedAtItsKeyPath(String setting, String path, String says) {
    boolean endpointRow = setting.startsWith("endpoint:") || setting.startsWith("endpoints:");
    List<String> problems = problems(yaml("", ""
        + (endpointRow ? "" : "    endpoint: http://b:4318\n")
        + "    " + setting + "\n"));
    assertThat(problems).as("problems of %s", setting).singleElement().satisfies(p -> {
      assertThat(p).startsWith(path).contains(says).doesNotContain("unknown key");
    });
  }

  @Test
  void aHeaderValueWithALineBreakIsRefused() {
    List<String> problems = problems(yaml("", ""
        + "    endpoint: http://b:4318\n"
        + "    headers:\n"
        + "      x-a: \"one\\r\\nInjected: two\"\n"));
    assertThat(problems).singleElement().asString()
        .startsWith("exporters.otlphttp.headers: ").contains("not allowed");
  }

  @Test
  void credentialsInTheUrlAreNotRepeated() {
    List<String> problems = problems(yaml("", "    endpoint: 'http://user:pa55w0rd@b:4318'\n"));
    assertThat(String.join("\n", problems)).doesNotContain("pa55w0rd");
  }

  @Test
  void endpointAndEndpointsTogetherAreRefused() {
    assertThat(problems(yaml("", ""
        + "    endpoint: http://a:4318\n"
        + "    endpoints: [http://b:4318]\n")))
        .containsExactly("exporters.otlphttp.endpoints: give either endpoint or endpoints, not both");
  }

  @Test
  void anEndpointIsRequired() {
    assertThat(problems(yaml("", "    compression: none\n    timeout: 3s\n")))
        .singleElement().asString()
        .startsWith("exporters.otlphttp.endpoint: is required");
  }

  @Test
  void aSignalWithoutAnyUrlIsRefused() {
    // docs/configuration.md: "a signal with no URL at all is refused at start". Every exporter is
    // handed every signal, so a signal it cannot send would stop its queue for good.
    List<String> problems = problems(yaml("", "    traces_endpoint: http://t:1/v1/traces\n"));
    assertThat(problems).hasSize(2);
    assertThat(problems.get(0)).startsWith("exporters.otlphttp.metrics_endpoint: ");
    assertThat(problems.get(1)).startsWith("exporters.otlphttp.logs_endpoint: ");
  }

  @ParameterizedTest
  @CsvSource({"cert_file, exporters.otlphttp.tls.key_file: ",
      "key_file, exporters.otlphttp.tls.cert_file: "})
  void aClientCertificateNeedsItsKeyAndTheOtherWayRound(String given, String path)
      throws IOException {
    Path file = Files.writeString(tmp.resolve("given.pem"), "PEM");
    List<String> problems = problems(yaml("", ""
        + "    endpoint: https://b:4318\n"
        + "    tls:\n"
        + "      " + given + ": '" + file + "'\n"));
    assertThat(problems).singleElement().asString().startsWith(path)
        .contains("cert_file and key_file go together");
  }

  @ParameterizedTest
  @ValueSource(strings = {"ca_file", "cert_file", "key_file"})
  void aTlsFileThatDoesNotExistIsRefusedBeforeTheStart(String key) {
    TestCertificates certs = TestCertificates.create(tmp.resolve("certs"));
    Path missing = tmp.resolve("missing.pem");
    String ca = key.equals("ca_file") ? missing.toString() : certs.caCert().toString();
    String cert = key.equals("cert_file") ? missing.toString() : certs.clientCert().toString();
    String k = key.equals("key_file") ? missing.toString() : certs.clientKey().toString();
    List<String> problems = problems(yaml("", ""
        + "    endpoint: https://b:4318\n"
        + "    tls:\n"
        + "      ca_file: '" + ca + "'\n"
        + "      cert_file: '" + cert + "'\n"
        + "      key_file: '" + k + "'\n"));
    assertThat(problems).singleElement().asString()
        .startsWith("exporters.otlphttp.tls." + key + ": ").contains(missing.toString());
  }

  @Test
  void retriesThatCouldNeverHappenAreRefusedBeforeTheStart() {
    // With the memory queue: a max_elapsed_time shorter than the first wait.
    List<String> problems = problems(yaml(MEMORY, ""
        + "    endpoint: http://b:4318\n"
        + "    retry_on_failure:\n"
        + "      max_elapsed_time: 1s\n"));
    assertThat(problems).singleElement().asString()
        .startsWith("exporters.otlphttp.retry_on_failure").contains("max_elapsed_time");
  }

  @Test
  void everyUnknownKeyIsReportedOnceWithItsPath() {
    List<String> problems = problems(yaml("", ""
        + "    endpoint: http://b:4318\n"
        + "    bogus: 1\n"
        + "    retry_on_failure:\n"
        + "      jitter: 0.2\n"
        + "    batch:\n"
        + "      size: 10\n"
        + "    tls:\n"
        + "      verify: false\n"
        + "    health_check:\n"
        + "      port: 8080\n"
        + "    passive_ejection:\n"
        + "      after: 3\n"
        + "    circuit_breaker:\n"
        + "      threshold: 50\n"));
    assertThat(problems).hasSize(7);
    assertThat(problems).anySatisfy(p -> assertThat(p).startsWith(
        "exporters.otlphttp.bogus: unknown key"));
    for (String path : List.of("retry_on_failure.jitter", "batch.size", "tls.verify",
        "health_check.port", "passive_ejection.after", "circuit_breaker.threshold")) {
      assertThat(problems).anySatisfy(p -> assertThat(p).startsWith(
          "exporters.otlphttp." + path + ": unknown key"));
    }
  }

  @Test
  void allProblemsAreReportedAtOnce() {
    List<String> problems = problems(yaml("", ""
        + "    endpoint: ftp://b\n"
        + "    encoding: xml\n"
        + "    timeout: forever\n"
        + "    batch:\n"
        + "      max_items: -1\n"));
    assertThat(problems).hasSize(4);
    assertThat(problems).anySatisfy(p -> assertThat(p).startsWith("exporters.otlphttp.endpoint: "))
        .anySatisfy(p -> assertThat(p).startsWith("exporters.otlphttp.encoding: "))
        .anySatisfy(p -> assertThat(p).startsWith("exporters.otlphttp.timeout: "))
        .anySatisfy(p -> assertThat(p).startsWith("exporters.otlphttp.batch.max_items: "));
  }

  @Test
  void anUnsetEnvironmentVariableInAHeaderIsNamed() {
    List<String> problems = problems(yaml("", ""
        + "    endpoint: http://b:4318\n"
        + "    headers:\n"
        + "      authorization: \"Bearer ${env:NOT_SET_ANYWHERE}\"\n"));
    assertThat(problems).containsExactly("exporters.otlphttp.headers.authorization: "
        + "environment variable NOT_SET_ANYWHERE is not set");
  }

  // ---- --forward ------------------------------------------------------------------------------

  @Test
  void forwardReplacesTheExportersWithOneOtlpHttpExporter() {
    String file = head() + "exporters:\n"
        + "  file:\n"
        + "    path: '" + tmp.resolve("out") + "'\n"
        + "  debug:\n"
        + "    verbosity: detailed\n"
        + "  otlphttp:\n"
        + "    endpoint: http://old:4318\n"
        + "    headers:\n"
        + "      authorization: old\n";
    SluiceConfig cfg = LOADER.load("test.yaml", file, new ConfigLoader.Overrides(null, null, null,
        List.of("http://a:4318", "http://b:4318")));
    assertThat(cfg.exporters()).singleElement().satisfies(s -> {
      assertThat(s.name()).isEqualTo("otlphttp");
      assertThat(s.description()).isEqualTo("otlphttp (otlphttp, http://a:4318 http://b:4318)");
    });
    OtlpHttpExporter e = exporter(cfg, "otlphttp");
    assertThat(e.url(Signal.TRACES)).hasToString("http://a:4318/v1/traces");
    assertThat(e.toString()).contains("endpoint=http://a:4318|http://b:4318", "headers=[]");
    assertThat(e.encoding()).isEqualTo(Encoding.PROTOBUF);
    assertThat(e.compression()).isEqualTo(Compression.GZIP);
    assertThat(e.retry().forever()).isTrue();
    assertThat(e.deadLetterFile(Signal.METRICS)).isEqualTo(
        tmp.resolve("dead-letter").resolve("otlphttp").resolve("metrics.jsonl"));
  }

  @Test
  void forwardWithoutAFileAndWithTheMemoryQueue() {
    SluiceConfig none = LOADER.load(null, new ConfigLoader.Overrides(null, null,
        tmp.toString(), List.of("http://a:4318")));
    OtlpHttpExporter e = exporter(none, "otlphttp");
    assertThat(e.url(Signal.LOGS)).hasToString("http://a:4318/v1/logs");
    assertThat(e.retry().forever()).isTrue();

    SluiceConfig memory = LOADER.load("test.yaml", head() + MEMORY,
        new ConfigLoader.Overrides(null, null, null, List.of("http://a:4318")));
    assertThat(exporter(memory, "otlphttp").retry().maxElapsedTime())
        .isEqualTo(Duration.ofSeconds(300));
  }

  @Test
  void aBadForwardUrlIsReported() {
    List<String> problems = problems(head(), new ConfigLoader.Overrides(null, null, null,
        List.of("http://a:4318", "a:4318")));
    assertThat(problems).singleElement().asString().startsWith("exporters.otlphttp.endpoints: ");
  }

  @Test
  void noForwardKeepsTheConfiguredExporters() {
    SluiceConfig cfg = LOADER.load("test.yaml", head() + "exporters:\n  debug: {}\n",
        new ConfigLoader.Overrides(null, null, null, List.of()));
    assertThat(cfg.exporters()).extracting(SluiceConfig.ExporterSpec::name)
        .containsExactly("debug");
    assertThatThrownBy(() -> exporter(cfg, "otlphttp")).isInstanceOf(AssertionError.class);
  }
}
