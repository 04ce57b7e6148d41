package dev.sluice.client;

import static dev.sluice.otlp.Signal.LOGS;
import static dev.sluice.otlp.Signal.METRICS;
import static dev.sluice.otlp.Signal.TRACES;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.client.SluiceOtlpClient.SignalSettings;
import dev.sluice.otlp.Signal;
import java.time.Duration;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * How the builder resolves each signal's settings from the OTEL_EXPORTER_OTLP_* variables and
 * code, as the OpenTelemetry specification's OTLP exporter configuration says.
 */
class ClientSettingsTest {
  private static final String P = "OTEL_EXPORTER_OTLP_";

  /** One row: the environment, a signal, and what that signal's requests must look like. */
  record Row(String name, Map<String, String> env, Signal signal, String url,
      Map<String, String> headers, String compression, String protocol, long timeoutMillis) {
    @Override
    public String toString() {
      return name + " / " + signal.id();
    }
  }

  static Stream<Arguments> rows() {
    Map<String, String> none = Map.of();
    Map<String, String> generic = Map.of(P + "ENDPOINT", "http://collector:4318");
    Map<String, String> slash = Map.of(P + "ENDPOINT", "http://collector:4318/");
    Map<String, String> prefixOverride = Map.of(
        P + "ENDPOINT", "https://gw.example.com/otlp",
        P + "TRACES_ENDPOINT", "http://traces.example.com:9999/custom/spans");
    Map<String, String> bareSignal = Map.of(P + "LOGS_ENDPOINT", "http://logs:4318");
    Map<String, String> headers = Map.of(
        P + "HEADERS", " api-key = secret%20value%2C1 ,tenant=a+b,, x-caf=caf%C3%A9 ",
        P + "LOGS_HEADERS", "only-logs=yes%3Dreally");
    Map<String, String> mixed = Map.of(
        P + "COMPRESSION", "gzip", P + "METRICS_COMPRESSION", "none",
        P + "TIMEOUT", "2500", P + "TRACES_TIMEOUT", "750",
        P + "PROTOCOL", "http/json", P + "LOGS_PROTOCOL", "http/protobuf");
    Map<String, String> blanks = Map.of(P + "ENDPOINT", "", P + "TRACES_ENDPOINT", "  ",
        P + "COMPRESSION", "", P + "HEADERS", "");
    Map<String, String> h = Map.of("api-key", "secret value,1", "tenant", "a+b", "x-caf", "café");
    return Stream.of(
        new Row("defaults", none, TRACES, "http://localhost:4318/v1/traces", Map.of(), "none",
            "http/protobuf", 10_000),
        new Row("defaults", none, LOGS, "http://localhost:4318/v1/logs", Map.of(), "none",
            "http/protobuf", 10_000),
        new Row("generic endpoint", generic, TRACES, "http://collector:4318/v1/traces", Map.of(),
            "none", "http/protobuf", 10_000),
        new Row("generic endpoint", generic, METRICS, "http://collector:4318/v1/metrics",
            Map.of(), "none", "http/protobuf", 10_000),
        new Row("generic endpoint", generic, LOGS, "http://collector:4318/v1/logs", Map.of(),
            "none", "http/protobuf", 10_000),
        new Row("trailing slash", slash, METRICS, "http://collector:4318/v1/metrics", Map.of(),
            "none", "http/protobuf", 10_000),
        new Row("per-signal override", prefixOverride, TRACES,
            "http://traces.example.com:9999/custom/spans", Map.of(), "none", "http/protobuf",
            10_000),
        new Row("per-signal override", prefixOverride, METRICS,
            "https://gw.example.com/otlp/v1/metrics", Map.of(), "none", "http/protobuf", 10_000),
        new Row("per-signal used as is", bareSignal, LOGS, "http://logs:4318", Map.of(), "none",
            "http/protobuf", 10_000),
        new Row("per-signal used as is", bareSignal, TRACES, "http://localhost:4318/v1/traces",
            Map.of(), "none", "http/protobuf", 10_000),
        new Row("headers", headers, TRACES, "http://localhost:4318/v1/traces", h, "none",
            "http/protobuf", 10_000),
        new Row("headers", headers, LOGS, "http://localhost:4318/v1/logs",
            Map.of("only-logs", "yes=really"), "none", "http/protobuf", 10_000),
        new Row("mixed", mixed, TRACES, "http://localhost:4318/v1/traces", Map.of(), "gzip",
            "http/json", 750),
        new Row("mixed", mixed, METRICS, "http://localhost:4318/v1/metrics", Map.of(), "none",
            "http/json", 2500),
        new Row("mixed", mixed, LOGS, "http://localhost:4318/v1/logs", Map.of(), "gzip",
            "http/protobuf", 2500),
        new Row("empty values are unset", blanks, TRACES, "http://localhost:4318/v1/traces",
            Map.of(), "none", "http/protobuf", 10_000)
    ).map(Arguments::of);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void environmentResolvesAsTheSpecificationSays(Row row) {
    SignalSettings s = SluiceOtlpClient.builder().fromEnvironment(row.env()).resolve()
        .get(row.signal());
    assertThat(s.url()).hasToString(row.url());
    assertThat(s.headers()).isEqualTo(row.headers());
    assertThat(s.compression().id()).isEqualTo(row.compression());
    assertThat(s.protocol()).isEqualTo(row.protocol());
    assertThat(s.timeout()).isEqualTo(Duration.ofMillis(row.timeoutMillis()));
  }

  @Test
  void codeAfterTheEnvironmentWinsAndTheEnvironmentWinsOverCodeBefore() {
    Map<String, String> env = Map.of(P + "ENDPOINT", "http://from-env:4318",
        P + "COMPRESSION", "gzip", P + "TIMEOUT", "1234");
    Map<Signal, SignalSettings> after = SluiceOtlpClient.builder()
        .fromEnvironment(env)
        .endpoint("http://from-code:4318")
        .compression("none")
        .resolve();
    assertThat(after.get(METRICS).url()).hasToString("http://from-code:4318/v1/metrics");
    assertThat(after.get(METRICS).compression().id()).isEqualTo("none");
    assertThat(after.get(METRICS).timeout()).isEqualTo(Duration.ofMillis(1234));

    Map<Signal, SignalSettings> before = SluiceOtlpClient.builder()
        .endpoint("http://from-code:4318")
        .protocol("http/json")
        .fromEnvironment(env)
        .resolve();
    assertThat(before.get(METRICS).url()).hasToString("http://from-env:4318/v1/metrics");
    assertThat(before.get(METRICS).protocol()).isEqualTo("http/json"); // not in env: kept
  }

  @Test
  void aPerSignalSettingInCodeBeatsTheGenericOneFromTheEnvironment() {
    Map<Signal, SignalSettings> s = SluiceOtlpClient.builder()
        .tracesEndpoint("http://code-traces:1234/t")
        .signalHeaders(TRACES, Map.of("k", "v"))
        .fromEnvironment(Map.of(P + "ENDPOINT", "http://env:4318", P + "HEADERS", "a=b"))
        .resolve();
    assertThat(s.get(TRACES).url()).hasToString("http://code-traces:1234/t");
    assertThat(s.get(TRACES).headers()).isEqualTo(Map.of("k", "v"));
    assertThat(s.get(LOGS).url()).hasToString("http://env:4318/v1/logs");
    assertThat(s.get(LOGS).headers()).isEqualTo(Map.of("a", "b"));
  }

  static Stream<Arguments> invalid() {
    return Stream.of(
        Arguments.of(P + "PROTOCOL", "grpc", "grpc is not supported"),
        Arguments.of(P + "TRACES_PROTOCOL", "http/thrift", "http/protobuf or http/json"),
        Arguments.of(P + "TIMEOUT", "10s", "whole number of milliseconds"),
        Arguments.of(P + "LOGS_TIMEOUT", "0", "positive"),
        Arguments.of(P + "COMPRESSION", "brotli", "none, gzip or zstd"),
        Arguments.of(P + "HEADERS", "a=b,novalue", "'novalue' is not a key=value pair"),
        Arguments.of(P + "METRICS_HEADERS", "=v", "not a key=value pair"),
        Arguments.of(P + "ENDPOINT", "ftp://collector:21", "http:// or https://"),
        Arguments.of(P + "ENDPOINT", "http://collector:4318/?x=1", "must not have a query"),
        Arguments.of(P + "TRACES_ENDPOINT", "collector:4318", "http:// or https://"));
  }

  @ParameterizedTest(name = "{0}={1}")
  @MethodSource("invalid")
  void anInvalidVariableIsRefusedByName(String key, String value, String why) {
    assertThatThrownBy(() -> SluiceOtlpClient.builder().fromEnvironment(Map.of(key, value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(key + ": ")
        .hasMessageContaining(why);
  }

  @Test
  void percentDecodingKeepsMalformedEscapesAndDecodesUtf8() {
    assertThat(OtlpEnvironment.percentDecode("100%")).isEqualTo("100%");
    assertThat(OtlpEnvironment.percentDecode("%zz%4")).isEqualTo("%zz%4");
    assertThat(OtlpEnvironment.percentDecode("Bearer%20abc%2Fdef")).isEqualTo("Bearer abc/def");
    assertThat(OtlpEnvironment.percentDecode("%E2%82%AC%20€")).isEqualTo("€ €");
    assertThat(OtlpEnvironment.percentDecode("%FF")).isEqualTo("\uFFFD");
  }

  @Test
  void builderRefusesBadValuesWhenTheyAreSet() {
    assertThatThrownBy(() -> SluiceOtlpClient.builder().maxQueuedRequests(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_queued_requests");
    assertThatThrownBy(() -> SluiceOtlpClient.builder().maxQueuedBytes(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_queued_bytes");
    assertThatThrownBy(() -> SluiceOtlpClient.builder().timeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("timeout");
    assertThatThrownBy(() -> SluiceOtlpClient.builder().protocol("grpc"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("grpc");
    // a header the exporter owns is refused when the client is built
    assertThatThrownBy(() -> SluiceOtlpClient.builder().header("Content-Type", "text/plain")
        .build()).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Content-Type");
  }
}
