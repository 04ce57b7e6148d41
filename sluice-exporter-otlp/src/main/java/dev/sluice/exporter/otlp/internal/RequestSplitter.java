package dev.sluice.exporter.otlp.internal;

import dev.sluice.otlp.Signal;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Re-frames a protobuf {@code Export*ServiceRequest} into smaller requests at the wire level,
 * without decoding it into objects: by size, so that no request exceeds the backend's limit, and
 * for traces by trace id, so that each trace can be routed on its own.
 *
 * <p>The request is cut only between items (spans, metrics, log records); each piece keeps the
 * resource and scope that surround its items (their fields other than the scope and item lists are
 * copied as they are, unknown fields included). An item is never cut: one that does not fit the
 * limit with its envelope alone goes out alone, over the limit. A metric counts as one item for
 * cutting (its data points stay together) and as its data points for counting.
 *
 * <p>The three signals share the layout this relies on: the request's field 1 is the repeated
 * {@code Resource*}, whose field 2 is the repeated {@code Scope*}, whose field 2 is the repeated
 * item; spans carry their trace id in field 1.
 */
public final class RequestSplitter {
  private static final int REQUEST_RESOURCES = 1;
  private static final int RESOURCE_SCOPES = 2;
  private static final int SCOPE_ITEMS = 2;
  private static final int SPAN_TRACE_ID = 1;
  private static final byte TAG_FIELD1_LEN = (1 << 3) | Wire.LEN;
  private static final byte TAG_FIELD2_LEN = (2 << 3) | Wire.LEN;

  private RequestSplitter() {}

  /**
   * One request to send: its protobuf encoding, how many items (spans, data points, log records)
   * it holds, and the key for consistent hashing (a trace id) or null.
   */
  public record Chunk(byte[] bytes, int items, byte[] hashKey) {}

  /**
   * Splits {@code request}.
   *
   * @param items the request's item count, as known from the receiver; used when nothing is split
   * @param maxBytes the largest encoding a piece may have (unless one item alone is larger)
   * @param byTraceId for traces: one group of pieces per trace id, each with it as hash key
   * @throws MalformedRequestException when the bytes are not a valid request (only when it has to read
   *     them: a request under the limit and not routed by trace is returned as it is)
   */
  public static List<Chunk> split(Signal signal, byte[] request, int items, long maxBytes,
      boolean byTraceId) {
    if (maxBytes <= 0) {
      throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
    }
    boolean route = byTraceId && signal == Signal.TRACES;
    if (!route && request.length <= maxBytes) {
      return List.of(new Chunk(request, items, null));
    }
    Parsed parsed = parse(signal, request);
    List<Chunk> out = new ArrayList<>();
    if (!route) {
      Packer packer = new Packer(request, maxBytes, null, parsed.extra, out);
      for (Resource r : parsed.resources) {
        r.forEach(packer);
      }
      packer.finish();
      return out;
    }
    // Group the spans by trace id, keeping their order; envelopes without spans go with the first
    // group, so that nothing of the input is lost.
    Map<ByteBuffer, List<Ref>> groups = new LinkedHashMap<>();
    List<Ref> empties = new ArrayList<>();
    for (Resource r : parsed.resources) {
      if (r.scopes.isEmpty()) {
        empties.add(new Ref(r, null, null));
      }
      for (Scope s : r.scopes) {
        if (s.items.isEmpty()) {
          empties.add(new Ref(r, s, null));
        }
        for (Item it : s.items) {
          groups.computeIfAbsent(ByteBuffer.wrap(it.traceId), k -> new ArrayList<>())
              .add(new Ref(r, s, it));
        }
      }
    }
    if (groups.isEmpty()) {
      Packer packer = new Packer(request, maxBytes, null, parsed.extra, out);
      empties.forEach(ref -> packer.add(ref.resource, ref.scope, ref.item));
      packer.finish();
      return out;
    }
    boolean first = true;
    for (Map.Entry<ByteBuffer, List<Ref>> group : groups.entrySet()) {
      byte[] key = group.getKey().array();
      List<Ref> refs = group.getValue();
      if (first && !empties.isEmpty()) {
        refs = mergeInOrder(parsed, empties, refs);
      }
      Packer packer = new Packer(request, maxBytes, key, first ? parsed.extra : null, out);
      refs.forEach(ref -> packer.add(ref.resource, ref.scope, ref.item));
      packer.finish();
      first = false;
    }
    return out;
  }

  /** Puts the empty envelopes among the first group's spans in the order of the input. */
  private static List<Ref> mergeInOrder(Parsed parsed, List<Ref> empties, List<Ref> refs) {
    List<Ref> all = new ArrayList<>(empties.size() + refs.size());
    all.addAll(empties);
    all.addAll(refs);
    Map<Object, Integer> order = new java.util.IdentityHashMap<>();
    int n = 0;
    for (Resource r : parsed.resources) {
      order.put(r, n++);
      for (Scope s : r.scopes) {
        order.put(s, n++);
      }
    }
    all.sort((a, b) -> {
      int c = Integer.compare(order.get(a.resource), order.get(b.resource));
      if (c != 0) {
        return c;
      }
      int sa = a.scope == null ? -1 : order.get(a.scope);
      int sb = b.scope == null ? -1 : order.get(b.scope);
      c = Integer.compare(sa, sb);
      if (c != 0) {
        return c;
      }
      int ia = a.item == null ? -1 : a.item.start;
      int ib = b.item == null ? -1 : b.item.start;
      return Integer.compare(ia, ib);
    });
    return all;
  }

  /** Counts the items of a request: spans, metric data points or log records. */
  public static int countItems(Signal signal, byte[] request) {
    int n = 0;
    for (Resource r : parse(signal, request).resources) {
      for (Scope s : r.scopes) {
        for (Item it : s.items) {
          n += it.count;
        }
      }
    }
    return n;
  }

  private record Ref(Resource resource, Scope scope, Item item) {}

  private record Parsed(List<Resource> resources, byte[] extra) {}

  private static final class Resource {
    final byte[] header;
    final List<Scope> scopes;

    Resource(byte[] header, List<Scope> scopes) {
      this.header = header;
      this.scopes = scopes;
    }

    void forEach(Packer packer) {
      if (scopes.isEmpty()) {
        packer.add(this, null, null);
      }
      for (Scope s : scopes) {
        if (s.items.isEmpty()) {
          packer.add(this, s, null);
        }
        for (Item it : s.items) {
          packer.add(this, s, it);
        }
      }
    }
  }

  private static final class Scope {
    final byte[] header;
    final List<Item> items;

    Scope(byte[] header, List<Item> items) {
      this.header = header;
      this.items = items;
    }
  }

  /** An item field, tag and length included: {@code [start, end)} of the request. */
  private record Item(int start, int end, int count, byte[] traceId) {
    int size() {
      return end - start;
    }
  }

  private static Parsed parse(Signal signal, byte[] b) {
    List<Resource> resources = new ArrayList<>();
    Bytes extra = new Bytes();
    Wire top = new Wire(b, 0, b.length);
    while (top.hasNext()) {
      top.next();
      if (top.field == REQUEST_RESOURCES && top.wireType == Wire.LEN) {
        resources.add(parseResource(signal, b, top.valueStart, top.valueEnd));
      } else {
        extra.add(b, top.fieldStart, top.position());
      }
    }
    return new Parsed(resources, extra.toArray());
  }

  private static Resource parseResource(Signal signal, byte[] b, int start, int end) {
    Bytes header = new Bytes();
    List<Scope> scopes = new ArrayList<>();
    Wire w = new Wire(b, start, end);
    while (w.hasNext()) {
      w.next();
      if (w.field == RESOURCE_SCOPES && w.wireType == Wire.LEN) {
        scopes.add(parseScope(signal, b, w.valueStart, w.valueEnd));
      } else {
        header.add(b, w.fieldStart, w.position());
      }
    }
    return new Resource(header.toArray(), scopes);
  }

  private static Scope parseScope(Signal signal, byte[] b, int start, int end) {
    Bytes header = new Bytes();
    List<Item> items = new ArrayList<>();
    Wire w = new Wire(b, start, end);
    while (w.hasNext()) {
      w.next();
      if (w.field == SCOPE_ITEMS && w.wireType == Wire.LEN) {
        int from = w.valueStart;
        int to = w.valueEnd;
        switch (signal) {
          case TRACES:
            items.add(new Item(w.fieldStart, to, 1, traceId(b, from, to)));
            break;
          case METRICS:
            items.add(new Item(w.fieldStart, to, dataPoints(b, from, to), null));
            break;
          default:
            items.add(new Item(w.fieldStart, to, 1, null));
        }
      } else {
        header.add(b, w.fieldStart, w.position());
      }
    }
    return new Scope(header.toArray(), items);
  }

  private static final byte[] NO_TRACE_ID = new byte[0];

  /** The span's trace id: the last occurrence of field 1, as the parser would keep it. */
  private static byte[] traceId(byte[] b, int start, int end) {
    byte[] id = NO_TRACE_ID;
    Wire w = new Wire(b, start, end);
    while (w.hasNext()) {
      w.next();
      if (w.field == SPAN_TRACE_ID && w.wireType == Wire.LEN) {
        id = java.util.Arrays.copyOfRange(b, w.valueStart, w.valueEnd);
      }
    }
    return id;
  }

  /**
   * The data points of a metric: those of its data member (gauge 5, sum 7, histogram 9,
   * exponential histogram 10, summary 11), whose field 1 holds them. The data is a oneof: when a
   * different member follows, the parser keeps only the last, so only the last one counts.
   */
  private static int dataPoints(byte[] b, int start, int end) {
    int member = 0;
    int points = 0;
    Wire w = new Wire(b, start, end);
    while (w.hasNext()) {
      w.next();
      int f = w.field;
      if (w.wireType == Wire.LEN && (f == 5 || f == 7 || f == 9 || f == 10 || f == 11)) {
        int n = 0;
        Wire data = new Wire(b, w.valueStart, w.valueEnd);
        while (data.hasNext()) {
          data.next();
          if (data.field == 1 && data.wireType == Wire.LEN) {
            n++;
          }
        }
        if (f == member) {
          points += n;
        } else {
          member = f;
          points = n;
        }
      }
    }
    return points;
  }

  /**
   * Builds pieces of at most {@code max} bytes from items handed in order, opening and closing the
   * resource and scope envelopes around them. Sizes are tracked exactly as the output will be
   * encoded.
   */
  private static final class Packer {
    private final byte[] src;
    private final long max;
    private final byte[] hashKey;
    private byte[] prefix;
    private final List<Chunk> out;

    private final List<OpenResource> resources = new ArrayList<>();
    private long closedResources; // encoded bytes of the resources before the current one
    private OpenResource res;
    private long closedScopes; // encoded bytes of the current resource's scopes before the current
    private OpenScope scope;
    private long itemBytes; // encoded bytes of the current scope's items
    private int items;

    Packer(byte[] src, long max, byte[] hashKey, byte[] prefix, List<Chunk> out) {
      this.src = src;
      this.max = max;
      this.hashKey = hashKey;
      this.prefix = prefix == null ? new byte[0] : prefix;
      this.out = out;
    }

    void add(Resource r, Scope s, Item it) {
      long size = sizeWith(r, s, it);
      if (size > max && !resources.isEmpty()) {
        finish();
        size = sizeWith(r, s, it);
      }
      if (res == null || res.resource != r) {
        if (res != null) {
          closedResources += resourceSize();
        }
        res = new OpenResource(r);
        resources.add(res);
        closedScopes = 0;
        scope = null;
        itemBytes = 0;
      }
      if (s != null && (scope == null || scope.scope != s)) {
        if (scope != null) {
          closedScopes += Wire.lenFieldSize(scope.scope.header.length + itemBytes);
        }
        scope = new OpenScope(s);
        res.scopes.add(scope);
        itemBytes = 0;
      }
      if (it != null) {
        scope.items.add(it);
        itemBytes += it.size();
        items += it.count;
      }
      assert size == prefix.length + closedResources + resourceSize();
    }

    private long resourceSize() {
      long scopes = closedScopes
          + (scope == null ? 0 : Wire.lenFieldSize(scope.scope.header.length + itemBytes));
      return Wire.lenFieldSize(res.resource.header.length + scopes);
    }

    /** The encoded size of the current piece if the item were added to it. */
    private long sizeWith(Resource r, Scope s, Item it) {
      long add = it == null ? 0 : it.size();
      long c = closedResources;
      long scopes = closedScopes;
      long scopeItems;
      long scopeHeader;
      if (res != null && res.resource == r) {
        if (s != null && scope != null && scope.scope == s) {
          scopeHeader = s.header.length;
          scopeItems = itemBytes + add;
        } else {
          if (scope != null) {
            scopes += Wire.lenFieldSize(scope.scope.header.length + itemBytes);
          }
          scopeHeader = s == null ? 0 : s.header.length;
          scopeItems = add;
        }
      } else {
        if (res != null) {
          c += resourceSize();
        }
        scopes = 0;
        scopeHeader = s == null ? 0 : s.header.length;
        scopeItems = add;
      }
      long scopeSize = s == null ? 0 : Wire.lenFieldSize(scopeHeader + scopeItems);
      return prefix.length + c + Wire.lenFieldSize(r.header.length + scopes + scopeSize);
    }

    void finish() {
      if (resources.isEmpty()) {
        return;
      }
      long total = prefix.length + closedResources + resourceSize();
      byte[] buf = new byte[Math.toIntExact(total)];
      System.arraycopy(prefix, 0, buf, 0, prefix.length);
      int p = prefix.length;
      for (OpenResource r : resources) {
        long scopesLen = 0;
        for (OpenScope s : r.scopes) {
          scopesLen += Wire.lenFieldSize(s.contentSize());
        }
        buf[p++] = TAG_FIELD1_LEN;
        p = Wire.writeVarint(buf, p, r.resource.header.length + scopesLen);
        System.arraycopy(r.resource.header, 0, buf, p, r.resource.header.length);
        p += r.resource.header.length;
        for (OpenScope s : r.scopes) {
          buf[p++] = TAG_FIELD2_LEN;
          p = Wire.writeVarint(buf, p, s.contentSize());
          System.arraycopy(s.scope.header, 0, buf, p, s.scope.header.length);
          p += s.scope.header.length;
          for (Item it : s.items) {
            System.arraycopy(src, it.start, buf, p, it.size());
            p += it.size();
          }
        }
      }
      if (p != buf.length) {
        throw new IllegalStateException("re-framing computed " + buf.length + " bytes, wrote " + p);
      }
      out.add(new Chunk(buf, items, hashKey));
      resources.clear();
      closedResources = 0;
      res = null;
      closedScopes = 0;
      scope = null;
      itemBytes = 0;
      items = 0;
      prefix = new byte[0];
    }
  }

  private static final class OpenResource {
    final Resource resource;
    final List<OpenScope> scopes = new ArrayList<>();

    OpenResource(Resource resource) {
      this.resource = resource;
    }
  }

  private static final class OpenScope {
    final Scope scope;
    final List<Item> items = new ArrayList<>();

    OpenScope(Scope scope) {
      this.scope = scope;
    }

    long contentSize() {
      long n = scope.header.length;
      for (Item it : items) {
        n += it.size();
      }
      return n;
    }
  }

  /** A growable byte array for collecting raw fields. */
  private static final class Bytes {
    private byte[] buf = new byte[0];
    private int len;

    void add(byte[] src, int from, int to) {
      int n = to - from;
      if (len + n > buf.length) {
        buf = java.util.Arrays.copyOf(buf, Math.max(len + n, buf.length * 2));
      }
      System.arraycopy(src, from, buf, len, n);
      len += n;
    }

    byte[] toArray() {
      return len == buf.length ? buf : java.util.Arrays.copyOf(buf, len);
    }
  }
}
