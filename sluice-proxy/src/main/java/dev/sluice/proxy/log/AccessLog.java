package dev.sluice.proxy.log;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonFactoryBuilder;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.CharacterEscapes;
import io.netty.util.concurrent.FastThreadLocal;
import java.io.IOException;
import java.io.StringWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one JSON object per proxied request, on one line, to the SLF4J logger {@value
 * #LOGGER_NAME} at INFO; route it to its own file or leave it off in the logging configuration.
 *
 * <pre>{@code
 * {"time":1718000000123,"listener":"public","route":"api","method":"GET","host":"example.com",
 *  "path":"/v1/items?page=2","protocol":"HTTP/2","status":200,"bytesIn":0,"bytesOut":5120,
 *  "durationMicros":1834,"upstream":"10.0.0.7:8080","upstreamStatus":200,"attempts":1,
 *  "client":"203.0.113.9","userAgent":"curl/8.5.0","traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}
 * }</pre>
 *
 * <p>Field names are those of {@link AccessRecord}; null fields and a zero {@code upstreamStatus}
 * are left out. Every character outside printable ASCII, quotes and backslashes included, is
 * escaped, so a hostile header can neither break the line nor forge another one; values longer
 * than {@value #MAX_VALUE_CHARS} characters are cut there. Safe from any thread; when the logger
 * is off, {@link #log} returns after one check.
 */
public final class AccessLog {
  /** The logger the lines go to. */
  public static final String LOGGER_NAME = "sluice.access";

  /** The longest a string value is written; the rest is cut (headers can be many kilobytes). */
  public static final int MAX_VALUE_CHARS = 4096;

  // A thread's buffer is dropped when a line made it larger than this, so one huge line does not
  // pin memory on every event loop.
  private static final int KEEP_BUFFER_CHARS = 16 * 1024;

  private static final JsonFactory JSON = new JsonFactoryBuilder()
      .characterEscapes(new AsciiOnly())
      .highestNonEscapedChar(0x7e)
      .rootValueSeparator((String) null)
      .build();

  /** Each thread's writer and generator, reused across lines: a generator costs buffers to make. */
  private static final FastThreadLocal<Line> LINES = new FastThreadLocal<>() {
    @Override
    protected Line initialValue() throws IOException {
      return new Line();
    }
  };

  private final Logger logger;

  /** An access log writing to {@value #LOGGER_NAME}. */
  public AccessLog() {
    this(LoggerFactory.getLogger(LOGGER_NAME));
  }

  AccessLog(Logger logger) {
    this.logger = logger;
  }

  /** Whether lines are written; when not, callers may skip building records. */
  public boolean enabled() {
    return logger.isInfoEnabled();
  }

  /** Writes {@code r} as one line, if the logger is on. */
  public void log(AccessRecord r) {
    if (!logger.isInfoEnabled()) {
      return;
    }
    String line;
    try {
      line = format(r);
    } catch (IOException | RuntimeException e) {
      // A StringWriter does not fail; a generator left half-written must not serve the next line.
      LINES.remove();
      logger.warn("could not write an access log line for {} {}", r.method(), r.path(), e);
      return;
    }
    logger.info(line);
  }

  static String format(AccessRecord r) throws IOException {
    Line l = LINES.get();
    StringBuffer buffer = l.out.getBuffer();
    buffer.setLength(0);
    JsonGenerator g = l.json;
    g.writeStartObject();
    g.writeNumberField("time", r.time());
    string(g, "listener", r.listener());
    string(g, "route", r.route());
    string(g, "method", r.method());
    string(g, "host", r.host());
    string(g, "path", r.path());
    string(g, "protocol", r.protocol());
    g.writeNumberField("status", r.status());
    g.writeNumberField("bytesIn", r.bytesIn());
    g.writeNumberField("bytesOut", r.bytesOut());
    g.writeNumberField("durationMicros", r.durationMicros());
    string(g, "upstream", r.upstream());
    if (r.upstreamStatus() != 0) {
      g.writeNumberField("upstreamStatus", r.upstreamStatus());
    }
    g.writeNumberField("attempts", r.attempts());
    string(g, "client", r.client());
    string(g, "forwardedFor", r.forwardedFor());
    string(g, "userAgent", r.userAgent());
    string(g, "traceId", r.traceId());
    string(g, "error", r.error());
    g.writeEndObject();
    g.flush();
    String line = buffer.toString();
    if (buffer.capacity() > KEEP_BUFFER_CHARS) {
      LINES.remove();
    }
    return line;
  }

  private static void string(JsonGenerator g, String name, String value) throws IOException {
    if (value == null) {
      return;
    }
    g.writeFieldName(name);
    if (value.length() > MAX_VALUE_CHARS) {
      g.writeString(value.substring(0, MAX_VALUE_CHARS));
    } else {
      g.writeString(value);
    }
  }

  /** JSON's escapes plus DEL, which Jackson leaves alone below its non-ASCII limit. */
  private static final class AsciiOnly extends CharacterEscapes {
    private static final int[] ESCAPES = standardAsciiEscapesForJSON();

    static {
      ESCAPES[0x7f] = ESCAPE_STANDARD;
    }

    @Override
    public int[] getEscapeCodesForAscii() {
      return ESCAPES;
    }

    @Override
    public SerializableString getEscapeSequence(int ch) {
      return null;
    }
  }

  private static final class Line {
    final StringWriter out = new StringWriter(512);
    final JsonGenerator json;

    Line() throws IOException {
      json = JSON.createGenerator(out);
    }
  }
}
