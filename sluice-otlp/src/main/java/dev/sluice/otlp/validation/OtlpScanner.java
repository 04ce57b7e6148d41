package dev.sluice.otlp.validation;


import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/**
 * Checks a protobuf-encoded {@code Export*ServiceRequest} and counts its items without building
 * protobuf objects, so that a valid request can be passed on as the bytes that were received.
 *
 * <p>It checks what protobuf-java's parser checks (wire types, lengths, varints, UTF-8 in strings,
 * nesting depth) through every message type the OTLP schema declares, skips unknown fields as the
 * parser does, and applies the item rules of {@link OtlpRequestFilter} (span and trace ids, metric
 * names). A hand-written scanner is used here, not the parser, because building the objects costs
 * several times more than reading the bytes, and this is the ingest hot path. Instances are
 * immutable and thread-safe.
 */
public final class OtlpScanner {
  private static final int MAX_DEPTH = 100; // protobuf-java's default recursion limit

  private static final WireSchema TRACES = WireSchema.of(ExportTraceServiceRequest.getDescriptor());
  private static final WireSchema METRICS =
      WireSchema.of(ExportMetricsServiceRequest.getDescriptor());
  private static final WireSchema LOGS = WireSchema.of(ExportLogsServiceRequest.getDescriptor());

  private OtlpScanner() {}

  /**
   * Scans {@code length} bytes at {@code offset} as a request of {@code signal}.
   *
   * @throws MalformedOtlpException when the bytes are not a valid encoding of that request
   */
  public static ScanResult scan(Signal signal, byte[] bytes, int offset, int length)
      throws MalformedOtlpException {
    if (offset < 0 || length < 0 || offset + length > bytes.length) {
      throw new IndexOutOfBoundsException("offset " + offset + ", length " + length);
    }
    WireSchema root;
    switch (signal) {
      case TRACES:
        root = TRACES;
        break;
      case METRICS:
        root = METRICS;
        break;
      default:
        root = LOGS;
    }
    Scan scan = new Scan(bytes, signal.itemNoun());
    scan.message(root, offset, offset + length, 0);
    if (scan.rejected == 0) {
      return new ScanResult(scan.items, 0, "");
    }
    return new ScanResult(
        scan.items,
        scan.rejected,
        ItemRules.summary(scan.rejected, scan.items, signal.itemNoun(), scan.firstProblem));
  }

  /** The state of one scan; a new one per request, a few fields only. */
  private static final class Scan {
    private final byte[] b;
    private final String noun;
    private int pos;
    int items;
    int rejected;
    String firstProblem;

    Scan(byte[] b, String noun) {
      this.b = b;
      this.noun = noun;
    }

    void message(WireSchema schema, int start, int end, int depth) throws MalformedOtlpException {
      if (depth > MAX_DEPTH) {
        throw new MalformedOtlpException("message nesting is deeper than " + MAX_DEPTH);
      }
      WireSchema.Role role = schema.role;
      // Facts about the item that the role's rule needs; unset fields have length 0.
      int idA = 0; // trace_id length (span, log) or name length (metric)
      int idB = 0; // span_id length
      int idC = 0; // parent_span_id length
      boolean zeroA = true;
      boolean zeroB = true;
      int pointsBefore = items;
      // Metric.data is a oneof: when a different member follows, the parser keeps only the last,
      // so the points counted for the earlier one are taken back. The same member twice merges.
      int dataField = 0;
      int dataPoints = 0;
      pos = start;
      while (pos < end) {
        long tag = varint(end);
        int field = (int) (tag >>> 3);
        int wireType = (int) (tag & 7);
        if (field == 0 || (tag >>> 32) != 0) {
          throw malformed("invalid field number in " + schema.name);
        }
        byte kind = field < schema.kinds.length ? schema.kinds[field] : WireSchema.UNKNOWN;
        switch (wireType) {
          case 0:
            varint(end);
            break;
          case 1:
            skip(8, end, schema);
            break;
          case 5:
            skip(4, end, schema);
            break;
          case 2:
            {
              int len = length(end, schema);
              int from = pos;
              int to = from + len;
              if (kind == WireSchema.MESSAGE) {
                int before = items;
                message(schema.children[field], from, to, depth + 1);
                if (role == WireSchema.Role.METRIC && isMetricData(field)) {
                  int added = items - before;
                  if (field == dataField) {
                    dataPoints += added;
                  } else {
                    items -= dataPoints;
                    dataField = field;
                    dataPoints = added;
                  }
                }
              } else if (kind == WireSchema.STRING) {
                if (!Utf8Check.isValid(b, from, to)) {
                  throw malformed("invalid UTF-8 in a string field of " + schema.name);
                }
              } else if (schema.packable.length > field && schema.packable[field]) {
                packed(kind, from, to, schema);
              }
              pos = to;
              if (role != WireSchema.Role.NONE) {
                // Remember the lengths the item rules look at; the last occurrence wins, as in
                // the parser.
                if (role == WireSchema.Role.METRIC) {
                  if (field == 1) {
                    idA = len;
                  }
                } else if (role == WireSchema.Role.SPAN || role == WireSchema.Role.LOG_RECORD) {
                  int traceField = role == WireSchema.Role.SPAN ? 1 : 9;
                  int spanField = role == WireSchema.Role.SPAN ? 2 : 10;
                  if (field == traceField) {
                    idA = len;
                    zeroA = ItemRules.allZero(b, from, to);
                  } else if (field == spanField) {
                    idB = len;
                    zeroB = ItemRules.allZero(b, from, to);
                  } else if (field == 4 && role == WireSchema.Role.SPAN) {
                    idC = len;
                  }
                }
              }
              break;
            }
          case 3:
            skipGroup(field, end, depth, schema);
            break;
          default:
            throw malformed("invalid wire type " + wireType + " in " + schema.name);
        }
      }
      if (pos != end) {
        throw malformed("a field of " + schema.name + " runs past the end of its message");
      }
      switch (role) {
        case SPAN:
          item(ItemRules.spanProblem(idA, zeroA, idB, zeroB, idC));
          break;
        case LOG_RECORD:
          item(ItemRules.logProblem(idA, idB));
          break;
        case DATA_POINT:
          items++;
          break;
        case METRIC:
          String problem = ItemRules.metricProblem(idA);
          if (problem != null && items > pointsBefore) {
            reject(items - pointsBefore, problem);
          }
          break;
        default:
          break;
      }
    }

    /** Metric's data oneof: gauge, sum, histogram, exponential_histogram, summary. */
    private static boolean isMetricData(int field) {
      return field == 5 || field == 7 || field == 9 || field == 10 || field == 11;
    }

    private void item(String problem) {
      items++;
      if (problem != null) {
        reject(1, problem);
      }
    }

    private void reject(int count, String problem) {
      if (firstProblem == null) {
        firstProblem = ItemRules.describe(noun.substring(0, noun.length() - 1), items - 1, problem);
      }
      rejected += count;
    }

    private void packed(byte kind, int from, int to, WireSchema schema)
        throws MalformedOtlpException {
      int size = kind == WireSchema.FIXED64 ? 8 : kind == WireSchema.FIXED32 ? 4 : 0;
      if (size != 0) {
        if ((to - from) % size != 0) {
          throw malformed("a packed field of " + schema.name + " has a partial element");
        }
        return;
      }
      pos = from;
      while (pos < to) {
        varint(to);
      }
    }

    private void skipGroup(int field, int end, int depth, WireSchema schema)
        throws MalformedOtlpException {
      if (depth > MAX_DEPTH) {
        throw malformed("message nesting is deeper than " + MAX_DEPTH);
      }
      while (pos < end) {
        long tag = varint(end);
        int wireType = (int) (tag & 7);
        switch (wireType) {
          case 0:
            varint(end);
            break;
          case 1:
            skip(8, end, schema);
            break;
          case 5:
            skip(4, end, schema);
            break;
          case 2:
            pos += length(end, schema);
            break;
          case 3:
            skipGroup((int) (tag >>> 3), end, depth + 1, schema);
            break;
          case 4:
            if ((int) (tag >>> 3) != field) {
              throw malformed("mismatched end group in " + schema.name);
            }
            return;
          default:
            throw malformed("invalid wire type " + wireType + " in " + schema.name);
        }
      }
      throw malformed("unterminated group in " + schema.name);
    }

    private int length(int end, WireSchema schema) throws MalformedOtlpException {
      long len = varint(end);
      if (len < 0 || len > end - pos) {
        throw malformed(
            "a length-delimited field of " + schema.name + " runs past the end of its message");
      }
      return (int) len;
    }

    private void skip(int n, int end, WireSchema schema) throws MalformedOtlpException {
      if (end - pos < n) {
        throw malformed("a fixed-size field of " + schema.name + " is truncated");
      }
      pos += n;
    }

    private long varint(int end) throws MalformedOtlpException {
      long result = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= end) {
          throw malformed("truncated varint");
        }
        byte x = b[pos++];
        result |= (long) (x & 0x7F) << shift;
        if (x >= 0) {
          return result;
        }
      }
      throw malformed("malformed varint");
    }

    private static MalformedOtlpException malformed(String what) {
      return new MalformedOtlpException(what);
    }
  }
}
