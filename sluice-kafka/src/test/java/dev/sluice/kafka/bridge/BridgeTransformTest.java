package dev.sluice.kafka.bridge;

import static dev.sluice.kafka.bridge.BridgeData.attr;
import static dev.sluice.kafka.bridge.BridgeData.hex;
import static dev.sluice.kafka.bridge.BridgeData.resource;
import static dev.sluice.kafka.bridge.BridgeData.span;
import static dev.sluice.kafka.bridge.BridgeData.traceId;
import static dev.sluice.kafka.bridge.BridgeData.utf8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.kafka.internal.ResourceHash;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.Span;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.Test;

/** The built-in transforms on their own, without a broker. */
class BridgeTransformTest {

  private static BridgeRecord input(Signal signal, byte[] key, byte[] value, String tenant) {
    List<org.apache.kafka.common.header.Header> headers = new ArrayList<>();
    headers.add(new RecordHeader("other", "x".getBytes(StandardCharsets.UTF_8)));
    if (tenant != null) {
      headers.add(new RecordHeader("sluice.tenant", tenant.getBytes(StandardCharsets.UTF_8)));
    }
    return BridgeRecord.input(signal, "out", key, value, headers, 1_700_000_000_000L, "in", 2,
        77);
  }

  @Test
  void rekeyKeepsAOneTraceValueByteForByteAndKeysItByTheHexTraceId() throws Exception {
    byte[] value = BridgeData.oneTrace(42, 3).toByteArray();
    Rekey rekey = BridgeTransform.rekey();

    List<BridgeRecord> out = rekey.apply(input(Signal.TRACES, "junk".getBytes(), value, "acme"));

    assertThat(out).hasSize(1);
    BridgeRecord r = out.get(0);
    assertThat(r.value()).isEqualTo(value);
    assertThat(utf8(r.key())).isEqualTo(hex(traceId(42))).hasSize(32)
        .matches("[0-9a-f]{32}");
    assertThat(r.topic()).isEqualTo("out");
    assertThat(r.tenant()).isEqualTo("acme");
    assertThat(r.header("other")).isEqualTo("x");
    assertThat(r.timestamp()).isEqualTo(1_700_000_000_000L);
    assertThat(r.sourceTopic()).isEqualTo("in");
    assertThat(r.sourceOffset()).isEqualTo(77);
    assertThat(rekey.passedOn()).isZero();
  }

  @Test
  void rekeyCutsARequestOfSeveralTracesIntoOneMessagePerTrace() throws Exception {
    Span a1 = span(traceId(1), 1);
    Span b = span(traceId(2), 2);
    Span a2 = span(traceId(1), 3);
    Span c = span(traceId(3), 4);
    byte[] value = BridgeData.traces(resource(attr("service.name", "s")), a1, b, a2, c)
        .toByteArray();

    List<BridgeRecord> out = BridgeTransform.rekey()
        .apply(input(Signal.TRACES, null, value, null));

    assertThat(out).hasSize(3);
    Set<String> keys = new HashSet<>();
    List<Span> spans = new ArrayList<>();
    for (BridgeRecord r : out) {
      keys.add(utf8(r.key()));
      ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(r.value());
      assertThat(req.getResourceSpans(0).getResource())
          .isEqualTo(resource(attr("service.name", "s")));
      req.getResourceSpansList().forEach(rs -> rs.getScopeSpansList()
          .forEach(ss -> ss.getSpansList().forEach(s -> {
            assertThat(hex(s.getTraceId())).isEqualTo(utf8(r.key()));
            spans.add(s);
          })));
    }
    assertThat(keys).containsExactlyInAnyOrder(hex(traceId(1)), hex(traceId(2)),
        hex(traceId(3)));
    assertThat(spans).containsExactlyInAnyOrder(a1, b, a2, c);
  }

  @Test
  void rekeyKeysMetricsByTheExportersResourceHashWhateverTheAttributeOrder() {
    Resource ab = resource(attr("a", "1"), attr("b", "2"));
    Resource ba = resource(attr("b", "2"), attr("a", "1"));
    Resource other = resource(attr("a", "1"), attr("b", "3"));
    BridgeTransform rekey = BridgeTransform.rekey();

    byte[] k1 = rekey.apply(input(Signal.METRICS, null,
        BridgeData.metrics(BridgeData.resourceMetrics(ab, "m", 1)).toByteArray(), null))
        .get(0).key();
    byte[] k2 = rekey.apply(input(Signal.METRICS, null,
        BridgeData.metrics(BridgeData.resourceMetrics(ba, "n", 2)).toByteArray(), null))
        .get(0).key();
    byte[] k3 = rekey.apply(input(Signal.METRICS, null,
        BridgeData.metrics(BridgeData.resourceMetrics(other, "m", 1)).toByteArray(), null))
        .get(0).key();

    assertThat(k1).hasSize(16).isEqualTo(k2).isEqualTo(ResourceHash.of(ab));
    assertThat(k3).isNotEqualTo(k1);
  }

  @Test
  void rekeyKeepsOtlpJsonAsJsonAndCutsLogsPerResource() {
    Resource r1 = resource(attr("service.name", "one"));
    Resource r2 = resource(attr("service.name", "two"));
    ExportLogsServiceRequest both = BridgeData.logs(r1, "a", "b").toBuilder()
        .addAllResourceLogs(BridgeData.logs(r2, "c").getResourceLogsList()).build();
    byte[] json = OtlpJsonCodec.toJsonBytes(both);

    List<BridgeRecord> out = BridgeTransform.rekey().apply(input(Signal.LOGS, null, json, null));

    assertThat(out).hasSize(2);
    for (BridgeRecord r : out) {
      assertThat(utf8(r.value())).startsWith("{");
      ExportLogsServiceRequest req = OtlpJsonCodec.parse(r.value(), 0, r.value().length,
          ExportLogsServiceRequest.getDefaultInstance());
      assertThat(req.getResourceLogsCount()).isEqualTo(1);
      assertThat(r.key()).isEqualTo(ResourceHash.of(req.getResourceLogs(0).getResource()));
    }
    assertThat(out).extracting(r -> OtlpJsonCodec.parse(r.value(), 0, r.value().length,
        ExportLogsServiceRequest.getDefaultInstance()).getResourceLogs(0).getResource())
        .containsExactlyInAnyOrder(r1, r2);
  }

  @Test
  void rekeyPassesOnWhatIsNoOtlpRequestUnchanged() {
    Rekey rekey = BridgeTransform.rekey();
    byte[] garbage = "not otlp at all".getBytes(StandardCharsets.UTF_8);

    List<BridgeRecord> out = rekey.apply(input(Signal.TRACES, "k".getBytes(), garbage, null));
    List<BridgeRecord> empty = rekey.apply(input(Signal.TRACES, "k2".getBytes(),
        ExportTraceServiceRequest.getDefaultInstance().toByteArray(), null));

    assertThat(out).hasSize(1);
    assertThat(out.get(0).value()).isEqualTo(garbage);
    assertThat(utf8(out.get(0).key())).isEqualTo("k");
    assertThat(empty).hasSize(1);
    assertThat(utf8(empty.get(0).key())).isEqualTo("k2");
    assertThat(rekey.passedOn()).isEqualTo(2);
  }

  @Test
  void routeByTenantPutsEachTenantInItsTopicAndTheRestInTheDefault() {
    BridgeTransform route = BridgeTransform.routeByTenant("{topic}.{tenant}");
    byte[] v = {1};

    assertThat(route.apply(input(Signal.TRACES, null, v, "acme")).get(0).topic())
        .isEqualTo("out.acme");
    assertThat(route.apply(input(Signal.TRACES, null, v, null)).get(0).topic())
        .isEqualTo("out");
    assertThat(route.apply(input(Signal.TRACES, null, v, "")).get(0).topic())
        .isEqualTo("out");
    assertThat(route.apply(input(Signal.TRACES, null, v, "a/b")).get(0).topic())
        .as("a tenant that makes no topic name").isEqualTo("out");
    assertThat(route.apply(input(Signal.TRACES, null, v, "{topic}")).get(0).topic())
        .as("placeholders in a tenant are not expanded").isEqualTo("out");
    assertThat(BridgeTransform.routeByTenant("{signal}-{tenant}")
        .apply(input(Signal.LOGS, null, v, "acme")).get(0).topic()).isEqualTo("logs-acme");
    BridgeTransform perSignal = BridgeTransform.routeByTenant(
        Map.of(Signal.TRACES, "otlp_spans.{tenant}"));
    assertThat(perSignal.apply(input(Signal.TRACES, null, v, "acme")).get(0).topic())
        .isEqualTo("otlp_spans.acme");
    assertThat(perSignal.apply(input(Signal.METRICS, null, v, "acme")).get(0).topic())
        .isEqualTo("out");
  }

  @Test
  void routeByTenantRefusesPatternsThatCannotWork() {
    for (String bad : List.of("no-placeholder", "x.{tenat}", "bad/{tenant}", "{tenant",
        "", "{topic}")) {
      assertThatThrownBy(() -> BridgeTransform.routeByTenant(bad))
          .as(bad).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void thenRunsTheSecondTransformOnEveryOutputOfTheFirst() {
    Span a = span(traceId(1), 1);
    Span b = span(traceId(2), 2);
    byte[] value = BridgeData.traces(resource(), a, b).toByteArray();

    List<BridgeRecord> out = BridgeTransform.rekey()
        .then(BridgeTransform.routeByTenant("{topic}.{tenant}"))
        .apply(input(Signal.TRACES, null, value, "acme"));

    assertThat(out).hasSize(2).allSatisfy(r -> assertThat(r.topic()).isEqualTo("out.acme"));
    assertThat(out).extracting(r -> utf8(r.key()))
        .containsExactlyInAnyOrder(hex(traceId(1)), hex(traceId(2)));
  }

  @Test
  void recordsRefuseInvalidTopicsAndKeepTheirHeadersImmutable() {
    BridgeRecord r = BridgeRecord.of(Signal.LOGS, "t", null, new byte[] {1});
    assertThatThrownBy(() -> r.withTopic("a b")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> BridgeRecord.of(Signal.LOGS, "..", null, null))
        .isInstanceOf(IllegalArgumentException.class);
    BridgeRecord tagged = r.withHeader("sluice.tenant", "x").withHeader("sluice.tenant", "y");
    assertThat(tagged.headers()).hasSize(1);
    assertThat(tagged.tenant()).isEqualTo("y");
    assertThat(tagged.withoutHeader("sluice.tenant").tenant()).isNull();
    assertThat(r.headers()).isEmpty();
    assertThatThrownBy(() -> tagged.headers().clear())
        .isInstanceOf(UnsupportedOperationException.class);
  }
}
