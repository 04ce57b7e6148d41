package dev.sluice.app;

import dev.sluice.otlp.Signal;
import dev.sluice.otlp.validation.MalformedOtlpException;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import dev.sluice.proxy.trace.SpanSink;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.Unpooled;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands the proxy's spans to Sluice's own pipeline, as if an OTLP/HTTP client had sent them: they
 * are exported with everything else. A full pipeline drops them rather than holding up the proxy.
 */
final class ProxySpans implements SpanSink {
  private static final Logger log = LoggerFactory.getLogger(ProxySpans.class);

  private final TelemetrySink pipeline;
  private final Counter accepted;
  private final Counter dropped;

  ProxySpans(TelemetrySink pipeline, MeterRegistry registry) {
    this.pipeline = pipeline;
    this.accepted = Counter.builder("sluice.proxy.spans.pipeline.accepted")
        .description("Spans of proxied requests taken by the pipeline").register(registry);
    this.dropped = Counter.builder("sluice.proxy.spans.pipeline.refused")
        .description("Spans of proxied requests the pipeline refused (full or stopping)")
        .register(registry);
  }

  @Override
  public void accept(byte[] request) {
    ScanResult scan;
    try {
      scan = OtlpScanner.scan(Signal.TRACES, request, 0, request.length);
    } catch (MalformedOtlpException | RuntimeException e) {
      // The proxy made these bytes: a failure here is a bug, not traffic.
      log.error("the proxy reported spans that are not a valid ExportTraceServiceRequest", e);
      return;
    }
    if (scan.items() == 0) {
      return;
    }
    int items = scan.items();
    // The batch owns the wrapped array from here; the pipeline takes the batch.
    TelemetryBatch batch = new TelemetryBatch(Signal.TRACES, Unpooled.wrappedBuffer(request),
        items, "", System.currentTimeMillis());
    pipeline.submit(batch).whenComplete((v, error) -> {
      if (error == null) {
        accepted.increment(items);
      } else {
        dropped.increment(items);
        log.debug("dropped {} spans of the proxy: {}", items, error.toString());
      }
    });
  }
}
