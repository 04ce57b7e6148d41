package dev.sluice.pipeline.export.debug;

import static dev.sluice.pipeline.SampleRequests.batch;
import static dev.sluice.pipeline.SampleRequests.traces;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.SampleRequests;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.export.debug.DebugExporter.Verbosity;
import io.netty.buffer.PooledByteBufAllocator;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class DebugExporterTest {
  private final Logger logger = (Logger) LoggerFactory.getLogger(DebugExporter.LOGGER_NAME);
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final AtomicLong nanos = new AtomicLong(5_000_000_000L);

  @BeforeEach
  void attach() {
    logger.setLevel(Level.INFO);
    appender.start();
    logger.addAppender(appender);
  }

  @AfterEach
  void detach() {
    logger.detachAppender(appender);
    logger.setLevel(null);
  }

  private List<String> lines() {
    return appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
  }

  private void exportAll(DebugExporter exporter, int count) {
    for (int i = 0; i < count; i++) {
      TelemetryBatch b = batch(Signal.TRACES, i, 1);
      assertThat(exporter.export(b)).isCompleted();
      assertThat(b.refCnt()).isZero();
    }
  }

  @Test
  void logsOneLineWithSignalItemsBytesAndTenant() {
    DebugExporter exporter = DebugExporter.builder().build();
    TelemetryBatch anonymous = batch(Signal.TRACES, traces(1, 3), 3, "");
    TelemetryBatch tenant = batch(Signal.LOGS, SampleRequests.logs(2, 1), 1, "acme");
    int anonymousBytes = anonymous.bytes();
    int tenantBytes = tenant.bytes();

    CompletableFuture<Void> f1 = exporter.export(anonymous);
    CompletableFuture<Void> f2 = exporter.export(tenant);

    assertThat(f1).isCompleted();
    assertThat(f2).isCompleted();
    assertThat(anonymous.refCnt()).isZero();
    assertThat(tenant.refCnt()).isZero();
    assertThat(lines()).containsExactly(
        "traces: 3 spans, " + anonymousBytes + " bytes, tenant -",
        "logs: 1 log records, " + tenantBytes + " bytes, tenant acme");
    assertThat(appender.list).allSatisfy(e -> {
      assertThat(e.getLevel()).isEqualTo(Level.INFO);
      assertThat(e.getLoggerName()).isEqualTo("dev.sluice.exporter.debug");
    });
  }

  @Test
  void detailedAddsTheRequestAsOtlpJsonOnTheNextLine() {
    DebugExporter exporter = DebugExporter.builder().verbosity(Verbosity.DETAILED).build();
    ExportTraceServiceRequest request = traces(7, 2);
    TelemetryBatch b = batch(Signal.TRACES, request, 2, "");
    int bytes = b.bytes();

    assertThat(exporter.export(b)).isCompleted();

    assertThat(b.refCnt()).isZero();
    assertThat(lines()).hasSize(1);
    String[] parts = lines().get(0).split("\n");
    assertThat(parts).hasSize(2);
    assertThat(parts[0]).isEqualTo("traces: 2 spans, " + bytes + " bytes, tenant -");
    byte[] json = parts[1].getBytes(StandardCharsets.UTF_8);
    assertThat(OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance()))
        .isEqualTo(request);
  }

  @Test
  void detailedWarnsButStillConfirmsAPayloadThatDoesNotParse() {
    DebugExporter exporter = DebugExporter.builder().verbosity(Verbosity.DETAILED).build();
    TelemetryBatch bad = new TelemetryBatch(Signal.METRICS,
        PooledByteBufAllocator.DEFAULT.buffer(2).writeBytes(new byte[] {0x0a, 0x7f}), 1, "", 0);

    assertThat(exporter.export(bad)).isCompleted();

    assertThat(bad.refCnt()).isZero();
    assertThat(appender.list).singleElement().satisfies(e -> {
      assertThat(e.getLevel()).isEqualTo(Level.WARN);
      assertThat(e.getFormattedMessage()).startsWith("metrics: 1 data points, 2 bytes, tenant -")
          .contains("cannot be shown as OTLP/JSON");
    });
  }

  @Test
  void noneLogsNothingButStillConfirmsAndReleases() {
    DebugExporter exporter = DebugExporter.builder().verbosity(Verbosity.NONE).build();
    exportAll(exporter, 5);
    assertThat(appender.list).isEmpty();
  }

  @Test
  void byDefaultEveryBatchIsLogged() {
    DebugExporter exporter = DebugExporter.builder().nanoTime(nanos::get).build();
    exportAll(exporter, 10);
    assertThat(appender.list).hasSize(10);
  }

  @Test
  void samplingLogsTheInitialBatchesOfEachSecondThenEveryNth() {
    DebugExporter exporter = DebugExporter.builder()
        .samplingInitial(2)
        .samplingThereafter(3)
        .nanoTime(nanos::get)
        .build();

    exportAll(exporter, 11); // logged: 1st, 2nd, then 5th, 8th, 11th
    assertThat(appender.list).hasSize(5);

    nanos.addAndGet(1_000_000_000L); // a new second starts counting afresh
    exportAll(exporter, 3); // 1st, 2nd
    assertThat(appender.list).hasSize(7);

    nanos.addAndGet(999_999_999L); // still the same second
    exportAll(exporter, 3); // 3rd and 4th dropped, 5th logged
    assertThat(appender.list).hasSize(8);
  }

  @Test
  void exportAfterCloseFailsWithPipelineFullAndReleases() {
    DebugExporter exporter = DebugExporter.builder().build();
    exporter.close();
    exporter.close();
    TelemetryBatch b = batch(Signal.LOGS, 1, 1);

    CompletableFuture<Void> f = exporter.export(b);

    assertThat(b.refCnt()).isZero();
    assertThat(f).isCompletedExceptionally();
    assertThatThrownBy(f::join).cause()
        .isInstanceOf(PipelineFullException.class)
        .hasMessage("the debug exporter is closed");
    assertThat(appender.list).isEmpty();
  }

  @Test
  void builderChecksEachSettingWhenItIsSet() {
    assertThatThrownBy(() -> DebugExporter.builder().samplingInitial(-1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("samplingInitial");
    assertThatThrownBy(() -> DebugExporter.builder().samplingThereafter(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("samplingThereafter");
    assertThatThrownBy(() -> DebugExporter.builder().verbosity(null))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("verbosity");
    assertThatThrownBy(() -> Verbosity.parse("loud"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("none, basic, detailed")
        .hasMessageContaining("loud");
    assertThat(Verbosity.parse(" Detailed ")).isEqualTo(Verbosity.DETAILED);

    DebugExporter defaults = DebugExporter.builder().build();
    assertThat(defaults.name()).isEqualTo("debug");
    assertThat(defaults.verbosity()).isEqualTo(Verbosity.BASIC);
  }
}
