package dev.sluice.proxy.engine;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.List;

/**
 * The hop-by-hop headers of RFC 9110 section 7.6.1, which concern one connection and are never
 * forwarded: {@code Connection} and every header it names, {@code Keep-Alive}, {@code TE},
 * {@code Trailer}, {@code Transfer-Encoding}, {@code Upgrade} and {@code Proxy-Connection}.
 */
final class HopHeaders {
  private static final AsciiString PROXY_CONNECTION = AsciiString.cached("proxy-connection");
  private static final AsciiString[] FIXED = {
      HttpHeaderNames.KEEP_ALIVE, HttpHeaderNames.TE, HttpHeaderNames.TRAILER,
      HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderNames.UPGRADE, PROXY_CONNECTION};

  private HopHeaders() {}

  /**
   * Strips the hop-by-hop headers. With {@code keepUpgrade}, a protocol upgrade (a WebSocket
   * handshake) keeps {@code Upgrade} and gets {@code Connection: upgrade} back, since the upgrade
   * is asked of the next hop too.
   */
  static void strip(HttpHeaders h, boolean keepUpgrade) {
    String upgrade = keepUpgrade ? h.get(HttpHeaderNames.UPGRADE) : null;
    List<String> connection = h.contains(HttpHeaderNames.CONNECTION)
        ? h.getAll(HttpHeaderNames.CONNECTION) : List.of();
    if (!connection.isEmpty()) {
      for (String value : connection) {
        int start = 0;
        while (start < value.length()) {
          int comma = value.indexOf(',', start);
          int end = comma < 0 ? value.length() : comma;
          String token = value.substring(start, end).trim();
          if (!token.isEmpty()) {
            h.remove(token);
          }
          start = end + 1;
        }
      }
      h.remove(HttpHeaderNames.CONNECTION);
    }
    for (AsciiString name : FIXED) {
      h.remove(name);
    }
    if (upgrade != null) {
      h.set(HttpHeaderNames.UPGRADE, upgrade);
      h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
    }
  }

  /** Whether the request asks for a protocol upgrade to WebSocket, the one passed through. */
  static boolean isWebSocketUpgrade(HttpHeaders h) {
    return h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)
        && h.contains(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true);
  }
}
