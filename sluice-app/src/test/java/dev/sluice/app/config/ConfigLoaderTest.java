package dev.sluice.app.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.export.debug.DebugExporter;
import dev.sluice.pipeline.export.file.FileExporter;
import dev.sluice.receiver.otlp.OtlpHttpReceiverSettings;
import dev.sluice.receiver.otlp.auth.Authenticator;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigLoaderTest {
  @TempDir Path tmp;

  private static final ConfigLoader NO_ENV = new ConfigLoader(Map.of());

  private static SluiceConfig load(String yaml) {
    return NO_ENV.load("test.yaml", yaml, ConfigLoader.Overrides.NONE);
  }

  /** The problems of a configuration that must be rejected. */
  private static List<String> problems(ConfigLoader loader, String yaml) {
    try {
      loader.load("test.yaml", yaml, ConfigLoader.Overrides.NONE);
    } catch (ConfigException e) {
      assertThat(e.getMessage()).contains(e.problems().size() + " problem");
      return e.problems();
    }
    throw new AssertionError("expected the configuration to be rejected:\n" + yaml);
  }

  private static List<String> problems(String yaml) {
    return problems(NO_ENV, yaml);
  }

  private static Exporter make(SluiceConfig.ExporterSpec spec) {
    return spec.factory().apply(new SimpleMeterRegistry());
  }

  private static HttpHeaders bearer(String token) {
    return new DefaultHttpHeaders().set("Authorization", "Bearer " + token);
  }

  private Path resource(String name) throws IOException {
    Path out = tmp.resolve(name.replace('/', '_'));
    try (InputStream in = getClass().getResourceAsStream("/" + name)) {
      assertThat(in).as("test resource " + name).isNotNull();
      Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
    }
    return out;
  }

  private static String yamlPath(Path p) {
    // Single-quoted YAML scalars take backslashes literally; quotes are doubled.
    return "'" + p.toString().replace("'", "''") + "'";
  }

  @Nested
  class Defaults {
    @Test
    void noFileGivesTheEmbeddedDefaults() {
      SluiceConfig c = NO_ENV.load((Path) null, ConfigLoader.Overrides.NONE);

      assertThat(c.receiver().server().address())
          .isEqualTo(new InetSocketAddress("127.0.0.1", 4318));
      assertThat(c.admin()).isEqualTo(new InetSocketAddress("127.0.0.1", 8888));
      assertThat(c.dataDir()).isEqualTo(Path.of("./data"));
      assertThat(c.receiver().maxRequestBodySize()).isEqualTo(64L * 1024 * 1024);
      assertThat(c.receiver().path(Signal.TRACES)).isEqualTo("/v1/traces");
      assertThat(c.receiver().path(Signal.METRICS)).isEqualTo("/v1/metrics");
      assertThat(c.receiver().path(Signal.LOGS)).isEqualTo("/v1/logs");
      assertThat(c.receiver().auth()).isNull();
      assertThat(c.receiver().cors().enabled()).isFalse();
      assertThat(c.receiver().server().tls()).isNull();
      assertThat(c.receiver().server().http2()).isTrue();
      assertThat(c.maxInFlightBytes()).isEqualTo(256L * 1024 * 1024);

      assertThat(c.exporters()).hasSize(1);
      Exporter e = make(c.exporters().get(0));
      assertThat(e).isInstanceOf(FileExporter.class);
      FileExporter f = (FileExporter) e;
      assertThat(f.name()).isEqualTo("file");
      assertThat(f.directory().normalize()).isEqualTo(Path.of("data", "export"));
      assertThat(f.maxBytes()).isEqualTo(100L * 1024 * 1024);
      assertThat(f.maxBackups()).isEqualTo(100);
    }

    @Test
    void anEmptyFileIsTheDefaults() throws IOException {
      Path file = Files.writeString(tmp.resolve("empty.yaml"), "# nothing but a comment\n");
      SluiceConfig c = NO_ENV.load(file, ConfigLoader.Overrides.NONE);
      assertThat(c.receiver().server().address())
          .isEqualTo(new InetSocketAddress("127.0.0.1", 4318));
      assertThat(c.exporters()).hasSize(1);
    }

    @Test
    void theDefaultFileExporterFollowsDataDir() {
      SluiceConfig c = load("data_dir: /var/lib/sluice\n");
      FileExporter f = (FileExporter) make(c.exporters().get(0));
      assertThat(f.directory()).isEqualTo(Path.of("/var/lib/sluice", "export"));
    }
  }

  @Test
  void everyKeyIsReadIntoItsSetting() throws IOException {
    Path cert = resource("tls/server.crt");
    Path key = resource("tls/server.key");
    Path tokenFile = Files.writeString(tmp.resolve("token"), "  token-from-a-file-0002\n");
    Path credentialsFile = Files.writeString(tmp.resolve("credentials"),
        "# tenant:token\n\nteam-c:token-from-credentials-3\n  team-d : token-from-credentials-4 \n");
    Path exportDir = tmp.resolve("out");
    String yaml = ""
        + "data_dir: " + yamlPath(tmp.resolve("data")) + "\n"
        + "admin:\n"
        + "  endpoint: 127.0.0.1:9999\n"
        + "receivers:\n"
        + "  otlp:\n"
        + "    endpoint: 0.0.0.0:14318\n"
        + "    traces_url_path: /t\n"
        + "    metrics_url_path: /m\n"
        + "    logs_url_path: /l\n"
        + "    max_request_body_size: 8MiB\n"
        + "    http2: false\n"
        + "    max_header_size: 16KiB\n"
        + "    max_header_count: 50\n"
        + "    read_header_timeout: 750ms\n"
        + "    read_timeout: 20s\n"
        + "    idle_timeout: 3m\n"
        + "    max_connections: 321\n"
        + "    max_concurrent_streams: 77\n"
        + "    io_threads: 3\n"
        + "    tls:\n"
        + "      cert_file: " + yamlPath(cert) + "\n"
        + "      key_file: " + yamlPath(key) + "\n"
        + "      client_ca_file: " + yamlPath(cert) + "\n"
        + "      min_version: \"1.3\"\n"
        + "    cors:\n"
        + "      allowed_origins: [\"https://app.example.com\", \"https://*.example.org\"]\n"
        + "      allowed_headers: [X-Custom]\n"
        + "      max_age: 600\n"
        + "    auth:\n"
        + "      api_key_header: X-Sluice-Key\n"
        + "      credentials:\n"
        + "        - tenant: team-a\n"
        + "          token: token-inline-00001\n"
        + "        - tenant: team-b\n"
        + "          token_file: " + yamlPath(tokenFile) + "\n"
        + "      credentials_file: " + yamlPath(credentialsFile) + "\n"
        + "pipeline:\n"
        + "  max_in_flight_bytes: 32MiB\n"
        + "exporters:\n"
        + "  file/main:\n"
        + "    path: " + yamlPath(exportDir) + "\n"
        + "    rotation:\n"
        + "      max_megabytes: 7\n"
        + "      max_backups: 3\n"
        + "  debug:\n"
        + "    verbosity: detailed\n"
        + "    sampling_initial: 5\n"
        + "    sampling_thereafter: 10\n";

    SluiceConfig c = load(yaml);

    assertThat(c.dataDir()).isEqualTo(tmp.resolve("data"));
    assertThat(c.admin()).isEqualTo(new InetSocketAddress("127.0.0.1", 9999));
    assertThat(c.maxInFlightBytes()).isEqualTo(32L * 1024 * 1024);

    OtlpHttpReceiverSettings r = c.receiver();
    assertThat(r.server().address()).isEqualTo(new InetSocketAddress("0.0.0.0", 14318));
    assertThat(r.path(Signal.TRACES)).isEqualTo("/t");
    assertThat(r.path(Signal.METRICS)).isEqualTo("/m");
    assertThat(r.path(Signal.LOGS)).isEqualTo("/l");
    assertThat(r.maxRequestBodySize()).isEqualTo(8L * 1024 * 1024);
    assertThat(r.server().http2()).isFalse();
    assertThat(r.server().maxHeaderSize()).isEqualTo(16 * 1024);
    assertThat(r.server().maxHeaderCount()).isEqualTo(50);
    assertThat(r.server().headerTimeout()).isEqualTo(Duration.ofMillis(750));
    assertThat(r.server().bodyTimeout()).isEqualTo(Duration.ofSeconds(20));
    assertThat(r.server().idleTimeout()).isEqualTo(Duration.ofMinutes(3));
    assertThat(r.server().maxConnections()).isEqualTo(321);
    assertThat(r.server().maxConcurrentStreams()).isEqualTo(77);
    assertThat(r.server().ioThreads()).isEqualTo(3);

    assertThat(r.server().tls()).isNotNull();
    assertThat(r.server().tls().certFile()).isEqualTo(cert);
    assertThat(r.server().tls().keyFile()).isEqualTo(key);
    assertThat(r.server().tls().clientCaFile()).isEqualTo(cert);
    assertThat(r.server().tls().mutual()).isTrue();
    assertThat(r.server().tls().toString()).contains("min 1.3");

    assertThat(r.cors().enabled()).isTrue();
    assertThat(r.cors().allows("https://app.example.com")).isTrue();
    assertThat(r.cors().allows("https://eu.example.org")).isTrue();
    assertThat(r.cors().allows("https://example.net")).isFalse();
    HttpHeaders preflight = new DefaultHttpHeaders()
        .set("Origin", "https://app.example.com")
        .set("Access-Control-Request-Method", "POST")
        .set("Access-Control-Request-Headers", "content-type, x-custom");
    HttpHeaders answer = new DefaultHttpHeaders();
    assertThat(r.cors().preflight(preflight, answer)).isNull();
    assertThat(answer.get("Access-Control-Max-Age")).isEqualTo("600");

    Authenticator auth = r.auth();
    assertThat(auth).isNotNull();
    assertThat(auth.apiKeyHeader()).isEqualTo("x-sluice-key");
    assertThat(auth.authenticate(bearer("token-inline-00001")).tenant()).isEqualTo("team-a");
    assertThat(auth.authenticate(bearer("token-from-a-file-0002")).tenant()).isEqualTo("team-b");
    assertThat(auth.authenticate(bearer("token-from-credentials-3")).tenant())
        .isEqualTo("team-c");
    assertThat(auth.authenticate(new DefaultHttpHeaders()
        .set("X-Sluice-Key", "token-from-credentials-4")).tenant()).isEqualTo("team-d");
    assertThat(auth.authenticate(bearer("not-a-configured-token")).ok()).isFalse();

    assertThat(c.exporters()).extracting(SluiceConfig.ExporterSpec::name)
        .containsExactly("file/main", "debug");
    FileExporter file = (FileExporter) make(c.exporters().get(0));
    assertThat(file.name()).isEqualTo("file/main");
    assertThat(file.directory()).isEqualTo(exportDir);
    assertThat(file.maxBytes()).isEqualTo(7L * 1024 * 1024);
    assertThat(file.maxBackups()).isEqualTo(3);
    DebugExporter debug = (DebugExporter) make(c.exporters().get(1));
    assertThat(debug.name()).isEqualTo("debug");
    assertThat(debug.verbosity()).isEqualTo(DebugExporter.Verbosity.DETAILED);
  }

  @Nested
  class Values {
    @ParameterizedTest
    @CsvSource({
      "64MiB, 67108864",
      "512KiB, 524288",
      "1GiB, 1073741824",
      "1048576, 1048576",
      "3MB, 3000000",
      "5KB, 5000",
      "2 MiB, 2097152",
      "8mib, 8388608",
    })
    void sizes(String text, long bytes) {
      SluiceConfig c = load("receivers:\n  otlp:\n    max_request_body_size: \"" + text + "\"\n");
      assertThat(c.receiver().maxRequestBodySize()).isEqualTo(bytes);
    }

    @Test
    void sizesLargerThanAnInt() {
      assertThat(load("pipeline:\n  max_in_flight_bytes: 8GiB\n").maxInFlightBytes())
          .isEqualTo(8L * 1024 * 1024 * 1024);
    }

    @Test
    void sizesOutsideTheirRangeAreProblems() {
      assertThat(problems("pipeline:\n  max_in_flight_bytes: 512KiB\n"
          + "receivers:\n  otlp:\n    max_request_body_size: 2GiB\n"))
          .containsExactlyInAnyOrder(
              "pipeline.max_in_flight_bytes: must be between 1048576 and 9223372036854775807 "
                  + "bytes, not 524288",
              "receivers.otlp.max_request_body_size: must be between 1 and 1073741824 bytes, "
                  + "not 2147483648");
    }

    @Test
    void aSizeMayBeAPlainYamlNumber() {
      SluiceConfig c = load("receivers:\n  otlp:\n    max_request_body_size: 1000\n");
      assertThat(c.receiver().maxRequestBodySize()).isEqualTo(1000);
    }

    @ParameterizedTest
    @CsvSource({"64 MiBs", "1.5MiB", "-5", "lots", "0"})
    void badSizesAreProblems(String text) {
      assertThat(problems("receivers:\n  otlp:\n    max_request_body_size: \"" + text + "\"\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.max_request_body_size: ");
    }

    @Test
    void aSizeTooLargeForALongIsAProblemNotACrash() {
      assertThat(problems("pipeline:\n  max_in_flight_bytes: 99999999999999999999GiB\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("pipeline.max_in_flight_bytes: ");
      assertThat(problems("pipeline:\n  max_in_flight_bytes: 99999999999999999999\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("pipeline.max_in_flight_bytes: ");
    }

    @ParameterizedTest
    @CsvSource({"500ms, PT0.5S", "10s, PT10S", "5m, PT5M", "2h, PT2H"})
    void durations(String text, Duration expected) {
      SluiceConfig c = load("receivers:\n  otlp:\n    idle_timeout: " + text + "\n");
      assertThat(c.receiver().server().idleTimeout()).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource({"10", "1.5s", "0s", "10 seconds", "-1s", "s"})
    void badDurationsAreProblems(String text) {
      assertThat(problems("receivers:\n  otlp:\n    read_timeout: \"" + text + "\"\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.read_timeout: ");
    }

    @Test
    void aDurationTooLargeIsAProblemNotACrash() {
      assertThat(problems("receivers:\n  otlp:\n    read_timeout: 99999999999999999999h\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.read_timeout: ");
      assertThat(problems("receivers:\n  otlp:\n    read_timeout: 9223372036854775807h\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.read_timeout: ");
      // Fits in a Duration, but not in the nanoseconds that timers count in.
      assertThat(problems("receivers:\n  otlp:\n    idle_timeout: 3000000h\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.idle_timeout: ");
    }

    @Test
    void integersOutsideTheirRangeAreProblems() {
      assertThat(problems("receivers:\n  otlp:\n    max_connections: 0\n"
          + "    max_header_count: many\n"
          + "    max_concurrent_streams: 18446744073709551617\n"))
          .containsExactlyInAnyOrder(
              "receivers.otlp.max_connections: must be between 1 and 1000000, not 0",
              "receivers.otlp.max_header_count: must be a whole number, not \"many\"",
              "receivers.otlp.max_concurrent_streams: must be between 1 and 10000, not "
                  + "18446744073709551617");
    }

    @Test
    void booleans() {
      assertThat(load("receivers:\n  otlp:\n    http2: \"false\"\n").receiver().server().http2())
          .isFalse();
      assertThat(problems("receivers:\n  otlp:\n    http2: maybe\n"))
          .containsExactly("receivers.otlp.http2: must be true or false, not \"maybe\"");
    }

    @ParameterizedTest
    @CsvSource({
      "'[::1]:4318', ::1, 4318",
      "'localhost:0', localhost, 0",
      "'10.1.2.3:65535', 10.1.2.3, 65535",
    })
    void endpoints(String text, String host, int port) {
      InetSocketAddress a = load("admin:\n  endpoint: \"" + text + "\"\n").admin();
      assertThat(a).isEqualTo(new InetSocketAddress(host, port));
    }

    @Test
    void anEndpointWithoutAHostListensOnEveryInterface() {
      InetSocketAddress a = load("admin:\n  endpoint: \":9000\"\n").admin();
      assertThat(a.getAddress().isAnyLocalAddress()).isTrue();
      assertThat(a.getPort()).isEqualTo(9000);
    }

    @ParameterizedTest
    @CsvSource({"4318", "host:port", "host:70000", "host:-1", "''"})
    void badEndpointsAreProblems(String text) {
      assertThat(problems("receivers:\n  otlp:\n    endpoint: \"" + text + "\"\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.endpoint: ")
          .contains(text);
    }

    @Test
    void twoSignalsCannotShareAPath() {
      assertThat(problems("receivers:\n  otlp:\n    logs_url_path: /v1/traces\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.logs_url_path: ")
          .contains("/v1/traces");
    }

    @Test
    void aPathMustStartWithASlash() {
      assertThat(problems("receivers:\n  otlp:\n    traces_url_path: v1/traces\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.traces_url_path: ");
    }

    @Test
    void aSectionGivenAsAValueIsAProblem() {
      assertThat(problems("receivers:\n  otlp: yes please\n"))
          .containsExactly("receivers.otlp: must be a section of keys, not \"yes please\"");
      assertThat(problems("data_dir: [a, b]\n"))
          .containsExactly("data_dir: must be a single value, not a list");
    }
  }

  @Nested
  class Environment {
    private final ConfigLoader loader = new ConfigLoader(Map.of(
        "OTLP_PORT", "24318",
        "DATA", "/srv/sluice",
        "TOKEN", "secret-from-env-123",
        "EMPTY", ""));

    private SluiceConfig loadWithEnv(String yaml) {
      return loader.load("env.yaml", yaml, ConfigLoader.Overrides.NONE);
    }

    @Test
    void aSetVariableIsSubstituted() {
      SluiceConfig c = loadWithEnv("data_dir: ${env:DATA}\n"
          + "receivers:\n  otlp:\n    endpoint: 127.0.0.1:${env:OTLP_PORT}\n");
      assertThat(c.dataDir()).isEqualTo(Path.of("/srv/sluice"));
      assertThat(c.receiver().server().address().getPort()).isEqualTo(24318);
    }

    @Test
    void aWholeValueFromTheEnvironmentIsTypedLikeTheKeyNeeds() {
      SluiceConfig c = new ConfigLoader(Map.of("CONNS", "42", "H2", "false", "BODY", "1MiB"))
          .load("env.yaml", "receivers:\n  otlp:\n    max_connections: ${env:CONNS}\n"
              + "    http2: ${env:H2}\n    max_request_body_size: ${env:BODY}\n",
              ConfigLoader.Overrides.NONE);
      assertThat(c.receiver().server().maxConnections()).isEqualTo(42);
      assertThat(c.receiver().server().http2()).isFalse();
      assertThat(c.receiver().maxRequestBodySize()).isEqualTo(1024 * 1024);
    }

    @Test
    void theDefaultAppliesOnlyWhenTheVariableIsUnset() {
      SluiceConfig c = loadWithEnv("data_dir: ${env:NOT_SET:-/opt/default}\n"
          + "admin:\n  endpoint: 127.0.0.1:${env:OTLP_PORT:-1}\n");
      assertThat(c.dataDir()).isEqualTo(Path.of("/opt/default"));
      assertThat(c.admin().getPort()).isEqualTo(24318);
    }

    @Test
    void anEmptyDefaultIsAllowed() {
      SluiceConfig c = loadWithEnv("data_dir: /x${env:NOT_SET:-}/y\n");
      assertThat(c.dataDir()).isEqualTo(Path.of("/x/y"));
    }

    @Test
    void aMissingVariableIsAProblemNamingTheKeyPathAndTheVariable() {
      assertThat(problems(loader, "receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - tenant: a\n          token: ${env:TENANT_A_TOKEN}\n"
          + "admin:\n  endpoint: ${env:ADMIN_ADDR}\n"))
          .containsExactlyInAnyOrder(
              "receivers.otlp.auth.credentials[0].token: environment variable TENANT_A_TOKEN "
                  + "is not set",
              "admin.endpoint: environment variable ADMIN_ADDR is not set");
    }

    @Test
    void aMissingVariableIsReportedTogetherWithEveryOtherProblemAndOnlyOnce() {
      assertThat(problems(loader, "receivers:\n  otlp:\n"
          + "    endpoint: ${env:LISTEN}\n"
          + "    max_connections: lots\n"
          + "    auth:\n      credentials:\n"
          + "        - tenant: a\n          token: ${env:A_TOKEN}\n"
          + "    cors:\n      allowed_origins: [\"${env:ORIGIN}\"]\n"
          + "    tls:\n      cert_file: ${env:CERT}\n      key_file: /k\n"
          + "surprise: 1\n"
          + "admin:\n  endpiont: ${env:ADMIN}\n"))
          .containsExactlyInAnyOrder(
              "receivers.otlp.endpoint: environment variable LISTEN is not set",
              "receivers.otlp.auth.credentials[0].token: environment variable A_TOKEN is not set",
              "receivers.otlp.cors.allowed_origins[0]: environment variable ORIGIN is not set",
              "receivers.otlp.tls.cert_file: environment variable CERT is not set",
              "receivers.otlp.max_connections: must be a whole number, not \"lots\"",
              "admin.endpiont: environment variable ADMIN is not set",
              "admin.endpiont: unknown key (known here: endpoint)",
              "surprise: unknown key (known here: data_dir, admin, receivers, pipeline, "
                  + "exporters, bridges, proxy)");
    }

    @Test
    void aDoubleDollarIsALiteralDollar() {
      SluiceConfig c = loadWithEnv("data_dir: /a$$b/$${env:DATA}/$$$$\n");
      assertThat(c.dataDir()).isEqualTo(Path.of("/a$b/${env:DATA}/$$"));
    }

    @Test
    void aLoneDollarStaysAsItIs() {
      SluiceConfig c = loadWithEnv("data_dir: /cost$5\n");
      assertThat(c.dataDir()).isEqualTo(Path.of("/cost$5"));
    }

    @Test
    void aBraceReferenceThatIsNotAnEnvReferenceIsAProblem() {
      // Left alone, "${TOKEN}" would silently become an 8-character secret.
      assertThat(problems(loader, "receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - tenant: a\n          token: ${TOKEN}\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.auth.credentials[0].token: ")
          .contains("${TOKEN}", "${env:TOKEN}", "$$");
    }

    @Test
    void variablesAreSubstitutedInLists() {
      SluiceConfig c = new ConfigLoader(Map.of("ORIGIN", "https://ui.example.com"))
          .load("env.yaml", "receivers:\n  otlp:\n    cors:\n"
              + "      allowed_origins: [\"${env:ORIGIN}\"]\n", ConfigLoader.Overrides.NONE);
      assertThat(c.receiver().cors().allows("https://ui.example.com")).isTrue();
    }

    @Test
    void aTokenFromTheEnvironment() {
      SluiceConfig c = loadWithEnv("receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - tenant: a\n          token: ${env:TOKEN}\n");
      assertThat(c.receiver().auth().authenticate(bearer("secret-from-env-123")).tenant())
          .isEqualTo("a");
    }
  }

  @Nested
  class Overrides {
    private static final String FILE = "data_dir: /from/file\n"
        + "admin:\n  endpoint: 127.0.0.1:1111\n"
        + "receivers:\n  otlp:\n    endpoint: 127.0.0.1:2222\n    max_connections: 5\n";

    @Test
    void flagsBeatTheFile() {
      SluiceConfig c = NO_ENV.load("f.yaml", FILE,
          new ConfigLoader.Overrides("127.0.0.1:3333", "127.0.0.1:4444", "/from/flag"));
      assertThat(c.receiver().server().address().getPort()).isEqualTo(3333);
      assertThat(c.admin().getPort()).isEqualTo(4444);
      assertThat(c.dataDir()).isEqualTo(Path.of("/from/flag"));
      // Only what the flags name is replaced.
      assertThat(c.receiver().server().maxConnections()).isEqualTo(5);
    }

    @Test
    void nullFlagsKeepTheFile() {
      SluiceConfig c = NO_ENV.load("f.yaml", FILE, new ConfigLoader.Overrides(null, null, null));
      assertThat(c.receiver().server().address().getPort()).isEqualTo(2222);
      assertThat(c.admin().getPort()).isEqualTo(1111);
      assertThat(c.dataDir()).isEqualTo(Path.of("/from/file"));
    }

    @Test
    void flagsApplyToTheDefaults() {
      SluiceConfig c = NO_ENV.load((Path) null,
          new ConfigLoader.Overrides("127.0.0.1:0", "127.0.0.1:0", tmpDir().toString()));
      assertThat(c.receiver().server().address().getPort()).isZero();
      assertThat(c.admin().getPort()).isZero();
      FileExporter f = (FileExporter) make(c.exporters().get(0));
      assertThat(f.directory()).isEqualTo(tmpDir().resolve("export"));
    }

    @Test
    void aBadFlagIsReportedUnderItsKey() {
      assertThatThrownBy(() -> NO_ENV.load((Path) null,
          new ConfigLoader.Overrides("nope", null, null)))
          .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems())
              .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
              .startsWith("receivers.otlp.endpoint: ")
              .contains("nope"));
    }

    private Path tmpDir() {
      return tmp;
    }
  }

  @Nested
  class Errors {
    @Test
    void everyProblemIsCollectedWithItsFullKeyPath() {
      List<String> p = problems("receivers:\n"
          + "  otlp:\n"
          + "    max_request_body_size: huge\n"
          + "    cors:\n"
          + "      allowed_origins: [\"app.example.com\"]\n"
          + "exporters:\n"
          + "  debug:\n"
          + "    verbosity: loud\n");
      assertThat(p).hasSize(3);
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.max_request_body_size: ").contains("huge"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.cors.allowed_origins: ").contains("app.example.com"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("exporters.debug.verbosity: ").contains("loud", "none", "basic",
              "detailed"));
    }

    @Test
    void theExceptionMessageListsEveryProblem() {
      assertThatThrownBy(() -> load("admin:\n  endpoint: x\npipeline:\n  max_in_flight_bytes: 1\n"))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining("2 problems")
          .hasMessageContaining("admin.endpoint: ")
          .hasMessageContaining("pipeline.max_in_flight_bytes: ");
    }

    @Test
    void unknownKeysAtEveryLevelAreReportedWithTheirPath() throws IOException {
      Path cert = resource("tls/server.crt");
      Path key = resource("tls/server.key");
      List<String> p = problems(""
          + "verbose: true\n"
          + "admin:\n  endpoint: 127.0.0.1:0\n  port: 1\n"
          + "pipeline:\n  queues: 5\n"
          + "receivers:\n"
          + "  grpc: {}\n"
          + "  otlp:\n"
          + "    endpont: 127.0.0.1:0\n"
          + "    tls:\n"
          + "      cert_file: " + yamlPath(cert) + "\n"
          + "      key_file: " + yamlPath(key) + "\n"
          + "      ca_file: x\n"
          + "    cors:\n"
          + "      allowed_origin: [\"*\"]\n"
          + "    auth:\n"
          + "      header: X-Key\n"
          + "      credentials:\n"
          + "        - tenant: a\n"
          + "          token: long-enough-token\n"
          + "          secret: x\n"
          + "exporters:\n"
          + "  file:\n"
          + "    directory: /x\n"
          + "    rotation:\n"
          + "      max_size: 5\n"
          + "  debug:\n"
          + "    level: detailed\n");
      assertThat(p).extracting(s -> s.substring(0, s.indexOf(": ")))
          .containsExactlyInAnyOrder(
              "verbose",
              "admin.port",
              "pipeline.queues",
              "receivers.grpc",
              "receivers.otlp.endpont",
              "receivers.otlp.tls.ca_file",
              "receivers.otlp.cors.allowed_origin",
              "receivers.otlp.auth.header",
              "receivers.otlp.auth.credentials[0].secret",
              "exporters.file.directory",
              "exporters.file.rotation.max_size",
              "exporters.debug.level");
      assertThat(p).allSatisfy(s -> assertThat(s).contains("unknown key"));
      // The message helps: it lists the keys that are known there.
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("exporters.file.rotation.max_size: ")
          .contains("max_megabytes", "max_backups"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.endpont: ").contains("endpoint"));
    }

    @Test
    void anUnknownExporterType() {
      assertThat(problems("exporters:\n  prometheus/main:\n    endpoint: a\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("exporters.prometheus/main: ")
          .contains("unknown exporter type prometheus", "file", "debug", "otlphttp", "kafka");
    }

    @Test
    void anEmptyExportersSectionIsAProblem() {
      assertThat(problems("exporters: {}\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("exporters: ");
    }

    @Test
    void twoFileExportersCannotWriteTheSameDirectory() {
      assertThat(problems("data_dir: /d\nexporters:\n  file/a: {}\n  file/b:\n"
          + "    path: /d/export\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("exporters.file/b.path: ")
          .contains("file/a");
    }

    @Test
    void severalNamedExportersOfOneType() {
      SluiceConfig c = load("exporters:\n  file/a:\n    path: /a\n  file/b:\n    path: /b\n"
          + "  debug/x: {}\n  debug/y:\n    verbosity: none\n");
      assertThat(c.exporters()).extracting(SluiceConfig.ExporterSpec::name)
          .containsExactly("file/a", "file/b", "debug/x", "debug/y");
      assertThat(((DebugExporter) make(c.exporters().get(2))).verbosity())
          .isEqualTo(DebugExporter.Verbosity.BASIC);
      assertThat(((DebugExporter) make(c.exporters().get(3))).verbosity())
          .isEqualTo(DebugExporter.Verbosity.NONE);
    }

    @Test
    void tlsWithMissingFilesNamesTheFile() throws IOException {
      Path key = resource("tls/server.key");
      Path missing = tmp.resolve("no-such-cert.pem");
      assertThat(problems("receivers:\n  otlp:\n    tls:\n      cert_file: " + yamlPath(missing)
          + "\n      key_file: " + yamlPath(key) + "\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.tls")
          .contains("cert_file", missing.toString());
    }

    @Test
    void tlsWithAMissingClientCaNamesTheFile() throws IOException {
      Path cert = resource("tls/server.crt");
      Path key = resource("tls/server.key");
      Path missing = tmp.resolve("no-such-ca.pem");
      assertThat(problems("receivers:\n  otlp:\n    tls:\n      cert_file: " + yamlPath(cert)
          + "\n      key_file: " + yamlPath(key) + "\n      client_ca_file: " + yamlPath(missing)
          + "\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.tls")
          .contains("client_ca_file", missing.toString());
    }

    @Test
    void tlsWithAFileThatIsNotPemNamesTheFile() throws IOException {
      Path key = resource("tls/server.key");
      Path garbage = Files.writeString(tmp.resolve("garbage.crt"), "not a certificate\n");
      assertThat(problems("receivers:\n  otlp:\n    tls:\n      cert_file: " + yamlPath(garbage)
          + "\n      key_file: " + yamlPath(key) + "\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.tls")
          .contains(garbage.toString());
    }

    @Test
    void tlsNeedsACertificateAndAKey() {
      assertThat(problems("receivers:\n  otlp:\n    tls:\n      min_version: \"1.1\"\n"))
          .containsExactlyInAnyOrder(
              "receivers.otlp.tls.cert_file: is required when tls is configured",
              "receivers.otlp.tls.key_file: is required when tls is configured",
              "receivers.otlp.tls.min_version: must be one of 1.2, 1.3, not 1.1");
    }

    @Test
    void invalidYamlReportsLineAndColumn() {
      assertThatThrownBy(() -> load("receivers:\n  otlp:\n    endpoint: [unclosed\n"
          + "admin: x\n"))
          .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems())
              .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
              .startsWith("test.yaml: not valid YAML")
              .containsPattern("line \\d+, column \\d+"));
      // A tab used for indentation, on the third line.
      assertThatThrownBy(() -> load("receivers:\n  otlp:\n\tendpoint: x\n"))
          .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems())
              .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
              .contains("not valid YAML", "line 3, column 1"));
    }

    @Test
    void aDuplicateKeyIsAProblem() {
      // YAML forbids it, and silently taking the last one hides a mistake.
      assertThat(problems("admin:\n  endpoint: 127.0.0.1:1\n  endpoint: 127.0.0.1:2\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .contains("endpoint", "line 3");
    }

    @Test
    void theTopLevelMustBeASection() {
      assertThat(problems("- a\n- b\n"))
          .containsExactly("test.yaml: the top level must be a section of keys");
    }

    @Test
    void aFileThatDoesNotExistIsAClearProblem() {
      Path missing = tmp.resolve("nope.yaml");
      assertThatThrownBy(() -> NO_ENV.load(missing, ConfigLoader.Overrides.NONE))
          .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems())
              .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
              .startsWith(missing.toString())
              .contains("does not exist"));
    }
  }

  @Nested
  class Auth {
    @Test
    void credentialsFromATokenATokenFileAndACredentialsFile() throws IOException {
      Path tokenFile = Files.writeString(tmp.resolve("t"), "file-token-123456\n");
      Path creds = Files.writeString(tmp.resolve("creds"),
          "# comment\nc:creds-token-123456\n\nd:creds-token-with:colon\n");
      Authenticator a = load("receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - {tenant: a, token: inline-token-123456}\n"
          + "        - {tenant: b, token_file: " + yamlPath(tokenFile) + "}\n"
          + "      credentials_file: " + yamlPath(creds) + "\n").receiver().auth();
      assertThat(a.authenticate(bearer("inline-token-123456")).tenant()).isEqualTo("a");
      assertThat(a.authenticate(bearer("file-token-123456")).tenant()).isEqualTo("b");
      assertThat(a.authenticate(bearer("creds-token-123456")).tenant()).isEqualTo("c");
      assertThat(a.authenticate(bearer("creds-token-with:colon")).tenant()).isEqualTo("d");
      // The default API key header.
      assertThat(a.authenticate(new DefaultHttpHeaders().set("X-API-Key",
          "inline-token-123456")).tenant()).isEqualTo("a");
    }

    @Test
    void aCredentialsFileAlone() throws IOException {
      Path creds = Files.writeString(tmp.resolve("creds"), "only:only-token-1234\n");
      Authenticator a = load("receivers:\n  otlp:\n    auth:\n      credentials_file: "
          + yamlPath(creds) + "\n").receiver().auth();
      assertThat(a.authenticate(bearer("only-token-1234")).tenant()).isEqualTo("only");
    }

    @Test
    void aShortSecretIsRejected() throws IOException {
      Path creds = Files.writeString(tmp.resolve("creds"), "c:short\n");
      List<String> p = problems("receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - {tenant: a, token: \"1234567\"}\n"
          + "      credentials_file: " + yamlPath(creds) + "\n");
      assertThat(p).hasSize(2);
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials[0]: ").contains("shorter than 8"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials_file: ")
          .contains(creds.toString(), "line 1", "shorter than 8"));
      assertThat(String.join("\n", p)).doesNotContain("1234567", "short\n");
    }

    @Test
    void eightCharactersAreEnough() {
      Authenticator a = load("receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - {tenant: a, token: \"12345678\"}\n").receiver().auth();
      assertThat(a.authenticate(bearer("12345678")).tenant()).isEqualTo("a");
    }

    @Test
    void everyMistakeInCredentialsIsReported() throws IOException {
      Path creds = Files.writeString(tmp.resolve("creds"), "no-colon-here\n:no-tenant-token\n");
      Path missingToken = tmp.resolve("missing-token");
      List<String> p = problems("receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - {token: tenantless-token}\n"
          + "        - {tenant: b}\n"
          + "        - {tenant: c, token: both-token-123, token_file: /x}\n"
          + "        - {tenant: d, token_file: " + yamlPath(missingToken) + "}\n"
          + "        - just a string\n"
          + "      credentials_file: " + yamlPath(creds) + "\n");
      assertThat(p).anySatisfy(s -> assertThat(s)
          .isEqualTo("receivers.otlp.auth.credentials[0].tenant: is required"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials[1]: ").contains("token", "token_file"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials[2]: ").contains("exactly one"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials[3].token_file: ")
          .contains(missingToken.toString()));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials[4]: ").contains("section"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials_file: ").contains("line 1"));
      assertThat(p).anySatisfy(s -> assertThat(s)
          .startsWith("receivers.otlp.auth.credentials_file: ").contains("line 2"));
    }

    @Test
    void aMissingCredentialsFileNamesIt() {
      Path missing = tmp.resolve("nope");
      assertThat(problems("receivers:\n  otlp:\n    auth:\n      credentials_file: "
          + yamlPath(missing) + "\n"))
          .anySatisfy(s -> assertThat(s).startsWith("receivers.otlp.auth.credentials_file: ")
              .contains(missing.toString()));
    }

    @Test
    void authWithoutCredentialsIsAProblem() {
      assertThat(problems("receivers:\n  otlp:\n    auth:\n      api_key_header: X-Key\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.auth: ")
          .contains("no credentials");
    }

    @Test
    void oneSecretForTwoTenantsIsAProblem() {
      // Otherwise the second tenant's data would silently be counted as the first's.
      assertThat(problems("receivers:\n  otlp:\n    auth:\n      credentials:\n"
          + "        - {tenant: a, token: shared-token-123}\n"
          + "        - {tenant: b, token: shared-token-123}\n"))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .startsWith("receivers.otlp.auth.credentials[1]: ")
          .contains("tenant a")
          .doesNotContain("shared-token-123");
    }
  }

  @Test
  void aConfigFileIsReadAsUtf8() throws IOException {
    Path file = tmp.resolve("utf8.yaml");
    Files.write(file, "data_dir: /données/ключ\n".getBytes(StandardCharsets.UTF_8));
    assertThat(NO_ENV.load(file, ConfigLoader.Overrides.NONE).dataDir())
        .isEqualTo(Path.of("/données/ключ"));
  }

  @Test
  void authAddsItsHeadersToTheCorsAllowedHeaders() {
    SluiceConfig c = load(String.join("\n",
        "receivers:",
        "  otlp:",
        "    cors:",
        "      allowed_origins: [https://app.example.com]",
        "    auth:",
        "      api_key_header: X-Team-Key",
        "      credentials:",
        "        - tenant: a",
        "          token: abcdefgh12345"));
    io.netty.handler.codec.http.HttpHeaders req = new io.netty.handler.codec.http.DefaultHttpHeaders()
        .set("Origin", "https://app.example.com")
        .set("Access-Control-Request-Method", "POST")
        .set("Access-Control-Request-Headers", "content-type, authorization, x-team-key");
    io.netty.handler.codec.http.HttpHeaders resp =
        new io.netty.handler.codec.http.DefaultHttpHeaders();
    assertThat(c.receiver().cors().preflight(req, resp)).isNull();
    assertThat(resp.get("Access-Control-Allow-Headers")).contains("authorization", "x-team-key");
  }

  @Test
  void kafkaExporterIsReadAndCheckedWithoutConnecting() {
    SluiceConfig c = load(String.join("\n",
        "exporters:",
        "  kafka:",
        "    brokers: [127.0.0.1:9092, 127.0.0.1:9093]",
        "    traces:",
        "      topic: edge_spans",
        "    encoding: otlp_json",
        "    producer:",
        "      compression: zstd",
        "      max_message_bytes: 2MiB",
        "      linger: 10ms",
        "      properties:",
        "        security.protocol: SASL_SSL",
        "        sasl.mechanism: SCRAM-SHA-512",
        "        sasl.jaas.config: \"org.apache.kafka.common.security.scram.ScramLoginModule"
            + " required username='u' password='p';\""));
    assertThat(c.exporters()).singleElement().satisfies(e -> {
      assertThat(e.name()).isEqualTo("kafka");
      assertThat(e.description()).contains("127.0.0.1:9092,127.0.0.1:9093");
    });
    assertThat(c.exporters().get(0).factory().apply(null).toString())
        .contains("edge_spans").doesNotContain("password='p'");
  }

  @Test
  void kafkaExporterProblemsNameTheirKeys() {
    List<String> p = problems(String.join("\n",
        "exporters:",
        "  kafka:",
        "    encoding: avro",
        "    producer:",
        "      compression: brotli",
        "      acks: 1"));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("exporters.kafka.brokers: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("exporters.kafka.encoding: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("exporters.kafka.producer.compression: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("exporters.kafka.producer.acks: unknown key"));
    List<String> bad = problems(String.join("\n",
        "exporters:",
        "  kafka:",
        "    brokers: [127.0.0.1:9092]",
        "    producer:",
        "      properties:",
        "        acks: \"0\""));
    assertThat(bad).singleElement().satisfies(x -> assertThat(x).startsWith("exporters.kafka.producer: "));
  }

  @Test
  void kafkaReceiverIsReadAndCheckedWithoutConnecting() {
    SluiceConfig c = load(String.join("\n",
        "receivers:",
        "  kafka:",
        "    brokers: [127.0.0.1:9092]",
        "    group_id: ingest",
        "    initial_offset: earliest",
        "    traces:",
        "      topics: [edge_spans, more_spans]",
        "    metrics:",
        "      topic: edge_metrics",
        "    consumer:",
        "      properties:",
        "        security.protocol: SSL"));
    assertThat(c.kafkaReceiver()).isNotNull();
    assertThat(c.kafkaReceiver().description()).contains("127.0.0.1:9092").contains("ingest");
    List<String> p = problems(String.join("\n",
        "receivers:",
        "  kafka:",
        "    initial_offset: middle",
        "    encoding: avro",
        "    consumer:",
        "      properties:",
        "        enable.auto.commit: \"true\""));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("receivers.kafka.brokers: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("receivers.kafka.initial_offset: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("receivers.kafka.encoding: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("receivers.kafka.consumer.properties: "));
    assertThat(load("receivers:\n  otlp: {}\n").kafkaReceiver()).isNull();
  }

  @Test
  void bridgesAreReadAndCheckedWithoutConnecting() {
    SluiceConfig c = load(String.join("\n",
        "bridges:",
        "  per-tenant:",
        "    brokers: [127.0.0.1:9092]",
        "    instance_id: node-1",
        "    transform: route_by_tenant",
        "    tenant_topic_pattern: \"{topic}.{tenant}\"",
        "    traces:",
        "      input_topic: otlp_spans",
        "      output_topic: tenant_spans",
        "    max_records_per_transaction: 500"));
    assertThat(c.bridges()).singleElement()
        .satisfies(b -> assertThat(b.description()).contains("per-tenant")
            .contains("route_by_tenant").contains("127.0.0.1:9092"));
    List<String> p = problems(String.join("\n",
        "bridges:",
        "  b:",
        "    transform: shuffle",
        "    traces:",
        "      input_topic: x"));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("bridges.b.brokers: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("bridges.b.instance_id: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("bridges.b.transform: "));
    assertThat(p).anySatisfy(x -> assertThat(x).startsWith("bridges.b.traces.output_topic: "));
    List<String> same = problems(String.join("\n",
        "bridges:",
        "  loop:",
        "    brokers: [127.0.0.1:9092]",
        "    instance_id: n",
        "    traces:",
        "      input_topic: t",
        "      output_topic: t"));
    assertThat(same).singleElement().satisfies(x -> assertThat(x).startsWith("bridges.loop: "));
  }
}
