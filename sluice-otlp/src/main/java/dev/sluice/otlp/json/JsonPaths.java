package dev.sluice.otlp.json;

import com.fasterxml.jackson.core.JsonStreamContext;
import java.util.ArrayDeque;

/** Renders Jackson's context chain as the dotted path used in error messages; only errors pay for it. */
final class JsonPaths {
  private static final int MAX_KEY = 64;

  private JsonPaths() {}

  /** Returns e.g. {@code resourceSpans[0].scopeSpans[0].spans[3].traceId}, or {@code $} at the top. */
  static String of(JsonStreamContext context) {
    ArrayDeque<JsonStreamContext> chain = new ArrayDeque<>();
    for (JsonStreamContext c = context; c != null; c = c.getParent()) {
      chain.push(c);
    }
    StringBuilder path = new StringBuilder();
    for (JsonStreamContext c : chain) {
      if (c.inObject() && c.hasCurrentName()) {
        String key = c.getCurrentName();
        if (path.length() > 0) {
          path.append('.');
        }
        appendPrintable(path, key, MAX_KEY);
      } else if (c.inArray() && c.hasCurrentIndex()) {
        path.append('[').append(c.getCurrentIndex()).append(']');
      }
    }
    return path.length() == 0 ? "$" : path.toString();
  }

  /**
   * Appends at most {@code max} chars of client-sent text with control chars replaced, so that an error
   * message stays one short line in the logs whatever the input was.
   */
  static StringBuilder appendPrintable(StringBuilder out, String text, int max) {
    int end = Math.min(text.length(), max);
    for (int i = 0; i < end; i++) {
      char c = text.charAt(i);
      out.append(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (end < text.length()) {
      out.append("...");
    }
    return out;
  }
}
