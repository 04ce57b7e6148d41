package dev.sluice.proxy.route;

import dev.sluice.proxy.settings.RouteSettings.HeaderRules;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.Headers;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A route's edits of request or response headers: remove, then set (replace), then add. Applied
 * to a header map on the standard path ({@link #apply}); on the raw fast paths, where headers are
 * copied line by line, as "is this name dropped" ({@link #drops}) and the lines to append
 * ({@link #writeLines}, {@link #addTo}).
 */
public final class HeaderEdits {
  /**
   * Headers the proxy itself manages, per hop: how a message is framed and what its connection
   * does. An edit of one would break the framing, so a route may not make it.
   */
  private static final Set<String> MANAGED = Set.of("content-length", "transfer-encoding",
      "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection");
  /** Names the raw paths read themselves: routes that edit them are served by the standard path. */
  private static final Set<String> READ_BY_RAW_PATHS = Set.of("expect", "traceparent");

  private final AsciiString[] remove;
  private final AsciiString[] setNames;
  private final String[] setValues;
  private final AsciiString[] addNames;
  private final String[] addValues;
  /** Lower case: the names removed or replaced, whose incoming lines are not copied. */
  private final AsciiString[] dropped;
  /** The set and added headers as HTTP/1.1 lines, names in lower case. */
  private final byte[] lines;
  private final boolean fitsRawPath;

  HeaderEdits(String route, String what, HeaderRules rules) {
    remove = new AsciiString[rules.remove().size()];
    for (int i = 0; i < remove.length; i++) {
      Route.checkHeader(route, what, rules.remove().get(i), null);
      remove[i] = AsciiString.of(rules.remove().get(i));
    }
    setNames = new AsciiString[rules.set().size()];
    setValues = new String[setNames.length];
    fill(route, what, rules.set(), setNames, setValues);
    addNames = new AsciiString[rules.add().size()];
    addValues = new String[addNames.length];
    fill(route, what, rules.add(), addNames, addValues);

    dropped = new AsciiString[remove.length + setNames.length];
    boolean fits = true;
    for (int i = 0; i < dropped.length; i++) {
      AsciiString name = i < remove.length ? remove[i] : setNames[i - remove.length];
      dropped[i] = name.toLowerCase();
    }
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < setNames.length; i++) {
      text.append(setNames[i].toLowerCase()).append(": ").append(setValues[i]).append("\r\n");
    }
    for (int i = 0; i < addNames.length; i++) {
      text.append(addNames[i].toLowerCase()).append(": ").append(addValues[i]).append("\r\n");
    }
    for (AsciiString[] names : new AsciiString[][] {remove, setNames, addNames}) {
      for (AsciiString name : names) {
        String lower = name.toString().toLowerCase(Locale.ROOT);
        if (managed(lower)) {
          throw new IllegalArgumentException("route " + route + ": " + what + " '" + name
              + "' cannot be edited: the proxy sets the framing and connection headers of each"
              + " hop itself");
        }
        fits &= !READ_BY_RAW_PATHS.contains(lower);
      }
    }
    lines = text.toString().getBytes(StandardCharsets.ISO_8859_1);
    fitsRawPath = fits;
  }

  /**
   * Whether a header is one the proxy sets itself on each hop (framing and connection headers),
   * which a route may not edit.
   */
  public static boolean managed(String name) {
    return MANAGED.contains(name.toLowerCase(Locale.ROOT));
  }

  private static void fill(String route, String what, Map<String, String> rules,
      AsciiString[] names, String[] values) {
    int i = 0;
    for (Map.Entry<String, String> e : rules.entrySet()) {
      Route.checkHeader(route, what, e.getKey(), e.getValue());
      names[i] = AsciiString.of(e.getKey());
      values[i] = e.getValue();
      i++;
    }
  }

  /** Whether there is nothing to edit. */
  public boolean isEmpty() {
    return remove.length == 0 && setNames.length == 0 && addNames.length == 0;
  }

  /** Whether the edits leave the headers the raw paths read (Expect, traceparent) alone. */
  public boolean fitsRawPath() {
    return fitsRawPath;
  }

  /** Edits a header map: remove, then set, then add. */
  public void apply(HttpHeaders headers) {
    for (AsciiString name : remove) {
      headers.remove(name);
    }
    for (int i = 0; i < setNames.length; i++) {
      headers.set(setNames[i], setValues[i]);
    }
    for (int i = 0; i < addNames.length; i++) {
      headers.add(addNames[i], addValues[i]);
    }
  }

  /** Whether a header of this name (lower case) is removed or replaced. */
  public boolean drops(CharSequence lowerName) {
    for (AsciiString d : dropped) {
      if (d.contentEquals(lowerName)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether the header whose name is at {@code buf[at, at + length)}, in any case, is removed or
   * replaced.
   */
  public boolean drops(ByteBuf buf, int at, int length) {
    for (AsciiString d : dropped) {
      if (d.length() == length && sameIgnoringCase(buf, at, d)) {
        return true;
      }
    }
    return false;
  }

  private static boolean sameIgnoringCase(ByteBuf buf, int at, AsciiString lower) {
    for (int i = 0; i < lower.length(); i++) {
      int b = buf.getByte(at + i);
      if (b >= 'A' && b <= 'Z') {
        b += 'a' - 'A';
      }
      if (b != lower.byteAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The length of what {@link #writeLines} writes. */
  public int lineBytes() {
    return lines.length;
  }

  /** Writes the set and added headers as HTTP/1.1 header lines. */
  public void writeLines(ByteBuf out) {
    out.writeBytes(lines);
  }

  /** Adds the set and added headers to an HTTP/2 header block (names in lower case). */
  public void addTo(Headers<CharSequence, CharSequence, ?> headers) {
    for (int i = 0; i < setNames.length; i++) {
      headers.add(setNames[i].toLowerCase(), setValues[i]);
    }
    for (int i = 0; i < addNames.length; i++) {
      headers.add(addNames[i].toLowerCase(), addValues[i]);
    }
  }
}
