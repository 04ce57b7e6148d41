package dev.sluice.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.pipeline.Pipeline;
import dev.sluice.pipeline.export.file.FileExporter;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import com.google.protobuf.ByteString;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The proxy's spans reach the exporters through a real pipeline, as received traces do. */
class ProxySpansTest {
  @TempDir Path tmp;

  private static Span span(String name, String spanId) {
    return Span.newBuilder().setName(name)
        .setTraceId(ByteString.copyFrom(HexFormat.of().parseHex("5b8efff798038103d269b633813fc60c")))
        .setSpanId(ByteString.copyFrom(HexFormat.of().parseHex(spanId)))
        .setStartTimeUnixNano(1_000).setEndTimeUnixNano(2_000).build();
  }

  @Test
  void spansAreExportedAndCounted() {
    Path export = tmp.resolve("export");
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    Pipeline pipeline = new Pipeline(List.of(FileExporter.builder().name("file").directory(export)
        .maxBytes(1 << 20).maxBackups(1).meterRegistry(registry).build()), 1 << 20);
    pipeline.start();
    try {
      ProxySpans sink = new ProxySpans(pipeline, registry);
      sink.accept(ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans
          .newBuilder().addScopeSpans(ScopeSpans.newBuilder()
              .addSpans(span("GET /a", "eee19b7ec3c1b174"))
              .addSpans(span("GET /b", "eee19b7ec3c1b175")))).build().toByteArray());
      sink.accept(ExportTraceServiceRequest.getDefaultInstance().toByteArray()); // nothing in it

      Await.until("the spans in the export file", Duration.ofSeconds(20),
          () -> !ExportFiles.traces(export).isEmpty());
      List<ExportTraceServiceRequest> lines = ExportFiles.traces(export);
      assertThat(lines).hasSize(1);
      assertThat(lines.get(0).getResourceSpans(0).getScopeSpans(0).getSpansList())
          .extracting(Span::getName).containsExactly("GET /a", "GET /b");
      Await.until("the accepted spans counted", Duration.ofSeconds(20),
          () -> registry.get("sluice.proxy.spans.pipeline.accepted").counter().count() == 2);
      assertThat(registry.get("sluice.proxy.spans.pipeline.refused").counter().count()).isZero();
    } finally {
      pipeline.close();
    }
  }

  @Test
  void spansAreCountedAsRefusedWhenThePipelineIsClosed() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    Pipeline pipeline = new Pipeline(List.of(FileExporter.builder().name("file")
        .directory(tmp.resolve("x")).maxBytes(1 << 20).maxBackups(1).meterRegistry(registry)
        .build()), 1 << 20);
    pipeline.start();
    pipeline.close();
    new ProxySpans(pipeline, registry).accept(ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder().addScopeSpans(ScopeSpans.newBuilder()
            .addSpans(span("GET /", "eee19b7ec3c1b174")))).build().toByteArray());
    Await.until("the refused span counted", Duration.ofSeconds(20),
        () -> registry.get("sluice.proxy.spans.pipeline.refused").counter().count() == 1);
  }
}
