package dev.sluice.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.sluice.app.Sluice;
import dev.sluice.app.config.ConfigLoader;
import dev.sluice.loadgen.Ids;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.testing.Await;
import io.micrometer.core.instrument.Counter;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code sluice send} run in-process through {@link Main#commandLine()} against a Sluice started
 * in-process from YAML (ports 0, the default file exporter), with its output captured. Tests do
 * not run on a terminal, so the progress comes as plain lines.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SendCommandTest {
  private Sluice sluice;
  private Path exportDir;
  private String endpoint;

  private PrintStream savedOut;
  private PrintStream savedErr;
  private ByteArrayOutputStream sysOut;
  private ByteArrayOutputStream sysErr;

  record Result(int code, String out, String err) {}

  @BeforeAll
  void startSluice(@TempDir Path dataDir) {
    String yaml = ""
        + "data_dir: '" + dataDir + "'\n"
        + "receivers:\n"
        + "  otlp:\n"
        + "    endpoint: 127.0.0.1:0\n"
        + "admin:\n"
        + "  endpoint: 127.0.0.1:0\n";
    sluice = Sluice.start(new ConfigLoader(Map.of()).load("send.yaml", yaml,
        ConfigLoader.Overrides.NONE));
    exportDir = dataDir.resolve("export");
    endpoint = "http://127.0.0.1:" + sluice.receiver().localAddress().getPort();
  }

  @AfterAll
  void stopSluice() {
    if (sluice != null) {
      sluice.close();
    }
  }

  @BeforeEach
  void captureSystemStreams() {
    savedOut = System.out;
    savedErr = System.err;
    sysOut = new ByteArrayOutputStream();
    sysErr = new ByteArrayOutputStream();
    System.setOut(new PrintStream(sysOut, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(sysErr, true, StandardCharsets.UTF_8));
  }

  @AfterEach
  void restoreSystemStreams() {
    System.setOut(savedOut);
    System.setErr(savedErr);
  }

  private Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    System.out.flush();
    System.err.flush();
    return new Result(code, out + sysOut.toString(StandardCharsets.UTF_8),
        err + sysErr.toString(StandardCharsets.UTF_8));
  }

  private double acceptedItems(String signal) {
    return sluice.registry().find("sluice.receiver.items").tags("signal", signal, "status", "200")
        .counters().stream().mapToDouble(Counter::count).sum();
  }

  /** The spans the file exporter wrote so far, from its OTLP/JSON lines. */
  private List<Span> exportedSpans() throws IOException {
    Path file = exportDir.resolve("traces").resolve("traces.jsonl");
    if (!Files.exists(file)) {
      return List.of();
    }
    return Files.readAllLines(file, StandardCharsets.UTF_8).stream()
        .filter(l -> !l.isBlank())
        .map(l -> OtlpJsonCodec.parse(l.getBytes(StandardCharsets.UTF_8), 0,
            l.getBytes(StandardCharsets.UTF_8).length, ExportTraceServiceRequest.getDefaultInstance()))
        .flatMap(r -> r.getResourceSpansList().stream())
        .map(ResourceSpans::getScopeSpansList).flatMap(List::stream)
        .map(ScopeSpans::getSpansList).flatMap(List::stream)
        .collect(Collectors.toList());
  }

  @Test
  void help() {
    Result r = run("send", "--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice send", "--endpoint", "--signal", "--requests",
        "--duration", "--rate", "--connections", "--items", "--attributes", "--encoding",
        "--compression", "--header", "--seed", "--retries", "--timeout", "--insecure", "--ca-file",
        "--quiet", "http://127.0.0.1:4318", "request index, item index");
    assertThat(r.err()).isEmpty();
  }

  @Test
  void theMainHelpListsSend() {
    Result r = run("--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("send");
  }

  @Test
  void aShortSendIsAllAcceptedAndArrivesWithTheSeedsIds() throws IOException {
    double before = acceptedItems("traces");
    Set<ByteString> spansBefore = exportedSpans().stream().map(Span::getSpanId)
        .collect(Collectors.toSet());

    Result r = run("send", "--endpoint", endpoint, "--requests", "20", "--items", "10",
        "--connections", "2", "--seed", "4242");

    assertThat(r.code()).as(r.out() + r.err()).isZero();
    assertThat(r.out())
        .contains("sluice send: 20 requests of 10 spans x 10 attributes to " + endpoint
            + "/v1/traces")
        .contains("sent          20 requests, 200 spans")
        .contains("accepted      200 spans")
        .contains("rejected      0 spans")
        .contains("failed        0 requests")
        .contains("retried       0 times")
        .containsPattern("latency +p50 [\\d.]+ m?s, p95 [\\d.]+ m?s, p99 [\\d.]+ m?s, max ")
        .contains("everything was accepted")
        .doesNotContain("\r");
    // Not a terminal: plain progress lines (here only the last, the run is shorter than 5 s).
    assertThat(r.out()).containsPattern("(?m)^sluice send: 100%, 20/20 requests, .* done in ");
    assertThat(acceptedItems("traces") - before).isEqualTo(200);

    // The file exporter wrote each span id that (seed 4242, request 0..19, item 0..9) names.
    Set<ByteString> expected = new HashSet<>();
    for (int req = 0; req < 20; req++) {
      for (int item = 0; item < 10; item++) {
        expected.add(ByteString.copyFrom(Ids.spanId(4242, req, item)));
      }
    }
    Await.until("the export file to have the spans", Duration.ofSeconds(10), () -> {
      try {
        return exportedSpans().stream().map(Span::getSpanId).collect(Collectors.toSet())
            .containsAll(expected);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Set<ByteString> arrived = exportedSpans().stream().map(Span::getSpanId)
        .filter(id -> !spansBefore.contains(id)).collect(Collectors.toSet());
    assertThat(arrived).isEqualTo(expected);
  }

  @Test
  void jsonGzipMetricsForADuration() {
    double before = acceptedItems("metrics");
    Result r = run("send", "--endpoint", endpoint + "/", "--signal", "metrics", "--duration",
        "500ms", "--rate", "20", "--items", "5", "--attributes", "3", "--encoding", "json",
        "--compression", "gzip", "--header", "X-Tenant: blue");

    assertThat(r.code()).as(r.out() + r.err()).isZero();
    assertThat(r.out()).contains("/v1/metrics (json, gzip, 4 connections, 20 req/s, seed 1)",
        "everything was accepted", "data points");
    double sent = acceptedItems("metrics") - before;
    // 20 req/s for half a second: about ten requests of five points.
    assertThat(sent).isBetween(5 * 7.0, 5 * 13.0);
    assertThat(r.out()).contains("accepted      " + (long) sent + " data points");
  }

  @Test
  void quietPrintsOnlyTheSummary() {
    Result r = run("send", "--endpoint", endpoint, "--signal", "logs", "--requests", "3",
        "--items", "4", "--quiet");
    assertThat(r.code()).isZero();
    assertThat(r.out()).doesNotContain("sluice send:").startsWith("sent          3 requests")
        .contains("accepted      12 log records");
  }

  @Test
  void nothingListeningExitsOne() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      port = s.getLocalPort();
    }
    Result r = run("send", "--endpoint", "http://127.0.0.1:" + port, "--requests", "5",
        "--retries", "0");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.out()).contains("stopped early", "cannot connect to 127.0.0.1:" + port,
        "NOT everything was accepted");
  }

  @Test
  void usageErrorsExitTwo() {
    Result both = run("send", "--requests", "5", "--duration", "1s");
    assertThat(both.code()).isEqualTo(2);
    assertThat(both.err()).contains("--requests", "--duration", "mutually exclusive");

    Map<String[], String> cases = Map.of(
        new String[] {"--signal", "spans"}, "--signal must be traces, metrics or logs",
        new String[] {"--duration", "soon"}, "--duration: not a duration",
        new String[] {"--timeout", "10"}, "--timeout: not a duration",
        new String[] {"--endpoint", "127.0.0.1:4318"}, "http:// or https://",
        new String[] {"--header", "nocolon"}, "'Name: value'",
        new String[] {"--insecure"}, "https",
        new String[] {"--encoding", "xml"}, "--encoding must be protobuf or json",
        new String[] {"--compression", "br"}, "--compression must be none or gzip",
        new String[] {"--connections", "0"}, "--connections must be 1 to 10000",
        new String[] {"--rate", "fast"}, "--rate");
    cases.forEach((args, message) -> {
      sysErr.reset();
      String[] full = new String[args.length + 1];
      full[0] = "send";
      System.arraycopy(args, 0, full, 1, args.length);
      Result r = run(full);
      assertThat(r.code()).as(String.join(" ", full)).isEqualTo(2);
      assertThat(r.err()).as(String.join(" ", full)).contains(message);
    });
  }
}
