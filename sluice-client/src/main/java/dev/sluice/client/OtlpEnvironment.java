package dev.sluice.client;

import dev.sluice.exporter.otlp.Compression;
import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.http.upstream.UpstreamTls;
import dev.sluice.otlp.Signal;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Reads the OpenTelemetry exporter environment variables ({@code OTEL_EXPORTER_OTLP_*}) as the
 * specification's "OTLP Exporter Configuration" says, onto a {@link SluiceOtlpClient.Builder}.
 */
final class OtlpEnvironment {
  static final String PREFIX = "OTEL_EXPORTER_OTLP_";

  private OtlpEnvironment() {}

  /** Applies every variable that is set (an empty value counts as unset, as the spec says). */
  static void apply(Map<String, String> env, SluiceOtlpClient.Builder b) {
    apply(env, "ENDPOINT", b::endpoint);
    apply(env, "HEADERS", v2 -> b.headers(parseHeaders(v2)));
    apply(env, "COMPRESSION", b::compression);
    apply(env, "TIMEOUT", v2 -> b.timeout(parseTimeout(v2)));
    apply(env, "PROTOCOL", b::protocol);
    UpstreamTls common = tls(env, "");
    if (common != null) {
      b.tls(common);
    }
    for (Signal s : Signal.values()) {
      String sig = s.id().toUpperCase(Locale.ROOT) + "_";
      apply(env, sig + "ENDPOINT", v2 -> b.signalEndpoint(s, v2));
      apply(env, sig + "HEADERS", v2 -> b.signalHeaders(s, parseHeaders(v2)));
      apply(env, sig + "COMPRESSION", v2 -> b.signalCompression(s, v2));
      apply(env, sig + "TIMEOUT", v2 -> b.signalTimeout(s, parseTimeout(v2)));
      apply(env, sig + "PROTOCOL", v2 -> b.signalProtocol(s, v2));
      if (get(env, PREFIX + sig + "CERTIFICATE") != null
          || get(env, PREFIX + sig + "CLIENT_CERTIFICATE") != null
          || get(env, PREFIX + sig + "CLIENT_KEY") != null) {
        b.signalTls(s, tls(env, sig));
      }
    }
  }

  /**
   * The TLS settings of {@code CERTIFICATE} (CA certificates to trust), {@code
   * CLIENT_CERTIFICATE} and {@code CLIENT_KEY} (mutual TLS, both or neither), each the signal's
   * own variable when set, else the generic one; null when none is set.
   */
  private static UpstreamTls tls(Map<String, String> env, String signal) {
    String caKey = variable(env, signal, "CERTIFICATE");
    String certKey = variable(env, signal, "CLIENT_CERTIFICATE");
    String keyKey = variable(env, signal, "CLIENT_KEY");
    if (caKey == null && certKey == null && keyKey == null) {
      return null;
    }
    if ((certKey == null) != (keyKey == null)) {
      String set = certKey != null ? certKey : keyKey;
      String missing = PREFIX + signal + (certKey == null ? "CLIENT_CERTIFICATE" : "CLIENT_KEY");
      throw new IllegalArgumentException(set + " is set but " + missing
          + " is not: a client certificate needs its private key and the other way round");
    }
    UpstreamTls.Builder tls = UpstreamTls.builder();
    if (caKey != null) {
      tls.caFile(readableFile(env, caKey));
    }
    if (certKey != null) {
      tls.clientCertificate(readableFile(env, certKey), readableFile(env, keyKey));
    }
    return tls.build();
  }

  /** The name of the variable that applies: the signal's own when set, else the generic one. */
  private static String variable(Map<String, String> env, String signal, String suffix) {
    if (!signal.isEmpty() && get(env, PREFIX + signal + suffix) != null) {
      return PREFIX + signal + suffix;
    }
    return get(env, PREFIX + suffix) != null ? PREFIX + suffix : null;
  }

  /** A PEM file named by a variable; checked here so that the error names the variable. */
  private static Path readableFile(Map<String, String> env, String key) {
    String v = get(env, key);
    Path file;
    try {
      file = Path.of(v);
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException(key + ": '" + v + "' is not a file path", e);
    }
    if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
      throw new IllegalArgumentException(key + ": " + file
          + " does not exist or is not a readable file");
    }
    return file;
  }

  private interface Setter {
    void set(String value);
  }

  private static void apply(Map<String, String> env, String suffix, Setter setter) {
    String key = PREFIX + suffix;
    String v = get(env, key);
    if (v != null) {
      wrap(key, () -> setter.set(v));
    }
  }

  private static void wrap(String key, Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(key + ": " + e.getMessage(), e);
    }
  }

  private static String get(Map<String, String> env, String key) {
    String v = env.get(key);
    if (v == null) {
      return null;
    }
    v = v.trim();
    return v.isEmpty() ? null : v;
  }

  /** {@code OTEL_EXPORTER_OTLP_TIMEOUT}: whole milliseconds. */
  static Duration parseTimeout(String ms) {
    long n;
    try {
      n = Long.parseLong(ms.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("must be a whole number of milliseconds, not '" + ms
          + "'");
    }
    if (n <= 0) {
      throw new IllegalArgumentException("must be a positive number of milliseconds: " + ms);
    }
    return Duration.ofMillis(n);
  }

  /**
   * {@code http/protobuf} or {@code http/json}; {@code grpc}, the other value the specification
   * knows, is refused: the client speaks OTLP/HTTP only.
   */
  static Encoding parseProtocol(String protocol) {
    String p = protocol == null ? "" : protocol.trim().toLowerCase(Locale.ROOT);
    switch (p) {
      case "http/protobuf":
        return Encoding.PROTOBUF;
      case "http/json":
        return Encoding.JSON;
      case "grpc":
        throw new IllegalArgumentException(
            "grpc is not supported by the Sluice client; use http/protobuf or http/json");
      default:
        throw new IllegalArgumentException(
            "protocol must be http/protobuf or http/json, not '" + protocol + "'");
    }
  }

  /** The protocol name of an encoding, as the variable spells it. */
  static String protocolName(Encoding e) {
    return e == Encoding.JSON ? "http/json" : "http/protobuf";
  }

  /** {@code gzip} or {@code none} as the specification says, and {@code zstd} besides. */
  static Compression parseCompression(String value) {
    return Compression.of(value);
  }

  /**
   * {@code OTEL_EXPORTER_OTLP_HEADERS}: comma-separated {@code key=value} pairs in the W3C Baggage
   * format, without its properties: whitespace around keys, values and commas is dropped, and
   * values are percent-decoded as UTF-8 ({@code +} stays a plus, as in Baggage). A later duplicate
   * of a name (case-insensitive) replaces the earlier one.
   *
   * @throws IllegalArgumentException for a member that is not {@code key=value}
   */
  static Map<String, String> parseHeaders(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String member : text.split(",", -1)) {
      String m = member.trim();
      if (m.isEmpty()) {
        continue;
      }
      int eq = m.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("'" + m + "' is not a key=value pair");
      }
      String key = m.substring(0, eq).trim();
      if (key.isEmpty()) {
        throw new IllegalArgumentException("'" + m + "' has no key");
      }
      String value = percentDecode(m.substring(eq + 1).trim());
      out.keySet().removeIf(k -> k.equalsIgnoreCase(key));
      out.put(key, value);
    }
    return out;
  }

  /**
   * RFC 3986 percent-decoding to UTF-8; a {@code %} not followed by two hex digits stays as it is,
   * bytes that are not UTF-8 become U+FFFD.
   */
  static String percentDecode(String s) {
    if (s.indexOf('%') < 0) {
      return s;
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%' && i + 2 < s.length() && hex(s.charAt(i + 1)) >= 0
          && hex(s.charAt(i + 2)) >= 0) {
        bytes.write(hex(s.charAt(i + 1)) * 16 + hex(s.charAt(i + 2)));
        i += 2;
      } else if (c < 0x80) {
        bytes.write(c);
      } else {
        int end = Character.isHighSurrogate(c) && i + 1 < s.length() ? i + 2 : i + 1;
        bytes.writeBytes(s.substring(i, end).getBytes(StandardCharsets.UTF_8));
        i = end - 1;
      }
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }

  private static int hex(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  }
}
