package dev.sluice.otlp;

import com.google.protobuf.Message;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsPartialSuccess;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;

/** The three OTLP signals, with what differs between them: paths, item names and message types. */
public enum Signal {
  TRACES("traces", "spans", ExportTraceServiceRequest.getDefaultInstance()) {
    @Override
    public Message response(long rejected, String message) {
      ExportTraceServiceResponse.Builder b = ExportTraceServiceResponse.newBuilder();
      if (rejected > 0 || !message.isEmpty()) {
        b.setPartialSuccess(
            ExportTracePartialSuccess.newBuilder()
                .setRejectedSpans(rejected)
                .setErrorMessage(message));
      }
      return b.build();
    }
  },
  METRICS("metrics", "data points", ExportMetricsServiceRequest.getDefaultInstance()) {
    @Override
    public Message response(long rejected, String message) {
      ExportMetricsServiceResponse.Builder b = ExportMetricsServiceResponse.newBuilder();
      if (rejected > 0 || !message.isEmpty()) {
        b.setPartialSuccess(
            ExportMetricsPartialSuccess.newBuilder()
                .setRejectedDataPoints(rejected)
                .setErrorMessage(message));
      }
      return b.build();
    }
  },
  LOGS("logs", "log records", ExportLogsServiceRequest.getDefaultInstance()) {
    @Override
    public Message response(long rejected, String message) {
      ExportLogsServiceResponse.Builder b = ExportLogsServiceResponse.newBuilder();
      if (rejected > 0 || !message.isEmpty()) {
        b.setPartialSuccess(
            ExportLogsPartialSuccess.newBuilder()
                .setRejectedLogRecords(rejected)
                .setErrorMessage(message));
      }
      return b.build();
    }
  };

  private final String id;
  private final String items;
  private final Message requestPrototype;

  Signal(String id, String items, Message requestPrototype) {
    this.id = id;
    this.items = items;
    this.requestPrototype = requestPrototype;
  }

  /** The lower-case name used in paths, metrics labels and directory names: traces, metrics, logs. */
  public String id() {
    return id;
  }

  /** What one item of this signal is called in messages: spans, data points, log records. */
  public String itemNoun() {
    return items;
  }

  /** The default path of this signal on an OTLP/HTTP server, e.g. {@code /v1/traces}. */
  public String defaultPath() {
    return "/v1/" + id;
  }

  /** The empty {@code Export*ServiceRequest} of this signal, for parsing. */
  public Message requestPrototype() {
    return requestPrototype;
  }

  /** Parses a protobuf-encoded {@code Export*ServiceRequest} of this signal. */
  public Message parseRequest(byte[] bytes, int offset, int length)
      throws com.google.protobuf.InvalidProtocolBufferException {
    return requestPrototype.getParserForType().parseFrom(bytes, offset, length);
  }

  /**
   * The {@code Export*ServiceResponse} of this signal: empty when everything was accepted, with
   * {@code partial_success} when items were rejected or there is a warning to pass on.
   */
  public abstract Message response(long rejected, String message);

  /** Looks a signal up by its {@link #id()}, or returns null. */
  public static Signal byId(String id) {
    for (Signal s : values()) {
      if (s.id.equals(id)) {
        return s;
      }
    }
    return null;
  }
}
