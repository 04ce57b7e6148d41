package dev.sluice.exporter.otlp.internal;

import static dev.sluice.exporter.otlp.testdata.TestData.flatKeys;
import static dev.sluice.exporter.otlp.testdata.TestData.hex;
import static dev.sluice.exporter.otlp.testdata.TestData.items;
import static dev.sluice.exporter.otlp.testdata.TestData.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RequestSplitterTest {

  /** Concatenation of the pieces' flattened items. */
  private static List<String> union(Signal signal, List<RequestSplitter.Chunk> chunks) {
    List<String> all = new ArrayList<>();
    for (RequestSplitter.Chunk c : chunks) {
      all.addAll(flatKeys(parse(signal, c.bytes())));
    }
    return all;
  }

  private static void assertEachPieceFitsAndCountsItsItems(Signal signal,
      List<RequestSplitter.Chunk> chunks, long max) {
    for (RequestSplitter.Chunk c : chunks) {
      assertThat((long) c.bytes().length).isLessThanOrEqualTo(max);
      assertThat(c.items()).isEqualTo(items(parse(signal, c.bytes())));
    }
  }

  @Test
  void aRequestUnderTheLimitIsReturnedAsItIs() {
    byte[] bytes = TestData.traces(2, 2, 5, 3, 10).toByteArray();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, bytes, 20, bytes.length, false);
    assertThat(chunks).hasSize(1);
    assertThat(chunks.get(0).bytes()).isSameAs(bytes);
    assertThat(chunks.get(0).items()).isEqualTo(20);
    assertThat(chunks.get(0).hashKey()).isNull();
  }

  @Test
  void tracesOverTheLimitAreCutBetweenSpansKeepingResourcesAndScopes() {
    ExportTraceServiceRequest req = TestData.traces(3, 2, 40, 7, 50);
    byte[] bytes = req.toByteArray();
    long max = 2000;
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, bytes, items(req), max, false);
    assertThat(chunks.size()).isGreaterThan(bytes.length / 2000);
    assertEachPieceFitsAndCountsItsItems(Signal.TRACES, chunks, max);
    assertThat(union(Signal.TRACES, chunks)).isEqualTo(flatKeys(req));
    assertThat(chunks).allSatisfy(c -> assertThat(c.hashKey()).isNull());
  }

  @Test
  void piecesAreFilledCloseToTheLimit() {
    ExportTraceServiceRequest req = TestData.traces(1, 1, 500, 7, 20);
    long max = 10_000;
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, req.toByteArray(), 500, max, false);
    int spanSize = req.getResourceSpans(0).getScopeSpans(0).getSpans(0).getSerializedSize() + 3;
    for (int i = 0; i < chunks.size() - 1; i++) {
      assertThat((long) chunks.get(i).bytes().length).isGreaterThan(max - spanSize);
    }
  }

  @Test
  void metricsAreCutBetweenMetricsAndCountedInDataPoints() {
    ExportMetricsServiceRequest req = TestData.metrics(2, 3, 20, 4);
    byte[] bytes = req.toByteArray();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.METRICS, bytes, items(req), 1500, false);
    assertThat(chunks.size()).isGreaterThan(1);
    assertEachPieceFitsAndCountsItsItems(Signal.METRICS, chunks, 1500);
    assertThat(union(Signal.METRICS, chunks)).isEqualTo(flatKeys(req));
    assertThat(chunks.stream().mapToInt(RequestSplitter.Chunk::items).sum())
        .isEqualTo(2 * 3 * 20 * 4);
  }

  @Test
  void logsAreCutBetweenLogRecords() {
    ExportLogsServiceRequest req = TestData.logs(2, 2, 50, 30);
    byte[] bytes = req.toByteArray();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.LOGS, bytes, items(req), 1024, false);
    assertThat(chunks.size()).isGreaterThan(1);
    assertEachPieceFitsAndCountsItsItems(Signal.LOGS, chunks, 1024);
    assertThat(union(Signal.LOGS, chunks)).isEqualTo(flatKeys(req));
  }

  @Test
  void anItemLargerThanTheLimitGoesAloneAndWhole() {
    Span big = TestData.span(1, 99, 5000);
    ExportTraceServiceRequest req = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().setResource(TestData.resource("a"))
            .addScopeSpans(ScopeSpans.newBuilder().setScope(TestData.scope("s"))
                .addSpans(TestData.span(1, 1, 10)).addSpans(big)
                .addSpans(TestData.span(1, 2, 10))))
        .build();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, req.toByteArray(), 3, 1000, false);
    assertThat(chunks).hasSize(3);
    assertThat(chunks.get(0).bytes().length).isLessThanOrEqualTo(1000);
    assertThat(chunks.get(1).bytes().length).isGreaterThan(5000);
    assertThat(chunks.get(2).bytes().length).isLessThanOrEqualTo(1000);
    ExportTraceServiceRequest alone = (ExportTraceServiceRequest) parse(Signal.TRACES,
        chunks.get(1).bytes());
    assertThat(alone.getResourceSpans(0).getScopeSpans(0).getSpansList()).containsExactly(big);
    assertThat(union(Signal.TRACES, chunks)).isEqualTo(flatKeys(req));
  }

  @Test
  void emptyResourcesAndScopesSurviveASplit() {
    ExportTraceServiceRequest req = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().setResource(TestData.resource("empty")))
        .addResourceSpans(ResourceSpans.newBuilder().setResource(TestData.resource("full"))
            .addScopeSpans(ScopeSpans.newBuilder().setScope(TestData.scope("none")))
            .addScopeSpans(ScopeSpans.newBuilder().setScope(TestData.scope("some"))
                .addAllSpans(TestData.traces(1, 1, 30, 3, 40).getResourceSpans(0)
                    .getScopeSpans(0).getSpansList())))
        .build();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, req.toByteArray(), 30, 800, false);
    assertThat(chunks.size()).isGreaterThan(2);
    // Merging the pieces back (concatenation) and normalising gives the input's structure.
    List<String> resources = new ArrayList<>();
    List<String> scopes = new ArrayList<>();
    for (RequestSplitter.Chunk c : chunks) {
      ExportTraceServiceRequest p = (ExportTraceServiceRequest) parse(Signal.TRACES, c.bytes());
      for (ResourceSpans rs : p.getResourceSpansList()) {
        resources.add(rs.getResource().getAttributes(0).getValue().getStringValue());
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          scopes.add(ss.getScope().getName());
        }
      }
    }
    assertThat(resources).contains("empty", "full");
    assertThat(scopes).contains("none", "some");
    assertThat(union(Signal.TRACES, chunks)).isEqualTo(flatKeys(req));
  }

  @Test
  void routingByTraceIdGivesEachTraceItsOwnRequestsKeyedByItsId() {
    ExportTraceServiceRequest req = TestData.traces(3, 2, 20, 9, 10);
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, req.toByteArray(), 120, 1 << 20, true);
    assertThat(chunks).hasSize(9);
    Map<String, List<String>> expected = new LinkedHashMap<>();
    for (Object[] t : TestData.flatten(req)) {
      String id = hex(((Span) t[2]).getTraceId().toByteArray());
      expected.computeIfAbsent(id, k -> new ArrayList<>())
          .add(t[0].toString() + t[1] + t[2]);
    }
    Set<String> seen = new HashSet<>();
    for (RequestSplitter.Chunk c : chunks) {
      ExportTraceServiceRequest p = (ExportTraceServiceRequest) parse(Signal.TRACES, c.bytes());
      String key = hex(c.hashKey());
      assertThat(seen.add(key)).as("one request per trace").isTrue();
      List<String> got = new ArrayList<>();
      for (Object[] t : TestData.flatten(p)) {
        assertThat(hex(((Span) t[2]).getTraceId().toByteArray())).isEqualTo(key);
        got.add(t[0].toString() + t[1] + t[2]);
      }
      // every span of the trace, in order, each inside its own resource and scope
      assertThat(got).isEqualTo(expected.get(key));
      assertThat(c.items()).isEqualTo(got.size());
    }
    assertThat(seen).isEqualTo(expected.keySet());
  }

  @Test
  void aTraceOverTheLimitIsCutIntoSeveralRequestsWithTheSameKey() {
    ExportTraceServiceRequest req = TestData.traces(2, 2, 30, 2, 60);
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, req.toByteArray(), 120, 1500, true);
    Map<String, Integer> piecesPerTrace = new HashMap<>();
    for (RequestSplitter.Chunk c : chunks) {
      assertThat(c.bytes().length).isLessThanOrEqualTo(1500);
      ExportTraceServiceRequest p = (ExportTraceServiceRequest) parse(Signal.TRACES, c.bytes());
      for (Object[] t : TestData.flatten(p)) {
        assertThat(((Span) t[2]).getTraceId().toByteArray()).isEqualTo(c.hashKey());
      }
      piecesPerTrace.merge(hex(c.hashKey()), 1, Integer::sum);
    }
    assertThat(piecesPerTrace).hasSize(2);
    assertThat(piecesPerTrace.values()).allSatisfy(n -> assertThat(n).isGreaterThan(1));
    List<String> all = union(Signal.TRACES, chunks);
    assertThat(all).containsExactlyInAnyOrderElementsOf(flatKeys(req));
  }

  @Test
  void routingOnlyAppliesToTraces() {
    ExportLogsServiceRequest req = TestData.logs(1, 1, 10, 5);
    byte[] bytes = req.toByteArray();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.LOGS, bytes, 10, 1 << 20, true);
    assertThat(chunks).hasSize(1);
    assertThat(chunks.get(0).bytes()).isSameAs(bytes);
  }

  @Test
  void spansWithoutTraceIdShareOneGroup() {
    ExportTraceServiceRequest req = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().addScopeSpans(ScopeSpans.newBuilder()
            .addSpans(Span.newBuilder().setName("a"))
            .addSpans(Span.newBuilder().setName("b"))
            .addSpans(TestData.span(3, 1, 0))))
        .build();
    List<RequestSplitter.Chunk> chunks =
        RequestSplitter.split(Signal.TRACES, req.toByteArray(), 3, 1 << 20, true);
    assertThat(chunks).hasSize(2);
    assertThat(chunks.get(0).hashKey()).isEmpty();
    assertThat(chunks.get(0).items()).isEqualTo(2);
    assertThat(chunks.get(1).hashKey()).isEqualTo(TestData.traceId(3));
  }

  @Test
  void countsItemsOfEachSignal() {
    assertThat(RequestSplitter.countItems(Signal.TRACES,
        TestData.traces(2, 3, 4, 2, 0).toByteArray())).isEqualTo(24);
    assertThat(RequestSplitter.countItems(Signal.METRICS,
        TestData.metrics(2, 2, 3, 5).toByteArray())).isEqualTo(60);
    assertThat(RequestSplitter.countItems(Signal.LOGS,
        TestData.logs(1, 2, 7, 0).toByteArray())).isEqualTo(14);
  }

  @Test
  void malformedBytesAreReportedWhenTheyMustBeRead() {
    byte[] bad = {0x0a, 0x7f, 0x01}; // field 1 claims 127 bytes, has 1
    assertThatThrownBy(() -> RequestSplitter.split(Signal.TRACES, bad, 1, 1, false))
        .isInstanceOf(MalformedRequestException.class);
    // under the limit and not routed it is not read at all
    assertThat(RequestSplitter.split(Signal.TRACES, bad, 1, 100, false)).hasSize(1);
  }

  @Test
  void mergedRequestsSplitBackIntoTheSameItems() {
    Message a = TestData.traces(1, 1, 10, 2, 20);
    Message b = TestData.traces(2, 1, 10, 3, 20);
    byte[] ab = concat(a.toByteArray(), b.toByteArray());
    List<String> expected = new ArrayList<>(flatKeys(a));
    expected.addAll(flatKeys(b));
    assertThat(flatKeys(parse(Signal.TRACES, ab))).isEqualTo(expected);
    List<RequestSplitter.Chunk> chunks = RequestSplitter.split(Signal.TRACES, ab, 30, 700, false);
    assertThat(union(Signal.TRACES, chunks)).isEqualTo(expected);
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] out = new byte[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
