package dev.sluice.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.http.upstream.Endpoint;
import dev.sluice.otlp.Signal;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OtlpHttpExporterBuilderTest {

  @Test
  void defaultsAreTheCollectors() {
    OtlpHttpExporter e = OtlpHttpExporter.builder().endpoint("http://collector:4318").build();
    assertThat(e.name()).isEqualTo("otlphttp");
    assertThat(e.encoding()).isEqualTo(Encoding.PROTOBUF);
    assertThat(e.compression()).isEqualTo(Compression.GZIP);
    RetrySettings r = e.retry();
    assertThat(r.enabled()).isTrue();
    assertThat(r.initialInterval()).isEqualTo(Duration.ofSeconds(5));
    assertThat(r.maxInterval()).isEqualTo(Duration.ofSeconds(30));
    assertThat(r.maxElapsedTime()).isEqualTo(Duration.ofSeconds(300));
    assertThat(r.multiplier()).isEqualTo(1.5);
    assertThat(r.randomizationFactor()).isEqualTo(0.5);
    assertThat(e.signals()).containsExactlyInAnyOrder(Signal.values());
    assertThat(e.deadLetterFile(Signal.LOGS)).isNull();
  }

  @Test
  void signalUrlsAreTheBaseWithV1SignalUnlessASignalHasItsOwn() {
    OtlpHttpExporter e = OtlpHttpExporter.builder()
        .endpoint("https://collector.example:4318/prefix/")
        .logsEndpoint("http://logs.example/ingest/otlp")
        .build();
    assertThat(e.url(Signal.TRACES)).hasToString("https://collector.example:4318/prefix/v1/traces");
    assertThat(e.url(Signal.METRICS))
        .hasToString("https://collector.example:4318/prefix/v1/metrics");
    assertThat(e.url(Signal.LOGS)).hasToString("http://logs.example/ingest/otlp");
  }

  @Test
  void onlyTheSignalsWithAnEndpointAreServed() {
    OtlpHttpExporter e = OtlpHttpExporter.builder()
        .tracesEndpoint("http://tempo:4318/v1/traces").build();
    assertThat(e.signals()).containsExactly(Signal.TRACES);
    assertThat(e.url(Signal.LOGS)).isNull();
  }

  @Test
  void toStringNamesHeadersButNeverShowsTheirValues() {
    OtlpHttpExporter e = OtlpHttpExporter.builder().name("honeycomb")
        .endpoint("https://api.honeycomb.io")
        .headers(Map.of("x-honeycomb-team", "hc-secret-key-123", "Authorization", "Bearer tok"))
        .build();
    String s = e.toString();
    assertThat(s).contains("honeycomb", "https://api.honeycomb.io", "x-honeycomb-team",
        "Authorization", "values hidden");
    assertThat(s).doesNotContain("hc-secret-key-123").doesNotContain("Bearer").doesNotContain("tok");
  }

  @Test
  void endpointsAreCheckedWithMessagesNamingTheSetting() {
    assertThatThrownBy(() -> OtlpHttpExporter.builder().endpoint("ftp://x"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("endpoint ")
        .hasMessageContaining("http://");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().endpoint("collector:4318"))
        .hasMessageContaining("endpoint");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().tracesEndpoint("http://"))
        .hasMessageStartingWith("traces_endpoint");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().metricsEndpoint("http://a b"))
        .hasMessageStartingWith("metrics_endpoint");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().logsEndpoint("http://u:p@host/v1/logs"))
        .hasMessageStartingWith("logs_endpoint").hasMessageNotContaining("u:p");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().endpoint("http://h?x=1"))
        .hasMessageContaining("query");
    assertThatThrownBy(() -> OtlpHttpExporter.builder()
        .endpoints(List.of(Endpoint.of("http://a:1"), Endpoint.of("http://a:1/"))))
        .hasMessageContaining("twice");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("endpoint is required");
  }

  @Test
  void headersAreChecked() {
    assertThatThrownBy(() -> OtlpHttpExporter.builder().headers(Map.of("Content-Type", "x")))
        .hasMessageContaining("headers.Content-Type");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().headers(Map.of("bad name", "x")))
        .hasMessageContaining("not a valid header name");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().headers(Map.of("X-A", "a\r\nX-B: b")))
        .hasMessageContaining("headers.X-A").hasMessageNotContaining("X-B: b");
    assertThatThrownBy(() -> OtlpHttpExporter.builder().version("1 2"))
        .hasMessageContaining("version");
  }

  @Test
  void numbersAndDurationsAreChecked() {
    var b = OtlpHttpExporter.builder();
    assertThatThrownBy(() -> b.timeout(Duration.ZERO)).hasMessageContaining("timeout");
    assertThatThrownBy(() -> b.batchTimeout(Duration.ofMillis(-1)))
        .hasMessageContaining("batch.timeout");
    assertThatThrownBy(() -> b.batchMaxItems(0)).hasMessageContaining("batch.max_items");
    assertThatThrownBy(() -> b.batchMaxBytes(0)).hasMessageContaining("batch.max_bytes");
    assertThatThrownBy(() -> b.maxRequestBytes(10)).hasMessageContaining("max_request_bytes");
    assertThatThrownBy(() -> b.maxConcurrentRequests(0))
        .hasMessageContaining("max_concurrent_requests");
    assertThatThrownBy(() -> b.maxPendingBytes(0)).hasMessageContaining("max_pending_bytes");
    assertThatThrownBy(() -> b.name(" ")).hasMessageContaining("name");
  }

  @Test
  void retrySettingsAreCheckedWithTheCollectorsKeys() {
    RetrySettings d = RetrySettings.defaults();
    assertThatThrownBy(() -> d.withInitialInterval(Duration.ZERO))
        .hasMessageContaining("retry_on_failure.initial_interval");
    assertThatThrownBy(() -> d.withMaxInterval(Duration.ofSeconds(1)))
        .hasMessageContaining("retry_on_failure.max_interval");
    assertThatThrownBy(() -> d.withMaxElapsedTime(Duration.ofSeconds(-1)))
        .hasMessageContaining("retry_on_failure.max_elapsed_time");
    assertThatThrownBy(() -> d.withMultiplier(0.5))
        .hasMessageContaining("retry_on_failure.multiplier");
    assertThatThrownBy(() -> d.withRandomizationFactor(1.5))
        .hasMessageContaining("retry_on_failure.randomization_factor");
    assertThat(d.withMaxElapsedTime(Duration.ZERO).forever()).isTrue();
    assertThatThrownBy(() -> OtlpHttpExporter.builder().endpoint("http://a")
        .retry(d.withMaxElapsedTime(Duration.ofSeconds(1))).build())
        .hasMessageContaining("max_elapsed_time");
  }

  @Test
  void configValuesAreParsed() {
    assertThat(Compression.of("gzip")).isEqualTo(Compression.GZIP);
    assertThat(Compression.of("ZSTD")).isEqualTo(Compression.ZSTD);
    assertThat(Compression.of("none")).isEqualTo(Compression.NONE);
    assertThat(Compression.of("")).isEqualTo(Compression.NONE);
    assertThatThrownBy(() -> Compression.of("br")).hasMessageContaining("compression");
    assertThat(Encoding.of("proto")).isEqualTo(Encoding.PROTOBUF);
    assertThat(Encoding.of("json")).isEqualTo(Encoding.JSON);
    assertThatThrownBy(() -> Encoding.of("xml")).hasMessageContaining("encoding");
  }
}
