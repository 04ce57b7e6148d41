package dev.sluice.proxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.SpanFlags;
import io.opentelemetry.proto.trace.v1.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SpanReporterTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final Duration LONG = Duration.ofHours(1);

  private final MeterRegistry registry = new SimpleMeterRegistry();
  private final RecordingSink sink = new RecordingSink();

  @Test
  void encodesEveryFieldOfAServerSpan() throws Exception {
    TraceContext caller = TraceContext.parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    TraceContext server = caller.child();
    long start = 1_718_000_000_123_456_789L;
    ProxySpan ok = ProxySpan.of(server, start, start + 2_500_000, "GET", "api.example.com:8443",
        "/v1/items", "items", "10.0.0.7:8080", 200, "203.0.113.9", "HTTP/2", null);
    TraceContext root = TraceContext.newRoot(true);
    ProxySpan failed = ProxySpan.of(root, start, start + 9, "POST", "[2001:db8::1]:80", "/x",
        null, null, 0, "2001:db8::2", "HTTP/1.1", "connect timed out");
    ProxySpan bad = ProxySpan.of(root.child(), start, start + 1, "PUT", "example.com", "/y",
        "r", "u:1", 503, "::1", "HTTP/1.1", null);

    try (SpanReporter reporter = SpanReporter.start(sink, "edge-proxy", registry)) {
      assertThat(reporter.record(ok)).isTrue();
      assertThat(reporter.record(failed)).isTrue();
      assertThat(reporter.record(bad)).isTrue();
    }

    List<Span> spans = sink.spans();
    assertThat(spans).hasSize(3);
    ExportTraceServiceRequest request = sink.requests().get(0);
    ResourceSpans rs = request.getResourceSpans(0);
    assertThat(attributes(rs.getResource().getAttributesList()))
        .containsExactly(Map.entry("service.name", "edge-proxy"));
    ScopeSpans scope = rs.getScopeSpans(0);
    assertThat(scope.getScope().getName()).isEqualTo("sluice-proxy");

    Span s = spans.get(0);
    assertThat(s.getTraceId()).isEqualTo(hex("4bf92f3577b34da6a3ce929d0e0e4736"));
    assertThat(s.getSpanId()).isEqualTo(hex(server.spanIdHex()));
    assertThat(s.getParentSpanId()).isEqualTo(hex("00f067aa0ba902b7"));
    assertThat(s.getName()).isEqualTo("GET items");
    assertThat(s.getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(s.getStartTimeUnixNano()).isEqualTo(start);
    assertThat(s.getEndTimeUnixNano()).isEqualTo(start + 2_500_000);
    assertThat(s.getFlags()).isEqualTo(SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK_VALUE
        | SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK_VALUE);
    assertThat(attributes(s.getAttributesList())).containsExactly(
        Map.entry("http.request.method", "GET"),
        Map.entry("url.path", "/v1/items"),
        Map.entry("server.address", "api.example.com"),
        Map.entry("server.port", 8443L),
        Map.entry("http.response.status_code", 200L),
        Map.entry("http.route", "items"),
        Map.entry("client.address", "203.0.113.9"),
        Map.entry("network.protocol.version", "2"),
        Map.entry("sluice.upstream", "10.0.0.7:8080"));
    assertThat(s.getStatus().getCode()).isEqualTo(Status.StatusCode.STATUS_CODE_UNSET);

    Span f = spans.get(1);
    assertThat(f.getTraceId()).isEqualTo(hex(root.traceIdHex()));
    assertThat(f.getParentSpanId()).isEmpty();
    assertThat(f.getFlags()).isEqualTo(SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK_VALUE);
    assertThat(f.getName()).isEqualTo("POST");
    assertThat(attributes(f.getAttributesList())).containsExactly(
        Map.entry("http.request.method", "POST"),
        Map.entry("url.path", "/x"),
        Map.entry("server.address", "2001:db8::1"),
        Map.entry("server.port", 80L),
        Map.entry("client.address", "2001:db8::2"),
        Map.entry("network.protocol.version", "1.1"));
    assertThat(f.getStatus().getCode()).isEqualTo(Status.StatusCode.STATUS_CODE_ERROR);
    assertThat(f.getStatus().getMessage()).isEqualTo("connect timed out");

    Span b = spans.get(2);
    assertThat(b.getParentSpanId()).isEqualTo(hex(root.spanIdHex()));
    assertThat(attributes(b.getAttributesList())).containsEntry("server.address", "example.com")
        .doesNotContainKey("server.port").containsEntry("http.response.status_code", 503L);
    assertThat(b.getStatus().getCode()).isEqualTo(Status.StatusCode.STATUS_CODE_ERROR);
    assertThat(b.getStatus().getMessage()).isEmpty();

    assertThat(registry.get("sluice.proxy.spans.exported").counter().count()).isEqualTo(3);
    assertThat(registry.get("sluice.proxy.spans.dropped").counter().count()).isZero();
  }

  @Test
  void exportsAsSoonAsABatchIsFull() {
    try (SpanReporter reporter = SpanReporter.start(sink, "p", registry, 100, 3, LONG)) {
      for (int i = 0; i < 7; i++) {
        reporter.record(span(i + 1));
      }
      Await.until("two full batches", WAIT, () -> sink.requests().size() >= 2);
      assertThat(sink.requests()).allSatisfy(
          r -> assertThat(r.getResourceSpans(0).getScopeSpans(0).getSpansCount()).isEqualTo(3));
    }
    // close() hands over the seventh.
    assertThat(sink.spans()).hasSize(7);
    assertThat(sink.spans().get(6).getSpanId()).isEqualTo(hex("0000000000000007"));
  }

  @Test
  void exportsWhatIsWaitingWhenTheIntervalEnds() {
    try (SpanReporter reporter =
        SpanReporter.start(sink, "p", registry, 100, 512, Duration.ofMillis(50))) {
      reporter.record(span(1));
      Await.until("the span exported without close", WAIT, () -> sink.spans().size() == 1);
      reporter.record(span(2));
      Await.until("the next span exported", WAIT, () -> sink.spans().size() == 2);
    }
  }

  @Test
  void dropsAndCountsWhenTheQueueIsFull() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    SpanSink blocking = bytes -> {
      entered.countDown();
      await(release);
      sink.accept(bytes);
    };
    try (SpanReporter reporter = SpanReporter.start(blocking, "p", registry, 4, 1, LONG)) {
      assertThat(reporter.record(span(1))).isTrue();
      assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
      // The thread is held in the sink with span 1; the queue takes four more, then refuses.
      for (int i = 2; i <= 5; i++) {
        assertThat(reporter.record(span(i))).isTrue();
      }
      assertThat(reporter.record(span(6))).isFalse();
      assertThat(reporter.record(span(7))).isFalse();
      assertThat(registry.get("sluice.proxy.spans.dropped").counter().count()).isEqualTo(2);
      release.countDown();
    }
    assertThat(sink.spans()).extracting(Span::getSpanId).containsExactly(
        hex("0000000000000001"), hex("0000000000000002"), hex("0000000000000003"),
        hex("0000000000000004"), hex("0000000000000005"));
    assertThat(registry.get("sluice.proxy.spans.exported").counter().count()).isEqualTo(5);
  }

  @Test
  void aFailingSinkIsCountedAndTheReporterCarriesOn() {
    AtomicInteger calls = new AtomicInteger();
    SpanSink flaky = bytes -> {
      if (calls.incrementAndGet() == 1) {
        throw new IllegalStateException("sink is down");
      }
      sink.accept(bytes);
    };
    try (SpanReporter reporter = SpanReporter.start(flaky, "p", registry, 100, 2, LONG)) {
      reporter.record(span(1));
      reporter.record(span(2));
      Await.until("the failure counted", WAIT,
          () -> registry.get("sluice.proxy.spans.export.failed").counter().count() == 2);
      reporter.record(span(3));
      reporter.record(span(4));
      Await.until("the next batch delivered", WAIT, () -> sink.spans().size() == 2);
    }
    assertThat(sink.spans()).extracting(Span::getSpanId)
        .containsExactly(hex("0000000000000003"), hex("0000000000000004"));
  }

  @Test
  void closeFlushesEverythingQueuedAndIsIdempotent() {
    SpanReporter reporter = SpanReporter.start(sink, "p", registry, 10_000, 512, LONG);
    for (int i = 1; i <= 1500; i++) {
      assertThat(reporter.record(span(i))).isTrue();
    }

    reporter.close();
    reporter.close();

    assertThat(sink.spans()).hasSize(1500);
    assertThat(sink.requests()).allSatisfy(r ->
        assertThat(r.getResourceSpans(0).getScopeSpans(0).getSpansCount()).isLessThanOrEqualTo(512));
    assertThat(reporter.record(span(1501))).isFalse();
    assertThat(registry.get("sluice.proxy.spans.dropped").counter().count()).isEqualTo(1);
    assertThat(sink.spans()).hasSize(1500);
  }

  @Test
  void manyEventLoopsRecordAtOnce() throws Exception {
    int threads = 4;
    int perThread = 2000;
    AtomicInteger refused = new AtomicInteger();
    try (SpanReporter reporter = SpanReporter.start(sink, "p", registry)) {
      List<Thread> loops = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int base = t * perThread;
        Thread loop = new Thread(() -> {
          for (int i = 1; i <= perThread; i++) {
            // The queue holds 8192, more than all of these; none may be lost.
            if (!reporter.record(span(base + i))) {
              refused.incrementAndGet();
            }
          }
        });
        loops.add(loop);
        loop.start();
      }
      for (Thread loop : loops) {
        loop.join();
      }
    }
    assertThat(refused).hasValue(0);
    assertThat(sink.spans()).extracting(Span::getSpanId).doesNotHaveDuplicates()
        .hasSize(threads * perThread);
  }

  private static ProxySpan span(long id) {
    return new ProxySpan(1, 2, id, 0, 10, 20, "GET", "h", "/", "r", "u:1", 200, "127.0.0.1",
        "HTTP/1.1", null);
  }

  private static ByteString hex(String hex) {
    byte[] b = new byte[hex.length() / 2];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) Integer.parseInt(hex, i * 2, i * 2 + 2, 16);
    }
    return ByteString.copyFrom(b);
  }

  private static Map<String, Object> attributes(List<KeyValue> list) {
    Map<String, Object> map = new LinkedHashMap<>();
    for (KeyValue kv : list) {
      AnyValue v = kv.getValue();
      map.put(kv.getKey(), v.hasIntValue() ? (Object) v.getIntValue() : v.getStringValue());
    }
    return map;
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Keeps every request it is handed, decoded. */
  private static final class RecordingSink implements SpanSink {
    private final ConcurrentLinkedQueue<ExportTraceServiceRequest> requests =
        new ConcurrentLinkedQueue<>();

    @Override
    public void accept(byte[] bytes) {
      try {
        requests.add(ExportTraceServiceRequest.parseFrom(bytes));
      } catch (InvalidProtocolBufferException e) {
        throw new AssertionError(e);
      }
    }

    List<ExportTraceServiceRequest> requests() {
      return List.copyOf(requests);
    }

    List<Span> spans() {
      List<Span> spans = new ArrayList<>();
      for (ExportTraceServiceRequest r : requests) {
        for (ResourceSpans rs : r.getResourceSpansList()) {
          for (ScopeSpans ss : rs.getScopeSpansList()) {
            spans.addAll(ss.getSpansList());
          }
        }
      }
      return spans;
    }
  }
}
