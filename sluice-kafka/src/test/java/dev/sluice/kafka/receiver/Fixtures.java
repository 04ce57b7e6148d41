package dev.sluice.kafka.receiver;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.kafka.KafkaEncoding;
import dev.sluice.kafka.KafkaExporter;
import dev.sluice.kafka.testing.KafkaTestBroker;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import dev.sluice.queue.DurableQueue;
import dev.sluice.queue.FsyncPolicy;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.logs.v1.LogRecord;
import io.opentelemetry.proto.logs.v1.ResourceLogs;
import io.opentelemetry.proto.logs.v1.ScopeLogs;
import io.opentelemetry.proto.metrics.v1.Gauge;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Test data and test doubles for the receiver's tests: requests whose every item carries a unique
 * id (span name, metric name, log body), a plain producer writing messages the way the Kafka
 * exporter does, sinks that capture what they accept.
 */
final class Fixtures {
  private Fixtures() {}

  static String group(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  // ------------------------------------------------------------------------------------------
  // Requests

  /** A request of {@code signal} with {@code items} items named {@code <id>/0 ...}. */
  static Message request(Signal signal, String id, int items) {
    Resource resource = Resource.newBuilder().addAttributes(attr("service.name", "svc-" + id))
        .build();
    InstrumentationScope scope = InstrumentationScope.newBuilder().setName("scope").build();
    switch (signal) {
      case TRACES: {
        ScopeSpans.Builder ss = ScopeSpans.newBuilder().setScope(scope);
        for (int i = 0; i < items; i++) {
          ss.addSpans(span(id + "/" + i, traceId(id + "/" + i)));
        }
        return ExportTraceServiceRequest.newBuilder().addResourceSpans(
            ResourceSpans.newBuilder().setResource(resource).addScopeSpans(ss)).build();
      }
      case METRICS: {
        ScopeMetrics.Builder sm = ScopeMetrics.newBuilder().setScope(scope);
        for (int i = 0; i < items; i++) {
          sm.addMetrics(gauge(id + "/" + i));
        }
        return ExportMetricsServiceRequest.newBuilder().addResourceMetrics(
            ResourceMetrics.newBuilder().setResource(resource).addScopeMetrics(sm)).build();
      }
      default: {
        ScopeLogs.Builder sl = ScopeLogs.newBuilder().setScope(scope);
        for (int i = 0; i < items; i++) {
          sl.addLogRecords(log(id + "/" + i, ByteString.EMPTY));
        }
        return ExportLogsServiceRequest.newBuilder().addResourceLogs(
            ResourceLogs.newBuilder().setResource(resource).addScopeLogs(sl)).build();
      }
    }
  }

  /**
   * A request with {@code valid} valid items named {@code <id>/v<i>} and {@code invalid} items
   * named {@code <id>/x<i>} that break a rule (a 3-byte trace id, an empty metric name).
   */
  static Message partlyInvalid(Signal signal, String id, int valid, int invalid) {
    ByteString shortId = ByteString.copyFrom(new byte[] {1, 2, 3});
    switch (signal) {
      case TRACES: {
        ScopeSpans.Builder ss = ScopeSpans.newBuilder();
        for (int i = 0; i < Math.max(valid, invalid); i++) {
          if (i < valid) {
            ss.addSpans(span(id + "/v" + i, traceId(id + "/v" + i)));
          }
          if (i < invalid) {
            ss.addSpans(span(id + "/x" + i, shortId));
          }
        }
        return ExportTraceServiceRequest.newBuilder()
            .addResourceSpans(ResourceSpans.newBuilder().addScopeSpans(ss)).build();
      }
      case METRICS: {
        ScopeMetrics.Builder sm = ScopeMetrics.newBuilder();
        for (int i = 0; i < Math.max(valid, invalid); i++) {
          if (i < valid) {
            sm.addMetrics(gauge(id + "/v" + i));
          }
          if (i < invalid) {
            // No name: invalid; the id goes into the description.
            sm.addMetrics(gauge("").toBuilder().setDescription(id + "/x" + i));
          }
        }
        return ExportMetricsServiceRequest.newBuilder()
            .addResourceMetrics(ResourceMetrics.newBuilder().addScopeMetrics(sm)).build();
      }
      default: {
        ScopeLogs.Builder sl = ScopeLogs.newBuilder();
        for (int i = 0; i < Math.max(valid, invalid); i++) {
          if (i < valid) {
            sl.addLogRecords(log(id + "/v" + i, ByteString.EMPTY));
          }
          if (i < invalid) {
            sl.addLogRecords(log(id + "/x" + i, shortId));
          }
        }
        return ExportLogsServiceRequest.newBuilder()
            .addResourceLogs(ResourceLogs.newBuilder().addScopeLogs(sl)).build();
      }
    }
  }

  static KeyValue attr(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  /** A non-zero 16-byte trace id derived from {@code seed}. */
  static ByteString traceId(String seed) {
    byte[] id = new byte[16];
    byte[] s = seed.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < s.length; i++) {
      id[i % 16] ^= (byte) (s[i] * 31 + i);
    }
    id[0] |= 1;
    return ByteString.copyFrom(id);
  }

  private static Span span(String name, ByteString traceId) {
    byte[] spanId = new byte[8];
    spanId[0] = 1;
    spanId[7] = (byte) name.hashCode();
    return Span.newBuilder().setTraceId(traceId).setSpanId(ByteString.copyFrom(spanId))
        .setName(name).setStartTimeUnixNano(1_700_000_000_000_000_000L)
        .setEndTimeUnixNano(1_700_000_000_000_001_000L)
        .addAttributes(attr("id", name)).build();
  }

  private static Metric gauge(String name) {
    return Metric.newBuilder().setName(name).setUnit("1").setGauge(Gauge.newBuilder()
        .addDataPoints(NumberDataPoint.newBuilder().setTimeUnixNano(1_700_000_000_000_000_000L)
            .setAsDouble(name.length()))).build();
  }

  private static LogRecord log(String body, ByteString traceId) {
    return LogRecord.newBuilder().setTimeUnixNano(1_700_000_000_000_000_000L)
        .setSeverityNumberValue(9).setTraceId(traceId)
        .setBody(AnyValue.newBuilder().setStringValue(body)).build();
  }

  /** The ids of a request's items, in request order. */
  static List<String> itemIds(Message request) {
    List<String> ids = new ArrayList<>();
    if (request instanceof ExportTraceServiceRequest t) {
      for (ResourceSpans rs : t.getResourceSpansList()) {
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          ss.getSpansList().forEach(s -> ids.add(s.getName()));
        }
      }
    } else if (request instanceof ExportMetricsServiceRequest m) {
      for (ResourceMetrics rm : m.getResourceMetricsList()) {
        for (ScopeMetrics sm : rm.getScopeMetricsList()) {
          sm.getMetricsList().forEach(x -> ids.add(x.getName().isEmpty() ? x.getDescription()
              : x.getName()));
        }
      }
    } else {
      for (ResourceLogs rl : ((ExportLogsServiceRequest) request).getResourceLogsList()) {
        for (ScopeLogs sl : rl.getScopeLogsList()) {
          sl.getLogRecordsList().forEach(r -> ids.add(r.getBody().getStringValue()));
        }
      }
    }
    return ids;
  }

  static byte[] encode(Message request, KafkaEncoding encoding) {
    return encoding == KafkaEncoding.OTLP_JSON ? OtlpJsonCodec.toJsonBytes(request)
        : request.toByteArray();
  }

  // ------------------------------------------------------------------------------------------
  // Kafka

  static KafkaProducer<byte[], byte[]> producer(KafkaTestBroker kafka) {
    Map<String, Object> p = new HashMap<>();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, 1);
    return new KafkaProducer<>(p);
  }

  /** Sends one message and waits for Kafka's acknowledgement. */
  static RecordMetadata send(KafkaProducer<byte[], byte[]> producer, String topic,
      int partition, byte[] value, String tenant) {
    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, partition, null, value);
    if (tenant != null) {
      r.headers().add(new RecordHeader(KafkaExporter.TENANT_HEADER,
          tenant.getBytes(StandardCharsets.UTF_8)));
    }
    try {
      return producer.send(r).get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError("cannot produce to " + topic + "-" + partition + ": " + e, e);
    }
  }

  /** The group's committed offsets, per partition (absent when nothing was committed). */
  static Map<TopicPartition, Long> committed(KafkaTestBroker kafka, String group) {
    try {
      Map<TopicPartition, OffsetAndMetadata> m = kafka.admin().listConsumerGroupOffsets(group)
          .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
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

  /** The end offsets of the topics, with partitions at 0 left out (nothing to commit there). */
  static Map<TopicPartition, Long> nonEmptyEndOffsets(KafkaTestBroker kafka, String... topics) {
    Map<TopicPartition, Long> out = new HashMap<>();
    for (String t : topics) {
      kafka.endOffsets(t).forEach((tp, end) -> {
        if (end > 0) {
          out.put(tp, end);
        }
      });
    }
    return out;
  }

  /**
   * A receiver builder for tests: reading from the earliest offset, quick commits, polls and
   * back-offs, dropping bad messages unless a dead-letter topic is set.
   */
  static KafkaReceiver.Builder receiver(KafkaTestBroker kafka, String name, String group,
      TelemetrySink sink, Map<Signal, String> topics) {
    KafkaReceiver.Builder b = KafkaReceiver.builder().name(name)
        .bootstrapServers(kafka.bootstrapServers()).groupId(group)
        .initialOffset(InitialOffset.EARLIEST).sink(sink).deadLetterTopic(null)
        .commitInterval(Duration.ofMillis(100)).pollTimeout(Duration.ofMillis(50))
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
        .revokeTimeout(Duration.ofSeconds(5)).closeTimeout(Duration.ofSeconds(5))
        .consumerProperty("heartbeat.interval.ms", 200)
        .consumerProperty("session.timeout.ms", 10_000);
    for (Signal s : Signal.values()) {
      String t = topics.get(s);
      b.topics(s, t == null ? List.of() : List.of(t));
    }
    return b;
  }

  // ------------------------------------------------------------------------------------------
  // Sinks

  /** What a sink or exporter got: one batch, decoded. */
  record Captured(Signal signal, String tenant, int items, Message request, List<String> ids) {}

  static Captured capture(TelemetryBatch batch) {
    Message request;
    try {
      request = batch.signal().parseRequest(batch.payloadBytes(), 0, batch.bytes());
    } catch (InvalidProtocolBufferException e) {
      throw new AssertionError("the receiver forwarded an invalid request: " + e, e);
    }
    return new Captured(batch.signal(), batch.tenant(), batch.items(), request, itemIds(request));
  }

  /** The pipeline's exporter in tests: decodes and keeps every batch. */
  static final class CapturingExporter implements Exporter {
    final List<Captured> got = Collections.synchronizedList(new ArrayList<>());

    @Override
    public String name() {
      return "capture";
    }

    @Override
    public CompletableFuture<Void> export(TelemetryBatch batch) {
      try {
        got.add(capture(batch));
      } finally {
        batch.release();
      }
      return CompletableFuture.completedFuture(null);
    }

    List<String> ids() {
      synchronized (got) {
        List<String> ids = new ArrayList<>();
        got.forEach(c -> ids.addAll(c.ids()));
        return ids;
      }
    }

    List<Captured> snapshot() {
      synchronized (got) {
        return new ArrayList<>(got);
      }
    }

    @Override
    public void close() {}
  }

  /** A durable pipeline (queue in {@code dir}, no fsync: tests do not crash the machine). */
  static DurablePipeline durablePipeline(Path dir, Exporter exporter) throws IOException {
    DurableQueue queue = DurableQueue.builder().directory(dir).fsync(FsyncPolicy.none())
        .maxBytes(64L << 20).segmentBytes(4L << 20).build();
    DurablePipeline p = DurablePipeline.builder().queue(queue).exporters(List.of(exporter))
        .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).closeTimeout(Duration.ofSeconds(2))
        .build();
    p.start();
    return p;
  }

  /** A sink that accepts, refuses (pipeline full) or holds batches, as the test says. */
  static final class ControlledSink implements TelemetrySink {
    enum Mode { ACCEPT, REFUSE, HOLD }

    private record Held(Captured captured, CompletableFuture<Void> future) {}

    volatile Mode mode = Mode.ACCEPT;
    final List<Captured> accepted = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger refusals = new AtomicInteger();
    final List<Captured> refused = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger submissions = new AtomicInteger();
    private final ConcurrentLinkedQueue<Held> held = new ConcurrentLinkedQueue<>();

    @Override
    public CompletableFuture<Void> submit(TelemetryBatch batch) {
      submissions.incrementAndGet();
      Captured c;
      try {
        c = capture(batch);
      } finally {
        batch.release();
      }
      switch (mode) {
        case REFUSE:
          refusals.incrementAndGet();
          refused.add(c);
          return CompletableFuture.failedFuture(new PipelineFullException("test: full", 0));
        case HOLD:
          CompletableFuture<Void> f = new CompletableFuture<>();
          held.add(new Held(c, f));
          return f;
        default:
          accepted.add(c);
          return CompletableFuture.completedFuture(null);
      }
    }

    /** Batches held and not answered yet. */
    int heldCount() {
      return held.size();
    }

    /** Accepts every held batch, in the order they came. */
    void acceptHeld() {
      Held h;
      while ((h = held.poll()) != null) {
        accepted.add(h.captured());
        h.future().complete(null);
      }
    }

    List<String> acceptedIds() {
      synchronized (accepted) {
        List<String> ids = new ArrayList<>();
        accepted.forEach(c -> ids.addAll(c.ids()));
        return ids;
      }
    }

    @Override
    public boolean ready() {
      return true;
    }
  }
}
