package dev.sluice.kafka.bridge;

import dev.sluice.otlp.Signal;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The built-in routing transform, {@link BridgeTransform#routeByTenant(String)}. */
final class TenantRouter implements BridgeTransform {
  private static final Logger LOG = LoggerFactory.getLogger(TenantRouter.class);
  private static final int MAX_REMEMBERED_BAD_TENANTS = 1000;

  private enum Part { LITERAL, TENANT, TOPIC, SIGNAL }

  private record Segment(Part part, String text) {}

  private final Map<Signal, List<Segment>> patterns = new EnumMap<>(Signal.class);
  private final Map<Signal, String> sources = new EnumMap<>(Signal.class);
  /** Tenants already warned about (bounded; only the bridge's thread touches it). */
  private final Set<String> warned = Collections.newSetFromMap(
      new LinkedHashMap<String, Boolean>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > MAX_REMEMBERED_BAD_TENANTS;
        }
      });

  TenantRouter(Map<Signal, String> patterns) {
    Objects.requireNonNull(patterns, "patterns");
    if (patterns.isEmpty()) {
      throw new IllegalArgumentException("routing by tenant needs at least one topic pattern");
    }
    patterns.forEach((signal, pattern) -> {
      Objects.requireNonNull(signal, "signal");
      this.patterns.put(signal, parse(pattern));
      this.sources.put(signal, pattern);
    });
  }

  private static List<Segment> parse(String pattern) {
    if (pattern == null || pattern.isEmpty()) {
      throw new IllegalArgumentException("a tenant topic pattern must not be empty");
    }
    List<Segment> out = new ArrayList<>();
    boolean tenant = false;
    int i = 0;
    while (i < pattern.length()) {
      int open = pattern.indexOf('{', i);
      if (open < 0) {
        out.add(literal(pattern, pattern.substring(i)));
        break;
      }
      if (open > i) {
        out.add(literal(pattern, pattern.substring(i, open)));
      }
      int close = pattern.indexOf('}', open);
      if (close < 0) {
        throw new IllegalArgumentException("tenant topic pattern '" + pattern
            + "' has an unclosed '{'");
      }
      String name = pattern.substring(open + 1, close);
      switch (name) {
        case "tenant" -> {
          out.add(new Segment(Part.TENANT, null));
          tenant = true;
        }
        case "topic" -> out.add(new Segment(Part.TOPIC, null));
        case "signal" -> out.add(new Segment(Part.SIGNAL, null));
        default -> throw new IllegalArgumentException("tenant topic pattern '" + pattern
            + "' has an unknown placeholder {" + name + "}: expected {tenant}, {topic} or"
            + " {signal}");
      }
      i = close + 1;
    }
    if (!tenant) {
      throw new IllegalArgumentException("tenant topic pattern '" + pattern
          + "' has no {tenant}");
    }
    return List.copyOf(out);
  }

  private static Segment literal(String pattern, String text) {
    if (!Topics.valid(text.replace(".", "x"))) { // "." alone is fine as a part of a name
      throw new IllegalArgumentException("tenant topic pattern '" + pattern + "' has characters"
          + " a topic name cannot have: '" + text + "' (allowed: a-z A-Z 0-9 . _ -)");
    }
    return new Segment(Part.LITERAL, text);
  }

  @Override
  public List<BridgeRecord> apply(BridgeRecord record) {
    String tenant = record.tenant();
    if (tenant == null) {
      return List.of(record);
    }
    List<Segment> pattern = patterns.get(record.signal());
    if (pattern == null) {
      return List.of(record);
    }
    StringBuilder topic = new StringBuilder(64);
    for (Segment s : pattern) {
      switch (s.part) {
        case LITERAL -> topic.append(s.text);
        case TENANT -> topic.append(tenant);
        case TOPIC -> topic.append(record.topic());
        case SIGNAL -> topic.append(record.signal().id());
        default -> throw new IllegalStateException(s.part.toString());
      }
    }
    String name = topic.toString();
    if (!Topics.valid(name)) {
      if (warned.add(tenant)) {
        LOG.warn("tenant '{}' makes no valid topic name with pattern '{}' ('{}'): its records go"
            + " to {}", tenant, sources.get(record.signal()), name, record.topic());
      }
      return List.of(record);
    }
    return List.of(record.withTopic(name));
  }

  @Override
  public String toString() {
    Map<String, String> p = new LinkedHashMap<>();
    sources.forEach((s, pattern) -> p.put(s.id(), pattern));
    return "routeByTenant(" + p + ")";
  }
}
