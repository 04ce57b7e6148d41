package dev.sluice.app.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A position in the YAML tree that reads typed values by key, records every problem with its key
 * path instead of stopping at the first, and reports the keys nobody asked for as unknown.
 */
final class ConfigNode {
  private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h)");
  private static final Pattern SIZE =
      Pattern.compile("(\\d+)\\s*(B|KB|MB|GB|KiB|MiB|GiB)?", Pattern.CASE_INSENSITIVE);

  private final JsonNode node;
  private final String path;
  private final List<String> problems;
  private final Set<String> asked = new LinkedHashSet<>();

  ConfigNode(JsonNode node, String path, List<String> problems) {
    this.node = node;
    this.path = path;
    this.problems = problems;
  }

  String path() {
    return path;
  }

  String pathOf(String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  /** Problems recorded so far in the whole configuration. */
  int problemCount() {
    return problems.size();
  }

  void problem(String key, String message) {
    problems.add((key == null ? path : pathOf(key)) + ": " + message);
  }

  boolean has(String key) {
    asked.add(key);
    JsonNode v = node.get(key);
    return v != null && !v.isNull();
  }

  private JsonNode raw(String key) {
    asked.add(key);
    JsonNode v = node.get(key);
    return v == null || v.isNull() ? null : v;
  }

  /** The value at {@code key} as YAML gave it, or null; for values of more than one shape. */
  JsonNode value(String key) {
    return raw(key);
  }

  /** A section found inside a value of this one (an item of a list), at its own key path. */
  ConfigNode child(JsonNode section, String childPath) {
    return new ConfigNode(section, childPath, problems);
  }

  /** Records a problem at a full key path, such as that of a list item. */
  void problemAt(String fullPath, String message) {
    problems.add(fullPath + ": " + message);
  }

  /** A number that may have a fraction, such as a rate. */
  double number(String key, double dflt, double min, double max) {
    JsonNode v = raw(key);
    if (v == null) {
      return dflt;
    }
    double n;
    if (v.isNumber()) {
      n = v.doubleValue();
    } else if (v.isTextual() && v.asText().trim().matches("-?\\d{1,15}(\\.\\d{1,15})?")) {
      n = Double.parseDouble(v.asText().trim());
    } else {
      problem(key, "must be a number, not " + describe(v));
      return dflt;
    }
    if (!(n >= min && n <= max)) {
      problem(key, "must be between " + plain(min) + " and " + plain(max) + ", not " + plain(n));
      return dflt;
    }
    return n;
  }

  private static String plain(double d) {
    return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
  }

  /** A section of names to string values, such as headers, in the order given. */
  java.util.Map<String, String> stringMap(String key) {
    java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
    JsonNode v = raw(key);
    if (v == null) {
      return out;
    }
    if (!v.isObject()) {
      problem(key, "must be a section of names and values, not " + describe(v));
      return out;
    }
    v.fields().forEachRemaining(e -> {
      if (!e.getValue().isValueNode() || e.getValue().isNull()) {
        problems.add(pathOf(key) + "." + e.getKey() + ": must be a single value, not "
            + describe(e.getValue()));
      } else {
        out.put(e.getKey(), e.getValue().asText());
      }
    });
    return out;
  }

  /** A nested section; an absent one reads as empty, so its defaults apply. */
  ConfigNode section(String key) {
    JsonNode v = raw(key);
    if (v != null && !v.isObject()) {
      problem(key, "must be a section of keys, not " + describe(v));
      v = null;
    }
    return new ConfigNode(
        v == null ? com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode() : v,
        pathOf(key), problems);
  }

  List<ConfigNode> sections(String key) {
    JsonNode v = raw(key);
    List<ConfigNode> out = new ArrayList<>();
    if (v == null) {
      return out;
    }
    if (!v.isArray()) {
      problem(key, "must be a list, not " + describe(v));
      return out;
    }
    for (int i = 0; i < v.size(); i++) {
      String p = pathOf(key) + "[" + i + "]";
      if (!v.get(i).isObject()) {
        problems.add(p + ": must be a section of keys, not " + describe(v.get(i)));
      } else {
        out.add(new ConfigNode(v.get(i), p, problems));
      }
    }
    return out;
  }

  /** The keys present in this section, for sections whose keys are names (e.g. exporters). */
  List<String> keys() {
    List<String> keys = new ArrayList<>();
    node.fieldNames().forEachRemaining(keys::add);
    return keys;
  }

  String string(String key, String dflt) {
    JsonNode v = raw(key);
    if (v == null) {
      return dflt;
    }
    if (!v.isValueNode()) {
      problem(key, "must be a single value, not " + describe(v));
      return dflt;
    }
    return v.asText();
  }

  String oneOf(String key, String dflt, String... allowed) {
    String v = string(key, dflt);
    for (String a : allowed) {
      if (a.equals(v)) {
        return v;
      }
    }
    problem(key, "must be one of " + String.join(", ", allowed) + ", not " + v);
    return dflt;
  }

  boolean bool(String key, boolean dflt) {
    JsonNode v = raw(key);
    if (v == null) {
      return dflt;
    }
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    if (v.isTextual() && (v.asText().equals("true") || v.asText().equals("false"))) {
      return Boolean.parseBoolean(v.asText());
    }
    problem(key, "must be true or false, not " + describe(v));
    return dflt;
  }

  int integer(String key, int dflt, int min, int max) {
    JsonNode v = raw(key);
    if (v == null) {
      return dflt;
    }
    long n;
    if (v.isIntegralNumber() && !v.canConvertToLong()) {
      // longValue() would wrap a number this large into the range silently.
      problem(key, "must be between " + min + " and " + max + ", not " + v.asText());
      return dflt;
    } else if (v.isIntegralNumber()) {
      n = v.longValue();
    } else if (v.isTextual() && v.asText().matches("-?\\d{1,18}")) {
      n = Long.parseLong(v.asText());
    } else {
      problem(key, "must be a whole number, not " + describe(v));
      return dflt;
    }
    if (n < min || n > max) {
      problem(key, "must be between " + min + " and " + max + ", not " + n);
      return dflt;
    }
    return (int) n;
  }

  /** A byte size: a number of bytes, or a number with B, KB, MB, GB, KiB, MiB or GiB. */
  long size(String key, long dflt, long min, long max) {
    JsonNode v = raw(key);
    if (v == null) {
      return dflt;
    }
    long n;
    if (v.isIntegralNumber() && !v.canConvertToLong()) {
      problem(key, "is too large: " + v.asText());
      return dflt;
    } else if (v.isIntegralNumber()) {
      n = v.longValue();
    } else {
      Matcher m = SIZE.matcher(v.asText().trim());
      if (!v.isTextual() || !m.matches()) {
        problem(key, "must be a size such as 1048576, 512KiB or 64MiB, not " + describe(v));
        return dflt;
      }
      long unit = unit(m.group(2));
      try {
        n = Math.multiplyExact(Long.parseLong(m.group(1)), unit);
      } catch (ArithmeticException | NumberFormatException e) {
        problem(key, "is too large: " + v.asText());
        return dflt;
      }
    }
    if (n < min || n > max) {
      problem(key, "must be between " + min + " and " + max + " bytes, not " + n);
      return dflt;
    }
    return n;
  }

  private static long unit(String u) {
    if (u == null) {
      return 1;
    }
    switch (u.toLowerCase(Locale.ROOT)) {
      case "kb":
        return 1000L;
      case "mb":
        return 1000L * 1000;
      case "gb":
        return 1000L * 1000 * 1000;
      case "kib":
        return 1024L;
      case "mib":
        return 1024L * 1024;
      case "gib":
        return 1024L * 1024 * 1024;
      default:
        return 1;
    }
  }

  /** A duration that may also be zero ({@code 0}, {@code 0s}), for settings where 0 means off. */
  Duration durationOrZero(String key, Duration dflt) {
    if (has(key) && string(key, "").trim().matches("0(ms|s|m|h)?")) {
      return Duration.ZERO;
    }
    return duration(key, dflt);
  }

  /** A duration such as 500ms, 10s, 5m or 1h. */
  Duration duration(String key, Duration dflt) {
    JsonNode v = raw(key);
    if (v == null) {
      return dflt;
    }
    Matcher m = DURATION.matcher(v.asText().trim());
    if (!v.isTextual() || !m.matches()) {
      problem(key, "must be a duration such as 500ms, 10s, 5m or 1h, not " + describe(v));
      return dflt;
    }
    Duration d;
    try {
      long n = Long.parseLong(m.group(1));
      switch (m.group(2)) {
        case "ms":
          d = Duration.ofMillis(n);
          break;
        case "s":
          d = Duration.ofSeconds(n);
          break;
        case "m":
          d = Duration.ofMinutes(n);
          break;
        default:
          d = Duration.ofHours(n);
      }
      d.toNanos(); // timers count in nanoseconds: a longer duration would overflow them later
    } catch (NumberFormatException | ArithmeticException e) {
      // The digits do not fit in a long, or the duration overflows.
      problem(key, "is too large: " + v.asText());
      return dflt;
    }
    if (d.isZero()) {
      problem(key, "must be longer than 0");
      return dflt;
    }
    return d;
  }

  List<String> strings(String key) {
    JsonNode v = raw(key);
    List<String> out = new ArrayList<>();
    if (v == null) {
      return out;
    }
    if (!v.isArray()) {
      problem(key, "must be a list of strings, not " + describe(v));
      return out;
    }
    for (int i = 0; i < v.size(); i++) {
      if (!v.get(i).isValueNode() || v.get(i).isNull()) {
        problems.add(pathOf(key) + "[" + i + "]: must be a string, not " + describe(v.get(i)));
      } else {
        out.add(v.get(i).asText());
      }
    }
    return out;
  }

  /** Reports the keys of this section that were never asked for. Call after reading it. */
  void rejectUnknownKeys() {
    Iterator<String> it = node.fieldNames();
    while (it.hasNext()) {
      String k = it.next();
      if (!asked.contains(k)) {
        problem(k, "unknown key" + (asked.isEmpty() ? "" : " (known here: "
            + String.join(", ", asked) + ")"));
      }
    }
  }

  static String describe(JsonNode v) {
    if (v.isObject()) {
      return "a section";
    }
    if (v.isArray()) {
      return "a list";
    }
    return "\"" + v.asText() + "\"";
  }
}
