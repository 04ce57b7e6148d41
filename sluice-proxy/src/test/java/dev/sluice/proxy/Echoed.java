package dev.sluice.proxy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A request as {@link TestBackend} echoes it: first line, headers, body size and CRC32. */
record Echoed(String method, String uri, Map<String, List<String>> headers, long bodyBytes,
    long bodyCrc) {
  static Echoed parse(String body) {
    String[] lines = body.split("\n", -1);
    String[] first = lines[0].split(" ", 2);
    Map<String, List<String>> headers = new LinkedHashMap<>();
    int i = 1;
    for (; i < lines.length && !lines[i].isEmpty(); i++) {
      int colon = lines[i].indexOf(": ");
      headers.computeIfAbsent(lines[i].substring(0, colon), k -> new ArrayList<>())
          .add(lines[i].substring(colon + 2));
    }
    long bytes = -1;
    long crc = -1;
    for (; i < lines.length; i++) {
      if (lines[i].startsWith("body-bytes: ")) {
        bytes = Long.parseLong(lines[i].substring(12));
      } else if (lines[i].startsWith("body-crc: ")) {
        crc = Long.parseLong(lines[i].substring(10));
      }
    }
    return new Echoed(first[0], first[1], headers, bytes, crc);
  }

  /** The one value of a header (names in lower case), or null. */
  String header(String name) {
    List<String> v = headers.get(name);
    if (v == null) {
      return null;
    }
    if (v.size() != 1) {
      throw new AssertionError(name + " came " + v.size() + " times: " + v);
    }
    return v.get(0);
  }

  boolean has(String name) {
    return headers.containsKey(name);
  }
}
