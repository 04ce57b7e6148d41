package dev.sluice.bench;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.otlp.validation.MalformedOtlpException;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One trace request of {@value Payloads#SPANS} spans x {@value Payloads#ATTRIBUTES} attributes
 * ({@link Payloads#traceRequest()}), read three ways on one thread:
 *
 * <ul>
 *   <li>{@link #protobufParse}: protobuf-java's {@code ExportTraceServiceRequest.parseFrom(byte[])},
 *       the baseline;
 *   <li>{@link #otlpScan}: {@link OtlpScanner#scan}, what Sluice's receiver does with a protobuf
 *       body (checks and counts without building objects);
 *   <li>{@link #jsonParse}: {@link OtlpJsonCodec#parse} of the same request as OTLP/JSON, for
 *       reference.
 * </ul>
 *
 * <p>Each invocation counts as {@value Payloads#SPANS} operations, so the scores are spans per
 * second. Run: {@code java -jar bench/target/benchmarks.jar TraceDecodeBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(Payloads.SPANS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class TraceDecodeBenchmark {
  private byte[] protobuf;
  private byte[] json;

  @Setup
  public void setUp() throws MalformedOtlpException {
    protobuf = Payloads.traceRequestProtobuf();
    json = Payloads.traceRequestJson();
    ScanResult r = OtlpScanner.scan(Signal.TRACES, protobuf, 0, protobuf.length);
    if (r.items() != Payloads.SPANS || !r.allValid()) {
      throw new IllegalStateException("unexpected payload: " + r);
    }
    if (!OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance())
        .equals(Payloads.traceRequest())) {
      throw new IllegalStateException("the JSON form does not read back as the request");
    }
  }

  /** The baseline: protobuf-java builds the whole object tree. */
  @Benchmark
  public ExportTraceServiceRequest protobufParse() throws InvalidProtocolBufferException {
    return ExportTraceServiceRequest.parseFrom(protobuf);
  }

  /** What the receiver does with a protobuf body: validate and count, no objects. */
  @Benchmark
  public ScanResult otlpScan() throws MalformedOtlpException {
    return OtlpScanner.scan(Signal.TRACES, protobuf, 0, protobuf.length);
  }

  /** The same request as OTLP/JSON, parsed into protobuf objects. */
  @Benchmark
  public ExportTraceServiceRequest jsonParse() {
    return OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance());
  }
}
