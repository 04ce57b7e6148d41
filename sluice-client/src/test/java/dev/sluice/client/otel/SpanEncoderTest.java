package dev.sluice.client.otel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.AttributeType;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.common.KeyValue;
import io.opentelemetry.api.common.Value;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.exporter.internal.otlp.traces.LowAllocationTraceRequestMarshaler;
import io.opentelemetry.exporter.internal.otlp.traces.TraceRequestMarshaler;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.sdk.common.InstrumentationLibraryInfo;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.resources.internal.Entity;
import io.opentelemetry.sdk.resources.internal.EntityUtil;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link SpanEncoder} against the OpenTelemetry SDK's own OTLP marshaler: both encodings of the
 * same spans, parsed with the published protobuf classes, must be the same message (resource and
 * scope groups in any order, as the SDK groups in hash order).
 */
class SpanEncoderTest {
  private static final HexFormat HEX = HexFormat.of();

  @Test
  void randomSpansOfEveryShapeEncodeAsTheSdkEncodesThem() throws IOException {
    Random r = new Random(42);
    Shapes shapes = new Shapes(r);
    SpanEncoder encoder = new SpanEncoder(); // reused, as the exporter does: caches must not leak
    for (int round = 0; round < 300; round++) {
      int n = round % 50 == 0 ? 600 + r.nextInt(400) : 1 + r.nextInt(40);
      List<SpanData> spans = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        spans.add(shapes.span());
      }
      assertSameAsSdk(encoder, spans);
    }
  }

  @Test
  void edgeCasesEncodeAsTheSdkEncodesThem() throws IOException {
    Resource resource = Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), "e"));
    InstrumentationScopeInfo scope = InstrumentationScopeInfo.create("edge");
    SpanContext invalid = SpanContext.getInvalid();
    SpanContext context = SpanContext.create("0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331", TraceFlags.getSampled(), TraceState.getDefault());
    SpanContext remoteParent = SpanContext.createFromRemoteParent(
        "0AF7651916CD43DD8448EB211C80319C", "00f067aa0ba902b7", TraceFlags.getDefault(),
        TraceState.builder().put("vendor", "v=1").put("other", "x").build());
    String big = "x".repeat(20_000); // lengths of three varint bytes inside a span
    List<SpanData> spans = List.of(
        // all optional parts absent, zero times, an empty name
        new TestSpan("", SpanKind.INTERNAL, context, invalid, StatusData.unset(), 0, 0,
            Attributes.empty(), 0, List.of(), 0, List.of(), 0, resource, scope),
        // a remote parent with trace state, every status, dropped counts, big and odd strings
        new TestSpan("ü → 🚀 \uD800 lone surrogate", SpanKind.CONSUMER, remoteParent,
            remoteParent, StatusData.create(StatusCode.ERROR, "é" + big), Long.MIN_VALUE, -1,
            Attributes.builder().put("", "empty key").put("empty", "").put("neg", -1L)
                .put("min", Long.MIN_VALUE).put("nan", Double.NaN).put("zero", 0.0)
                .put("f", false).put(AttributeKey.stringArrayKey("none"), List.of())
                .put(AttributeKey.stringArrayKey("s"), List.of("", "ä", big))
                .put("big", big).put("ключ", "значение").build(),
            7, List.of(EventData.create(5, "", Attributes.empty(), 3),
                EventData.create(-5, "e", Attributes.of(AttributeKey.stringKey("k"), big), 1)),
            9, List.of(LinkData.create(invalid), LinkData.create(remoteParent,
                Attributes.of(AttributeKey.longKey("l"), 1L), 4)), 2, resource, scope),
        new TestSpan("ok", SpanKind.SERVER, context, context, StatusData.ok(), 1, 2,
            Attributes.empty(), 0, List.of(), 0, List.of(), 0, Resource.empty(),
            InstrumentationScopeInfo.builder("").build()),
        new TestSpan("described", SpanKind.PRODUCER, context, invalid,
            StatusData.create(StatusCode.UNSET, "ignored?"), 1, 2, Attributes.empty(), 0,
            List.of(), 0, List.of(), 0, resource, scope));
    assertSameAsSdk(new SpanEncoder(), spans);
  }

  @Test
  void resourcesWithEntitiesAndScopesWithAttributesEncodeAsTheSdkEncodesThem()
      throws IOException {
    Entity service = Entity.builder("service", Attributes.of(
            AttributeKey.stringKey("service.name"), "checkout"))
        .setSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
        .setDescription(Attributes.of(AttributeKey.stringKey("service.version"), "2.1"))
        .build();
    Resource withEntity = EntityUtil.createResource(List.of(service)).merge(Resource.create(
        Attributes.of(AttributeKey.stringKey("host.name"), "h"), "https://example.com/schema"));
    InstrumentationScopeInfo scope = InstrumentationScopeInfo.builder("lib").setVersion("1.0")
        .setSchemaUrl("https://example.com/scope")
        .setAttributes(Attributes.of(AttributeKey.booleanKey("a"), true)).build();
    // equal but distinct resources and scopes are groups of their own, as in the SDK
    Resource equalCopy = Resource.create(withEntity.getAttributes(), withEntity.getSchemaUrl());
    InstrumentationScopeInfo scopeCopy = InstrumentationScopeInfo.builder("lib")
        .setVersion("1.0").setSchemaUrl("https://example.com/scope")
        .setAttributes(Attributes.of(AttributeKey.booleanKey("a"), true)).build();
    SpanContext context = SpanContext.create("0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331", TraceFlags.getSampled(), TraceState.getDefault());
    List<SpanData> spans = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      spans.add(new TestSpan("s" + i, SpanKind.CLIENT, context, SpanContext.getInvalid(),
          StatusData.unset(), i, i + 1, Attributes.empty(), 0, List.of(), 0, List.of(), 0,
          i % 3 == 0 ? withEntity : i % 3 == 1 ? Resource.getDefault() : equalCopy,
          i % 2 == 0 ? scope : scopeCopy));
    }
    assertThat(EntityUtil.getEntities(withEntity)).isNotEmpty();
    SpanEncoder encoder = new SpanEncoder();
    ExportTraceServiceRequest ours = assertSameAsSdk(encoder, spans);
    assertThat(ours.getResourceSpansList()).hasSize(3);
    assertThat(ours.getResourceSpansList()).anySatisfy(rs -> {
      assertThat(rs.getResource().getEntityRefsList()).singleElement().satisfies(ref -> {
        assertThat(ref.getType()).isEqualTo("service");
        assertThat(ref.getIdKeysList()).containsExactly("service.name");
        assertThat(ref.getDescriptionKeysList()).containsExactly("service.version");
      });
    });
  }

  @Test
  void theRequestIsEncodedIntoAPooledIoBufferOfExactlyItsSize() throws IOException {
    Shapes shapes = new Shapes(new Random(7));
    List<SpanData> spans = new ArrayList<>();
    for (int i = 0; i < 512; i++) {
      spans.add(shapes.span());
    }
    ByteBuf buf = new SpanEncoder().encode(spans, ByteBufAllocator.DEFAULT, true);
    try {
      assertThat(buf.readableBytes()).isEqualTo(buf.capacity());
      assertThat(buf.isDirect() || !io.netty.util.internal.PlatformDependent.hasUnsafe()).isTrue();
      byte[] bytes = new byte[buf.readableBytes()];
      buf.getBytes(buf.readerIndex(), bytes);
      assertThat(normalized(ExportTraceServiceRequest.parseFrom(bytes)))
          .isEqualTo(normalized(sdk(spans)));
    } finally {
      buf.release();
    }
  }

  @Test
  void anIdThatIsNotHexFailsWithAMessageAndTheEncoderStaysUsable() throws IOException {
    SpanContext bad = new BadContext("0af7651916cd43dd8448eb211c80319z");
    SpanEncoder encoder = new SpanEncoder();
    List<SpanData> spans = List.of(new TestSpan("bad", SpanKind.INTERNAL, bad,
        SpanContext.getInvalid(), StatusData.unset(), 1, 2, Attributes.empty(), 0, List.of(), 0,
        List.of(), 0, Resource.empty(), InstrumentationScopeInfo.create("x")));
    assertThatThrownBy(() -> encoder.encode(spans, UnpooledByteBufAllocator.DEFAULT, false))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("hex digit");
    Shapes shapes = new Shapes(new Random(3));
    assertSameAsSdk(encoder, List.of(shapes.span(), shapes.span()));
  }

  private static ExportTraceServiceRequest assertSameAsSdk(SpanEncoder encoder,
      List<SpanData> spans) throws IOException {
    ByteBuf buf = encoder.encode(spans, UnpooledByteBufAllocator.DEFAULT, false);
    byte[] bytes;
    try {
      bytes = new byte[buf.readableBytes()];
      buf.readBytes(bytes);
    } finally {
      buf.release();
    }
    ExportTraceServiceRequest ours = ExportTraceServiceRequest.parseFrom(bytes);
    ExportTraceServiceRequest theirs = sdk(spans);
    assertSame(normalized(ours), normalized(theirs));
    // the low-allocation marshaler, which the SDK's exporters use, writes the same too
    LowAllocationTraceRequestMarshaler low = new LowAllocationTraceRequestMarshaler();
    low.initialize(spans);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    low.writeBinaryTo(out);
    assertSame(normalized(ours), normalized(ExportTraceServiceRequest.parseFrom(out.toByteArray())));
    // canonical encoding: re-serializing what we wrote gives our bytes back, when the groups
    // are in our order
    assertThat(ours.toByteArray()).isEqualTo(bytes);
    return ours;
  }

  /** Equal messages; on failure, the first differing lines rather than two huge dumps. */
  private static void assertSame(ExportTraceServiceRequest ours, ExportTraceServiceRequest sdk) {
    if (ours.equals(sdk)) {
      return;
    }
    String[] a = ours.toString().split("\n");
    String[] b = sdk.toString().split("\n");
    int i = 0;
    while (i < Math.min(a.length, b.length) && a[i].equals(b[i])) {
      i++;
    }
    StringBuilder m = new StringBuilder("encodings differ at line " + i + "\n");
    for (int j = Math.max(0, i - 12); j < Math.min(i + 4, Math.max(a.length, b.length)); j++) {
      m.append(j < a.length ? abbreviate(a[j]) : "").append("   |   ")
          .append(j < b.length ? abbreviate(b[j]) : "").append('\n');
    }
    throw new AssertionError(m);
  }

  private static String abbreviate(String s) {
    return s.length() > 100 ? s.substring(0, 100) + "..." : s;
  }

  private static ExportTraceServiceRequest sdk(List<SpanData> spans) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    TraceRequestMarshaler.create(spans).writeBinaryTo(out);
    return ExportTraceServiceRequest.parseFrom(out.toByteArray());
  }

  /** Resource groups, and scope groups within them, in a fixed order; spans keep theirs. */
  private static ExportTraceServiceRequest normalized(ExportTraceServiceRequest request) {
    List<ResourceSpans> resources = new ArrayList<>();
    for (ResourceSpans rs : request.getResourceSpansList()) {
      List<ScopeSpans> scopes = new ArrayList<>(rs.getScopeSpansList());
      scopes.sort(Comparator.comparing(s -> s.toByteString().toStringUtf8()));
      resources.add(rs.toBuilder().clearScopeSpans().addAllScopeSpans(scopes).build());
    }
    resources.sort(Comparator.comparing(rs -> rs.toByteString().toStringUtf8()));
    return ExportTraceServiceRequest.newBuilder().addAllResourceSpans(resources).build();
  }

  /** Random spans over a few resources and scopes, with every attribute type and value kind. */
  private static final class Shapes {
    private final Random r;
    private final List<Resource> resources = new ArrayList<>();
    private final List<InstrumentationScopeInfo> scopes = new ArrayList<>();

    Shapes(Random r) {
      this.r = r;
      resources.add(Resource.getDefault());
      // resource attribute keys are ASCII (Resource refuses others)
      resources.add(Resource.create(attributes(6, false), "https://opentelemetry.io/schemas/1.24.0"));
      resources.add(Resource.create(attributes(2, false)));
      scopes.add(InstrumentationScopeInfo.create("io.opentelemetry.tomcat-10.0"));
      scopes.add(InstrumentationScopeInfo.builder("jdbc").setVersion("2.1.0").build());
      scopes.add(InstrumentationScopeInfo.builder("custom").setVersion("1")
          .setSchemaUrl("https://example.com/s").setAttributes(attributes(3)).build());
    }

    SpanData span() {
      SpanContext context = context(r.nextInt(10) == 0);
      SpanContext parent = switch (r.nextInt(3)) {
        case 0 -> SpanContext.getInvalid();
        case 1 -> context(false);
        default -> remote();
      };
      Attributes attributes = attributes(r.nextInt(14));
      List<EventData> events = new ArrayList<>();
      for (int i = r.nextInt(4) == 0 ? r.nextInt(4) : 0; i > 0; i--) {
        Attributes a = attributes(r.nextInt(3));
        events.add(EventData.create(r.nextLong(), text(), a, a.size() + r.nextInt(2)));
      }
      List<LinkData> links = new ArrayList<>();
      for (int i = r.nextInt(4) == 0 ? r.nextInt(3) : 0; i > 0; i--) {
        Attributes a = attributes(r.nextInt(3));
        links.add(LinkData.create(r.nextBoolean() ? remote() : context(r.nextBoolean()), a,
            a.size() + r.nextInt(2)));
      }
      StatusData status = switch (r.nextInt(4)) {
        case 0 -> StatusData.unset();
        case 1 -> StatusData.ok();
        case 2 -> StatusData.error();
        default -> StatusData.create(StatusCode.ERROR, text());
      };
      long start = r.nextLong();
      return new TestSpan(text(), SpanKind.values()[r.nextInt(SpanKind.values().length)],
          context, parent, status, start, start + r.nextInt(1_000_000), attributes,
          attributes.size() + (r.nextInt(5) == 0 ? r.nextInt(300) : 0), events,
          events.size() + (r.nextInt(5) == 0 ? r.nextInt(3) : 0), links,
          links.size() + (r.nextInt(5) == 0 ? 1 : 0),
          resources.get(r.nextInt(4) == 0 ? r.nextInt(resources.size()) : 0),
          scopes.get(r.nextInt(3) == 0 ? r.nextInt(scopes.size()) : 0));
    }

    private SpanContext context(boolean withState) {
      byte[] t = new byte[16];
      byte[] s = new byte[8];
      r.nextBytes(t);
      r.nextBytes(s);
      TraceState state = withState
          ? TraceState.builder().put("congo", "t61rcWkgMzE").put("rojo", "00f067aa0ba902b7")
              .build() : TraceState.getDefault();
      return SpanContext.create(HEX.formatHex(t), HEX.formatHex(s),
          r.nextBoolean() ? TraceFlags.getSampled() : TraceFlags.getDefault(), state);
    }

    private SpanContext remote() {
      SpanContext c = context(r.nextBoolean());
      return SpanContext.createFromRemoteParent(c.getTraceId(), c.getSpanId(), c.getTraceFlags(),
          c.getTraceState());
    }

    private Attributes attributes(int n) {
      return attributes(n, true);
    }

    private Attributes attributes(int n, boolean anyKey) {
      AttributesBuilder b = Attributes.builder();
      for (int i = 0; i < n; i++) {
        String key = "k" + r.nextInt(40) + (anyKey && r.nextInt(10) == 0 ? ".ü" : "");
        switch (AttributeType.values()[r.nextInt(AttributeType.values().length)]) {
          case STRING -> b.put(AttributeKey.stringKey(key), text());
          case BOOLEAN -> b.put(AttributeKey.booleanKey(key), r.nextBoolean());
          case LONG -> b.put(AttributeKey.longKey(key), r.nextInt(3) == 0 ? r.nextLong()
              : r.nextInt(1000));
          case DOUBLE -> b.put(AttributeKey.doubleKey(key), r.nextDouble() * 1e6);
          case STRING_ARRAY -> b.put(AttributeKey.stringArrayKey(key), List.of(text(), text()));
          case BOOLEAN_ARRAY -> b.put(AttributeKey.booleanArrayKey(key),
              List.of(r.nextBoolean(), r.nextBoolean(), r.nextBoolean()));
          case LONG_ARRAY -> b.put(AttributeKey.longArrayKey(key), List.of(r.nextLong(), -1L));
          case DOUBLE_ARRAY -> b.put(AttributeKey.doubleArrayKey(key), List.of(r.nextDouble()));
          case VALUE -> b.put(AttributeKey.valueKey(key), value(2));
          default -> throw new AssertionError();
        }
      }
      if (anyKey && r.nextInt(8) == 0) {
        b.put(new ForeignKey("foreign." + r.nextInt(5)), text()); // not the API's own key class
      }
      return b.build();
    }

    private Value<?> value(int depth) {
      int kind = r.nextInt(depth > 0 ? 8 : 6);
      return switch (kind) {
        case 0 -> Value.of(text());
        case 1 -> Value.of(r.nextBoolean());
        case 2 -> Value.of(r.nextLong());
        case 3 -> Value.of(r.nextDouble());
        case 4 -> Value.of(bytes());
        case 5 -> Value.empty();
        case 6 -> Value.of(value(depth - 1), value(depth - 1));
        default -> Value.of(KeyValue.of("a" + r.nextInt(3), value(depth - 1)),
            KeyValue.of(text(), value(depth - 1)));
      };
    }

    private byte[] bytes() {
      byte[] b = new byte[r.nextInt(300)];
      r.nextBytes(b);
      return b;
    }

    private String text() {
      int len = switch (r.nextInt(10)) {
        case 0 -> 0;
        case 1 -> 100 + r.nextInt(300); // two-byte lengths
        default -> r.nextInt(40);
      };
      StringBuilder s = new StringBuilder(len);
      for (int i = 0; i < len; i++) {
        int c = r.nextInt(40);
        s.append(c == 0 ? 'é' : c == 1 ? '中' : c == 2 ? "😀" : (char) ('a' + r.nextInt(26)));
      }
      return s.toString();
    }
  }

  /** An attribute key of an application's own class rather than the API's. */
  private record ForeignKey(String getKey) implements AttributeKey<String> {
    @Override
    public AttributeType getType() {
      return AttributeType.STRING;
    }
  }

  /** A span context with a malformed trace id, which the API's own contexts never have. */
  private record BadContext(String getTraceId) implements SpanContext {
    @Override
    public String getSpanId() {
      return "b7ad6b7169203331";
    }

    @Override
    public TraceFlags getTraceFlags() {
      return TraceFlags.getDefault();
    }

    @Override
    public TraceState getTraceState() {
      return TraceState.getDefault();
    }

    @Override
    public boolean isRemote() {
      return false;
    }
  }

  /** An ended span's data, every part settable. */
  private record TestSpan(String getName, SpanKind getKind, SpanContext getSpanContext,
      SpanContext getParentSpanContext, StatusData getStatus, long getStartEpochNanos,
      long getEndEpochNanos, Attributes getAttributes, int getTotalAttributeCount,
      List<EventData> getEvents, int getTotalRecordedEvents, List<LinkData> getLinks,
      int getTotalRecordedLinks, Resource getResource, InstrumentationScopeInfo scope)
      implements SpanData {
    @Override
    public boolean hasEnded() {
      return true;
    }

    @Override
    public InstrumentationScopeInfo getInstrumentationScopeInfo() {
      return scope;
    }

    @Override
    @SuppressWarnings("deprecation")
    public InstrumentationLibraryInfo getInstrumentationLibraryInfo() {
      return InstrumentationLibraryInfo.create(scope.getName(), scope.getVersion());
    }
  }
}
