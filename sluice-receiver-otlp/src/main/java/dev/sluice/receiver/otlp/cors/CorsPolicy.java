package dev.sluice.receiver.otlp.cors;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which browser origins may send telemetry, and the CORS headers that tell the browser so, on the
 * preflight {@code OPTIONS} and on the {@code POST} answers alike. Origins are exact ({@code
 * https://app.example.com}), wildcards ({@code https://*.example.com}) or {@code *}.
 */
public final class CorsPolicy {
  /** Headers browsers' OTLP exporters send, always allowed. */
  private static final List<String> DEFAULT_HEADERS =
      List.of("accept", "accept-encoding", "content-type", "content-encoding", "x-requested-with");

  private final List<Pattern> origins;
  private final boolean any;
  private final Set<String> allowedHeaders;
  private final String allowHeadersValue;
  private final int maxAgeSeconds;

  /**
   * @param allowedOrigins empty turns CORS off: no CORS headers are sent
   * @param allowedHeaders added to the default set; {@code *} allows any
   * @param maxAgeSeconds how long a browser may cache a preflight answer; 0 sends no Max-Age
   */
  public CorsPolicy(List<String> allowedOrigins, List<String> allowedHeaders, int maxAgeSeconds) {
    List<Pattern> ps = new ArrayList<>();
    boolean star = false;
    for (String o : allowedOrigins) {
      if (o.equals("*")) {
        star = true;
      } else {
        ps.add(compile(o));
      }
    }
    this.origins = List.copyOf(ps);
    this.any = star;
    Set<String> hs = new LinkedHashSet<>(DEFAULT_HEADERS);
    for (String h : allowedHeaders) {
      hs.add(h.toLowerCase(Locale.ROOT));
    }
    this.allowedHeaders = Set.copyOf(hs);
    this.allowHeadersValue = String.join(", ", hs);
    this.maxAgeSeconds = maxAgeSeconds;
  }

  /** A policy that sends no CORS headers. */
  public static CorsPolicy disabled() {
    return new CorsPolicy(List.of(), List.of(), 0);
  }

  public boolean enabled() {
    return any || !origins.isEmpty();
  }

  private static Pattern compile(String origin) {
    if (!origin.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+$")) {
      throw new IllegalArgumentException(
          "allowed origin " + origin + " must look like https://host[:port] or https://*.host");
    }
    StringBuilder re = new StringBuilder();
    for (String part : origin.split("\\*", -1)) {
      if (re.length() > 0) {
        re.append("[^/]*");
      }
      re.append(Pattern.quote(part.toLowerCase(Locale.ROOT)));
    }
    return Pattern.compile(re.toString());
  }

  /** True when CORS is on and the origin matches one of the allowed ones. */
  public boolean allows(String origin) {
    if (origin == null || !enabled()) {
      return false;
    }
    if (any) {
      return true;
    }
    String o = origin.toLowerCase(Locale.ROOT);
    for (Pattern p : origins) {
      if (p.matcher(o).matches()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Adds the headers of an actual (non-preflight) answer when the origin is allowed. Idempotent:
   * an answer that already varies by Origin (a preflight's) does not get a second {@code Vary}.
   */
  public void decorate(String origin, HttpHeaders response) {
    if (allows(origin)) {
      response.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
      response.set(HttpHeaderNames.ACCESS_CONTROL_EXPOSE_HEADERS, "Retry-After");
      varyByOrigin(response);
    }
  }

  private static void varyByOrigin(HttpHeaders response) {
    if (!response.containsValue(HttpHeaderNames.VARY, HttpHeaderNames.ORIGIN, true)) {
      response.add(HttpHeaderNames.VARY, HttpHeaderNames.ORIGIN);
    }
  }

  /**
   * Checks a preflight and fills in its answer's headers.
   *
   * @return null when allowed, else why not
   */
  public String preflight(HttpHeaders request, HttpHeaders response) {
    String origin = request.get(HttpHeaderNames.ORIGIN);
    if (!allows(origin)) {
      return "origin " + origin + " is not allowed";
    }
    String method = request.get(HttpHeaderNames.ACCESS_CONTROL_REQUEST_METHOD);
    if (method != null && !method.equals("POST")) {
      return "method " + method + " is not allowed; only POST";
    }
    String requested = request.get(HttpHeaderNames.ACCESS_CONTROL_REQUEST_HEADERS);
    if (requested != null && !allowedHeaders.contains("*")) {
      for (String h : requested.split(",")) {
        String name = h.trim().toLowerCase(Locale.ROOT);
        if (!name.isEmpty() && !allowedHeaders.contains(name)) {
          return "header " + name + " is not allowed";
        }
      }
    }
    response.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    response.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_METHODS, "POST");
    response.set(
        HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS,
        allowedHeaders.contains("*") && requested != null ? requested : allowHeadersValue);
    if (maxAgeSeconds > 0) {
      response.setInt(HttpHeaderNames.ACCESS_CONTROL_MAX_AGE, maxAgeSeconds);
    }
    varyByOrigin(response);
    return null;
  }
}
