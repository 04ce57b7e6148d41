package dev.sluice.kafka;

import static dev.sluice.kafka.Otlp.attr;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.Span;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Messages over {@code maxMessageBytes}: cut into pieces that fit, nothing lost, nothing over the
 * limit; a single item too large alone goes to the dead-letter file and counts as handled.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class KafkaExporterSplitTest {
  private static final int LIMIT = 16 * 1024;
  private static KafkaTestBroker kafka;

  @TempDir
  Path deadLetters;

  private final List<KafkaExporter> exporters = new ArrayList<>();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeAll
  static void broker(KafkaTestBroker broker) {
    kafka = broker;
  }

  @AfterEach
  void close() {
    exporters.forEach(KafkaExporter::close);
  }

  private KafkaExporter exporter(KafkaEncoding encoding, Path deadLetterDirectory) {
    KafkaExporter.Builder b = KafkaExporter.builder().name("kafka-split")
        .bootstrapServers(kafka.bootstrapServers()).encoding(encoding).maxMessageBytes(LIMIT)
        .deadLetterDirectory(deadLetterDirectory).meterRegistry(registry)
        .clock(Clock.fixed(Instant.parse("2026-01-02T03:04:05Z"), ZoneOffset.UTC));
    for (Signal s : Signal.values()) {
      b.topic(s, kafka.createTopic("split-" + s.id(), 3));
    }
    KafkaExporter e = b.build();
    exporters.add(e);
    e.start();
    return e;
  }

  private static String text(int bytes, char c) {
    return String.valueOf(c).repeat(bytes);
  }

  private static void assertUnderLimit(List<ConsumerRecord<byte[], byte[]>> records) {
    for (ConsumerRecord<byte[], byte[]> r : records) {
      int size = r.value().length + (r.key() == null ? 0 : r.key().length);
      assertThat(size).as("key + value of a message").isLessThanOrEqualTo(LIMIT);
    }
  }

  private static void exportAndWait(KafkaExporter exporter, TelemetryBatch batch)
      throws Exception {
    exporter.export(batch).get(30, TimeUnit.SECONDS);
    assertThat(batch.refCnt()).isZero();
  }

  @ParameterizedTest
  @EnumSource(KafkaEncoding.class)
  void aLargeTraceIsCutIntoMessagesUnderTheLimitWithTheSameKeyInOrder(KafkaEncoding encoding)
      throws Exception {
    KafkaExporter exporter = exporter(encoding, deadLetters);
    ByteString trace = Otlp.traceId(0x5a, 1);
    ByteString small = Otlp.traceId(0x6b, 2);
    List<Span> spans = new ArrayList<>();
    for (int i = 0; i < 180; i++) {
      spans.add(Otlp.span(trace, i, "op-" + i + "-" + text(300, 'x')));
    }
    Resource resource = Otlp.resource(attr("service.name", "big"));
    ExportTraceServiceRequest request = Otlp.traces(
        Otlp.resourceSpans(resource,
            Otlp.scopeSpans(Otlp.scope("a"), spans.subList(0, 70).toArray(Span[]::new)),
            Otlp.scopeSpans(Otlp.scope("b"), spans.subList(70, 180).toArray(Span[]::new))),
        Otlp.resourceSpans(Otlp.resource(attr("service.name", "small")),
            Otlp.scopeSpans(Otlp.scope("c"), Otlp.span(small, 999, "tiny"))));
    assertThat(request.getSerializedSize()).isGreaterThan(3 * LIMIT);

    exportAndWait(exporter, Otlp.batch(Signal.TRACES, request));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.TRACES));
    assertUnderLimit(records);
    List<ConsumerRecord<byte[], byte[]>> big = records.stream()
        .filter(r -> new String(r.key(), StandardCharsets.US_ASCII).equals(Otlp.hex(trace)))
        .toList();
    assertThat(big.size()).isGreaterThanOrEqualTo(3);
    assertThat(big).extracting(ConsumerRecord::partition).containsOnly(big.get(0).partition());
    List<Otlp.SpanAt> received = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      received.addAll(Otlp.flatten((ExportTraceServiceRequest) Otlp.decode(Signal.TRACES,
          encoding, r.value())));
    }
    assertThat(received).containsExactlyInAnyOrderElementsOf(Otlp.flatten(request));
    // The pieces of the trace, read in partition order, hold its spans in their order.
    List<String> order = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : big) {
      Otlp.flatten((ExportTraceServiceRequest) Otlp.decode(Signal.TRACES, encoding, r.value()))
          .forEach(s -> order.add(s.span().getName()));
    }
    assertThat(order).containsExactlyElementsOf(spans.stream().map(Span::getName).toList());
    assertThat(registry.get("sluice.kafka.records.split").tag("signal", "traces").counter()
        .count()).isEqualTo(1.0);
    assertThat(Files.exists(deadLetters.resolve("traces.jsonl"))).isFalse();
  }

  @Test
  void aMetricWithManyPointsIsCutBetweenItsDataPoints() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_PROTO, deadLetters);
    List<NumberDataPoint> points = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      points.add(Otlp.point(i, i * 0.5, attr("series", "s-" + i + "-" + text(40, 'p'))));
    }
    ExportMetricsServiceRequest request = Otlp.metrics(Otlp.resourceMetrics(
        Otlp.resource(attr("service.name", "m")), Otlp.scope("meter"),
        Otlp.gauge("small", Otlp.point(1, 1)),
        Otlp.sum("huge", points.toArray(NumberDataPoint[]::new))));
    assertThat(request.getSerializedSize()).isGreaterThan(2 * LIMIT);

    exportAndWait(exporter, Otlp.batch(Signal.METRICS, request));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.METRICS));
    assertThat(records.size()).isGreaterThanOrEqualTo(3);
    assertUnderLimit(records);
    assertThat(records).extracting(ConsumerRecord::key).allSatisfy(k ->
        assertThat(k).isEqualTo(records.get(0).key()));
    List<Otlp.PointAt> received = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      received.addAll(Otlp.flatten(ExportMetricsServiceRequest.parseFrom(r.value())));
    }
    assertThat(received).containsExactlyElementsOf(Otlp.flatten(request));
  }

  @Test
  void aSingleSpanTooLargeGoesToTheDeadLetterFileAndTheRestIsSent() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_PROTO, deadLetters);
    ByteString trace = Otlp.traceId(0x77, 7);
    Span huge = Otlp.span(trace, 1, "huge").toBuilder()
        .addAttributes(attr("payload", text(LIMIT + 100, 'h'))).build();
    Span fine = Otlp.span(trace, 2, "fine");
    Span other = Otlp.span(Otlp.traceId(0x78, 8), 3, "other trace");
    ExportTraceServiceRequest request = Otlp.traces(Otlp.resourceSpans(
        Otlp.resource(attr("service.name", "dl")),
        Otlp.scopeSpans(Otlp.scope("s"), fine, huge, other)));

    exportAndWait(exporter, Otlp.batch(Signal.TRACES, request, "acme"));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.TRACES));
    List<String> sent = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      Otlp.flatten(ExportTraceServiceRequest.parseFrom(r.value()))
          .forEach(s -> sent.add(s.span().getName()));
    }
    assertThat(sent).containsExactlyInAnyOrder("fine", "other trace");

    Path file = deadLetters.resolve("traces.jsonl");
    assertThat(exporter.deadLetterFile(Signal.TRACES)).isEqualTo(file);
    List<String> lines = Files.readAllLines(file);
    assertThat(lines).hasSize(1);
    JsonNode line = new ObjectMapper().readTree(lines.get(0));
    assertThat(line.get("time").asText()).isEqualTo("2026-01-02T03:04:05Z");
    assertThat(line.get("exporter").asText()).isEqualTo("kafka-split");
    assertThat(line.get("signal").asText()).isEqualTo("traces");
    assertThat(line.get("topic").asText()).isEqualTo(exporter.topic(Signal.TRACES));
    assertThat(line.get("reason").asText()).contains("max_message_bytes").contains("" + LIMIT);
    assertThat(line.get("items").asInt()).isEqualTo(1);
    byte[] item = line.get("item").toString().getBytes(StandardCharsets.UTF_8);
    ExportTraceServiceRequest dead = OtlpJsonCodec.parse(item, 0, item.length,
        ExportTraceServiceRequest.getDefaultInstance());
    assertThat(Otlp.flatten(dead)).extracting(Otlp.SpanAt::span).containsExactly(huge);
    assertThat(dead.getResourceSpans(0).getResource()).isEqualTo(request.getResourceSpans(0)
        .getResource());
    assertThat(registry.get("sluice.kafka.dead.lettered.items").tag("signal", "traces")
        .counter().count()).isEqualTo(1.0);
  }

  @Test
  void aSingleLogRecordTooLargeWithoutDeadLetterDirectoryIsCountedAsDropped() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_JSON, null);
    LogRecord huge = Otlp.log(1, "big").toBuilder()
        .setBody(AnyValue.newBuilder().setStringValue(text(LIMIT, 'z'))).build();
    ExportLogsServiceRequest request = Otlp.logs(Otlp.resourceLogs(
        Otlp.resource(attr("service.name", "l")), Otlp.scope("s"), Otlp.log(0, "ok"), huge));

    exportAndWait(exporter, Otlp.batch(Signal.LOGS, request));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.LOGS));
    assertThat(records).hasSize(1);
    ExportLogsServiceRequest got = (ExportLogsServiceRequest) Otlp.decode(Signal.LOGS,
        KafkaEncoding.OTLP_JSON, records.get(0).value());
    assertThat(Otlp.flatten(got)).extracting(Otlp.LogAt::record)
        .containsExactly(Otlp.log(0, "ok"));
    assertThat(exporter.deadLetterFile(Signal.LOGS)).isNull();
    assertThat(registry.get("sluice.kafka.dropped.items").tag("signal", "logs").counter()
        .count()).isEqualTo(1.0);
  }

  @Test
  void aResourceWhoseAttributesAloneExceedTheLimitIsDeadLettered() throws Exception {
    KafkaExporter exporter = exporter(KafkaEncoding.OTLP_PROTO, deadLetters);
    KeyValue big = attr("blob", text(LIMIT, 'r'));
    ExportLogsServiceRequest request = Otlp.logs(
        Otlp.resourceLogs(Otlp.resource(big), Otlp.scope("s"), Otlp.log(1, "a"),
            Otlp.log(2, "b")),
        Otlp.resourceLogs(Otlp.resource(attr("service.name", "fine")), Otlp.scope("s"),
            Otlp.log(3, "c")));

    exportAndWait(exporter, Otlp.batch(Signal.LOGS, request));

    List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(exporter.topic(Signal.LOGS));
    assertThat(records).hasSize(1);
    assertThat(ExportLogsServiceRequest.parseFrom(records.get(0).value()).getResourceLogs(0))
        .isEqualTo(request.getResourceLogs(1));
    List<String> lines = Files.readAllLines(deadLetters.resolve("logs.jsonl"));
    assertThat(lines).hasSize(2); // each record, with its resource, is too large alone
    assertThat(registry.get("sluice.kafka.dead.lettered.items").tag("signal", "logs").counter()
        .count()).isEqualTo(2.0);
  }
}
