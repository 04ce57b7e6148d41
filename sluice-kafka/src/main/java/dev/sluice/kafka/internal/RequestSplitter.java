package dev.sluice.kafka.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Cuts a parsed OTLP request into Kafka messages, each one {@code Export*ServiceRequest}:
 *
 * <ul>
 *   <li>traces: one message per trace, keyed by the trace id as 32 lowercase hex characters (the
 *       OpenTelemetry Collector's {@code partition_traces_by_id} key), so that every span of a
 *       trace lands in one partition, in order. Spans keep their resource and scope; resources and
 *       scopes without spans carry nothing and are left out, as in the Collector.
 *   <li>metrics and logs: one message per {@code ResourceMetrics}/{@code ResourceLogs}, as it is,
 *       keyed by {@link ResourceHash} of its resource attributes.
 * </ul>
 *
 * <p>A message whose encoding (with key, headers and Kafka's record overhead) would exceed {@code
 * maxMessageBytes} is cut in halves between items (spans, metric data points, log records), each
 * half keeping its resource and scope, until every piece fits; the pieces keep the key, so they
 * stay in order in one partition. A single item that does not fit alone is returned in {@link
 * Result#tooLarge()} for the dead-letter file. Works on protobuf-java messages, which keep unknown
 * fields, so the resource and scope envelopes are copied whole.
 */
public final class RequestSplitter {
  /**
   * What Kafka adds around a record's key, value and headers, rounded up: the record batch header
   * (61 bytes) and the record's own framing (at most 21 bytes plus the varint lengths). The
   * producer refuses a record whose size so estimated exceeds {@code max.request.size}.
   */
  public static final int RECORD_OVERHEAD = 128;

  private static final byte[] NO_KEY = new byte[0];
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private final KafkaEncoding encoding;
  private final int maxMessageBytes;

  public RequestSplitter(KafkaEncoding encoding, int maxMessageBytes) {
    this.encoding = Objects.requireNonNull(encoding, "encoding");
    if (maxMessageBytes <= RECORD_OVERHEAD) {
      throw new IllegalArgumentException("maxMessageBytes must be over " + RECORD_OVERHEAD);
    }
    this.maxMessageBytes = maxMessageBytes;
  }

  /**
   * One message: its key, encoded value, item count and the request it encodes.
   *
   * @param items spans, metric data points or log records in it
   */
  public record Piece(byte[] key, byte[] value, int items, Message request) {}

  /**
   * The messages to send, in order; the single items too large to send; how many messages had
   * to be cut for size.
   */
  public record Result(List<Piece> messages, List<Piece> tooLarge, int splitMessages) {}

  /**
   * Splits {@code request}, a parsed {@code Export*ServiceRequest} of {@code signal}.
   *
   * @param headerBytes the bytes of the headers each message will carry (keys and values)
   */
  public Result split(Signal signal, Message request, int headerBytes) {
    Out out = new Out(headerBytes);
    switch (signal) {
      case TRACES -> splitTraces((ExportTraceServiceRequest) request, out);
      case METRICS -> splitMetrics((ExportMetricsServiceRequest) request, out);
      case LOGS -> splitLogs((ExportLogsServiceRequest) request, out);
      default -> throw new IllegalArgumentException("unknown signal " + signal);
    }
    return new Result(out.messages, out.tooLarge, out.splits);
  }

  /** The encoding of {@code request} in this splitter's encoding. */
  public byte[] encode(Message request) {
    return encoding == KafkaEncoding.OTLP_JSON ? OtlpJsonCodec.toJsonBytes(request)
        : request.toByteArray();
  }

  /** Whether a message of these sizes fits {@code maxMessageBytes}. */
  public boolean fits(int keyBytes, int valueBytes, int headerBytes) {
    return (long) keyBytes + valueBytes + headerBytes + RECORD_OVERHEAD <= maxMessageBytes;
  }

  /** The message key of a trace: its id as lowercase hex, empty for an empty or all-zero id. */
  public static byte[] traceKey(ByteString traceId) {
    boolean zero = true;
    for (int i = 0; i < traceId.size(); i++) {
      if (traceId.byteAt(i) != 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      return NO_KEY;
    }
    char[] hex = new char[traceId.size() * 2];
    for (int i = 0; i < traceId.size(); i++) {
      int b = traceId.byteAt(i) & 0xff;
      hex[2 * i] = HEX[b >>> 4];
      hex[2 * i + 1] = HEX[b & 0xf];
    }
    return new String(hex).getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * One item and where it sits: resource {@code r}, scope {@code s}, item {@code i} (span, log
   * record or metric) and, for metrics, data point {@code p} (-1 for a metric without points).
   */
  private record Leaf(int r, int s, int i, int p, int items) {}

  private interface Builder {
    Message build(List<Leaf> leaves);
  }

  private final class Out {
    final int headerBytes;
    final List<Piece> messages = new ArrayList<>();
    final List<Piece> tooLarge = new ArrayList<>();
    int splits;

    Out(int headerBytes) {
      this.headerBytes = headerBytes;
    }

    /** Emits one message group, built whole or cut into pieces that fit. */
    void group(byte[] key, Message whole, List<Leaf> leaves, Builder builder) {
      byte[] value = encode(whole);
      if (fits(key.length, value.length, headerBytes) || leaves.size() <= 1) {
        add(key, value, count(leaves), whole, leaves.size());
        return;
      }
      splits++;
      int mid = leaves.size() / 2;
      cut(key, leaves.subList(0, mid), builder);
      cut(key, leaves.subList(mid, leaves.size()), builder);
    }

    private void cut(byte[] key, List<Leaf> leaves, Builder builder) {
      Message m = builder.build(leaves);
      byte[] value = encode(m);
      if (fits(key.length, value.length, headerBytes) || leaves.size() <= 1) {
        add(key, value, count(leaves), m, leaves.size());
        return;
      }
      int mid = leaves.size() / 2;
      cut(key, leaves.subList(0, mid), builder);
      cut(key, leaves.subList(mid, leaves.size()), builder);
    }

    private void add(byte[] key, byte[] value, int items, Message m, int leaves) {
      Piece piece = new Piece(key, value, items, m);
      if (leaves <= 1 && !fits(key.length, value.length, headerBytes)) {
        tooLarge.add(piece);
      } else {
        messages.add(piece);
      }
    }
  }

  private static int count(List<Leaf> leaves) {
    int n = 0;
    for (Leaf l : leaves) {
      n += l.items;
    }
    return n;
  }

  // ---- traces ---------------------------------------------------------------------------------

  private void splitTraces(ExportTraceServiceRequest req, Out out) {
    Map<String, List<Leaf>> traces = new LinkedHashMap<>();
    Map<String, byte[]> keys = new LinkedHashMap<>();
    for (int r = 0; r < req.getResourceSpansCount(); r++) {
      ResourceSpans rs = req.getResourceSpans(r);
      for (int s = 0; s < rs.getScopeSpansCount(); s++) {
        ScopeSpans ss = rs.getScopeSpans(s);
        for (int i = 0; i < ss.getSpansCount(); i++) {
          byte[] key = traceKey(ss.getSpans(i).getTraceId());
          String k = new String(key, StandardCharsets.US_ASCII);
          keys.putIfAbsent(k, key);
          traces.computeIfAbsent(k, x -> new ArrayList<>()).add(new Leaf(r, s, i, -1, 1));
        }
      }
    }
    Builder builder = leaves -> buildTraces(req, leaves);
    for (Map.Entry<String, List<Leaf>> trace : traces.entrySet()) {
      List<Leaf> leaves = trace.getValue();
      out.group(keys.get(trace.getKey()), builder.build(leaves), leaves, builder);
    }
  }

  private static ExportTraceServiceRequest buildTraces(ExportTraceServiceRequest req,
      List<Leaf> leaves) {
    ExportTraceServiceRequest.Builder out = ExportTraceServiceRequest.newBuilder();
    ResourceSpans.Builder rb = null;
    ScopeSpans.Builder sb = null;
    int cr = -1;
    int cs = -1;
    for (Leaf l : leaves) {
      if (l.r != cr) {
        if (rb != null) {
          rb.addScopeSpans(sb);
          out.addResourceSpans(rb);
        }
        rb = req.getResourceSpans(l.r).toBuilder().clearScopeSpans();
        sb = null;
        cr = l.r;
        cs = -1;
      }
      if (l.s != cs) {
        if (sb != null) {
          rb.addScopeSpans(sb);
        }
        sb = req.getResourceSpans(l.r).getScopeSpans(l.s).toBuilder().clearSpans();
        cs = l.s;
      }
      sb.addSpans(req.getResourceSpans(l.r).getScopeSpans(l.s).getSpans(l.i));
    }
    if (rb != null) {
      rb.addScopeSpans(sb);
      out.addResourceSpans(rb);
    }
    return out.build();
  }

  // ---- logs -----------------------------------------------------------------------------------

  private void splitLogs(ExportLogsServiceRequest req, Out out) {
    for (int r = 0; r < req.getResourceLogsCount(); r++) {
      ResourceLogs rl = req.getResourceLogs(r);
      List<Leaf> leaves = new ArrayList<>();
      for (int s = 0; s < rl.getScopeLogsCount(); s++) {
        for (int i = 0; i < rl.getScopeLogs(s).getLogRecordsCount(); i++) {
          leaves.add(new Leaf(r, s, i, -1, 1));
        }
      }
      out.group(ResourceHash.of(rl.getResource()),
          ExportLogsServiceRequest.newBuilder().addResourceLogs(rl).build(), leaves,
          part -> buildLogs(req, part));
    }
  }

  private static ExportLogsServiceRequest buildLogs(ExportLogsServiceRequest req,
      List<Leaf> leaves) {
    ExportLogsServiceRequest.Builder out = ExportLogsServiceRequest.newBuilder();
    ResourceLogs.Builder rb = null;
    ScopeLogs.Builder sb = null;
    int cr = -1;
    int cs = -1;
    for (Leaf l : leaves) {
      if (l.r != cr) {
        if (rb != null) {
          rb.addScopeLogs(sb);
          out.addResourceLogs(rb);
        }
        rb = req.getResourceLogs(l.r).toBuilder().clearScopeLogs();
        sb = null;
        cr = l.r;
        cs = -1;
      }
      if (l.s != cs) {
        if (sb != null) {
          rb.addScopeLogs(sb);
        }
        sb = req.getResourceLogs(l.r).getScopeLogs(l.s).toBuilder().clearLogRecords();
        cs = l.s;
      }
      sb.addLogRecords(req.getResourceLogs(l.r).getScopeLogs(l.s).getLogRecords(l.i));
    }
    if (rb != null) {
      rb.addScopeLogs(sb);
      out.addResourceLogs(rb);
    }
    return out.build();
  }

  // ---- metrics --------------------------------------------------------------------------------

  private void splitMetrics(ExportMetricsServiceRequest req, Out out) {
    for (int r = 0; r < req.getResourceMetricsCount(); r++) {
      ResourceMetrics rm = req.getResourceMetrics(r);
      List<Leaf> leaves = new ArrayList<>();
      for (int s = 0; s < rm.getScopeMetricsCount(); s++) {
        ScopeMetrics sm = rm.getScopeMetrics(s);
        for (int i = 0; i < sm.getMetricsCount(); i++) {
          int points = dataPoints(sm.getMetrics(i));
          if (points == 0) {
            leaves.add(new Leaf(r, s, i, -1, 0));
          }
          for (int p = 0; p < points; p++) {
            leaves.add(new Leaf(r, s, i, p, 1));
          }
        }
      }
      out.group(ResourceHash.of(rm.getResource()),
          ExportMetricsServiceRequest.newBuilder().addResourceMetrics(rm).build(), leaves,
          part -> buildMetrics(req, part));
    }
  }

  /** The data points of a metric's data member. */
  static int dataPoints(Metric m) {
    return switch (m.getDataCase()) {
      case GAUGE -> m.getGauge().getDataPointsCount();
      case SUM -> m.getSum().getDataPointsCount();
      case HISTOGRAM -> m.getHistogram().getDataPointsCount();
      case EXPONENTIAL_HISTOGRAM -> m.getExponentialHistogram().getDataPointsCount();
      case SUMMARY -> m.getSummary().getDataPointsCount();
      default -> 0;
    };
  }

  /** A copy of {@code m} holding only its data points {@code [from, to)}. */
  private static Metric slice(Metric m, int from, int to) {
    Metric.Builder b = m.toBuilder();
    switch (m.getDataCase()) {
      case GAUGE -> b.getGaugeBuilder().clearDataPoints()
          .addAllDataPoints(m.getGauge().getDataPointsList().subList(from, to));
      case SUM -> b.getSumBuilder().clearDataPoints()
          .addAllDataPoints(m.getSum().getDataPointsList().subList(from, to));
      case HISTOGRAM -> b.getHistogramBuilder().clearDataPoints()
          .addAllDataPoints(m.getHistogram().getDataPointsList().subList(from, to));
      case EXPONENTIAL_HISTOGRAM -> b.getExponentialHistogramBuilder().clearDataPoints()
          .addAllDataPoints(m.getExponentialHistogram().getDataPointsList().subList(from, to));
      case SUMMARY -> b.getSummaryBuilder().clearDataPoints()
          .addAllDataPoints(m.getSummary().getDataPointsList().subList(from, to));
      default -> {
        // no data points to slice
      }
    }
    return b.build();
  }

  private static ExportMetricsServiceRequest buildMetrics(ExportMetricsServiceRequest req,
      List<Leaf> leaves) {
    ExportMetricsServiceRequest.Builder out = ExportMetricsServiceRequest.newBuilder();
    ResourceMetrics.Builder rb = null;
    ScopeMetrics.Builder sb = null;
    int cr = -1;
    int cs = -1;
    int n = 0;
    while (n < leaves.size()) {
      Leaf l = leaves.get(n);
      if (l.r != cr) {
        if (rb != null) {
          rb.addScopeMetrics(sb);
          out.addResourceMetrics(rb);
        }
        rb = req.getResourceMetrics(l.r).toBuilder().clearScopeMetrics();
        sb = null;
        cr = l.r;
        cs = -1;
      }
      if (l.s != cs) {
        if (sb != null) {
          rb.addScopeMetrics(sb);
        }
        sb = req.getResourceMetrics(l.r).getScopeMetrics(l.s).toBuilder().clearMetrics();
        cs = l.s;
      }
      Metric metric = req.getResourceMetrics(l.r).getScopeMetrics(l.s).getMetrics(l.i);
      // The run of consecutive points of this metric in this piece.
      int end = n + 1;
      while (end < leaves.size() && leaves.get(end).r == l.r && leaves.get(end).s == l.s
          && leaves.get(end).i == l.i) {
        end++;
      }
      if (l.p < 0) {
        sb.addMetrics(metric);
      } else {
        int from = l.p;
        int to = leaves.get(end - 1).p + 1;
        sb.addMetrics(from == 0 && to == dataPoints(metric) ? metric : slice(metric, from, to));
      }
      n = end;
    }
    if (rb != null) {
      rb.addScopeMetrics(sb);
      out.addResourceMetrics(rb);
    }
    return out.build();
  }
}
