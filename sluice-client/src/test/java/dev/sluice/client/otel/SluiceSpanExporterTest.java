package dev.sluice.client.otel;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.client.Backend;
import dev.sluice.client.QueueFullException;
import dev.sluice.client.SluiceOtlpClient;
import dev.sluice.testing.Await;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.opentelemetry.exporter.internal.otlp.traces.TraceRequestMarshaler;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The SDK's tracer provider exporting through the Sluice client to a real backend. */
class SluiceSpanExporterTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private Backend backend() throws Exception {
    Backend b = new Backend();
    closeables.add(b);
    return b;
  }

  private SluiceOtlpClient client(SluiceOtlpClient.Builder b) {
    SluiceOtlpClient c = b.build();
    closeables.add(c);
    return c;
  }

  private static SdkTracerProvider provider(io.opentelemetry.sdk.trace.SpanProcessor processor) {
    return SdkTracerProvider.builder()
        .setResource(Resource.getDefault().merge(Resource.create(Attributes.of(
            AttributeKey.stringKey("service.name"), "checkout",
            AttributeKey.stringKey("deployment.environment.name"), "test"))))
        .addSpanProcessor(processor)
        .build();
  }

  @Test
  void spansFromABatchSpanProcessorArriveWithIdsAndAttributesIntact() throws Exception {
    Backend backend = backend();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .compression("gzip"));
    SluiceSpanExporter exporter = SluiceSpanExporter.create(client);
    SdkTracerProvider provider = provider(BatchSpanProcessor.builder(exporter)
        .setScheduleDelay(Duration.ofMillis(50)).build());
    Tracer tracer = provider.get("dev.sluice.test", "1.2.3");

    Span parent = tracer.spanBuilder("GET /cart").setSpanKind(SpanKind.SERVER)
        .setAttribute("http.request.method", "GET")
        .setAttribute("http.response.status_code", 200L)
        .setAttribute("app.cart.total", 12.5)
        .setAttribute("app.cart.cached", true)
        .setAttribute(AttributeKey.stringArrayKey("app.tags"), List.of("a", "b"))
        .startSpan();
    SpanContext parentContext = parent.getSpanContext();
    SpanContext childContext;
    Scope scope = parent.makeCurrent();
    try {
      Span child = tracer.spanBuilder("SELECT carts").setSpanKind(SpanKind.CLIENT)
          .setAttribute("db.system.name", "postgresql").startSpan();
      child.addEvent("retry", Attributes.of(AttributeKey.longKey("attempt"), 2L));
      child.setStatus(StatusCode.ERROR, "deadlock");
      childContext = child.getSpanContext();
      child.end();
    } finally {
      scope.close();
    }
    parent.end();

    assertThat(provider.forceFlush().join(10, TimeUnit.SECONDS).isSuccess()).isTrue();
    Await.until("two spans at the backend", Duration.ofSeconds(10),
        () -> spans(backend).size() == 2);

    assertThat(backend.received()).allSatisfy(r -> {
      assertThat(r.path()).isEqualTo("/v1/traces");
      assertThat(r.header("content-encoding")).isEqualTo("gzip");
    });
    ExportTraceServiceRequest request = (ExportTraceServiceRequest) backend.messages().get(0);
    ResourceSpans rs = request.getResourceSpans(0);
    assertThat(attributes(rs.getResource().getAttributesList()))
        .containsEntry("service.name", str("checkout"))
        .containsEntry("deployment.environment.name", str("test"));
    ScopeSpans ss = rs.getScopeSpans(0);
    assertThat(ss.getScope().getName()).isEqualTo("dev.sluice.test");
    assertThat(ss.getScope().getVersion()).isEqualTo("1.2.3");

    Map<String, io.opentelemetry.proto.trace.v1.Span> byName = spans(backend).stream()
        .collect(Collectors.toMap(io.opentelemetry.proto.trace.v1.Span::getName,
            Function.identity()));
    io.opentelemetry.proto.trace.v1.Span p = byName.get("GET /cart");
    io.opentelemetry.proto.trace.v1.Span c = byName.get("SELECT carts");
    HexFormat hex = HexFormat.of();
    assertThat(hex.formatHex(p.getTraceId().toByteArray())).isEqualTo(parentContext.getTraceId());
    assertThat(hex.formatHex(p.getSpanId().toByteArray())).isEqualTo(parentContext.getSpanId());
    assertThat(p.getParentSpanId().isEmpty()).isTrue();
    assertThat(hex.formatHex(c.getTraceId().toByteArray())).isEqualTo(parentContext.getTraceId());
    assertThat(hex.formatHex(c.getSpanId().toByteArray())).isEqualTo(childContext.getSpanId());
    assertThat(c.getParentSpanId()).isEqualTo(p.getSpanId());
    assertThat(p.getKind()).isEqualTo(io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(attributes(p.getAttributesList()))
        .containsEntry("http.request.method", str("GET"))
        .containsEntry("http.response.status_code", AnyValue.newBuilder().setIntValue(200).build())
        .containsEntry("app.cart.total", AnyValue.newBuilder().setDoubleValue(12.5).build())
        .containsEntry("app.cart.cached", AnyValue.newBuilder().setBoolValue(true).build());
    assertThat(attributes(p.getAttributesList()).get("app.tags").getArrayValue().getValuesList())
        .containsExactly(str("a"), str("b"));
    assertThat(p.getEndTimeUnixNano()).isGreaterThanOrEqualTo(p.getStartTimeUnixNano());
    assertThat(c.getStatus().getCode())
        .isEqualTo(io.opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR);
    assertThat(c.getStatus().getMessage()).isEqualTo("deadlock");
    assertThat(c.getEventsList()).singleElement().satisfies(e -> {
      assertThat(e.getName()).isEqualTo("retry");
      assertThat(attributes(e.getAttributesList()))
          .containsEntry("attempt", AnyValue.newBuilder().setIntValue(2).build());
    });

    assertThat(provider.shutdown().join(10, TimeUnit.SECONDS).isSuccess()).isTrue();
    assertThat(client.isClosed()).isTrue(); // create(): the exporter owns the client
  }

  @Test
  void encodingMatchesTheSdkMarshalerBatchAfterBatch() throws Exception {
    List<SpanData> captured = new CopyOnWriteArrayList<>();
    SdkTracerProvider provider = provider(SimpleSpanProcessor.create(new Capture(captured)));
    closeables.add(provider);
    Tracer tracer = provider.get("enc");
    for (int i = 0; i < 30; i++) {
      Span s = tracer.spanBuilder("op-" + i).setAttribute("i", (long) i)
          .setAttribute("s", "value-" + "x".repeat(i)).startSpan();
      s.end();
    }
    Backend backend = backend();
    SluiceSpanExporter exporter = SluiceSpanExporter.create(client(SluiceOtlpClient.builder()
        .endpoint(backend.url())));

    // the pooled marshaler is reused: each batch must come out as the SDK's own marshaler has it
    for (List<SpanData> batch : List.of(captured.subList(0, 30), captured.subList(0, 3),
        captured.subList(10, 25))) {
      ByteArrayOutputStream sdk = new ByteArrayOutputStream();
      TraceRequestMarshaler.create(batch).writeBinaryTo(sdk);
      byte[] ours = exporter.encode(batch);
      assertThat(ExportTraceServiceRequest.parseFrom(ours))
          .isEqualTo(ExportTraceServiceRequest.parseFrom(sdk.toByteArray()));
      assertThat(ExportTraceServiceRequest.parseFrom(ours).getResourceSpans(0).getScopeSpans(0)
          .getSpansCount()).isEqualTo(batch.size());
    }
  }

  @Test
  void aFullClientQueueFailsTheExportAtOnceAndSharedClientsStayOpen() throws Exception {
    Backend backend = backend().hold();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO).maxQueuedRequests(1));
    List<SpanData> captured = new CopyOnWriteArrayList<>();
    SdkTracerProvider provider = provider(SimpleSpanProcessor.create(new Capture(captured)));
    closeables.add(provider);
    provider.get("q").spanBuilder("one").startSpan().end();
    SluiceSpanExporter exporter = SluiceSpanExporter.sharing(client);

    CompletableResultCode first = exporter.export(captured);
    CompletableResultCode second = exporter.export(captured);

    assertThat(first.isDone() && first.isSuccess()).isTrue(); // taken, not yet delivered
    assertThat(second.isDone()).isTrue();
    assertThat(second.isSuccess()).isFalse();
    assertThat(second.getFailureThrowable()).isInstanceOf(QueueFullException.class);
    CompletableResultCode flushed = exporter.flush();
    assertThat(flushed.isDone()).isFalse(); // the backend holds the answer
    backend.release();
    assertThat(flushed.join(10, TimeUnit.SECONDS).isSuccess()).isTrue();

    assertThat(exporter.shutdown().join(10, TimeUnit.SECONDS).isSuccess()).isTrue();
    assertThat(client.isClosed()).isFalse();
    assertThat(exporter.export(captured).isSuccess()).isFalse(); // the exporter is shut down
    assertThat(spans(backend)).extracting(io.opentelemetry.proto.trace.v1.Span::getName)
        .containsExactly("one");
  }

  private static List<io.opentelemetry.proto.trace.v1.Span> spans(Backend backend) {
    List<io.opentelemetry.proto.trace.v1.Span> out = new ArrayList<>();
    for (com.google.protobuf.Message m : backend.messages()) {
      for (ResourceSpans rs : ((ExportTraceServiceRequest) m).getResourceSpansList()) {
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          out.addAll(ss.getSpansList());
        }
      }
    }
    return out;
  }

  private static Map<String, AnyValue> attributes(List<KeyValue> kvs) {
    return kvs.stream().collect(Collectors.toMap(KeyValue::getKey, KeyValue::getValue));
  }

  private static AnyValue str(String s) {
    return AnyValue.newBuilder().setStringValue(s).build();
  }

  /** Keeps ended spans, to encode them again in the test. */
  private static final class Capture implements SpanExporter {
    private final List<SpanData> spans;

    Capture(List<SpanData> spans) {
      this.spans = spans;
    }

    @Override
    public CompletableResultCode export(Collection<SpanData> batch) {
      spans.addAll(batch);
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode flush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }
}
