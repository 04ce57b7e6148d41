package dev.sluice.app;

import static dev.sluice.app.ExportFiles.attribute;
import static dev.sluice.app.ExportFiles.attributes;
import static dev.sluice.app.ExportFiles.hex;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.sluice.app.config.ConfigLoader;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.Counter;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.Value;
import io.opentelemetry.api.logs.Severity;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.metrics.LongCounter;
import io.opentelemetry.api.metrics.LongUpDownCounter;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.exporter.otlp.http.logs.OtlpHttpLogRecordExporter;
import io.opentelemetry.exporter.otlp.http.logs.OtlpHttpLogRecordExporterBuilder;
import io.opentelemetry.exporter.otlp.http.metrics.OtlpHttpMetricExporter;
import io.opentelemetry.exporter.otlp.http.metrics.OtlpHttpMetricExporterBuilder;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporterBuilder;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.logs.SdkLoggerProvider;
import io.opentelemetry.sdk.logs.data.LogRecordData;
import io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor;
import io.opentelemetry.sdk.logs.export.LogRecordExporter;
import io.opentelemetry.sdk.logs.export.SimpleLogRecordProcessor;
import io.opentelemetry.sdk.metrics.InstrumentType;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.metrics.data.AggregationTemporality;
import io.opentelemetry.sdk.metrics.data.HistogramPointData;
import io.opentelemetry.sdk.metrics.data.LongPointData;
import io.opentelemetry.sdk.metrics.data.MetricData;
import io.opentelemetry.sdk.metrics.export.CollectionRegistration;
import io.opentelemetry.sdk.metrics.export.MetricReader;
import io.opentelemetry.sdk.metrics.export.PeriodicMetricReader;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Sluice started from YAML, on ports 0, with the default file exporter, fed by the official
 * OpenTelemetry Java SDK's OTLP/HTTP exporters; what they sent is read back from the file
 * exporter's output and compared with what the SDK recorded.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SluiceEndToEndTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final AttributeKey<String> VARIANT = AttributeKey.stringKey("test.variant");

  private Path dataDir;
  private Sluice sluice;
  private String base;
  private Path exportDir;
  private HttpClient http;

  static SluiceConfig config(Path dataDir) {
    String yaml = ""
        + "data_dir: '" + dataDir + "'\n"
        + "receivers:\n"
        + "  otlp:\n"
        + "    endpoint: 127.0.0.1:0\n"
        + "admin:\n"
        + "  endpoint: 127.0.0.1:0\n";
    return new ConfigLoader(Map.of()).load("e2e.yaml", yaml, ConfigLoader.Overrides.NONE);
  }

  @BeforeAll
  void start(@TempDir Path dir) {
    dataDir = dir;
    sluice = Sluice.start(config(dataDir));
    base = "http://127.0.0.1:" + sluice.receiver().localAddress().getPort();
    exportDir = dataDir.resolve("export");
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
  }

  @AfterAll
  void stop() {
    if (sluice != null) {
      sluice.close();
    }
  }

  // --- the SDK side ------------------------------------------------------------------------------

  /** Both encodings the SDK can send (JSON through its internal switch) and both codings. */
  static List<Arguments> variants() {
    return List.of(
        Arguments.of(false, "none"),
        Arguments.of(false, "gzip"),
        Arguments.of(true, "none"),
        Arguments.of(true, "gzip"));
  }

  /**
   * Switches an OTLP/HTTP exporter builder to JSON. The SDK's builders have no public option for
   * it in 1.67 (only the internal {@code HttpExporterBuilder.exportAsJson()} that the SDK's own
   * tests use), so this reaches it through the builder's {@code delegate} field.
   */
  private static <B> B json(B builder) {
    try {
      Field f = builder.getClass().getDeclaredField("delegate");
      f.setAccessible(true);
      Object delegate = f.get(builder);
      delegate.getClass().getMethod("exportAsJson").invoke(delegate);
      return builder;
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new AssertionError("cannot switch " + builder.getClass().getName() + " to JSON", e);
    }
  }

  private OtlpHttpSpanExporter spanExporter(boolean asJson, String compression) {
    OtlpHttpSpanExporterBuilder b = OtlpHttpSpanExporter.builder()
        .setEndpoint(base + "/v1/traces").setCompression(compression)
        .setTimeout(Duration.ofSeconds(10));
    return (asJson ? json(b) : b).build();
  }

  private OtlpHttpMetricExporter metricExporter(boolean asJson, String compression) {
    OtlpHttpMetricExporterBuilder b = OtlpHttpMetricExporter.builder()
        .setEndpoint(base + "/v1/metrics").setCompression(compression)
        .setTimeout(Duration.ofSeconds(10));
    return (asJson ? json(b) : b).build();
  }

  private OtlpHttpLogRecordExporter logExporter(boolean asJson, String compression) {
    OtlpHttpLogRecordExporterBuilder b = OtlpHttpLogRecordExporter.builder()
        .setEndpoint(base + "/v1/logs").setCompression(compression)
        .setTimeout(Duration.ofSeconds(10));
    return (asJson ? json(b) : b).build();
  }

  private static String variantName(boolean asJson, String compression) {
    return (asJson ? "json" : "protobuf") + "-" + compression + "-"
        + UUID.randomUUID().toString().substring(0, 8);
  }

  private static Resource resource(String variant) {
    return Resource.getDefault().merge(Resource.create(Attributes.builder()
        .put("service.name", "sluice-e2e")
        .put(VARIANT, variant)
        .build()));
  }

  private static void assertSucceeds(String what, CompletableResultCode result) {
    result.join(10, TimeUnit.SECONDS);
    assertThat(result.isDone()).as(what + " finished within 10 s").isTrue();
    assertThat(result.isSuccess()).as(what + " succeeded").isTrue();
  }

  private double requests(String signal, boolean asJson, String compression) {
    Counter c = sluice.registry().find("sluice.receiver.requests")
        .tags("signal", signal, "encoding", asJson ? "json" : "protobuf",
            "compression", compression, "status", "200")
        .counter();
    return c == null ? 0 : c.count();
  }

  /** Attributes as plain Java values, to compare with {@link ExportFiles#attributes}. */
  private static Map<String, Object> plain(Attributes attributes) {
    Map<String, Object> out = new LinkedHashMap<>();
    attributes.forEach((k, v) -> out.put(k.getKey(), v));
    return out;
  }

  /** Every attribute type, with values that are easy to get wrong on the wire. */
  private static Attributes richAttributes(String variant) {
    return Attributes.builder()
        .put("str", "héllo wörld 🌊 \"quoted\" \\ back\nslash")
        .put("empty", "")
        .put("long", 42L)
        .put("long.max", Long.MAX_VALUE)
        .put("long.min", Long.MIN_VALUE)
        .put("negative", -7L)
        .put("double", 3.25)
        .put("double.tenth", 0.1)
        .put("double.huge", 1e300)
        .put("double.negative", -2.5e-10)
        .put("bool.true", true)
        .put("bool.false", false)
        .put(AttributeKey.stringArrayKey("str.array"), List.of("a", "", "ü"))
        .put(AttributeKey.longArrayKey("long.array"), List.of(1L, -2L, 9007199254740993L))
        .put(AttributeKey.doubleArrayKey("double.array"), List.of(0.5, -1.25))
        .put(AttributeKey.booleanArrayKey("bool.array"), List.of(true, false))
        .put("variant", variant)
        .build();
  }

  /** Records spans the SDK ends, so that they can be handed to the OTLP exporter in one call. */
  private static final class CollectingSpanExporter implements SpanExporter {
    final List<SpanData> spans = new CopyOnWriteArrayList<>();

    @Override
    public CompletableResultCode export(Collection<SpanData> batch) {
      spans.addAll(batch);
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode flush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }

  private static final class CollectingLogExporter implements LogRecordExporter {
    final List<LogRecordData> logs = new CopyOnWriteArrayList<>();

    @Override
    public CompletableResultCode export(Collection<LogRecordData> batch) {
      logs.addAll(batch);
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode flush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }

  /** A metric reader that collects on demand, so the metrics can be exported in one call. */
  private static final class CollectingReader implements MetricReader {
    private volatile CollectionRegistration registration = CollectionRegistration.noop();

    @Override
    public void register(CollectionRegistration registration) {
      this.registration = registration;
    }

    Collection<MetricData> collect() {
      return registration.collectAllMetrics();
    }

    @Override
    public AggregationTemporality getAggregationTemporality(InstrumentType type) {
      return AggregationTemporality.CUMULATIVE;
    }

    @Override
    public CompletableResultCode forceFlush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }

  // --- reading the files back ---------------------------------------------------------------------

  /** The spans of one variant in the traces file, by span id, with their scope. */
  private Map<String, io.opentelemetry.proto.trace.v1.Span> spansOf(String variant,
      Map<String, ScopeSpans> scopes) {
    Map<String, io.opentelemetry.proto.trace.v1.Span> out = new HashMap<>();
    for (ExportTraceServiceRequest r : ExportFiles.traces(exportDir)) {
      for (ResourceSpans rs : r.getResourceSpansList()) {
        if (!variant.equals(attribute(rs.getResource().getAttributesList(), VARIANT.getKey()))) {
          continue;
        }
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          for (io.opentelemetry.proto.trace.v1.Span s : ss.getSpansList()) {
            out.put(hex(s.getSpanId()), s);
            if (scopes != null) {
              scopes.put(hex(s.getSpanId()), ss);
            }
          }
        }
      }
    }
    return out;
  }

  private Map<String, Metric> metricsOf(String variant, Map<String, ScopeMetrics> scopes) {
    Map<String, Metric> out = new HashMap<>();
    for (ExportMetricsServiceRequest r : ExportFiles.metrics(exportDir)) {
      for (ResourceMetrics rm : r.getResourceMetricsList()) {
        if (!variant.equals(attribute(rm.getResource().getAttributesList(), VARIANT.getKey()))) {
          continue;
        }
        for (ScopeMetrics sm : rm.getScopeMetricsList()) {
          for (Metric m : sm.getMetricsList()) {
            out.put(m.getName(), m);
            if (scopes != null) {
              scopes.put(m.getName(), sm);
            }
          }
        }
      }
    }
    return out;
  }

  private List<LogRecord> logsOf(String variant, List<ScopeLogs> scopes) {
    List<LogRecord> out = new ArrayList<>();
    for (ExportLogsServiceRequest r : ExportFiles.logs(exportDir)) {
      for (ResourceLogs rl : r.getResourceLogsList()) {
        if (!variant.equals(attribute(rl.getResource().getAttributesList(), VARIANT.getKey()))) {
          continue;
        }
        for (ScopeLogs sl : rl.getScopeLogsList()) {
          out.addAll(sl.getLogRecordsList());
          if (scopes != null) {
            scopes.add(sl);
          }
        }
      }
    }
    return out;
  }

  // --- traces ---------------------------------------------------------------------------------------

  @ParameterizedTest(name = "json={0}, compression={1}")
  @MethodSource("variants")
  void spansFromTheSdkArriveIntact(boolean asJson, String compression) {
    String variant = variantName(asJson, compression);
    CollectingSpanExporter collected = new CollectingSpanExporter();
    SdkTracerProvider tp = SdkTracerProvider.builder().setResource(resource(variant))
        .addSpanProcessor(SimpleSpanProcessor.create(collected)).build();
    Tracer tracer = tp.get("dev.sluice.e2e", "1.2.3");

    Span root = tracer.spanBuilder("root " + variant).setSpanKind(SpanKind.SERVER)
        .setAllAttributes(richAttributes(variant)).startSpan();
    try (Scope ignored = root.makeCurrent()) {
      Span child = tracer.spanBuilder("child").setSpanKind(SpanKind.CLIENT)
          .setAttribute("child.index", 1L).startSpan();
      try (Scope ignored2 = child.makeCurrent()) {
        Span grandchild = tracer.spanBuilder("grandchild").setSpanKind(SpanKind.INTERNAL)
            .startSpan();
        grandchild.addEvent("cache miss", Attributes.of(AttributeKey.stringKey("key"), "k1",
            AttributeKey.longKey("attempt"), 2L));
        grandchild.end();
      }
      child.setStatus(StatusCode.ERROR, "upstream said no");
      child.end();
      Span producer = tracer.spanBuilder("publish").setSpanKind(SpanKind.PRODUCER)
          .addLink(SpanContext.create("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
              TraceFlags.getSampled(), TraceState.getDefault()),
              Attributes.of(AttributeKey.stringKey("link.kind"), "follows"))
          .startSpan();
      producer.setStatus(StatusCode.OK);
      producer.end();
    }
    root.end();
    tp.shutdown().join(5, TimeUnit.SECONDS);
    List<SpanData> sent = collected.spans;
    assertThat(sent).hasSize(4);

    double before = requests("traces", asJson, compression);
    OtlpHttpSpanExporter exporter = spanExporter(asJson, compression);
    try {
      assertSucceeds("span export", exporter.export(sent));
    } finally {
      exporter.shutdown().join(5, TimeUnit.SECONDS);
    }
    // The request really went out in this encoding and coding.
    assertThat(requests("traces", asJson, compression)).isEqualTo(before + 1);

    Map<String, ScopeSpans> scopes = new HashMap<>();
    Map<String, io.opentelemetry.proto.trace.v1.Span> received = Await.value(
        "the 4 spans of " + variant + " in the traces file", WAIT, () -> {
          Map<String, io.opentelemetry.proto.trace.v1.Span> m = spansOf(variant, scopes);
          return m.size() >= sent.size() ? m : null;
        });
    assertThat(received).hasSize(sent.size());

    for (SpanData s : sent) {
      io.opentelemetry.proto.trace.v1.Span p = received.get(s.getSpanId());
      assertThat(p).as("span " + s.getName()).isNotNull();
      assertThat(hex(p.getTraceId())).isEqualTo(s.getTraceId());
      assertThat(hex(p.getSpanId())).isEqualTo(s.getSpanId());
      assertThat(hex(p.getParentSpanId())).isEqualTo(
          s.getParentSpanContext().isValid() ? s.getParentSpanId() : "");
      assertThat(p.getName()).isEqualTo(s.getName());
      assertThat(p.getKind().getNumber()).isEqualTo(s.getKind().ordinal() + 1);
      assertThat(p.getStartTimeUnixNano()).isEqualTo(s.getStartEpochNanos());
      assertThat(p.getEndTimeUnixNano()).isEqualTo(s.getEndEpochNanos());
      assertThat(attributes(p.getAttributesList())).isEqualTo(plain(s.getAttributes()));
      assertThat(p.getStatus().getCode().getNumber())
          .isEqualTo(s.getStatus().getStatusCode().ordinal());
      assertThat(p.getStatus().getMessage()).isEqualTo(s.getStatus().getDescription());
      assertThat(p.getFlags() & 0xff).isEqualTo(s.getSpanContext().getTraceFlags().asByte() & 0xff);
      assertThat(p.getEventsCount()).isEqualTo(s.getEvents().size());
      for (int i = 0; i < s.getEvents().size(); i++) {
        EventData e = s.getEvents().get(i);
        assertThat(p.getEvents(i).getName()).isEqualTo(e.getName());
        assertThat(p.getEvents(i).getTimeUnixNano()).isEqualTo(e.getEpochNanos());
        assertThat(attributes(p.getEvents(i).getAttributesList()))
            .isEqualTo(plain(e.getAttributes()));
      }
      assertThat(p.getLinksCount()).isEqualTo(s.getLinks().size());
      for (int i = 0; i < s.getLinks().size(); i++) {
        assertThat(hex(p.getLinks(i).getTraceId()))
            .isEqualTo(s.getLinks().get(i).getSpanContext().getTraceId());
        assertThat(hex(p.getLinks(i).getSpanId()))
            .isEqualTo(s.getLinks().get(i).getSpanContext().getSpanId());
        assertThat(attributes(p.getLinks(i).getAttributesList()))
            .isEqualTo(plain(s.getLinks().get(i).getAttributes()));
      }
      ScopeSpans scope = scopes.get(s.getSpanId());
      assertThat(scope.getScope().getName()).isEqualTo("dev.sluice.e2e");
      assertThat(scope.getScope().getVersion()).isEqualTo("1.2.3");
    }

    // The tree: all in one trace, root <- child <- grandchild, root <- publish.
    SpanData rootData = sent.stream().filter(s -> s.getName().startsWith("root ")).findFirst()
        .orElseThrow();
    assertThat(sent).allSatisfy(s -> assertThat(s.getTraceId()).isEqualTo(rootData.getTraceId()));
    Map<String, String> parentByName = new HashMap<>();
    Map<String, String> nameById = new HashMap<>();
    received.values().forEach(p -> nameById.put(hex(p.getSpanId()), p.getName()));
    received.values().forEach(p -> parentByName.put(p.getName(),
        nameById.getOrDefault(hex(p.getParentSpanId()), "-")));
    assertThat(parentByName).containsEntry("child", rootData.getName())
        .containsEntry("grandchild", "child")
        .containsEntry("publish", rootData.getName())
        .containsEntry(rootData.getName(), "-");
    // The resource came along.
    assertThat(ExportFiles.traces(exportDir)).anySatisfy(r -> assertThat(r.getResourceSpansList())
        .anySatisfy(rs -> {
          assertThat(attribute(rs.getResource().getAttributesList(), VARIANT.getKey()))
              .isEqualTo(variant);
          assertThat(attribute(rs.getResource().getAttributesList(), "service.name"))
              .isEqualTo("sluice-e2e");
          assertThat(attribute(rs.getResource().getAttributesList(), "telemetry.sdk.language"))
              .isEqualTo("java");
        }));
  }

  @Test
  void aLargeBatchOfSpansArrivesWhole() {
    String variant = variantName(false, "gzip");
    CollectingSpanExporter collected = new CollectingSpanExporter();
    SdkTracerProvider tp = SdkTracerProvider.builder().setResource(resource(variant))
        .addSpanProcessor(SimpleSpanProcessor.create(collected)).build();
    Tracer tracer = tp.get("dev.sluice.e2e");
    for (int i = 0; i < 3000; i++) {
      tracer.spanBuilder("span-" + i).setAttribute("i", (long) i)
          .setAttribute("payload", "x".repeat(i % 200)).startSpan().end();
    }
    tp.shutdown().join(5, TimeUnit.SECONDS);
    assertThat(collected.spans).hasSize(3000);

    OtlpHttpSpanExporter exporter = spanExporter(false, "gzip");
    try {
      assertSucceeds("export of 3000 spans", exporter.export(collected.spans));
    } finally {
      exporter.shutdown().join(5, TimeUnit.SECONDS);
    }
    Map<String, io.opentelemetry.proto.trace.v1.Span> received = Await.value(
        "3000 spans in the traces file", WAIT, () -> {
          Map<String, io.opentelemetry.proto.trace.v1.Span> m = spansOf(variant, null);
          return m.size() >= 3000 ? m : null;
        });
    for (SpanData s : collected.spans) {
      io.opentelemetry.proto.trace.v1.Span p = received.get(s.getSpanId());
      assertThat(p).isNotNull();
      assertThat(p.getName()).isEqualTo(s.getName());
      assertThat(attributes(p.getAttributesList())).isEqualTo(plain(s.getAttributes()));
    }
  }

  // --- metrics --------------------------------------------------------------------------------------

  @ParameterizedTest(name = "json={0}, compression={1}")
  @MethodSource("variants")
  void metricsFromTheSdkArriveIntact(boolean asJson, String compression) {
    String variant = variantName(asJson, compression);
    CollectingReader reader = new CollectingReader();
    SdkMeterProvider mp = SdkMeterProvider.builder().setResource(resource(variant))
        .registerMetricReader(reader).build();
    Meter meter = mp.get("dev.sluice.e2e");
    Attributes get = Attributes.of(AttributeKey.stringKey("http.method"), "GET");
    Attributes post = Attributes.of(AttributeKey.stringKey("http.method"), "POST",
        AttributeKey.booleanKey("retry"), true);
    LongCounter counter = meter.counterBuilder("e2e.requests").setUnit("{request}")
        .setDescription("requests made").build();
    counter.add(2, get);
    counter.add(3, get);
    counter.add(7, post);
    LongUpDownCounter queue = meter.upDownCounterBuilder("e2e.queue.depth").build();
    queue.add(5);
    queue.add(-9);
    DoubleHistogram latency = meter.histogramBuilder("e2e.latency").setUnit("ms").build();
    latency.record(1.5);
    latency.record(10);
    latency.record(100);
    meter.gaugeBuilder("e2e.temperature").buildWithCallback(o -> o.record(21.5, get));

    Collection<MetricData> data = reader.collect();
    assertThat(data).extracting(MetricData::getName).containsExactlyInAnyOrder(
        "e2e.requests", "e2e.queue.depth", "e2e.latency", "e2e.temperature");

    double before = requests("metrics", asJson, compression);
    OtlpHttpMetricExporter exporter = metricExporter(asJson, compression);
    try {
      assertSucceeds("metric export", exporter.export(data));
    } finally {
      exporter.shutdown().join(5, TimeUnit.SECONDS);
      mp.shutdown().join(5, TimeUnit.SECONDS);
    }
    assertThat(requests("metrics", asJson, compression)).isEqualTo(before + 1);

    Map<String, ScopeMetrics> scopes = new HashMap<>();
    Map<String, Metric> received = Await.value("the metrics of " + variant, WAIT, () -> {
      Map<String, Metric> m = metricsOf(variant, scopes);
      return m.size() >= 4 ? m : null;
    });
    Map<String, MetricData> byName = data.stream()
        .collect(Collectors.toMap(MetricData::getName, m -> m));

    // The counter: a monotonic cumulative sum, one point per attribute set.
    Metric requests = received.get("e2e.requests");
    assertThat(requests.getUnit()).isEqualTo("{request}");
    assertThat(requests.getDescription()).isEqualTo("requests made");
    assertThat(requests.getSum().getIsMonotonic()).isTrue();
    assertThat(requests.getSum().getAggregationTemporalityValue())
        .isEqualTo(2); // AGGREGATION_TEMPORALITY_CUMULATIVE
    Map<Map<String, Object>, Long> sums = new HashMap<>();
    for (NumberDataPoint p : requests.getSum().getDataPointsList()) {
      sums.put(attributes(p.getAttributesList()), p.getAsInt());
    }
    Map<Map<String, Object>, Long> expectedSums = new HashMap<>();
    for (LongPointData p : byName.get("e2e.requests").getLongSumData().getPoints()) {
      expectedSums.put(plain(p.getAttributes()), p.getValue());
    }
    assertThat(expectedSums).containsEntry(plain(get), 5L).containsEntry(plain(post), 7L);
    assertThat(sums).isEqualTo(expectedSums);

    Metric queueDepth = received.get("e2e.queue.depth");
    assertThat(queueDepth.getSum().getIsMonotonic()).isFalse();
    assertThat(queueDepth.getSum().getDataPoints(0).getAsInt()).isEqualTo(-4);

    Metric hist = received.get("e2e.latency");
    assertThat(hist.getUnit()).isEqualTo("ms");
    HistogramDataPoint hp = hist.getHistogram().getDataPoints(0);
    HistogramPointData expected = byName.get("e2e.latency").getHistogramData().getPoints()
        .iterator().next();
    assertThat(hp.getCount()).isEqualTo(3).isEqualTo(expected.getCount());
    assertThat(hp.getSum()).isCloseTo(111.5, within(1e-9)).isEqualTo(expected.getSum());
    assertThat(hp.getMin()).isEqualTo(1.5);
    assertThat(hp.getMax()).isEqualTo(100.0);
    assertThat(hp.getExplicitBoundsList()).isEqualTo(expected.getBoundaries());
    assertThat(hp.getBucketCountsList()).isEqualTo(expected.getCounts());
    assertThat(hp.getStartTimeUnixNano()).isEqualTo(expected.getStartEpochNanos());
    assertThat(hp.getTimeUnixNano()).isEqualTo(expected.getEpochNanos());

    Metric temperature = received.get("e2e.temperature");
    assertThat(temperature.hasGauge()).isTrue();
    assertThat(temperature.getGauge().getDataPoints(0).getAsDouble()).isEqualTo(21.5);
    assertThat(attributes(temperature.getGauge().getDataPoints(0).getAttributesList()))
        .isEqualTo(plain(get));

    assertThat(scopes.get("e2e.requests").getScope().getName()).isEqualTo("dev.sluice.e2e");
  }

  // --- logs -----------------------------------------------------------------------------------------

  @ParameterizedTest(name = "json={0}, compression={1}")
  @MethodSource("variants")
  void logsFromTheSdkArriveIntact(boolean asJson, String compression) {
    String variant = variantName(asJson, compression);
    CollectingLogExporter collected = new CollectingLogExporter();
    SdkLoggerProvider lp = SdkLoggerProvider.builder().setResource(resource(variant))
        .addLogRecordProcessor(SimpleLogRecordProcessor.create(collected)).build();
    io.opentelemetry.api.logs.Logger logger = lp.get("dev.sluice.e2e.logs");

    SpanContext inSpan = SpanContext.create("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
        TraceFlags.getSampled(), TraceState.getDefault());
    logger.logRecordBuilder()
        .setBody("user ann signed in ✓ " + variant)
        .setSeverity(Severity.WARN)
        .setSeverityText("WARNING")
        .setTimestamp(1_700_000_000_123_456_789L, TimeUnit.NANOSECONDS)
        .setAllAttributes(richAttributes(variant))
        .setContext(Context.root().with(Span.wrap(inSpan)))
        .emit();
    logger.logRecordBuilder()
        .setBody(Value.of(Map.of("user", Value.of("bob"), "attempts", Value.of(3L))))
        .setSeverity(Severity.ERROR)
        .setEventName("login.failed")
        .setAttribute("plain", "yes")
        .emit();
    lp.shutdown().join(5, TimeUnit.SECONDS);
    List<LogRecordData> sent = collected.logs;
    assertThat(sent).hasSize(2);

    double before = requests("logs", asJson, compression);
    OtlpHttpLogRecordExporter exporter = logExporter(asJson, compression);
    try {
      assertSucceeds("log export", exporter.export(sent));
    } finally {
      exporter.shutdown().join(5, TimeUnit.SECONDS);
    }
    assertThat(requests("logs", asJson, compression)).isEqualTo(before + 1);

    List<ScopeLogs> scopes = new ArrayList<>();
    List<LogRecord> received = Await.value("the 2 logs of " + variant, WAIT, () -> {
      scopes.clear();
      List<LogRecord> l = logsOf(variant, scopes);
      return l.size() >= 2 ? l : null;
    });
    assertThat(received).hasSize(2);
    assertThat(scopes).allSatisfy(s ->
        assertThat(s.getScope().getName()).isEqualTo("dev.sluice.e2e.logs"));

    LogRecord first = received.stream()
        .filter(l -> l.getBody().getStringValue().startsWith("user ann")).findFirst()
        .orElseThrow();
    LogRecordData firstSent = sent.get(0);
    assertThat(first.getBody().getStringValue()).isEqualTo(firstSent.getBodyValue().asString())
        .isEqualTo("user ann signed in ✓ " + variant);
    assertThat(first.getSeverityNumberValue()).isEqualTo(Severity.WARN.getSeverityNumber())
        .isEqualTo(13);
    assertThat(first.getSeverityText()).isEqualTo("WARNING");
    assertThat(first.getTimeUnixNano()).isEqualTo(1_700_000_000_123_456_789L);
    assertThat(first.getObservedTimeUnixNano())
        .isEqualTo(firstSent.getObservedTimestampEpochNanos());
    assertThat(hex(first.getTraceId())).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
    assertThat(hex(first.getSpanId())).isEqualTo("00f067aa0ba902b7");
    assertThat(attributes(first.getAttributesList())).isEqualTo(plain(firstSent.getAttributes()))
        .containsEntry("long.max", Long.MAX_VALUE);

    LogRecord second = received.stream().filter(l -> l.getBody().hasKvlistValue()).findFirst()
        .orElseThrow();
    assertThat(ExportFiles.value(second.getBody()))
        .isEqualTo(Map.of("user", "bob", "attempts", 3L));
    assertThat(second.getSeverityNumberValue()).isEqualTo(Severity.ERROR.getSeverityNumber());
    assertThat(second.getEventName()).isEqualTo("login.failed");
    assertThat(second.getTraceId().isEmpty()).isTrue();
    assertThat(attributes(second.getAttributesList())).isEqualTo(Map.of("plain", "yes"));
  }

  // --- the SDK's own processors and readers, wired straight to the OTLP exporters -----------------

  @Test
  void theSdkPipelinesWiredToSluiceFlushIntoTheFiles() {
    String variant = variantName(false, "gzip");
    OtlpHttpSpanExporter spans = spanExporter(false, "gzip");
    OtlpHttpMetricExporter metrics = metricExporter(false, "gzip");
    OtlpHttpLogRecordExporter logs = logExporter(false, "gzip");
    SdkTracerProvider tp = SdkTracerProvider.builder().setResource(resource(variant))
        .addSpanProcessor(BatchSpanProcessor.builder(spans).build()).build();
    SdkMeterProvider mp = SdkMeterProvider.builder().setResource(resource(variant))
        .registerMetricReader(PeriodicMetricReader.builder(metrics)
            .setInterval(Duration.ofHours(1)).build())
        .build();
    SdkLoggerProvider lp = SdkLoggerProvider.builder().setResource(resource(variant))
        .addLogRecordProcessor(BatchLogRecordProcessor.builder(logs).build()).build();
    try {
      Tracer tracer = tp.get("wired");
      Span parent = tracer.spanBuilder("wired-parent").startSpan();
      Span child = tracer.spanBuilder("wired-child").setParent(Context.root().with(parent))
          .startSpan();
      child.end();
      parent.end();
      mp.get("wired").counterBuilder("wired.count").build().add(11);
      lp.get("wired").logRecordBuilder().setBody("wired log").emit();

      assertSucceeds("tracer provider flush", tp.forceFlush());
      assertSucceeds("meter provider flush", mp.forceFlush());
      assertSucceeds("logger provider flush", lp.forceFlush());

      Map<String, io.opentelemetry.proto.trace.v1.Span> received = Await.value(
          "the wired spans", WAIT, () -> {
            Map<String, io.opentelemetry.proto.trace.v1.Span> m = spansOf(variant, null);
            return m.size() >= 2 ? m : null;
          });
      SpanContext p = parent.getSpanContext();
      SpanContext c = child.getSpanContext();
      assertThat(received.get(c.getSpanId()).getName()).isEqualTo("wired-child");
      assertThat(hex(received.get(c.getSpanId()).getParentSpanId())).isEqualTo(p.getSpanId());
      assertThat(hex(received.get(c.getSpanId()).getTraceId())).isEqualTo(p.getTraceId());

      Metric count = Await.value("the wired metric", WAIT,
          () -> metricsOf(variant, null).get("wired.count"));
      assertThat(count.getSum().getDataPoints(0).getAsInt()).isEqualTo(11);

      List<LogRecord> received2 = Await.value("the wired log", WAIT, () -> {
        List<LogRecord> l = logsOf(variant, null);
        return l.isEmpty() ? null : l;
      });
      assertThat(received2).extracting(l -> l.getBody().getStringValue())
          .containsExactly("wired log");
    } finally {
      tp.shutdown().join(5, TimeUnit.SECONDS);
      mp.shutdown().join(5, TimeUnit.SECONDS);
      lp.shutdown().join(5, TimeUnit.SECONDS);
    }
  }

  // --- plain HTTP -----------------------------------------------------------------------------------

  private HttpResponse<String> postJsonTrace(String name) throws IOException, InterruptedException {
    String body = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"test.variant\","
        + "\"value\":{\"stringValue\":\"" + name + "\"}}]},\"scopeSpans\":[{\"spans\":[{"
        + "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
        + "\"name\":\"" + name + "\",\"kind\":2,\"startTimeUnixNano\":\"1544712660000000000\","
        + "\"endTimeUnixNano\":\"1544712661000000000\"}]}]}]}";
    return http.send(HttpRequest.newBuilder(URI.create(base + "/v1/traces"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aPlainJsonPostIsWrittenToTheFile() throws Exception {
    String name = "plain-" + UUID.randomUUID();
    HttpResponse<String> r = postJsonTrace(name);
    assertThat(r.statusCode()).isEqualTo(200);
    // The answer comes after the line is written: it is there at once.
    Map<String, io.opentelemetry.proto.trace.v1.Span> spans = spansOf(name, null);
    assertThat(spans).containsOnlyKeys("eee19b7ec3c1b174");
    assertThat(spans.get("eee19b7ec3c1b174").getName()).isEqualTo(name);
    assertThat(hex(spans.get("eee19b7ec3c1b174").getTraceId()))
        .isEqualTo("5b8efff798038103d269b633813fc60c");
  }

  @Nested
  @TestInstance(TestInstance.Lifecycle.PER_CLASS)
  class Admin {
    private String admin() {
      return "http://127.0.0.1:" + sluice.admin().localAddress().getPort();
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
      return http.send(HttpRequest.newBuilder(URI.create(admin() + path)).GET().build(),
          HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void metricsInThePrometheusFormat() throws Exception {
      assertThat(postJsonTrace("for-metrics-" + UUID.randomUUID()).statusCode()).isEqualTo(200);
      HttpResponse<String> r = get("/metrics");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(
          ct -> assertThat(ct).startsWith("text/plain"));
      String text = r.body();
      assertThat(text.lines().filter(l -> l.startsWith("sluice_receiver_requests_total{")
          && l.contains("signal=\"traces\"") && l.contains("status=\"200\"")
          && l.contains("encoding=\"json\"")))
          .as("sluice_receiver_requests_total for traces with status 200 in\n" + text)
          .isNotEmpty()
          .allSatisfy(l -> assertThat(Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
              .isGreaterThanOrEqualTo(1.0));
      // The latency histogram, with a count for the request just made.
      assertThat(text.lines().filter(l -> l.startsWith(
          "sluice_receiver_request_duration_seconds_count{signal=\"traces\"}")))
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .satisfies(l -> assertThat(Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
              .isGreaterThanOrEqualTo(1.0));
      assertThat(text).contains("sluice_receiver_request_duration_seconds_bucket{signal=\"traces\"");
      assertThat(text.lines().filter(l -> l.startsWith("sluice_receiver_connections ")
          || l.startsWith("sluice_receiver_connections{")))
          .as("sluice_receiver_connections in\n" + text)
          .isNotEmpty();
      assertThat(text).contains("# TYPE sluice_receiver_requests_total counter");
    }

    @Test
    void latencyQuantiles() throws Exception {
      assertThat(postJsonTrace("for-quantiles-" + UUID.randomUUID()).statusCode()).isEqualTo(200);
      String text = get("/metrics").body();
      assertThat(text.lines().filter(l -> l.startsWith("sluice_receiver_request_latency_seconds{")
          && l.contains("quantile=\"0.99\"") && l.contains("signal=\"traces\"")))
          .as("the traces request latency's 0.99 quantile in\n" + text)
          .isNotEmpty();
      assertThat(text.lines().filter(l -> l.startsWith(
          "sluice_receiver_request_duration_seconds_bucket{") && l.contains("signal=\"traces\"")))
          .as("the traces request duration histogram in\n" + text)
          .isNotEmpty();
    }

    @Test
    void theConnectionsGaugeCountsOpenConnections() throws Exception {
      try (Socket s = new Socket("127.0.0.1", sluice.receiver().localAddress().getPort())) {
        Await.until("the connections gauge to show an open connection", WAIT, () -> {
          try {
            return gauge(get("/metrics").body(), "sluice_receiver_connections") >= 1;
          } catch (Exception e) {
            throw new AssertionError(e);
          }
        });
        assertThat(s.isConnected()).isTrue();
      }
    }

    private double gauge(String text, String name) {
      return text.lines().filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{"))
          .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
          .sum();
    }

    @Test
    void healthLive() throws Exception {
      HttpResponse<String> r = get("/health/live");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("live");
    }

    @Test
    void healthReady() throws Exception {
      HttpResponse<String> r = get("/health/ready");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("ready");
    }

    @Test
    void anUnknownPathIs404() throws Exception {
      HttpResponse<String> r = get("/nothing-here");
      assertThat(r.statusCode()).isEqualTo(404);
      assertThat(r.body()).contains("/metrics");
    }

    @Test
    void aQueryStringIsIgnored() throws Exception {
      assertThat(get("/health/live?verbose=1").statusCode()).isEqualTo(200);
    }

    @Test
    void onlyGetAndHead() throws Exception {
      HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(admin() + "/metrics"))
          .POST(HttpRequest.BodyPublishers.ofString("x")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(post.statusCode()).isEqualTo(405);
      assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");

      HttpResponse<String> head = http.send(HttpRequest.newBuilder(URI.create(admin()
          + "/health/live")).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(head.statusCode()).isEqualTo(200);
      assertThat(head.body()).isEmpty();
    }
  }

  // --- shutdown -------------------------------------------------------------------------------------

  @Test
  void closeIsQuickAndClosesThePorts(@TempDir Path otherDir) throws Exception {
    Sluice s = Sluice.start(config(otherDir));
    int port = s.receiver().localAddress().getPort();
    int adminPort = s.admin().localAddress().getPort();
    boolean closed = false;
    try (Socket idle = new Socket("127.0.0.1", port)) {
      // A keep-alive connection that stays open after its request: close must not wait for it.
      OutputStream out = idle.getOutputStream();
      byte[] body = ("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
          + "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b175\","
          + "\"name\":\"before-close\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"}]}]}]}")
          .getBytes(StandardCharsets.UTF_8);
      out.write(("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      idle.setSoTimeout(10_000);
      InputStream in = idle.getInputStream();
      String status = readLine(in);
      assertThat(status).startsWith("HTTP/1.1 200");

      long t0 = System.nanoTime();
      s.close();
      closed = true;
      Duration took = Duration.ofNanos(System.nanoTime() - t0);
      assertThat(took).isLessThan(Duration.ofSeconds(5));

      // The idle connection was closed by the server: reading reaches the end.
      byte[] rest = in.readAllBytes();
      assertThat(rest).isNotNull();
    } finally {
      if (!closed) {
        s.close();
      }
    }
    assertRefused(port);
    assertRefused(adminPort);
    // What was accepted before close is in the file.
    assertThat(ExportFiles.traces(otherDir.resolve("export")))
        .flatExtracting(r -> r.getResourceSpans(0).getScopeSpans(0).getSpansList())
        .extracting(io.opentelemetry.proto.trace.v1.Span::getName)
        .containsExactly("before-close");
    // Closing twice is harmless.
    s.close();
  }

  private static String readLine(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    int c;
    while ((c = in.read()) != -1 && c != '\n') {
      if (c != '\r') {
        sb.append((char) c);
      }
    }
    return sb.toString();
  }

  private static void assertRefused(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
      throw new AssertionError("port " + port + " still accepts connections after close");
    } catch (ConnectException expected) {
      // refused: nothing listens
    } catch (IOException e) {
      throw new AssertionError("unexpected failure connecting to " + port, e);
    }
  }

  @Test
  void aSecondInstanceOnTheSamePortFailsCleanly(@TempDir Path otherDir) {
    int port = sluice.receiver().localAddress().getPort();
    SluiceConfig c = new ConfigLoader(Map.of()).load("dup.yaml", ""
        + "data_dir: '" + otherDir + "'\n"
        + "receivers:\n  otlp:\n    endpoint: 127.0.0.1:" + port + "\n"
        + "admin:\n  endpoint: 127.0.0.1:0\n", ConfigLoader.Overrides.NONE);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Sluice.start(c))
        .isInstanceOf(java.io.UncheckedIOException.class)
        .hasMessageContaining(String.valueOf(port));
    // The running one is unharmed.
    assertThat(sluice.pipeline().ready()).isTrue();
    assertThat(Files.isDirectory(exportDir.resolve("traces"))).isTrue();
  }
}
