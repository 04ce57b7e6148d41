package dev.sluice.bench;

import dev.sluice.loadgen.Encoding;
import dev.sluice.loadgen.PayloadGenerator;
import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/**
 * The trace payload every benchmark sends or decodes: one {@code ExportTraceServiceRequest} of
 * {@value #SPANS} spans with {@value #ATTRIBUTES} attributes each, request 0 of sluice-loadgen's
 * {@link PayloadGenerator} with seed {@value #SEED}, so that every run, every benchmark in a run
 * and {@code sluice send --items 100 --attributes 10 --seed 20240917} see the same bytes.
 *
 * <p>It looks like what an instrumented HTTP service exports: one resource with the usual service
 * and host attributes, one instrumentation scope, spans in traces of ten (a server span and its
 * children, with parent ids), trace and span ids from the seed, nanosecond timestamps, a status,
 * and per span a mix of string, int, bool and double attributes with realistic keys and values.
 * Every span passes Sluice's item rules, so the receiver forwards the request as received.
 */
public final class Payloads {
  /** Spans in the request. */
  public static final int SPANS = 100;
  /** Attributes on each span. */
  public static final int ATTRIBUTES = 10;
  /** The seed of {@link #traceRequest()}. */
  public static final long SEED = 20240917L;

  private static final PayloadGenerator TRACES =
      PayloadGenerator.create(Signal.TRACES, SPANS, ATTRIBUTES, SEED);

  private Payloads() {}

  /** The generator of {@link #traceRequest()}: other indexes give the same spans with other ids. */
  public static PayloadGenerator traces() {
    return TRACES;
  }

  /** The request with {@value #SPANS} spans of {@value #ATTRIBUTES} attributes, seed {@link #SEED}. */
  public static ExportTraceServiceRequest traceRequest() {
    return (ExportTraceServiceRequest) TRACES.request(0);
  }

  /** {@link #traceRequest()} in the protobuf wire format. */
  public static byte[] traceRequestProtobuf() {
    return TRACES.body(0, Encoding.PROTOBUF);
  }

  /** {@link #traceRequest()} as OTLP/JSON (hex ids), as an OTLP/HTTP JSON client sends it. */
  public static byte[] traceRequestJson() {
    return TRACES.body(0, Encoding.JSON);
  }

  /** A request of {@code spans} spans of {@value #ATTRIBUTES} attributes each, from {@code seed}. */
  public static ExportTraceServiceRequest traceRequest(long seed, int spans) {
    return (ExportTraceServiceRequest) PayloadGenerator.create(Signal.TRACES, spans, ATTRIBUTES,
        seed).request(0);
  }
}
