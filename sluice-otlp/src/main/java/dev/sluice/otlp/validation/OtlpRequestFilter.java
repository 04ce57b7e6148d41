package dev.sluice.otlp.validation;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;

/**
 * Counts the items of a decoded OTLP request and drops those that are invalid on their own, by the
 * same rules and with the same words as {@link OtlpScanner}.
 */
public final class OtlpRequestFilter {

  /** A request with its invalid items removed, and what was found. */
  public record Filtered(Message request, ScanResult result) {}

  private OtlpRequestFilter() {}

  /** Returns the request unchanged when every item is valid, else a copy without the invalid ones. */
  public static Filtered filter(Signal signal, Message request) {
    switch (signal) {
      case TRACES:
        return traces((ExportTraceServiceRequest) request);
      case METRICS:
        return metrics((ExportMetricsServiceRequest) request);
      default:
        return logs((ExportLogsServiceRequest) request);
    }
  }

  /** Counts items and remembers the first problem, in request order. */
  private static final class Tally {
    final String noun;
    int items;
    int rejected;
    String first;

    Tally(String noun) {
      this.noun = noun;
    }

    boolean check(String problem, int count) {
      int index = items + count - 1;
      items += count;
      if (problem == null || count == 0) {
        return true;
      }
      rejected += count;
      if (first == null) {
        first = ItemRules.describe(noun, index, problem);
      }
      return false;
    }

    ScanResult result(String plural) {
      return rejected == 0
          ? new ScanResult(items, 0, "")
          : new ScanResult(items, rejected, ItemRules.summary(rejected, items, plural, first));
    }
  }

  private static Filtered traces(ExportTraceServiceRequest req) {
    Tally t = new Tally("span");
    ExportTraceServiceRequest.Builder out = ExportTraceServiceRequest.newBuilder();
    for (ResourceSpans rs : req.getResourceSpansList()) {
      ResourceSpans.Builder rsb = rs.toBuilder().clearScopeSpans();
      for (ScopeSpans ss : rs.getScopeSpansList()) {
        ScopeSpans.Builder ssb = ss.toBuilder().clearSpans();
        for (Span span : ss.getSpansList()) {
          String problem =
              ItemRules.spanProblem(
                  span.getTraceId().size(),
                  isZero(span.getTraceId()),
                  span.getSpanId().size(),
                  isZero(span.getSpanId()),
                  span.getParentSpanId().size());
          if (t.check(problem, 1)) {
            ssb.addSpans(span);
          }
        }
        rsb.addScopeSpans(ssb);
      }
      out.addResourceSpans(rsb);
    }
    return new Filtered(t.rejected == 0 ? req : out.build(), t.result(Signal.TRACES.itemNoun()));
  }

  private static Filtered metrics(ExportMetricsServiceRequest req) {
    Tally t = new Tally("data point");
    ExportMetricsServiceRequest.Builder out = ExportMetricsServiceRequest.newBuilder();
    for (ResourceMetrics rm : req.getResourceMetricsList()) {
      ResourceMetrics.Builder rmb = rm.toBuilder().clearScopeMetrics();
      for (ScopeMetrics sm : rm.getScopeMetricsList()) {
        ScopeMetrics.Builder smb = sm.toBuilder().clearMetrics();
        for (Metric m : sm.getMetricsList()) {
          if (t.check(ItemRules.metricProblem(m.getName().length()), dataPoints(m))) {
            smb.addMetrics(m);
          }
        }
        rmb.addScopeMetrics(smb);
      }
      out.addResourceMetrics(rmb);
    }
    return new Filtered(t.rejected == 0 ? req : out.build(), t.result(Signal.METRICS.itemNoun()));
  }

  private static Filtered logs(ExportLogsServiceRequest req) {
    Tally t = new Tally("log record");
    ExportLogsServiceRequest.Builder out = ExportLogsServiceRequest.newBuilder();
    for (ResourceLogs rl : req.getResourceLogsList()) {
      ResourceLogs.Builder rlb = rl.toBuilder().clearScopeLogs();
      for (ScopeLogs sl : rl.getScopeLogsList()) {
        ScopeLogs.Builder slb = sl.toBuilder().clearLogRecords();
        for (LogRecord r : sl.getLogRecordsList()) {
          if (t.check(ItemRules.logProblem(r.getTraceId().size(), r.getSpanId().size()), 1)) {
            slb.addLogRecords(r);
          }
        }
        rlb.addScopeLogs(slb);
      }
      out.addResourceLogs(rlb);
    }
    return new Filtered(t.rejected == 0 ? req : out.build(), t.result(Signal.LOGS.itemNoun()));
  }

  /** The number of data points a metric carries, whatever its kind. */
  public static int dataPoints(Metric m) {
    switch (m.getDataCase()) {
      case GAUGE:
        return m.getGauge().getDataPointsCount();
      case SUM:
        return m.getSum().getDataPointsCount();
      case HISTOGRAM:
        return m.getHistogram().getDataPointsCount();
      case EXPONENTIAL_HISTOGRAM:
        return m.getExponentialHistogram().getDataPointsCount();
      case SUMMARY:
        return m.getSummary().getDataPointsCount();
      default:
        return 0;
    }
  }

  private static boolean isZero(ByteString id) {
    for (int i = 0; i < id.size(); i++) {
      if (id.byteAt(i) != 0) {
        return false;
      }
    }
    return true;
  }
}
