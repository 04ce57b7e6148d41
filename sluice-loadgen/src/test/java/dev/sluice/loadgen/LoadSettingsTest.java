package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.otlp.Signal;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Settings, endpoints, headers and durations as the command line gives them. */
class LoadSettingsTest {

  @ParameterizedTest
  @CsvSource({
    "http://127.0.0.1:4318, TRACES, http://127.0.0.1:4318/v1/traces",
    "http://127.0.0.1:4318/, METRICS, http://127.0.0.1:4318/v1/metrics",
    "https://otel.example.com, LOGS, https://otel.example.com/v1/logs",
    "http://gw:8080/otlp/v1/traces, TRACES, http://gw:8080/otlp/v1/traces",
    "http://gw:8080/ingest?tenant=a, LOGS, http://gw:8080/ingest?tenant=a",
    "HTTP://Gw:80, TRACES, http://Gw:80/v1/traces",
  })
  void theSignalPathIsAddedUnlessTheUrlHasOne(String url, Signal signal, String expected) {
    assertThat(LoadSettings.resolveEndpoint(url, signal)).isEqualTo(URI.create(expected));
  }

  @Test
  void badEndpoints() {
    assertThatThrownBy(() -> LoadSettings.resolveEndpoint("127.0.0.1:4318", Signal.TRACES))
        .hasMessageContaining("http:// or https://");
    assertThatThrownBy(() -> LoadSettings.resolveEndpoint("ftp://x/", Signal.TRACES))
        .hasMessageContaining("http:// or https://");
    assertThatThrownBy(() -> LoadSettings.resolveEndpoint("http://", Signal.TRACES))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> LoadSettings.resolveEndpoint("http://u:p@h:1", Signal.TRACES))
        .hasMessageContaining("--header");
  }

  @Test
  void hostPortTargetAndHostHeader() {
    LoadSettings s = LoadSettings.builder().endpoint("https://gw.example.com/x?y=1").build();
    assertThat(s.tls()).isTrue();
    assertThat(s.port()).isEqualTo(443);
    assertThat(s.host()).isEqualTo("gw.example.com");
    assertThat(s.target()).isEqualTo("/x?y=1");
    assertThat(s.hostHeader()).isEqualTo("gw.example.com");
    LoadSettings p = LoadSettings.builder().endpoint("http://10.0.0.1:9000").build();
    assertThat(p.port()).isEqualTo(9000);
    assertThat(p.hostHeader()).isEqualTo("10.0.0.1:9000");
    assertThat(LoadSettings.builder().endpoint("http://h").build().port()).isEqualTo(80);
  }

  @Test
  void defaults() {
    LoadSettings s = LoadSettings.builder().build();
    assertThat(s.endpoint()).isEqualTo(URI.create("http://127.0.0.1:4318/v1/traces"));
    assertThat(s.signal()).isEqualTo(Signal.TRACES);
    assertThat(s.requests()).isEqualTo(1000);
    assertThat(s.duration()).isNull();
    assertThat(s.rate()).isZero();
    assertThat(s.connections()).isEqualTo(4);
    assertThat(s.items()).isEqualTo(100);
    assertThat(s.attributes()).isEqualTo(10);
    assertThat(s.encoding()).isEqualTo(Encoding.PROTOBUF);
    assertThat(s.compression()).isEqualTo(Compression.NONE);
    assertThat(s.seed()).isEqualTo(1);
    assertThat(s.retries()).isEqualTo(3);
    assertThat(s.timeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(s.describe()).isEqualTo("1,000 requests of 100 spans x 10 attributes to "
        + "http://127.0.0.1:4318/v1/traces (protobuf, 4 connections, no rate limit, seed 1)");
  }

  @Test
  void aDurationReplacesTheRequestCountAndTheOtherWayRound() {
    LoadSettings d = LoadSettings.builder().requests(5).duration(Duration.ofSeconds(30)).build();
    assertThat(d.requests()).isZero();
    assertThat(d.duration()).isEqualTo(Duration.ofSeconds(30));
    assertThat(d.describe()).startsWith("30.0 s of requests");
    LoadSettings r = LoadSettings.builder().duration(Duration.ofSeconds(30)).requests(5).build();
    assertThat(r.requests()).isEqualTo(5);
    assertThat(r.duration()).isNull();
  }

  @Test
  void valuesOutOfRangeNameTheirFlag() {
    LoadSettings.Builder b = LoadSettings.builder();
    assertThatThrownBy(() -> b.requests(0)).hasMessageContaining("--requests");
    assertThatThrownBy(() -> b.duration(Duration.ZERO)).hasMessageContaining("--duration");
    assertThatThrownBy(() -> b.rate(-1)).hasMessageContaining("--rate");
    assertThatThrownBy(() -> b.rate(Double.NaN)).hasMessageContaining("--rate");
    assertThatThrownBy(() -> b.connections(0)).hasMessageContaining("--connections");
    assertThatThrownBy(() -> b.items(0)).hasMessageContaining("--items");
    assertThatThrownBy(() -> b.attributes(-1)).hasMessageContaining("--attributes");
    assertThatThrownBy(() -> b.retries(-1)).hasMessageContaining("--retries");
    assertThatThrownBy(() -> b.timeout(Duration.ZERO)).hasMessageContaining("--timeout");
  }

  @Test
  void tlsOptionsNeedAnHttpsEndpoint() {
    assertThatThrownBy(() -> LoadSettings.builder().endpoint("http://h:1").insecure(true).build())
        .hasMessageContaining("https");
    assertThatThrownBy(() -> LoadSettings.builder().endpoint("https://h:1").insecure(true)
        .caFile(Path.of("ca.pem")).build()).hasMessageContaining("--insecure");
  }

  @Test
  void headers() {
    LoadSettings.Header h = LoadSettings.Header.parse("Authorization:  Bearer abc def ");
    assertThat(h.name()).isEqualTo("Authorization");
    assertThat(h.value()).isEqualTo("Bearer abc def");
    assertThat(h.redacted()).isEqualTo("Authorization: ****");
    assertThat(LoadSettings.Header.parse("X-Tenant: blue").redacted()).isEqualTo("X-Tenant: blue");
    assertThat(LoadSettings.Header.parse("X-Empty:").value()).isEmpty();
    assertThatThrownBy(() -> LoadSettings.Header.parse("no colon")).hasMessageContaining("Name: value");
    assertThatThrownBy(() -> LoadSettings.Header.parse("Bad Name: x")).hasMessageContaining("name");
    assertThatThrownBy(() -> LoadSettings.Header.parse("Content-Length: 5")).hasMessageContaining("set by");
    assertThatThrownBy(() -> LoadSettings.Header.parse("Content-Encoding: br"))
        .hasMessageContaining("--compression");
    assertThatThrownBy(() -> new LoadSettings.Header("X", "a\r\nInjected: 1"))
        .hasMessageContaining("line break");
  }

  @ParameterizedTest
  @CsvSource({"500ms, 500", "30s, 30000", "1.5s, 1500", "2m, 120000", "1h, 3600000", " 10S , 10000"})
  void durations(String text, long millis) {
    assertThat(Durations.parse(text)).isEqualTo(Duration.ofMillis(millis));
  }

  @Test
  void badDurations() {
    for (String bad : new String[] {"30", "s", "-1s", "1d", "", "1 000s"}) {
      assertThatThrownBy(() -> Durations.parse(bad)).as(bad)
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("500ms");
    }
    assertThat(Durations.format(Duration.ofMillis(850))).isEqualTo("850 ms");
    assertThat(Durations.format(Duration.ofMillis(12_345))).isEqualTo("12.3 s");
    assertThat(Durations.format(Duration.ofSeconds(245))).isEqualTo("4m05s");
    assertThat(Durations.format(Duration.ofSeconds(3720))).isEqualTo("1h02m");
  }

  @Test
  void namesOfEncodingsAndCompressions() {
    assertThat(Encoding.byId("JSON")).isEqualTo(Encoding.JSON);
    assertThat(Encoding.byId("xml")).isNull();
    assertThat(Compression.byId("gzip")).isEqualTo(Compression.GZIP);
    assertThat(Compression.byId("zstd")).isNull();
  }
}
