package dev.sluice.otlp.json;

/** Signals OTLP/JSON input that cannot be decoded, naming the problem and the JSON path where it was found. */
public final class OtlpJsonException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String path;

  OtlpJsonException(String problem, String path, String detail, Throwable cause) {
    super(problem + " in " + path + (detail == null ? "" : ": " + detail), cause);
    this.path = path;
  }

  /**
   * The JSON path of the offending value, such as {@code resourceSpans[0].scopeSpans[0].spans[3].traceId},
   * or {@code $} for the document itself; keys appear as the input spelled them.
   */
  public String path() {
    return path;
  }
}
