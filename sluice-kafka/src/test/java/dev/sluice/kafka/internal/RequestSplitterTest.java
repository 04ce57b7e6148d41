package dev.sluice.kafka.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.ArrayValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.common.v1.KeyValueList;
import io.opentelemetry.proto.metrics.v1.Histogram;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The splitter and the resource hash on their own, without a broker. */
class RequestSplitterTest {

  private static KeyValue kv(String k, AnyValue v) {
    return KeyValue.newBuilder().setKey(k).setValue(v).build();
  }

  private static AnyValue str(String s) {
    return AnyValue.newBuilder().setStringValue(s).build();
  }

  private static Resource resource(KeyValue... kvs) {
    return Resource.newBuilder().addAllAttributes(List.of(kvs)).build();
  }

  @Test
  void traceKeysAreLowercaseHexAndEmptyForAMissingId() {
    byte[] id = new byte[16];
    id[0] = (byte) 0xAB;
    id[15] = 0x01;
    assertThat(new String(RequestSplitter.traceKey(ByteString.copyFrom(id)),
        StandardCharsets.US_ASCII)).isEqualTo("ab000000000000000000000000000001");
    assertThat(RequestSplitter.traceKey(ByteString.copyFrom(new byte[16]))).isEmpty();
    assertThat(RequestSplitter.traceKey(ByteString.EMPTY)).isEmpty();
  }

  @Test
  void spansWithoutTraceIdGoTogetherAndUnknownEnvelopeFieldsSurvive() {
    // An envelope field this version of OTLP does not know must be copied into every piece.
    UnknownFieldSet unknown = UnknownFieldSet.newBuilder().addField(99,
        UnknownFieldSet.Field.newBuilder().addVarint(42).build()).build();
    Span noId = Span.newBuilder().setName("no id").build();
    Span withId = Span.newBuilder().setName("id").setTraceId(ByteString.copyFrom(new byte[] {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})).build();
    ExportTraceServiceRequest req = ExportTraceServiceRequest.newBuilder().addResourceSpans(
        ResourceSpans.newBuilder().setResource(resource(kv("a", str("b"))))
            .setUnknownFields(unknown)
            .addScopeSpans(ScopeSpans.newBuilder().setScope(
                InstrumentationScope.newBuilder().setName("s").setUnknownFields(unknown))
                .addSpans(noId).addSpans(withId).addSpans(noId)))
        .build();
    RequestSplitter.Result result = new RequestSplitter(KafkaEncoding.OTLP_PROTO, 1 << 20)
        .split(Signal.TRACES, req, 0);
    assertThat(result.messages()).hasSize(2);
    RequestSplitter.Piece first = result.messages().get(0);
    assertThat(first.key()).isEmpty();
    assertThat(first.items()).isEqualTo(2);
    ExportTraceServiceRequest piece = (ExportTraceServiceRequest) first.request();
    assertThat(piece.getResourceSpans(0).getUnknownFields()).isEqualTo(unknown);
    assertThat(piece.getResourceSpans(0).getScopeSpans(0).getScope().getUnknownFields())
        .isEqualTo(unknown);
    assertThat(piece.getResourceSpans(0).getScopeSpans(0).getSpansList())
        .containsExactly(noId, noId);
    assertThat(first.value()).isEqualTo(piece.toByteArray());
  }

  @Test
  void histogramPointsAreSlicedKeepingTheMetricDescription() {
    List<HistogramDataPoint> points = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      points.add(HistogramDataPoint.newBuilder().setTimeUnixNano(i).setCount(i)
          .addAllBucketCounts(List.of(1L, 2L, 3L)).addAllExplicitBounds(List.of(1.0, 2.0))
          .addAttributes(kv("k", str("v".repeat(40) + i))).build());
    }
    Metric metric = Metric.newBuilder().setName("latency").setDescription("d").setUnit("ms")
        .setHistogram(Histogram.newBuilder().setAggregationTemporalityValue(2)
            .addAllDataPoints(points)).build();
    ExportMetricsServiceRequest req = ExportMetricsServiceRequest.newBuilder()
        .addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource(kv("r", str("1"))))
            .addScopeMetrics(ScopeMetrics.newBuilder().addMetrics(metric)))
        .build();
    int limit = 2048;
    RequestSplitter splitter = new RequestSplitter(KafkaEncoding.OTLP_JSON, limit);
    RequestSplitter.Result result = splitter.split(Signal.METRICS, req, 0);

    assertThat(result.tooLarge()).isEmpty();
    assertThat(result.splitMessages()).isEqualTo(1);
    assertThat(result.messages().size()).isGreaterThan(3);
    List<HistogramDataPoint> union = new ArrayList<>();
    for (RequestSplitter.Piece p : result.messages()) {
      assertThat(p.value().length + p.key().length + RequestSplitter.RECORD_OVERHEAD)
          .isLessThanOrEqualTo(limit);
      Metric m = ((ExportMetricsServiceRequest) p.request()).getResourceMetrics(0)
          .getScopeMetrics(0).getMetrics(0);
      assertThat(m.getName()).isEqualTo("latency");
      assertThat(m.getUnit()).isEqualTo("ms");
      assertThat(m.getHistogram().getAggregationTemporalityValue()).isEqualTo(2);
      assertThat(p.items()).isEqualTo(m.getHistogram().getDataPointsCount());
      union.addAll(m.getHistogram().getDataPointsList());
    }
    assertThat(union).containsExactlyElementsOf(points);
  }

  @Test
  void theSplitterRefusesALimitBelowKafkasOverhead() {
    assertThatThrownBy(() -> new RequestSplitter(KafkaEncoding.OTLP_PROTO, 100))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void resourceHashIgnoresAttributeOrderAtEveryLevel() {
    AnyValue nested1 = AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder()
        .addValues(kv("x", str("1"))).addValues(kv("y", str("2")))).build();
    AnyValue nested2 = AnyValue.newBuilder().setKvlistValue(KeyValueList.newBuilder()
        .addValues(kv("y", str("2"))).addValues(kv("x", str("1")))).build();
    byte[] a = ResourceHash.of(resource(kv("service.name", str("api")), kv("n", nested1)));
    byte[] b = ResourceHash.of(resource(kv("n", nested2), kv("service.name", str("api"))));
    assertThat(a).hasSize(16).isEqualTo(b);
  }

  @Test
  void resourceHashTellsValuesTypesAndArraysApart() {
    byte[] string1 = ResourceHash.of(resource(kv("k", str("1"))));
    byte[] int1 = ResourceHash.of(resource(kv("k", AnyValue.newBuilder().setIntValue(1)
        .build())));
    byte[] double1 = ResourceHash.of(resource(kv("k", AnyValue.newBuilder().setDoubleValue(1)
        .build())));
    byte[] otherKey = ResourceHash.of(resource(kv("j", str("1"))));
    byte[] split = ResourceHash.of(resource(kv("ab", str("c"))));
    byte[] joined = ResourceHash.of(resource(kv("a", str("bc"))));
    AnyValue arr12 = AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
        .addValues(str("1")).addValues(str("2"))).build();
    AnyValue arr21 = AnyValue.newBuilder().setArrayValue(ArrayValue.newBuilder()
        .addValues(str("2")).addValues(str("1"))).build();
    byte[] a12 = ResourceHash.of(resource(kv("k", arr12)));
    byte[] a21 = ResourceHash.of(resource(kv("k", arr21)));
    List<byte[]> all = List.of(string1, int1, double1, otherKey, split, joined, a12, a21,
        ResourceHash.of(Resource.getDefaultInstance()));
    for (int i = 0; i < all.size(); i++) {
      for (int j = i + 1; j < all.size(); j++) {
        assertThat(all.get(i)).as("hash %d vs %d", i, j).isNotEqualTo(all.get(j));
      }
    }
    // Only attributes count, as in the Collector.
    assertThat(ResourceHash.of(resource(kv("k", str("1"))).toBuilder()
        .setDroppedAttributesCount(3).build())).isEqualTo(string1);
  }
}
