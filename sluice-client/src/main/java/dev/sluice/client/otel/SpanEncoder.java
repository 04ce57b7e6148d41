package dev.sluice.client.otel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.AttributeType;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.KeyValue;
import io.opentelemetry.api.common.Value;
import io.opentelemetry.api.internal.InternalAttributeKeyImpl;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.resources.internal.Entity;
import io.opentelemetry.sdk.resources.internal.EntityUtil;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Encodes {@link SpanData} as the protobuf of an OTLP {@code ExportTraceServiceRequest}, grouped
 * by resource and instrumentation scope, with the fields and flags the SDK's own OTLP marshaler
 * writes.
 *
 * <p>Written for speed, not with protobuf's or the SDK's serializers, because encoding is most of
 * what exporting spans costs: each span is written once into a reused heap array (exact length
 * prefixes: a nested message reserves the length it will most likely need and is moved in the
 * rare case it needs another), resources and scopes are encoded once and cached, and the request
 * is then copied once into a pooled I/O buffer of its exact size. Not thread-safe: one encoder per
 * concurrent caller.
 */
final class SpanEncoder implements BiConsumer<AttributeKey<?>, Object> {
  private static final VarHandle LONG_LE =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT_LE =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
  /** Resources and scopes cached at most; beyond, the caches start over (a leak guard). */
  private static final int MAX_CACHED = 256;
  /**
   * A scratch array larger than this after an export is dropped rather than kept, and so is span
   * bookkeeping for more spans than a 64th of it.
   */
  private static final int MAX_RETAINED = 4 * 1024 * 1024;
  private static final byte[] HEX = new byte[128];
  /** Cleared when the SDK on the class path predates resource entities. */
  private static volatile boolean entitiesKnown = true;

  static {
    Arrays.fill(HEX, (byte) -1);
    for (int i = 0; i < 10; i++) {
      HEX['0' + i] = (byte) i;
    }
    for (int i = 0; i < 6; i++) {
      HEX['a' + i] = (byte) (10 + i);
      HEX['A' + i] = (byte) (10 + i);
    }
  }

  // Field tags (field number << 3 | wire type): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
  private static final int REQUEST_RESOURCE_SPANS = 1 << 3 | 2;
  private static final int RESOURCE_SPANS_RESOURCE = 1 << 3 | 2;
  private static final int RESOURCE_SPANS_SCOPE_SPANS = 2 << 3 | 2;
  private static final int RESOURCE_SPANS_SCHEMA_URL = 3 << 3 | 2;
  private static final int SCOPE_SPANS_SCOPE = 1 << 3 | 2;
  private static final int SCOPE_SPANS_SPANS = 2 << 3 | 2;
  private static final int SCOPE_SPANS_SCHEMA_URL = 3 << 3 | 2;
  private static final int RESOURCE_ATTRIBUTES = 1 << 3 | 2;
  private static final int RESOURCE_ENTITY_REFS = 3 << 3 | 2;
  private static final int ENTITY_REF_SCHEMA_URL = 1 << 3 | 2;
  private static final int ENTITY_REF_TYPE = 2 << 3 | 2;
  private static final int ENTITY_REF_ID_KEYS = 3 << 3 | 2;
  private static final int ENTITY_REF_DESCRIPTION_KEYS = 4 << 3 | 2;
  private static final int SCOPE_NAME = 1 << 3 | 2;
  private static final int SCOPE_VERSION = 2 << 3 | 2;
  private static final int SCOPE_ATTRIBUTES = 3 << 3 | 2;
  private static final int SPAN_TRACE_ID = 1 << 3 | 2;
  private static final int SPAN_SPAN_ID = 2 << 3 | 2;
  private static final int SPAN_TRACE_STATE = 3 << 3 | 2;
  private static final int SPAN_PARENT_SPAN_ID = 4 << 3 | 2;
  private static final int SPAN_NAME = 5 << 3 | 2;
  private static final int SPAN_KIND = 6 << 3;
  private static final int SPAN_START = 7 << 3 | 1;
  private static final int SPAN_END = 8 << 3 | 1;
  private static final int SPAN_ATTRIBUTES = 9 << 3 | 2;
  private static final int SPAN_DROPPED_ATTRIBUTES = 10 << 3;
  private static final int SPAN_EVENTS = 11 << 3 | 2;
  private static final int SPAN_DROPPED_EVENTS = 12 << 3;
  private static final int SPAN_LINKS = 13 << 3 | 2;
  private static final int SPAN_DROPPED_LINKS = 14 << 3;
  private static final int SPAN_STATUS = 15 << 3 | 2;
  /** Field 16, fixed32: two bytes of varint tag. */
  private static final int SPAN_FLAGS_TAG = 16 << 3 | 5;
  private static final int EVENT_TIME = 1 << 3 | 1;
  private static final int EVENT_NAME = 2 << 3 | 2;
  private static final int EVENT_ATTRIBUTES = 3 << 3 | 2;
  private static final int EVENT_DROPPED_ATTRIBUTES = 4 << 3;
  private static final int LINK_TRACE_ID = 1 << 3 | 2;
  private static final int LINK_SPAN_ID = 2 << 3 | 2;
  private static final int LINK_TRACE_STATE = 3 << 3 | 2;
  private static final int LINK_ATTRIBUTES = 4 << 3 | 2;
  private static final int LINK_DROPPED_ATTRIBUTES = 5 << 3;
  private static final int LINK_FLAGS = 6 << 3 | 5;
  private static final int STATUS_MESSAGE = 2 << 3 | 2;
  private static final int STATUS_CODE = 3 << 3;
  private static final int KEY_VALUE_KEY = 1 << 3 | 2;
  private static final int KEY_VALUE_VALUE = 2 << 3 | 2;
  private static final int ANY_STRING = 1 << 3 | 2;
  private static final int ANY_BOOL = 2 << 3;
  private static final int ANY_INT = 3 << 3;
  private static final int ANY_DOUBLE = 4 << 3 | 1;
  private static final int ANY_ARRAY = 5 << 3 | 2;
  private static final int ANY_KVLIST = 6 << 3 | 2;
  private static final int ANY_BYTES = 7 << 3 | 2;
  private static final int LIST_VALUES = 1 << 3 | 2;
  /** Span flags: whether the parent is remote is known, and that it is (trace.proto). */
  private static final int HAS_IS_REMOTE = 0x100;
  private static final int IS_REMOTE = 0x200;

  private byte[] buf = new byte[64 * 1024];
  private int pos;

  // Per request: where each span's encoding ends in buf, and its (resource, scope) group.
  private int[] spanEnds = new int[512];
  private int[] spanGroups = new int[512];
  private final List<Encoded> groupResources = new ArrayList<>();
  private final List<Encoded> groupScopes = new ArrayList<>();
  private final List<Resource> groupResourceKeys = new ArrayList<>();
  private final List<InstrumentationScopeInfo> groupScopeKeys = new ArrayList<>();
  private int[] groupBytes = new int[8];

  // Rarely changing parts, encoded once: resources and scopes are usually the same few objects.
  private final Map<Resource, Encoded> resources = new IdentityHashMap<>();
  private final Map<InstrumentationScopeInfo, Encoded> scopes = new IdentityHashMap<>();
  private TraceState lastTraceState;
  private byte[] lastTraceStateUtf8;

  /** A cached resource or scope: the message field, and the schema URL field to follow it. */
  private record Encoded(byte[] message, byte[] schemaUrl) {}

  /**
   * The request holding {@code spans}, in a buffer from {@code alloc} of exactly its size (an I/O
   * buffer when {@code io}); the caller owns it.
   */
  ByteBuf encode(Collection<SpanData> spans, ByteBufAllocator alloc, boolean io) {
    try {
      int n = spans.size();
      if (spanEnds.length < n) {
        spanEnds = new int[Math.max(n, spanEnds.length * 2)];
        spanGroups = new int[spanEnds.length];
      }
      pos = 0;
      Resource lastResource = null;
      InstrumentationScopeInfo lastScope = null;
      int group = -1;
      int i = 0;
      for (SpanData span : spans) {
        Resource r = span.getResource();
        InstrumentationScopeInfo s = span.getInstrumentationScopeInfo();
        if (r != lastResource || s != lastScope || group < 0) {
          group = group(r, s);
          lastResource = r;
          lastScope = s;
        }
        int start = pos;
        span(span);
        spanEnds[i] = pos;
        spanGroups[i] = group;
        groupBytes[group] += pos - start;
        i++;
      }
      if (i != n) {
        throw new IllegalStateException("the span collection changed size while being encoded");
      }
      return assemble(n, alloc, io);
    } finally {
      groupResources.clear();
      groupScopes.clear();
      groupResourceKeys.clear();
      groupScopeKeys.clear();
      if (buf.length > MAX_RETAINED) {
        buf = new byte[64 * 1024];
      }
      if (spanEnds.length > MAX_RETAINED / 64) {
        spanEnds = new int[512];
        spanGroups = new int[512];
      }
    }
  }

  /**
   * The index of the (resource, scope) group of this request. Groups are by identity, as in the
   * SDK's marshalers: resources and scopes are made once per SDK and shared by its spans.
   */
  private int group(Resource r, InstrumentationScopeInfo s) {
    int groups = groupScopeKeys.size();
    for (int g = 0; g < groups; g++) {
      Resource gr = groupResourceKeys.get(g);
      InstrumentationScopeInfo gs = groupScopeKeys.get(g);
      if (gr == r && gs == s) {
        return g;
      }
    }
    if (groupBytes.length == groups) {
      groupBytes = Arrays.copyOf(groupBytes, groups * 2);
    }
    groupBytes[groups] = 0;
    groupResourceKeys.add(r);
    groupScopeKeys.add(s);
    groupResources.add(resource(r));
    groupScopes.add(scope(s));
    return groups;
  }

  /** Writes the request's frame around the encoded spans, grouped, into a buffer of its size. */
  private ByteBuf assemble(int n, ByteBufAllocator alloc, boolean io) {
    int groups = groupScopeKeys.size();
    // A resource's groups: those whose resource is the first group's with that resource.
    int[] resourceOf = new int[groups];
    int total = 0;
    for (int g = 0; g < groups; g++) {
      resourceOf[g] = g;
      for (int h = 0; h < g; h++) {
        if (groupResourceKeys.get(h) == groupResourceKeys.get(g)) {
          resourceOf[g] = resourceOf[h];
          break;
        }
      }
    }
    int[] resourceBody = new int[groups];
    for (int g = 0; g < groups; g++) {
      int scopeBody = scopeBody(g);
      resourceBody[resourceOf[g]] += 1 + varintSize(scopeBody) + scopeBody;
    }
    for (int g = 0; g < groups; g++) {
      if (resourceOf[g] == g) {
        Encoded r = groupResources.get(g);
        resourceBody[g] += r.message.length + r.schemaUrl.length;
        total += 1 + varintSize(resourceBody[g]) + resourceBody[g];
      }
    }
    ByteBuf out = io ? alloc.ioBuffer(total, total) : alloc.heapBuffer(total, total);
    try {
      for (int g = 0; g < groups; g++) {
        if (resourceOf[g] != g) {
          continue;
        }
        Encoded r = groupResources.get(g);
        out.writeByte(REQUEST_RESOURCE_SPANS);
        writeVarint(out, resourceBody[g]);
        out.writeBytes(r.message);
        for (int h = g; h < groups; h++) {
          if (resourceOf[h] == g) {
            Encoded s = groupScopes.get(h);
            out.writeByte(RESOURCE_SPANS_SCOPE_SPANS);
            writeVarint(out, scopeBody(h));
            out.writeBytes(s.message);
            if (groups == 1) {
              out.writeBytes(buf, 0, pos);
            } else {
              copySpans(out, n, h);
            }
            out.writeBytes(s.schemaUrl);
          }
        }
        out.writeBytes(r.schemaUrl);
      }
      if (out.writerIndex() != total) {
        throw new IllegalStateException("encoded " + out.writerIndex() + " bytes of " + total);
      }
      return out;
    } catch (RuntimeException e) {
      out.release();
      throw e;
    }
  }

  private int scopeBody(int g) {
    Encoded s = groupScopes.get(g);
    return s.message.length + groupBytes[g] + s.schemaUrl.length;
  }

  /** Copies the spans of a group, run by run of consecutive spans. */
  private void copySpans(ByteBuf out, int n, int group) {
    int runStart = -1;
    int prevEnd = 0;
    for (int i = 0; i < n; i++) {
      int start = prevEnd;
      prevEnd = spanEnds[i];
      if (spanGroups[i] == group) {
        if (runStart < 0) {
          runStart = start;
        }
      } else if (runStart >= 0) {
        out.writeBytes(buf, runStart, start - runStart);
        runStart = -1;
      }
    }
    if (runStart >= 0) {
      out.writeBytes(buf, runStart, prevEnd - runStart);
    }
  }

  // ---- cached parts ----

  private Encoded resource(Resource r) {
    Encoded e = resources.get(r);
    if (e == null) {
      if (resources.size() >= MAX_CACHED) {
        resources.clear();
      }
      e = standalone(() -> {
        tag(RESOURCE_SPANS_RESOURCE);
        int body = beginLength(1);
        attributes(RESOURCE_ATTRIBUTES, r.getAttributes());
        for (Entity entity : entities(r)) {
          tag(RESOURCE_ENTITY_REFS);
          int ref = beginLength(1);
          stringField(ENTITY_REF_SCHEMA_URL, entity.getSchemaUrl());
          stringField(ENTITY_REF_TYPE, entity.getType());
          entity.getId().forEach((k, v) -> stringField(ENTITY_REF_ID_KEYS, k.getKey()));
          entity.getDescription().forEach(
              (k, v) -> stringField(ENTITY_REF_DESCRIPTION_KEYS, k.getKey()));
          endLength(ref, 1);
        }
        endLength(body, 1);
      }, RESOURCE_SPANS_SCHEMA_URL, r.getSchemaUrl());
      resources.put(r, e);
    }
    return e;
  }

  /** The resource's entities; none with an SDK that predates them. */
  private static Collection<Entity> entities(Resource r) {
    if (!entitiesKnown) {
      return List.of();
    }
    try {
      return EntityUtil.getEntities(r);
    } catch (LinkageError e) {
      entitiesKnown = false;
      return List.of();
    }
  }

  private Encoded scope(InstrumentationScopeInfo s) {
    Encoded e = scopes.get(s);
    if (e == null) {
      if (scopes.size() >= MAX_CACHED) {
        scopes.clear();
      }
      e = standalone(() -> {
        tag(SCOPE_SPANS_SCOPE);
        int body = beginLength(1);
        stringField(SCOPE_NAME, s.getName());
        stringField(SCOPE_VERSION, s.getVersion());
        attributes(SCOPE_ATTRIBUTES, s.getAttributes());
        endLength(body, 1);
      }, SCOPE_SPANS_SCHEMA_URL, s.getSchemaUrl());
      scopes.put(s, e);
    }
    return e;
  }

  /** Runs {@code writer} at the end of the scratch array and takes what it wrote out of it. */
  private Encoded standalone(Runnable writer, int schemaTag, String schemaUrl) {
    int start = pos;
    writer.run();
    byte[] message = Arrays.copyOfRange(buf, start, pos);
    pos = start;
    stringField(schemaTag, schemaUrl);
    byte[] schema = Arrays.copyOfRange(buf, start, pos);
    pos = start;
    return new Encoded(message, schema);
  }

  // ---- spans ----

  private void span(SpanData span) {
    SpanContext context = span.getSpanContext();
    SpanContext parent = span.getParentSpanContext();
    ensure(64);
    buf[pos++] = SCOPE_SPANS_SPANS;
    int body = beginLength(2); // most spans are 128 bytes to 16 KiB
    id(SPAN_TRACE_ID, context.getTraceId(), 16);
    id(SPAN_SPAN_ID, context.getSpanId(), 8);
    traceState(SPAN_TRACE_STATE, context.getTraceState());
    if (parent.isValid()) {
      id(SPAN_PARENT_SPAN_ID, parent.getSpanId(), 8);
    }
    stringField(SPAN_NAME, span.getName());
    ensure(32);
    buf[pos++] = SPAN_KIND;
    buf[pos++] = (byte) (span.getKind().ordinal() + 1); // INTERNAL is 1, in the enums' order
    fixed64Field(SPAN_START, span.getStartEpochNanos());
    fixed64Field(SPAN_END, span.getEndEpochNanos());
    Attributes attributes = span.getAttributes();
    attributes(SPAN_ATTRIBUTES, attributes);
    uint32Field(SPAN_DROPPED_ATTRIBUTES, span.getTotalAttributeCount() - attributes.size());
    List<EventData> events = span.getEvents();
    for (int i = 0, n = events.size(); i < n; i++) {
      event(events.get(i));
    }
    uint32Field(SPAN_DROPPED_EVENTS, span.getTotalRecordedEvents() - events.size());
    List<LinkData> links = span.getLinks();
    for (int i = 0, n = links.size(); i < n; i++) {
      link(links.get(i));
    }
    uint32Field(SPAN_DROPPED_LINKS, span.getTotalRecordedLinks() - links.size());
    status(span.getStatus());
    ensure(6);
    varint(SPAN_FLAGS_TAG);
    INT_LE.set(buf, pos, flags(context, parent.isRemote()));
    pos += 4;
    endLength(body, 2);
  }

  private static int flags(SpanContext context, boolean remote) {
    return (context.getTraceFlags().asByte() & 0xff) | HAS_IS_REMOTE | (remote ? IS_REMOTE : 0);
  }

  private void event(EventData event) {
    ensure(16);
    buf[pos++] = SPAN_EVENTS;
    int body = beginLength(1);
    fixed64Field(EVENT_TIME, event.getEpochNanos());
    stringField(EVENT_NAME, event.getName());
    Attributes attributes = event.getAttributes();
    attributes(EVENT_ATTRIBUTES, attributes);
    uint32Field(EVENT_DROPPED_ATTRIBUTES, event.getTotalAttributeCount() - attributes.size());
    endLength(body, 1);
  }

  private void link(LinkData link) {
    SpanContext context = link.getSpanContext();
    tag(SPAN_LINKS);
    int body = beginLength(1);
    id(LINK_TRACE_ID, context.getTraceId(), 16);
    id(LINK_SPAN_ID, context.getSpanId(), 8);
    traceState(LINK_TRACE_STATE, context.getTraceState());
    Attributes attributes = link.getAttributes();
    attributes(LINK_ATTRIBUTES, attributes);
    uint32Field(LINK_DROPPED_ATTRIBUTES, link.getTotalAttributeCount() - attributes.size());
    ensure(5);
    buf[pos++] = LINK_FLAGS;
    INT_LE.set(buf, pos, flags(context, context.isRemote()));
    pos += 4;
    endLength(body, 1);
  }

  private void status(StatusData status) {
    tag(SPAN_STATUS);
    int body = beginLength(1);
    stringField(STATUS_MESSAGE, status.getDescription());
    StatusCode code = status.getStatusCode();
    // proto: UNSET 0, OK 1, ERROR 2
    uint32Field(STATUS_CODE, code == StatusCode.OK ? 1 : code == StatusCode.ERROR ? 2 : 0);
    endLength(body, 1);
  }

  /** A trace or span id from its hex form, decoded straight into the array. */
  private void id(int tag, String hex, int bytes) {
    ensure(2 + bytes);
    buf[pos++] = (byte) tag;
    buf[pos++] = (byte) bytes;
    if (hex.length() != bytes * 2) {
      throw new IllegalArgumentException("an id of " + hex.length() + " hex digits, not "
          + bytes * 2 + ": " + hex);
    }
    for (int i = 0; i < bytes; i++) {
      buf[pos++] = (byte) (nibble(hex.charAt(2 * i)) << 4 | nibble(hex.charAt(2 * i + 1)));
    }
  }

  private static int nibble(char c) {
    int v = c < 128 ? HEX[c] : -1;
    if (v < 0) {
      throw new IllegalArgumentException("not a hex digit in an id: '" + c + "'");
    }
    return v;
  }

  private void traceState(int tag, TraceState state) {
    if (state.isEmpty()) {
      return;
    }
    if (state != lastTraceState) {
      StringBuilder w3c = new StringBuilder();
      state.forEach((k, v) -> {
        if (w3c.length() > 0) {
          w3c.append(',');
        }
        w3c.append(k).append('=').append(v);
      });
      lastTraceStateUtf8 = w3c.toString().getBytes(StandardCharsets.UTF_8);
      lastTraceState = state;
    }
    bytesField(tag, lastTraceStateUtf8);
  }

  // ---- attributes and values ----

  private int attributesTag;

  private void attributes(int tag, Attributes attributes) {
    if (attributes.isEmpty()) {
      return;
    }
    int outer = attributesTag;
    attributesTag = tag;
    attributes.forEach(this);
    attributesTag = outer;
  }

  /** One attribute as a KeyValue (Attributes.forEach without a lambda per call). */
  @Override
  public void accept(AttributeKey<?> key, Object value) {
    tag(attributesTag);
    int body = beginLength(1);
    if (key instanceof InternalAttributeKeyImpl<?> internal) {
      bytesField(KEY_VALUE_KEY, internal.getKeyUtf8()); // UTF-8 kept by the key itself
    } else {
      stringField(KEY_VALUE_KEY, key.getKey());
    }
    tag(KEY_VALUE_VALUE);
    int any = beginLength(1);
    AttributeType type = key.getType();
    switch (type) {
      case STRING -> string(ANY_STRING, (String) value);
      case BOOLEAN -> bool((Boolean) value);
      case LONG -> int64((Long) value);
      case DOUBLE -> dbl((Double) value);
      case STRING_ARRAY, BOOLEAN_ARRAY, LONG_ARRAY, DOUBLE_ARRAY -> {
        tag(ANY_ARRAY);
        int array = beginLength(1);
        for (Object element : (List<?>) value) {
          tag(LIST_VALUES);
          int item = beginLength(1);
          switch (type) {
            case STRING_ARRAY -> string(ANY_STRING, (String) element);
            case BOOLEAN_ARRAY -> bool((Boolean) element);
            case LONG_ARRAY -> int64((Long) element);
            default -> dbl((Double) element);
          }
          endLength(item, 1);
        }
        endLength(array, 1);
      }
      case VALUE -> anyValue((Value<?>) value);
      default -> throw new IllegalArgumentException("unsupported attribute type " + type);
    }
    endLength(any, 1);
    endLength(body, 1);
  }

  /** The fields of an AnyValue (inside its length prefix) for an API {@link Value}. */
  private void anyValue(Value<?> value) {
    switch (value.getType()) {
      case STRING -> string(ANY_STRING, (String) value.getValue());
      case BOOLEAN -> bool((Boolean) value.getValue());
      case LONG -> int64((Long) value.getValue());
      case DOUBLE -> dbl((Double) value.getValue());
      case ARRAY -> {
        tag(ANY_ARRAY);
        int array = beginLength(1);
        for (Object element : (List<?>) value.getValue()) {
          tag(LIST_VALUES);
          int item = beginLength(1);
          anyValue((Value<?>) element);
          endLength(item, 1);
        }
        endLength(array, 1);
      }
      case KEY_VALUE_LIST -> {
        tag(ANY_KVLIST);
        int list = beginLength(1);
        for (Object element : (List<?>) value.getValue()) {
          KeyValue kv = (KeyValue) element;
          tag(LIST_VALUES);
          int item = beginLength(1);
          stringField(KEY_VALUE_KEY, kv.getKey());
          tag(KEY_VALUE_VALUE);
          int nested = beginLength(1);
          anyValue(kv.getValue());
          endLength(nested, 1);
          endLength(item, 1);
        }
        endLength(list, 1);
      }
      case BYTES -> {
        ByteBuffer bytes = ((ByteBuffer) value.getValue()).duplicate();
        int n = bytes.remaining();
        tag(ANY_BYTES);
        ensure(5 + n);
        varint(n);
        bytes.get(buf, pos, n);
        pos += n;
      }
      case EMPTY -> {
        // an AnyValue with no value set
      }
      default -> throw new IllegalArgumentException("unsupported value type " + value.getType());
    }
  }

  private void bool(boolean v) {
    ensure(2);
    buf[pos++] = ANY_BOOL;
    buf[pos++] = (byte) (v ? 1 : 0);
  }

  private void int64(long v) {
    ensure(11);
    buf[pos++] = ANY_INT;
    varint64(v);
  }

  private void dbl(double v) {
    ensure(9);
    buf[pos++] = ANY_DOUBLE;
    LONG_LE.set(buf, pos, Double.doubleToRawLongBits(v));
    pos += 8;
  }

  // ---- primitives ----

  /** A string field, left out when empty (proto3 has no presence for it). */
  private void stringField(int tag, String s) {
    if (s != null && !s.isEmpty()) {
      string(tag, s);
    }
  }

  private void bytesField(int tag, byte[] bytes) {
    if (bytes.length > 0) {
      ensure(6 + bytes.length);
      buf[pos++] = (byte) tag;
      varint(bytes.length);
      System.arraycopy(bytes, 0, buf, pos, bytes.length);
      pos += bytes.length;
    }
  }

  /**
   * A string field, written even when empty. ASCII, by far the most common, is recognised with one
   * branch-free pass over the characters and copied with {@link String#getBytes(int, int, byte[],
   * int)} (an array copy for compact strings); anything else is encoded as UTF-8 by the JDK.
   */
  @SuppressWarnings("deprecation") // exactly right for ASCII, which is checked first
  private void string(int tag, String s) {
    int n = s.length();
    int any = 0;
    for (int i = 0; i < n; i++) {
      any |= s.charAt(i);
    }
    if (any < 0x80) {
      ensure(6 + n);
      buf[pos++] = (byte) tag;
      varint(n);
      s.getBytes(0, n, buf, pos);
      pos += n;
      return;
    }
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    ensure(6 + utf8.length);
    buf[pos++] = (byte) tag;
    varint(utf8.length);
    System.arraycopy(utf8, 0, buf, pos, utf8.length);
    pos += utf8.length;
  }

  /** A fixed64 field, left out when zero; the caller ensured 9 bytes. */
  private void fixed64Field(int tag, long v) {
    if (v != 0) {
      buf[pos++] = (byte) tag;
      LONG_LE.set(buf, pos, v);
      pos += 8;
    }
  }

  private void uint32Field(int tag, int v) {
    if (v != 0) {
      ensure(11);
      buf[pos++] = (byte) tag;
      varint64(v & 0xFFFFFFFFL);
    }
  }

  private void tag(int tag) {
    ensure(1);
    buf[pos++] = (byte) tag;
  }

  /**
   * Reserves {@code reserved} bytes for the length of the message that follows; returns where its
   * body starts, for {@link #endLength}.
   */
  private int beginLength(int reserved) {
    ensure(reserved);
    pos += reserved;
    return pos;
  }

  /** Writes the length of the body that started at {@code body}, moving it if needed. */
  private void endLength(int body, int reserved) {
    int length = pos - body;
    int size = varintSize(length);
    if (size != reserved) {
      int shift = size - reserved;
      ensure(Math.max(shift, 0));
      System.arraycopy(buf, body, buf, body + shift, length);
      body += shift;
      pos += shift;
    }
    int at = body - size;
    while ((length & ~0x7F) != 0) {
      buf[at++] = (byte) (length & 0x7F | 0x80);
      length >>>= 7;
    }
    buf[at] = (byte) length;
  }

  /** A non-negative int as a varint; the caller ensured 5 bytes. */
  private void varint(int v) {
    while ((v & ~0x7F) != 0) {
      buf[pos++] = (byte) (v & 0x7F | 0x80);
      v >>>= 7;
    }
    buf[pos++] = (byte) v;
  }

  /** A long as a varint (10 bytes when negative); the caller ensured 10 bytes. */
  private void varint64(long v) {
    while ((v & ~0x7FL) != 0) {
      buf[pos++] = (byte) (v & 0x7F | 0x80);
      v >>>= 7;
    }
    buf[pos++] = (byte) v;
  }

  private static int varintSize(int v) {
    return v < 1 << 7 ? 1 : v < 1 << 14 ? 2 : v < 1 << 21 ? 3 : v < 1 << 28 ? 4 : 5;
  }

  private static void writeVarint(ByteBuf out, int v) {
    while ((v & ~0x7F) != 0) {
      out.writeByte(v & 0x7F | 0x80);
      v >>>= 7;
    }
    out.writeByte(v);
  }

  private void ensure(int bytes) {
    if (pos + bytes > buf.length) {
      buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + bytes + 1024));
    }
  }
}
