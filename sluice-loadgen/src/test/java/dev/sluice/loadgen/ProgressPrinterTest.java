package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The progress output of a real run against a real receiver, in both modes. */
class ProgressPrinterTest {
  private TestReceiver receiver;

  @BeforeEach
  void start() {
    receiver = TestReceiver.start();
  }

  @AfterEach
  void stop() {
    receiver.close();
  }

  private String runWithProgress(LoadSettings settings, boolean terminal, Duration interval)
      throws InterruptedException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    LoadGenerator g = new LoadGenerator(settings);
    LoadSummary summary;
    try (ProgressPrinter p = ProgressPrinter.start(g, out, terminal, interval)) {
      summary = g.run();
    }
    out.print(summary.format());
    return bytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void withoutATerminalItPrintsPlainLinesThenTheSummary() throws Exception {
    String out = runWithProgress(LoadSettings.builder().endpoint(receiver.url())
        .duration(Duration.ofSeconds(1)).rate(20).items(10).build(), false, Duration.ofMillis(200));

    assertThat(out).doesNotContain("\r");
    List<String> lines = Arrays.asList(out.split("\n"));
    List<String> progress = lines.stream().filter(l -> l.startsWith("sluice send: "))
        .collect(Collectors.toList());
    // About five ticks in a second, and the final line.
    assertThat(progress.size()).isBetween(3, 8);
    assertThat(progress).allSatisfy(l ->
        assertThat(l).matches("sluice send: +\\d+%, [\\d,]+ requests, [\\d,]+ req/s, [\\d,]+ items "
            + "accepted, \\d+ failed, \\d+ retried, (ETA|done in) .*"));
    assertThat(progress.get(progress.size() - 1)).startsWith("sluice send: 100%").contains("done in");
    long sent = receiver.exporter.batches().size();
    assertThat(out).contains(String.format(java.util.Locale.ROOT, "sent          %,d requests, %,d spans",
        sent, sent * 10));
    assertThat(out).contains("accepted      " + String.format(java.util.Locale.ROOT, "%,d", sent * 10)
        + " spans", "rejected      0 spans", "failed        0 requests", "retried       0 times",
        "throughput    ", "latency       p50 ", "p95 ", "p99 ", "max ", "everything was accepted");
  }

  @Test
  void onATerminalItRedrawsOneLine() throws Exception {
    String out = runWithProgress(LoadSettings.builder().endpoint(receiver.url()).requests(12)
        .rate(20).items(5).build(), true, Duration.ofMillis(100));

    String bar = out.substring(0, out.indexOf(System.lineSeparator()));
    String[] frames = bar.split("\r", -1);
    assertThat(frames[0]).isEmpty(); // every frame starts with a carriage return
    assertThat(frames.length - 1).isBetween(3, 12); // about 0.55 s at up to ten frames a second
    for (int i = 1; i < frames.length; i++) {
      assertThat(frames[i]).matches("\\[[#-]{24}\\] +\\d+%  [\\d,]+/12 requests  .*");
    }
    assertThat(frames[frames.length - 1]).startsWith("[########################] 100%  12/12 requests")
        .contains("done in");
    assertThat(out.substring(bar.length())).contains("sent          12 requests");
  }
}
