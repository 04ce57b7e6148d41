package dev.sluice.kafka;

import static dev.sluice.kafka.Otlp.attr;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every signal in both encodings through a real broker: what arrives, one request per message,
 * decodes to what was sent, with the keys and partitions the exporter promises.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaExporterRoundTripTest {
  private static final int PARTITIONS = 4;
  private static KafkaTestBroker kafka;

  private final List<KafkaExporter> exporters = new ArrayList<>();
  private SimpleMeterRegistry registry;

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
  }

  @AfterEach
  void closeExporters() {
    exporters.forEach(KafkaExporter::close);
  }

  /** An exporter sending every signal to fresh topics of {@link #PARTITIONS} partitions. */
  private KafkaExporter exporter(KafkaEncoding encoding) {
    registry = new SimpleMeterRegistry();
    KafkaExporter.Builder b = KafkaExporter.builder().name("kafka-rt")
        .bootstrapServers(kafka.bootstrapServers()).encoding(encoding).meterRegistry(registry);
    for (Signal s : Signal.values()) {
      b.topic(s, kafka.createTopic(s.id() + "-" + encoding.id().replace('_', '-'), PARTITIONS));
    }
    KafkaExporter e = b.build();
    exporters.add(e);
    e.start();
    return e;
  }

  private static void exportAndWait(KafkaExporter exporter, TelemetryBatch batch)
      throws Exception {
    exporter.export(batch).get(30, TimeUnit.SECONDS);
    assertThat(batch.refCnt()).as("the exporter released the batch").isZero();
  }

  private static String keyString(ConsumerRecord<byte[], byte[]> r) {
    return r.key() == null ? null : new String(r.key(), StandardCharsets.US_ASCII);
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void tracesArriveOneTracePerMessageKeyedByHexTraceIdInOnePartition(KafkaEncoding encoding)
      throws Exception {
    KafkaExporter exporter = exporter(encoding);
    ByteString a = Otlp.traceId(0xa1, 1);
    ByteString b = Otlp.traceId(0xb2, 2);
    ByteString c = Otlp.traceId(0xc3, 3);
    Resource r1 = Otlp.resource(attr("service.name", "checkout"), attr("host", "h1"));
    Resource r2 = Otlp.resource(attr("service.name", "payments"));
    // Spans of one trace spread over resources and scopes, traces interleaved.
    ExportTraceServiceRequest request = Otlp.traces(
        Otlp.resourceSpans(r1,
            Otlp.scopeSpans(Otlp.scope("http"), Otlp.span(a, 1, "GET /cart"),
                Otlp.span(b, 2, "GET /"), Otlp.span(a, 3, "db")),
            Otlp.scopeSpans(Otlp.scope("grpc"), Otlp.span(c, 4, "rpc"),
                Otlp.span(a, 5, "cache"))),
        Otlp.resourceSpans(r2,
            Otlp.scopeSpans(Otlp.scope("http"), Otlp.span(b, 6, "charge"),
                Otlp.span(a, 7, "authorize"))));

    exportAndWait(exporter, Otlp.batch(Signal.TRACES, request, "tenant-7"));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.TRACES));
    assertThat(records).hasSize(3);
    List<Otlp.SpanAt> received = new ArrayList<>();
    Map<String, Set<Integer>> partitionsByKey = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      ExportTraceServiceRequest got = (ExportTraceServiceRequest) Otlp.decode(Signal.TRACES,
          encoding, r.value());
      List<Otlp.SpanAt> spans = Otlp.flatten(got);
      Set<ByteString> ids = new HashSet<>();
      spans.forEach(s -> ids.add(s.span().getTraceId()));
      assertThat(ids).as("trace ids in one message").hasSize(1);
      String expectedKey = Otlp.hex(ids.iterator().next());
      assertThat(keyString(r)).isEqualTo(expectedKey).hasSize(32);
      partitionsByKey.computeIfAbsent(expectedKey, k -> new HashSet<>()).add(r.partition());
      Header tenant = r.headers().lastHeader(KafkaExporter.TENANT_HEADER);
      assertThat(new String(tenant.value(), StandardCharsets.UTF_8)).isEqualTo("tenant-7");
      // No envelope without spans.
      for (ResourceSpans rs : got.getResourceSpansList()) {
        assertThat(rs.getScopeSpansList()).allSatisfy(ss -> assertThat(ss.getSpansCount())
            .isPositive());
      }
      received.addAll(spans);
    }
    assertThat(partitionsByKey).hasSize(3).allSatisfy((k, p) -> assertThat(p).hasSize(1));
    // The union is the input, each span with its own resource and scope (schema URLs included).
    assertThat(received).containsExactlyInAnyOrderElementsOf(Otlp.flatten(request));
    // Within a trace, the spans keep their order.
    List<String> traceA = records.stream().filter(r -> keyString(r).equals(Otlp.hex(a)))
        .flatMap(r -> {
          try {
            return Otlp.flatten((ExportTraceServiceRequest) Otlp.decode(Signal.TRACES, encoding,
                r.value())).stream();
          } catch (Exception e) {
            throw new AssertionError(e);
          }
        }).map(s -> s.span().getName()).toList();
    assertThat(traceA).containsExactly("GET /cart", "db", "cache", "authorize");

    assertThat(registry.get("sluice.kafka.messages.sent").tag("signal", "traces").counter()
        .count()).isEqualTo(3.0);
    assertThat(registry.get("sluice.kafka.request.latency").tag("signal", "traces").timer()
        .count()).isEqualTo(3);
    assertThat(registry.get("sluice.kafka.batch.items").tag("signal", "traces").summary()
        .totalAmount()).isEqualTo(7.0);
    double valueAndKeyBytes = records.stream().mapToDouble(r -> r.value().length
        + r.key().length).sum();
    assertThat(registry.get("sluice.kafka.bytes.sent").tag("signal", "traces").counter().count())
        .isEqualTo(valueAndKeyBytes);
  }

  @Test
  void spansOfOneTraceFromSeveralBatchesStayInOnePartitionInOrder() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_PROTO);
    Resource r = Otlp.resource(attr("service.name", "svc"));
    List<ByteString> ids = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      ids.add(Otlp.traceId(0x10 + t, t));
    }
    for (int batch = 0; batch < 5; batch++) {
      List<io.opentelemetry.proto.trace.v1.Span> spans = new ArrayList<>();
      for (int t = 0; t < ids.size(); t++) {
        spans.add(Otlp.span(ids.get(t), batch * 100 + t, "b" + batch));
      }
      exportAndWait(exporter, Otlp.batch(Signal.TRACES, Otlp.traces(Otlp.resourceSpans(r,
          Otlp.scopeSpans(Otlp.scope("s"),
              spans.toArray(io.opentelemetry.proto.trace.v1.Span[]::new))))));
    }
    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.TRACES));
    assertThat(records).hasSize(40);
    Map<String, List<ConsumerRecord<byte[], byte[]>>> byKey = new LinkedHashMap<>();
    records.forEach(rec -> byKey.computeIfAbsent(keyString(rec), k -> new ArrayList<>())
        .add(rec));
    assertThat(byKey).hasSize(8);
    Set<Integer> usedPartitions = new HashSet<>();
    for (List<ConsumerRecord<byte[], byte[]>> trace : byKey.values()) {
      assertThat(trace).extracting(ConsumerRecord::partition).containsOnly(trace.get(0)
          .partition());
      usedPartitions.add(trace.get(0).partition());
      List<String> order = new ArrayList<>();
      for (ConsumerRecord<byte[], byte[]> rec : trace) {
        order.add(ExportTraceServiceRequest.parseFrom(rec.value()).getResourceSpans(0)
            .getScopeSpans(0).getSpans(0).getName());
      }
      assertThat(order).containsExactly("b0", "b1", "b2", "b3", "b4");
    }
    assertThat(usedPartitions).as("8 trace ids hash to more than one of 4 partitions")
        .hasSizeGreaterThan(1);
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void metricsArriveOneResourcePerMessageKeyedByResourceAttributes(KafkaEncoding encoding)
      throws Exception {
    KafkaExporter exporter = exporter(encoding);
    ResourceMetrics first = Otlp.resourceMetrics(
        Otlp.resource(attr("service.name", "api"), attr("zone", "eu-1")), Otlp.scope("runtime"),
        Otlp.gauge("heap", Otlp.point(1, 1.5), Otlp.point(2, 2.5)),
        Otlp.sum("requests", Otlp.point(1, 10, attr("route", "/a"))));
    ResourceMetrics other = Otlp.resourceMetrics(
        Otlp.resource(attr("service.name", "worker")), Otlp.scope("runtime"),
        Otlp.gauge("heap", Otlp.point(1, 7)));
    // The same attributes as the first resource, in another order.
    ResourceMetrics sameAsFirst = Otlp.resourceMetrics(
        Otlp.resource(attr("zone", "eu-1"), attr("service.name", "api")), Otlp.scope("jobs"),
        Otlp.sum("jobs", Otlp.point(3, 1)));
    ExportMetricsServiceRequest request = Otlp.metrics(first, other, sameAsFirst);
    exportAndWait(exporter, Otlp.batch(Signal.METRICS, request));
    // A later batch from the first resource.
    ExportMetricsServiceRequest later = Otlp.metrics(Otlp.resourceMetrics(first.getResource(),
        Otlp.scope("runtime"), Otlp.gauge("heap", Otlp.point(9, 9.5))));
    exportAndWait(exporter, Otlp.batch(Signal.METRICS, later));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.METRICS));
    assertThat(records).hasSize(4);
    Map<ResourceMetrics, ConsumerRecord<byte[], byte[]>> byContent = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      ExportMetricsServiceRequest got = (ExportMetricsServiceRequest) Otlp.decode(
          Signal.METRICS, encoding, r.value());
      assertThat(got.getResourceMetricsCount()).isEqualTo(1);
      assertThat(r.key()).hasSize(16);
      byContent.put(got.getResourceMetrics(0), r);
    }
    assertThat(byContent.keySet()).containsExactlyInAnyOrder(first, other, sameAsFirst,
        later.getResourceMetrics(0));
    byte[] k1 = byContent.get(first).key();
    assertThat(byContent.get(sameAsFirst).key()).isEqualTo(k1);
    assertThat(byContent.get(later.getResourceMetrics(0)).key()).isEqualTo(k1);
    assertThat(byContent.get(other).key()).isNotEqualTo(k1);
    assertThat(List.of(byContent.get(sameAsFirst).partition(),
        byContent.get(later.getResourceMetrics(0)).partition()))
        .containsOnly(byContent.get(first).partition());
    assertThat(registry.get("sluice.kafka.batch.items").tag("signal", "metrics").summary()
        .totalAmount()).isEqualTo(6.0);
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void logsArriveOneResourcePerMessageKeyedByResourceAttributes(KafkaEncoding encoding)
      throws Exception {
    KafkaExporter exporter = exporter(encoding);
    ResourceLogs a = Otlp.resourceLogs(Otlp.resource(attr("service.name", "api")),
        Otlp.scope("app"), Otlp.log(1, "started"), Otlp.log(2, "ready"));
    ResourceLogs b = Otlp.resourceLogs(Otlp.resource(attr("service.name", "db")),
        Otlp.scope("app"), Otlp.log(3, "slow query"));
    ResourceLogs a2 = Otlp.resourceLogs(Otlp.resource(attr("service.name", "api")),
        Otlp.scope("audit"), Otlp.log(4, "login"));
    ExportLogsServiceRequest request = Otlp.logs(a, b, a2);
    exportAndWait(exporter, Otlp.batch(Signal.LOGS, request));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.LOGS));
    assertThat(records).hasSize(3);
    Map<ResourceLogs, ConsumerRecord<byte[], byte[]>> byContent = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      ExportLogsServiceRequest got = (ExportLogsServiceRequest) Otlp.decode(Signal.LOGS,
          encoding, r.value());
      assertThat(got.getResourceLogsCount()).isEqualTo(1);
      byContent.put(got.getResourceLogs(0), r);
    }
    assertThat(byContent.keySet()).containsExactlyInAnyOrder(a, b, a2);
    assertThat(byContent.get(a2).key()).isEqualTo(byContent.get(a).key()).hasSize(16);
    assertThat(byContent.get(b).key()).isNotEqualTo(byContent.get(a).key());
    assertThat(byContent.get(a2).partition()).isEqualTo(byContent.get(a).partition());
    // Without a tenant, no tenant header.
    assertThat(records).allSatisfy(r -> assertThat(
        r.headers().lastHeader(KafkaExporter.TENANT_HEADER)).isNull());
  }

  @ParameterizedTest
  @EnumSource(KafkaCompression.class)
  void everyCompressionRoundTrips(KafkaCompression compression) throws Exception {
    String topic = kafka.createTopic("compression-" + compression.id(), 1);
    KafkaExporter exporter = KafkaExporter.builder().name("kafka-" + compression.id())
        .bootstrapServers(kafka.bootstrapServers()).compression(compression)
        .topic(Signal.LOGS, topic).build();
    exporters.add(exporter);
    exporter.start();
    assertThat(exporter.effectiveProducerProperties()).containsEntry("compression.type",
        compression.id());
    StringBuilder body = new StringBuilder();
    for (int i = 0; i < 200; i++) {
      body.append("compressible text ");
    }
    ExportLogsServiceRequest request = Otlp.logs(Otlp.resourceLogs(
        Otlp.resource(attr("service.name", "c")), Otlp.scope("s"), Otlp.log(1, body.toString())));
    exportAndWait(exporter, Otlp.batch(Signal.LOGS, request));
    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic);
    assertThat(records).hasSize(1);
    assertThat(ExportLogsServiceRequest.parseFrom(records.get(0).value())).isEqualTo(request);
  }

  @Test
  void protoMessagesAreTheRequestBytesForASingleResource() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_PROTO);
    ExportLogsServiceRequest request = Otlp.logs(Otlp.resourceLogs(
        Otlp.resource(attr("service.name", "one")), Otlp.scope("s"), Otlp.log(1, "x")));
    exportAndWait(exporter, Otlp.batch(Signal.LOGS, request));
    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.LOGS));
    assertThat(records).hasSize(1);
    assertThat(records.get(0).value()).isEqualTo(request.toByteArray());
    Message decoded = Otlp.decode(Signal.LOGS, KafkaEncoding.OTLP_PROTO, records.get(0).value());
    assertThat(decoded).isEqualTo(request);
  }

  @Test
  void jsonMessagesUseHexIds() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_JSON);
    ByteString id = Otlp.traceId(0xab, 0xcd);
    ExportTraceServiceRequest request = Otlp.traces(Otlp.resourceSpans(
        Otlp.resource(attr("service.name", "j")),
        Otlp.scopeSpans(Otlp.scope("s"), Otlp.span(id, 1, "op"))));
    exportAndWait(exporter, Otlp.batch(Signal.TRACES, request));
    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.TRACES));
    assertThat(records).hasSize(1);
    String json = new String(records.get(0).value(), StandardCharsets.UTF_8);
    assertThat(json).contains("\"traceId\":\"" + Otlp.hex(id) + "\"")
        .contains("\"resourceSpans\"");
    ScopeSpans scope = ((ExportTraceServiceRequest) Otlp.decode(Signal.TRACES,
        KafkaEncoding.OTLP_JSON, records.get(0).value())).getResourceSpans(0).getScopeSpans(0);
    assertThat(scope.getSpans(0)).isEqualTo(request.getResourceSpans(0).getScopeSpans(0)
        .getSpans(0));
  }
}
