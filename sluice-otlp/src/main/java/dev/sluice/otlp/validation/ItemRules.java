package dev.sluice.otlp.validation;

/**
 * The rules an OTLP item must meet on its own to be accepted, shared by the wire scanner and the
 * object filter so both reject exactly the same items with the same words.
 */
final class ItemRules {
  static final int TRACE_ID_BYTES = 16;
  static final int SPAN_ID_BYTES = 8;

  private ItemRules() {}

  /** Returns null when a span's ids are valid, or the broken rule. */
  static String spanProblem(int traceIdLen, boolean traceIdZero, int spanIdLen, boolean spanIdZero,
      int parentLen) {
    if (traceIdLen != TRACE_ID_BYTES) {
      return "trace_id is " + traceIdLen + " bytes, must be 16";
    }
    if (traceIdZero) {
      return "trace_id is all zeros";
    }
    if (spanIdLen != SPAN_ID_BYTES) {
      return "span_id is " + spanIdLen + " bytes, must be 8";
    }
    if (spanIdZero) {
      return "span_id is all zeros";
    }
    if (parentLen != 0 && parentLen != SPAN_ID_BYTES) {
      return "parent_span_id is " + parentLen + " bytes, must be 8 or empty";
    }
    return null;
  }

  /** Returns null when a log record's optional ids are valid, or the broken rule. */
  static String logProblem(int traceIdLen, int spanIdLen) {
    if (traceIdLen != 0 && traceIdLen != TRACE_ID_BYTES) {
      return "trace_id is " + traceIdLen + " bytes, must be 16 or empty";
    }
    if (spanIdLen != 0 && spanIdLen != SPAN_ID_BYTES) {
      return "span_id is " + spanIdLen + " bytes, must be 8 or empty";
    }
    return null;
  }

  /** Returns null when a metric may be accepted, or the broken rule. */
  static String metricProblem(int nameLen) {
    return nameLen == 0 ? "metric name is empty" : null;
  }

  static String describe(String noun, int index, String problem) {
    return noun + " #" + index + " (in request order, from 0): " + problem;
  }

  static String summary(int rejected, int items, String noun, String first) {
    return "rejected " + rejected + " of " + items + " " + noun + "; first: " + first;
  }

  static boolean allZero(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
