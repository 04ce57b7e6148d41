package dev.sluice.kafka.twotier;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.OtlpHttpExporter;
import dev.sluice.exporter.otlp.RetrySettings;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.KafkaExporter;
import dev.sluice.kafka.receiver.InitialOffset;
import dev.sluice.kafka.receiver.KafkaReceiver;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.kafka.testing.KafkaTestBrokerExtension;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.Exporter;
import dev.sluice.queue.DurableQueue;
import dev.sluice.queue.FsyncPolicy;
import dev.sluice.receiver.otlp.OtlpHttpReceiver;
import dev.sluice.receiver.otlp.OtlpHttpReceiverSettings;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The two-tier topology end to end, everything real and in this JVM: an HTTP client posts OTLP to
 * the edge tier ({@link OtlpHttpReceiver} → {@link DurablePipeline} → {@link KafkaExporter}), which
 * writes to Kafka topics; the ingest tier ({@link KafkaReceiver} → {@link DurablePipeline} → {@link
 * OtlpHttpExporter}) reads them with a consumer group and forwards to an OTLP/HTTP backend. For
 * every signal and both Kafka encodings, what the backend decoded must be exactly what the client
 * sent (every item once, with its resource, scope and content), and every span of a trace must
 * sit in one Kafka partition under the trace id's key.
 */
@ExtendWith(KafkaTestBrokerExtension.class)
class TwoTierKafkaTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final int PARTITIONS = 3;
  private static KafkaTestBroker kafka;
  private static HttpClient http;

  @TempDir
  Path edgeQueueDir;
  @TempDir
  Path ingestQueueDir;

  private final SimpleMeterRegistry edgeRegistry = new SimpleMeterRegistry();
  private final SimpleMeterRegistry ingestRegistry = new SimpleMeterRegistry();
  private OtlpBackend backend;
  private OtlpHttpExporter otlpExporter;
  private DurablePipeline ingestPipeline;
  private KafkaReceiver ingestReceiver;
  private KafkaExporter kafkaExporter;
  private DurablePipeline edgePipeline;
  private OtlpHttpReceiver edgeReceiver;

  @BeforeAll
  static void setUp(KafkaTestBroker broker) {
    kafka = broker;
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
  }

  /** Closes in order: ingest receiver, pipelines (with their exporters), edge receiver. */
  @AfterEach
  void closeAll() {
    if (ingestReceiver != null) {
      ingestReceiver.close();
    }
    if (ingestPipeline != null) {
      ingestPipeline.close();
    }
    if (edgePipeline != null) {
      edgePipeline.close();
    }
    // The pipelines close their exporters; closing again is a no-op, and covers a failed start.
    if (otlpExporter != null) {
      otlpExporter.close();
    }
    if (kafkaExporter != null) {
      kafkaExporter.close();
    }
    if (edgeReceiver != null) {
      edgeReceiver.close(Duration.ofSeconds(2));
    }
    if (backend != null) {
      backend.close();
    }
  }

  @ParameterizedTest(name = "Kafka encoding {0}")
  @EnumSource(KafkaEncoding.class)
  void everySignalCrossesBothTiersExactlyOnceWithItsContent(KafkaEncoding encoding)
      throws Exception {
    String prefix = "two-tier-" + encoding.id().replace('_', '-');
    Map<Signal, String> topics = new EnumMap<>(Signal.class);
    for (Signal s : Signal.values()) {
      topics.put(s, kafka.createTopic(prefix + "-" + s.id(), PARTITIONS));
    }
    String group = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);

    // Ingest tier first, so that it is consuming while the edge writes.
    backend = new OtlpBackend();
    otlpExporter = OtlpHttpExporter.builder().name("backend").endpoint(backend.url())
        .batchTimeout(Duration.ofMillis(20))
        .retry(new RetrySettings(true, Duration.ofMillis(50), Duration.ofMillis(200),
            Duration.ZERO, 1.5, 0.2))
        .timeout(Duration.ofSeconds(10)).shutdownTimeout(Duration.ofSeconds(2))
        .meterRegistry(ingestRegistry).build();
    ingestPipeline = pipeline(ingestQueueDir, otlpExporter, ingestRegistry);
    KafkaReceiver.Builder rb = KafkaReceiver.builder().name("ingest")
        .bootstrapServers(kafka.bootstrapServers()).groupId(group)
        .initialOffset(InitialOffset.EARLIEST).encoding(encoding).sink(ingestPipeline)
        .deadLetterTopic(null)
        .commitInterval(Duration.ofMillis(100)).pollTimeout(Duration.ofMillis(50))
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
        .revokeTimeout(Duration.ofSeconds(5)).closeTimeout(Duration.ofSeconds(5))
        .consumerProperty("heartbeat.interval.ms", 200)
        .consumerProperty("session.timeout.ms", 10_000)
        .meterRegistry(ingestRegistry);
    for (Signal s : Signal.values()) {
      rb.topic(s, topics.get(s));
    }
    ingestReceiver = rb.build();
    ingestReceiver.start();

    // Edge tier.
    KafkaExporter.Builder eb = KafkaExporter.builder().name("edge-kafka")
        .bootstrapServers(kafka.bootstrapServers()).encoding(encoding)
        .linger(Duration.ofMillis(1)).deliveryTimeout(Duration.ofSeconds(30))
        .closeTimeout(Duration.ofSeconds(5)).meterRegistry(edgeRegistry);
    topics.forEach(eb::topic);
    kafkaExporter = eb.build();
    edgePipeline = pipeline(edgeQueueDir, kafkaExporter, edgeRegistry);
    edgeReceiver = new OtlpHttpReceiver(OtlpHttpReceiverSettings.builder()
        .server(HttpServerSettings.builder().address(new InetSocketAddress("127.0.0.1", 0))
            .build())
        .build(), edgePipeline, edgeRegistry).start();

    // The client posts every request, in protobuf, OTLP/JSON and gzipped protobuf by turns.
    Map<Signal, List<Message>> sent = new EnumMap<>(Signal.class);
    sent.put(Signal.TRACES, TwoTierData.traceRequests());
    sent.put(Signal.METRICS, TwoTierData.metricRequests());
    sent.put(Signal.LOGS, TwoTierData.logRequests());
    for (Signal s : Signal.values()) {
      List<Message> requests = sent.get(s);
      for (int i = 0; i < requests.size(); i++) {
        post(s, requests.get(i), Format.values()[(s.ordinal() + i) % Format.values().length]);
      }
    }

    // Everything arrives, the group has committed every message, and neither pipeline has
    // anything left to deliver: from here on nothing more can reach the backend.
    for (Signal s : Signal.values()) {
      int expected = TwoTierData.itemCount(sent.get(s));
      Await.until(expected + " " + s.itemNoun() + " at the backend", WAIT,
          () -> TwoTierData.itemCount(backend.requests(s)) >= expected);
    }
    Map<TopicPartition, Long> ends = new HashMap<>();
    for (String t : topics.values()) {
      kafka.endOffsets(t).forEach((tp, end) -> {
        if (end > 0) {
          ends.put(tp, end);
        }
      });
    }
    Await.until("the ingest group to commit every message", WAIT,
        () -> committed(group).equals(ends));
    Await.until("both pipelines to have delivered everything", WAIT,
        () -> lag(edgeRegistry, "edge-kafka") == 0 && lag(ingestRegistry, "backend") == 0);

    // Exactly what was sent, item by item, with resource and scope.
    assertThat(backend.received()).allSatisfy(r -> {
      assertThat(r.error()).as("backend decode error at %s", r.path()).isNull();
      assertThat(r.signal()).isNotNull();
    });
    for (Signal s : Signal.values()) {
      List<Message> got = backend.requests(s);
      assertThat(TwoTierData.itemCount(got)).as("%s at the backend", s.itemNoun())
          .isEqualTo(TwoTierData.itemCount(sent.get(s)));
      Map<String, List<Message>> expectedItems = TwoTierData.items(sent.get(s));
      Map<String, List<Message>> gotItems = TwoTierData.items(got);
      assertThat(expectedItems.values()).allSatisfy(l -> assertThat(l).hasSize(1));
      assertThat(gotItems.keySet()).as("%s keys", s.id())
          .containsExactlyElementsOf(expectedItems.keySet());
      for (String key : expectedItems.keySet()) {
        assertThat(gotItems.get(key)).as("%s item %s", s.id(), key)
            .containsExactlyElementsOf(expectedItems.get(key));
      }
    }

    // In Kafka: each signal's topic holds its items once, in the configured encoding.
    for (Signal s : Signal.values()) {
      List<Message> inKafka = new ArrayList<>();
      for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(topics.get(s))) {
        inKafka.add(decode(s, r.value(), encoding));
      }
      assertThat(TwoTierData.itemCount(inKafka)).as("%s in topic %s", s.itemNoun(),
          topics.get(s)).isEqualTo(TwoTierData.itemCount(sent.get(s)));
      assertThat(TwoTierData.items(inKafka)).as("%s in Kafka", s.id())
          .isEqualTo(TwoTierData.items(sent.get(s)));
    }

    // Traces: one trace per message, keyed by its id in hex, and one partition per trace,
    // although each trace's spans came in three requests and under two resources.
    Map<String, Set<Integer>> partitionsOfTrace = new TreeMap<>();
    Set<Integer> partitionsUsed = new HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : kafka.readAll(topics.get(Signal.TRACES))) {
      assertThat(r.key()).as("key of the message at %s-%d@%d", r.topic(), r.partition(),
          r.offset()).isNotNull();
      String key = new String(r.key(), StandardCharsets.US_ASCII);
      ExportTraceServiceRequest request =
          (ExportTraceServiceRequest) decode(Signal.TRACES, r.value(), encoding);
      for (ResourceSpans rs : request.getResourceSpansList()) {
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          for (Span span : ss.getSpansList()) {
            String traceId = TwoTierData.hex(span.getTraceId());
            assertThat(traceId).as("trace of a span in the message keyed %s", key)
                .isEqualTo(key);
            partitionsOfTrace.computeIfAbsent(traceId, k -> new HashSet<>()).add(r.partition());
          }
        }
      }
      partitionsUsed.add(r.partition());
    }
    assertThat(partitionsOfTrace).hasSize(TwoTierData.TRACES);
    assertThat(partitionsOfTrace).allSatisfy((trace, partitions) ->
        assertThat(partitions).as("partitions of trace %s", trace).hasSize(1));
    // Not vacuous: the traces were spread over more than one partition.
    assertThat(partitionsUsed).as("partitions holding spans").hasSizeGreaterThan(1);
  }

  private static DurablePipeline pipeline(Path dir, Exporter exporter, SimpleMeterRegistry registry)
      throws IOException {
    DurableQueue queue = DurableQueue.builder().directory(dir).fsync(FsyncPolicy.none())
        .maxBytes(64L << 20).segmentBytes(4L << 20).build();
    DurablePipeline p = DurablePipeline.builder().queue(queue).exporters(List.of(exporter))
        .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).closeTimeout(Duration.ofSeconds(3))
        .meterRegistry(registry).build();
    p.start();
    return p;
  }

  private enum Format { PROTOBUF, JSON, GZIP_PROTOBUF }

  /** Posts one request to the edge receiver and checks it was accepted whole. */
  private void post(Signal signal, Message request, Format format) throws Exception {
    byte[] body = format == Format.JSON ? OtlpJsonCodec.toJsonBytes(request)
        : request.toByteArray();
    String contentType = format == Format.JSON ? "application/json" : "application/x-protobuf";
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
            + edgeReceiver.localAddress().getPort() + signal.defaultPath()))
        .timeout(Duration.ofSeconds(10)).header("Content-Type", contentType);
    if (format == Format.GZIP_PROTOBUF) {
      body = gzip(body);
      b.header("Content-Encoding", "gzip");
    }
    HttpResponse<byte[]> response = http.send(
        b.POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(response.statusCode()).as("edge answer to %s %s: %s", format, signal.id(),
        new String(response.body(), StandardCharsets.UTF_8)).isEqualTo(200);
    byte[] rb = response.body();
    long rejected;
    switch (signal) {
      case TRACES -> rejected = (format == Format.JSON
          ? OtlpJsonCodec.parse(rb, 0, rb.length, ExportTraceServiceResponse.getDefaultInstance())
          : ExportTraceServiceResponse.parseFrom(rb)).getPartialSuccess().getRejectedSpans();
      case METRICS -> rejected = (format == Format.JSON
          ? OtlpJsonCodec.parse(rb, 0, rb.length, ExportMetricsServiceResponse.getDefaultInstance())
          : ExportMetricsServiceResponse.parseFrom(rb)).getPartialSuccess()
          .getRejectedDataPoints();
      default -> rejected = (format == Format.JSON
          ? OtlpJsonCodec.parse(rb, 0, rb.length, ExportLogsServiceResponse.getDefaultInstance())
          : ExportLogsServiceResponse.parseFrom(rb)).getPartialSuccess().getRejectedLogRecords();
    }
    assertThat(rejected).as("items the edge rejected of %s %s", format, signal.id()).isZero();
  }

  private static byte[] gzip(byte[] plain) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(plain);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** A Kafka message's value in the encoding under test (JSON must look like JSON). */
  private static Message decode(Signal signal, byte[] value, KafkaEncoding encoding)
      throws InvalidProtocolBufferException {
    if (encoding == KafkaEncoding.OTLP_JSON) {
      assertThat(value).as("an otlp_json message").isNotEmpty();
      assertThat((char) value[0]).as("first byte of an otlp_json message").isEqualTo('{');
      return OtlpJsonCodec.parse(value, 0, value.length, signal.requestPrototype());
    }
    return signal.parseRequest(value, 0, value.length);
  }

  private static Map<TopicPartition, Long> committed(String group) {
    try {
      Map<TopicPartition, OffsetAndMetadata> m = kafka.admin().listConsumerGroupOffsets(group)
          .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
      Map<TopicPartition, Long> out = new HashMap<>();
      m.forEach((tp, o) -> {
        if (o != null) {
          out.put(tp, o.offset());
        }
      });
      return out;
    } catch (Exception e) {
      throw new AssertionError("cannot read the offsets of group " + group + ": " + e, e);
    }
  }

  /** Queued batches the pipeline's exporter has not confirmed yet. */
  private static double lag(SimpleMeterRegistry registry, String exporter) {
    Gauge g = registry.find("sluice.pipeline.lag").tag("exporter", exporter).gauge();
    assertThat(g).as("lag gauge of %s", exporter).isNotNull();
    return g.value();
  }
}
