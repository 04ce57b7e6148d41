package dev.sluice.proxy.trace;

/**
 * Where the proxy's spans go: each call hands over one OTLP {@code ExportTraceServiceRequest} in
 * its protobuf encoding, which the callee owns from then on. Called from the proxy's reporting
 * thread, never from an event loop; may block briefly (backpressure), and may drop when it must
 * (the proxy's own spans are never worth stalling traffic for).
 */
@FunctionalInterface
public interface SpanSink {
  void accept(byte[] exportTraceServiceRequest);
}
