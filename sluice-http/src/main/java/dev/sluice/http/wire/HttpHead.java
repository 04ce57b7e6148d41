package dev.sluice.http.wire;

import io.netty.util.AsciiString;

/**
 * The header fields of a parsed head, request or response: where each line, name and value lies
 * in the buffer parsed (absolute indexes), and what is known of it.
 */
public abstract class HttpHead {
  final HeaderFields fields = new HeaderFields();

  HttpHead() {}

  public int headerCount() {
    return fields.count();
  }

  /** Where header line i begins; it runs through its line end to {@link #lineEnd}. */
  public int lineStart(int i) {
    return fields.lineStart(i);
  }

  public int lineEnd(int i) {
    return fields.lineEnd(i);
  }

  public int nameStart(int i) {
    return fields.lineStart(i);
  }

  public int nameEnd(int i) {
    return fields.nameEnd(i);
  }

  /** Where the value of header i begins, past leading SP/HTAB. */
  public int valueStart(int i) {
    return fields.valueStart(i);
  }

  /** Where the value of header i ends, before trailing SP/HTAB. */
  public int valueEnd(int i) {
    return fields.valueEnd(i);
  }

  /** The value of header i as a new string. */
  public String value(int i) {
    return fields.value(i);
  }

  /**
   * Whether header i is hop-by-hop: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
   * Upgrade, Proxy-Connection, or a header named by a token of a Connection header.
   */
  public boolean hopByHop(int i) {
    return fields.hopByHop(i);
  }

  /** The first header with that name (ASCII case-insensitive), or -1; allocates nothing. */
  public int indexOf(AsciiString lowerCaseName) {
    return fields.indexOf(lowerCaseName);
  }
}
