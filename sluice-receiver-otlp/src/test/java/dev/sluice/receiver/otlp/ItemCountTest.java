package dev.sluice.receiver.otlp;

import static dev.sluice.receiver.otlp.ReceiverFixture.PROTOBUF;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.receiver.otlp.CapturingExporter.Captured;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.metrics.v1.Metric;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The item count a batch carries is the count of the request as protobuf decodes it, also for wire
 * forms that builders never produce but the encoding allows: a message field sent twice (merged)
 * and a oneof sent twice (the last wins).
 */
class ItemCountTest {
  private static ReceiverFixture f;

  @BeforeAll
  static void start() {
    f = ReceiverFixture.start();
  }

  @AfterAll
  static void stop() {
    f.close();
  }

  @BeforeEach
  void reset() {
    f.exporter.clear();
  }

  /** A request whose single metric is the concatenation of two encoded metrics. */
  static byte[] metricMergedFrom(Metric first, Metric second) {
    byte[] metric = RawHttp.concat(first.toByteArray(), second.toByteArray());
    // ScopeMetrics.metrics = 2, ResourceMetrics.scope_metrics = 2,
    // ExportMetricsServiceRequest.resource_metrics = 1; all length-delimited.
    byte[] scope = field(2, metric);
    byte[] resource = field(2, scope);
    return field(1, resource);
  }

  static byte[] field(int number, byte[] value) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try {
      var c = com.google.protobuf.CodedOutputStream.newInstance(out);
      c.writeByteArray(number, value);
      c.flush();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  @Test
  void repeatedMessageFieldIsMergedAndCountedOnce() {
    Metric a = PartialSuccessTest.gauge("g", 2);
    Metric b = PartialSuccessTest.gauge("g", 3);
    byte[] body = metricMergedFrom(a, b);
    Message parsed = parse(body);
    assertThat(OtlpSamples.countItems(parsed)).as("protobuf merges the two gauges").isEqualTo(5);

    assertThat(f.post(Signal.METRICS, PROTOBUF, body).statusCode()).isEqualTo(200);
    Captured c = f.exporter.only();
    assertThat(c.request()).isEqualTo(parsed);
    assertThat(c.items()).isEqualTo(5);
  }

  @Test
  void oneofSentTwiceCountsOnlyTheLastMember() {
    Metric gauge = PartialSuccessTest.gauge("m", 2);
    Metric sum = PartialSuccessTest.sum("m", 3);
    byte[] body = metricMergedFrom(gauge, sum);
    Message parsed = parse(body);
    assertThat(((ExportMetricsServiceRequest) parsed).getResourceMetrics(0).getScopeMetrics(0)
        .getMetrics(0).hasSum()).isTrue();
    assertThat(OtlpSamples.countItems(parsed)).as("the last oneof member wins").isEqualTo(3);

    assertThat(f.post(Signal.METRICS, PROTOBUF, body).statusCode()).isEqualTo(200);
    Captured c = f.exporter.only();
    assertThat(c.request()).isEqualTo(parsed);
    assertThat(c.items()).isEqualTo(3);
  }

  static Message parse(byte[] body) {
    try {
      return ExportMetricsServiceRequest.parseFrom(body);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new AssertionError(e);
    }
  }

}
