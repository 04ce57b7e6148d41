package dev.sluice.proxy.engine;

import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** What the raw fast paths of both protocols share about a call: retry rules and error answers. */
final class Calls {
  /** Request body kept for a retry, at most; a larger body ends the chance of one. */
  static final int MAX_REPLAY_BYTES = 64 * 1024;
  /** Largest response head taken from an upstream. */
  static final int MAX_RESPONSE_HEAD = 64 * 1024;

  private Calls() {}

  /** Whether a request with this method may be sent again after it reached an upstream. */
  static boolean idempotent(HttpMethod m) {
    return m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD) || m.equals(HttpMethod.OPTIONS)
        || m.equals(HttpMethod.PUT) || m.equals(HttpMethod.DELETE) || m.equals(HttpMethod.TRACE);
  }

  /** A duration for a message: whole seconds as seconds, else milliseconds. */
  static String millis(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toMillis() / 1000 + " s" : d.toMillis() + " ms";
  }

  /** The plain-text body of an error answer of the proxy's own. */
  static byte[] errorBody(HttpResponseStatus status, String reason) {
    return (status.code() + " " + status.reasonPhrase() + ": " + reason + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }
}
