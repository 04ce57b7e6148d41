package dev.sluice.proxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TraceContextTest {
  private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String SPAN = "00f067aa0ba902b7";
  private static final String VALID = "00-" + TRACE + "-" + SPAN + "-01";

  @Test
  void parsesTheSpecificationsExample() {
    TraceContext c = TraceContext.parse(VALID);

    assertThat(c).isNotNull();
    assertThat(c.traceIdHigh()).isEqualTo(0x4bf92f3577b34da6L);
    assertThat(c.traceIdLow()).isEqualTo(0xa3ce929d0e0e4736L);
    assertThat(c.spanId()).isEqualTo(0x00f067aa0ba902b7L);
    assertThat(c.parentSpanId()).isZero();
    assertThat(c.parentSpanIdHex()).isNull();
    assertThat(c.traceIdHex()).isEqualTo(TRACE);
    assertThat(c.spanIdHex()).isEqualTo(SPAN);
    assertThat(c.sampled()).isTrue();
    assertThat(c.flags()).isEqualTo(TraceContext.FLAG_SAMPLED);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      VALID,
      "00-" + TRACE + "-" + SPAN + "-00",
      "00-" + TRACE + "-" + SPAN + "-02",
      "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
      "00-00000000000000000000000000000001-0000000000000001-00",
      "00-80000000000000000000000000000000-8000000000000000-01"})
  void formatsWhatItParsed(String value) {
    TraceContext c = TraceContext.parse(value);

    assertThat(c).isNotNull();
    assertThat(c.traceparent()).isEqualTo(value);
    assertThat(TraceContext.parse(c.traceparent())).isEqualTo(c);
  }

  @Test
  void ignoresOptionalWhiteSpaceAroundTheValue() {
    assertThat(TraceContext.parse(" \t" + VALID + "\t ")).isEqualTo(TraceContext.parse(VALID));
  }

  @Test
  void clearsFlagsThisVersionDoesNotDefine() {
    TraceContext c = TraceContext.parse("00-" + TRACE + "-" + SPAN + "-ff");

    assertThat(c.flags()).isEqualTo(TraceContext.FLAG_SAMPLED | TraceContext.FLAG_RANDOM);
    assertThat(c.traceparent()).endsWith("-03");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "cc-" + TRACE + "-" + SPAN + "-01",
      "cc-" + TRACE + "-" + SPAN + "-01-what-the-future-will-be-like",
      "01-" + TRACE + "-" + SPAN + "-01-",
      "fe-" + TRACE + "-" + SPAN + "-09"})
  void readsFutureVersionsByTheirFirst55Characters(String value) {
    TraceContext c = TraceContext.parse(value);

    assertThat(c).isNotNull();
    assertThat(c.traceIdHex()).isEqualTo(TRACE);
    assertThat(c.spanIdHex()).isEqualTo(SPAN);
    assertThat(c.sampled()).isTrue();
    // Only the sampled bit is certain in a version not known here; what is written is version 00.
    assertThat(c.traceparent()).isEqualTo(VALID);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "",
      "00",
      "garbage",
      // version ff is invalid, whatever follows
      "ff-" + TRACE + "-" + SPAN + "-01",
      // version 00 is exactly 55 characters
      "00-" + TRACE + "-" + SPAN + "-01-",
      "00-" + TRACE + "-" + SPAN + "-01-extra",
      "00-" + TRACE + "-" + SPAN + "-0",
      // a future version must continue with a dash
      "cc-" + TRACE + "-" + SPAN + "-01.what-the-future-will-be-like",
      "cc-" + TRACE + "-" + SPAN + "-0",
      // wrong lengths of the parts
      "0-" + TRACE + "-" + SPAN + "-01",
      "000-" + TRACE + "-" + SPAN + "-01",
      "00-" + TRACE + "0-" + SPAN + "-01",
      "00-" + TRACE + "-" + SPAN + "0-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-" + SPAN + "0-01",
      "00-" + TRACE + "-00f067aa0ba902b-01",
      // uppercase hex anywhere
      "0A-" + TRACE + "-" + SPAN + "-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + SPAN + "-01",
      "00-" + TRACE + "-00F067AA0BA902B7-01",
      "00-" + TRACE + "-" + SPAN + "-0A",
      // not hex
      "0g-" + TRACE + "-" + SPAN + "-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473z-" + SPAN + "-01",
      "00-" + TRACE + "-00f067aa0ba902bz-01",
      "00-" + TRACE + "-" + SPAN + "-0g",
      "00-" + TRACE + "-" + SPAN + "- 1",
      // all-zero ids
      "00-00000000000000000000000000000000-" + SPAN + "-01",
      "00-" + TRACE + "-0000000000000000-01",
      // wrong delimiters
      "00_" + TRACE + "-" + SPAN + "-01",
      "00-" + TRACE + "_" + SPAN + "-01",
      "00-" + TRACE + "-" + SPAN + "_01",
      // white space inside
      "00-" + TRACE + " -" + SPAN + "-01",
      "00 -" + TRACE + "-" + SPAN + "-01"})
  void rejectsInvalidValues(String value) {
    assertThat(TraceContext.parse(value)).as(value).isNull();
  }

  @Test
  void rejectsNull() {
    assertThat(TraceContext.parse(null)).isNull();
  }

  @Test
  void childKeepsTraceAndFlagsAndPointsAtItsParent() {
    TraceContext parent = TraceContext.parse(VALID);

    TraceContext child = parent.child();

    assertThat(child.traceIdHigh()).isEqualTo(parent.traceIdHigh());
    assertThat(child.traceIdLow()).isEqualTo(parent.traceIdLow());
    assertThat(child.flags()).isEqualTo(parent.flags());
    assertThat(child.parentSpanId()).isEqualTo(parent.spanId());
    assertThat(child.parentSpanIdHex()).isEqualTo(SPAN);
    assertThat(child.spanId()).isNotZero().isNotEqualTo(parent.spanId());
    assertThat(child.traceparent()).startsWith("00-" + TRACE + "-").endsWith("-01")
        .doesNotContain(SPAN);
    assertThat(TraceContext.parse(child.traceparent()).spanId()).isEqualTo(child.spanId());
  }

  @Test
  void newRootsAreRandomAndCarryTheSamplingDecision() {
    Set<String> traces = new HashSet<>();
    for (int i = 0; i < 1000; i++) {
      TraceContext root = TraceContext.newRoot(i % 2 == 0);
      assertThat(root.sampled()).isEqualTo(i % 2 == 0);
      assertThat(root.parentSpanId()).isZero();
      assertThat(root.spanId()).isNotZero();
      assertThat(root.traceparent()).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]");
      assertThat(TraceContext.parse(root.traceparent())).isEqualTo(root);
      traces.add(root.traceIdHex());
    }
    assertThat(traces).hasSize(1000);
  }
}
