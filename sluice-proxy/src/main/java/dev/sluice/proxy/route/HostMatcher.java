package dev.sluice.proxy.route;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A route's host condition: exact names in an open-addressing table and wildcard suffixes,
 * compared with ASCII case folding over a region of the received value, so a request costs no
 * allocation whatever the case, port or trailing dot it arrives with.
 */
final class HostMatcher {
  /** Matches any host, present or not. */
  static final HostMatcher ANY = new HostMatcher(new String[0], new String[0], true);

  // Lowercase names; null slots are empty. The length is a power of two at least twice the count.
  private final String[] table;
  // Lowercase suffixes with their leading dot: "*.example.com" is kept as ".example.com".
  private final String[] suffixes;
  private final boolean any;

  private HostMatcher(String[] table, String[] suffixes, boolean any) {
    this.table = table;
    this.suffixes = suffixes;
    this.any = any;
  }

  /**
   * Compiles the host patterns of a route.
   *
   * @throws IllegalArgumentException naming the route and the pattern when one is malformed
   */
  static HostMatcher compile(String route, List<String> patterns) {
    if (patterns.isEmpty()) {
      return ANY;
    }
    Set<String> exact = new LinkedHashSet<>();
    List<String> suffixes = new ArrayList<>();
    for (String pattern : patterns) {
      if (pattern.equals("*")) {
        return ANY;
      }
      String p = normalize(route, pattern);
      if (p.startsWith("*.")) {
        String suffix = p.substring(1);
        if (!suffixes.contains(suffix)) {
          suffixes.add(suffix);
        }
      } else {
        exact.add(p);
      }
    }
    int capacity = Integer.highestOneBit(Math.max(1, exact.size()) * 2) << 1;
    String[] table = new String[capacity];
    for (String name : exact) {
      int i = spread(hash(name, 0, name.length())) & (capacity - 1);
      while (table[i] != null) {
        i = (i + 1) & (capacity - 1);
      }
      table[i] = name;
    }
    return new HostMatcher(exact.isEmpty() ? new String[0] : table,
        suffixes.toArray(new String[0]), false);
  }

  private static String normalize(String route, String pattern) {
    String problem = problem(pattern);
    if (problem != null) {
      throw new IllegalArgumentException("route " + route + ": host '" + pattern + "' " + problem);
    }
    String p = pattern.toLowerCase(Locale.ROOT);
    if (p.startsWith("[")) {
      return p.substring(1, p.length() - 1);
    }
    return p.endsWith(".") ? p.substring(0, p.length() - 1) : p;
  }

  /** What is wrong with a host pattern, or null when it is well formed. */
  private static String problem(String pattern) {
    if (pattern.isEmpty()) {
      return "is empty";
    }
    for (int i = 0; i < pattern.length(); i++) {
      if (pattern.charAt(i) > 0x7e || pattern.charAt(i) <= 0x20) {
        return "holds a space, control or non-ASCII character (write international names in"
            + " their ASCII form, xn--...)";
      }
    }
    if (pattern.startsWith("[")) {
      if (!pattern.endsWith("]") || pattern.length() < 4) {
        return "is not an IPv6 address in brackets";
      }
      return ipv6Problem(pattern.substring(1, pattern.length() - 1));
    }
    int colon = pattern.indexOf(':');
    if (colon >= 0) {
      if (pattern.indexOf(':', colon + 1) < 0) {
        return "carries a port: hosts are compared without the port";
      }
      return ipv6Problem(pattern);
    }
    String name = pattern.endsWith(".") ? pattern.substring(0, pattern.length() - 1) : pattern;
    if (name.startsWith("*.")) {
      name = name.substring(2);
    }
    if (name.indexOf('*') >= 0) {
      return "has a wildcard out of place: only a whole first label may be one, as in"
          + " *.example.com";
    }
    if (name.length() > 253) {
      return "is longer than 253 characters";
    }
    int labelStart = 0;
    for (int i = 0; i <= name.length(); i++) {
      if (i == name.length() || name.charAt(i) == '.') {
        int label = i - labelStart;
        if (label == 0) {
          return "has an empty label";
        }
        if (label > 63) {
          return "has a label longer than 63 characters";
        }
        labelStart = i + 1;
        continue;
      }
      char c = name.charAt(i);
      if (!(Character.isLetterOrDigit(c) || c == '-' || c == '_')) {
        return "holds '" + c + "': a host name has letters, digits, '-' and '.'";
      }
    }
    return null;
  }

  private static String ipv6Problem(String address) {
    for (int i = 0; i < address.length(); i++) {
      char c = address.charAt(i);
      if (!(Character.digit(c, 16) >= 0 || c == ':' || c == '.')) {
        return "is not an IPv6 address (or carries a port: hosts are compared without it)";
      }
    }
    return null;
  }

  /**
   * Whether the name in {@code host[start, end)} satisfies the condition; {@code start < 0} when
   * the request names no host.
   */
  boolean matches(String host, int start, int end) {
    if (any) {
      return true;
    }
    if (start < 0) {
      return false;
    }
    int length = end - start;
    if (table.length > 0) {
      int mask = table.length - 1;
      int i = spread(hash(host, start, end)) & mask;
      for (String name; (name = table[i]) != null; i = (i + 1) & mask) {
        if (name.length() == length && equalsFolded(host, start, name)) {
          return true;
        }
      }
    }
    for (String suffix : suffixes) {
      if (length > suffix.length() && equalsFolded(host, end - suffix.length(), suffix)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Packs the bounds of the name in a {@code Host} or {@code :authority} value, without brackets,
   * port and trailing dot: the start in the high half, the end in the low; -1 when there is none.
   */
  static long nameBounds(String host) {
    if (host == null) {
      return -1;
    }
    int start = 0;
    int end = host.length();
    if (end > 0 && host.charAt(0) == '[') {
      end = host.indexOf(']');
      if (end < 0) {
        return -1;
      }
      start = 1;
    } else {
      int colon = host.indexOf(':');
      // Two colons or more: a bare IPv6 address, which has no port to drop.
      if (colon >= 0 && host.indexOf(':', colon + 1) < 0) {
        end = colon;
      }
    }
    if (end > start && host.charAt(end - 1) == '.') {
      end--;
    }
    return end > start ? ((long) start << 32) | end : -1;
  }

  private static int hash(String s, int start, int end) {
    int h = 0;
    for (int i = start; i < end; i++) {
      h = 31 * h + fold(s.charAt(i));
    }
    return h;
  }

  private static int spread(int h) {
    return h ^ (h >>> 16);
  }

  /** Compares {@code s} from {@code offset} with the lowercase {@code lower}, folding ASCII only. */
  private static boolean equalsFolded(String s, int offset, String lower) {
    for (int i = 0; i < lower.length(); i++) {
      if (fold(s.charAt(offset + i)) != lower.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  // ASCII only on purpose: String.equalsIgnoreCase would let the Kelvin sign stand for a 'k'.
  private static char fold(char c) {
    return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
  }
}
