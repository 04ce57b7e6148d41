package dev.sluice.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real program in a JVM of its own, started the way bin/sluice starts it, stopped with SIGTERM.
 */
class SluiceProcessTest {
  @TempDir Path tmp;

  private final List<Process> processes = new ArrayList<>();

  @AfterEach
  void killLeftovers() throws InterruptedException {
    for (Process p : processes) {
      if (p.isAlive()) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * A started program; its stderr goes to a file (reading the pipe from a thread races with the
   * JDK draining it when the process exits).
   */
  private static final class Program {
    final Process process;
    final Path stderrFile;

    Program(Process process, Path stderrFile) {
      this.process = process;
      this.stderrFile = stderrFile;
    }

    String stderr() {
      try {
        return Files.readString(stderrFile, StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "[cannot read " + stderrFile + ": " + e + "]";
      }
    }
  }

  private Program start(String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add("dev.sluice.app.cli.Main");
    cmd.addAll(List.of(args));
    Path stderr = Files.createTempFile(tmp, "stderr", ".txt");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile())
        .redirectOutput(tmp.resolve("stdout.txt").toFile())
        .redirectError(stderr.toFile());
    Process p = pb.start();
    processes.add(p);
    return new Program(p, stderr);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  @Test
  void runsReceivesAndStopsOnSigterm() throws Exception {
    int port = freePort();
    int adminPort = freePort();
    Path dataDir = tmp.resolve("data");
    Program sluice = start("run", "--listen", "127.0.0.1:" + port,
        "--admin", "127.0.0.1:" + adminPort, "--data-dir", dataDir.toString());

    Await.until("the start-up line on stderr", Duration.ofSeconds(30), () -> {
      assertThat(sluice.process.isAlive()).as("sluice exited early:\n" + sluice.stderr())
          .isTrue();
      return sluice.stderr().contains("receiving OTLP/HTTP on");
    });
    assertThat(sluice.stderr()).contains("receiving OTLP/HTTP on http://127.0.0.1:" + port,
        "admin on http://127.0.0.1:" + adminPort, dataDir.toString());

    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    String body = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
        + "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
        + "\"parentSpanId\":\"eee19b7ec3c1b173\",\"name\":\"from-another-process\","
        + "\"startTimeUnixNano\":\"1544712660000000000\","
        + "\"endTimeUnixNano\":\"1544712661000000000\"}]}]}]}";
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + port + "/v1/traces"))
        .header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(10))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);

    Path exportDir = dataDir.resolve("export");
    List<ExportTraceServiceRequest> lines = ExportFiles.traces(exportDir);
    assertThat(lines).hasSize(1);
    var span = lines.get(0).getResourceSpans(0).getScopeSpans(0).getSpans(0);
    assertThat(span.getName()).isEqualTo("from-another-process");
    assertThat(ExportFiles.hex(span.getTraceId())).isEqualTo("5b8efff798038103d269b633813fc60c");
    assertThat(ExportFiles.hex(span.getSpanId())).isEqualTo("eee19b7ec3c1b174");
    assertThat(ExportFiles.hex(span.getParentSpanId())).isEqualTo("eee19b7ec3c1b173");

    HttpResponse<String> ready = http.send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + adminPort + "/health/ready"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(ready.statusCode()).isEqualTo(200);

    sluice.process.destroy(); // SIGTERM
    assertThat(sluice.process.waitFor(15, TimeUnit.SECONDS))
        .as("sluice exits within 15 s of SIGTERM; stderr:\n" + sluice.stderr()).isTrue();
    assertThat(sluice.stderr()).contains("Sluice stopped");
    // The JVM's status for a SIGTERM that ran the shutdown hooks: 128 + 15.
    assertThat(sluice.process.exitValue()).isEqualTo(143);
    assertThat(sluice.stderr()).doesNotContain("Exception");
    // The file is whole after the stop: still one line, ending in a newline.
    assertThat(ExportFiles.traces(exportDir)).hasSize(1);
    assertThat(Files.readString(exportDir.resolve("traces").resolve("traces.jsonl")))
        .endsWith("\n");
  }

  @Test
  void checkExitsTwoOnABadConfig() throws Exception {
    Path bad = Files.writeString(tmp.resolve("bad.yaml"),
        "receivers:\n  otlp:\n    endpoint: nowhere\n    tls:\n      key_file: k\n");
    Program check = start("check", "--config", bad.toString());
    assertThat(check.process.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(check.process.exitValue()).as(check.stderr()).isEqualTo(2);
    assertThat(check.stderr()).contains("receivers.otlp.endpoint: ",
        "receivers.otlp.tls.cert_file: ");
  }

  @Test
  void runExitsOneWhenThePortIsTaken() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      Program run = start("run", "--listen", "127.0.0.1:" + taken.getLocalPort(),
          "--admin", "127.0.0.1:0", "--data-dir", tmp.resolve("d").toString());
      assertThat(run.process.waitFor(30, TimeUnit.SECONDS)).as(run.stderr()).isTrue();
      assertThat(run.process.exitValue()).as(run.stderr()).isEqualTo(1);
      assertThat(run.stderr()).contains("sluice: ", String.valueOf(taken.getLocalPort()));
    }
  }

  private static int portAfter(Program p, String prefix) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        java.util.regex.Pattern.quote(prefix) + "(\\d+)").matcher(p.stderr());
    assertThat(m.find()).as(prefix + " in:\n" + p.stderr()).isTrue();
    return Integer.parseInt(m.group(1));
  }

  @Test
  void proxyForwardsGetAndPostToItsUpstreamsAndStopsOnSigterm() throws Exception {
    try (EchoBackend a = new EchoBackend("a"); EchoBackend b = new EchoBackend("b")) {
      Program proxy = start("proxy", "--listen", "127.0.0.1:0", "--to", a.url(), "--to",
          b.url(), "--admin", "127.0.0.1:0", "--io-threads", "1");
      Await.until("the start-up line on stderr", Duration.ofSeconds(30), () -> {
        assertThat(proxy.process.isAlive()).as("sluice exited early:\n" + proxy.stderr())
            .isTrue();
        return proxy.stderr().contains("admin on http://");
      });
      assertThat(proxy.stderr()).contains("to default (" + a.url() + " " + b.url()
          + ", round_robin); 1 route").doesNotContain("receiving", "queue");
      int port = portAfter(proxy, "proxying on http://127.0.0.1:");
      int adminPort = portAfter(proxy, "admin on http://127.0.0.1:");

      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5)).build();
      URI base = URI.create("http://127.0.0.1:" + port);
      HttpResponse<String> get = http.send(HttpRequest.newBuilder(base.resolve("/items?id=7"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(get.statusCode()).isEqualTo(200);
      assertThat(get.body()).matches("(?s)[ab] GET /items\\?id=7\n");
      HttpResponse<String> post = http.send(HttpRequest.newBuilder(base.resolve("/orders"))
          .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"qty\":3}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(post.statusCode()).isEqualTo(200);
      assertThat(post.body()).matches("(?s)[ab] POST /orders\n\\{\"qty\":3\\}");
      // Round robin: the two requests went one to each backend.
      assertThat(a.seen).hasSize(1);
      assertThat(b.seen).hasSize(1);
      EchoBackend.Seen seenPost = a.seen.get(0).method().equals("POST") ? a.seen.get(0)
          : b.seen.get(0);
      assertThat(seenPost.body()).isEqualTo("{\"qty\":3}");
      assertThat(seenPost.header("X-Forwarded-For")).isEqualTo("127.0.0.1");
      assertThat(seenPost.header("Via")).contains("sluice");

      HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + adminPort + "/metrics"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(metrics.body()).contains("sluice_proxy_requests_total{");

      proxy.process.destroy(); // SIGTERM
      assertThat(proxy.process.waitFor(20, TimeUnit.SECONDS))
          .as("sluice exits within 20 s of SIGTERM; stderr:\n" + proxy.stderr()).isTrue();
      assertThat(proxy.process.exitValue()).isEqualTo(143);
      assertThat(proxy.stderr()).contains("Sluice stopped").doesNotContain("Exception");
    }
  }

  @Test
  void runWithReceiversAndAProxyReloadsTheProxyWhenTheFileChanges() throws Exception {
    try (EchoBackend a = new EchoBackend("a"); EchoBackend b = new EchoBackend("b")) {
      String yaml = "data_dir: '" + tmp.resolve("data") + "'\n"
          + "admin: {endpoint: 127.0.0.1:0}\n"
          + "receivers:\n  otlp: {endpoint: 127.0.0.1:0}\n"
          + "pipeline:\n  queue: {type: memory}\n"
          + "proxy:\n"
          + "  listeners: [{address: 127.0.0.1:0}]\n"
          + "  upstreams:\n    app: {endpoints: [\"BACKEND\"]}\n"
          + "  routes: [{to: app}]\n";
      Path file = Files.writeString(tmp.resolve("sluice.yaml"), yaml.replace("BACKEND", a.url()));
      Program run = start("run", "--config", file.toString());
      Await.until("the start-up line on stderr", Duration.ofSeconds(30), () -> {
        assertThat(run.process.isAlive()).as("sluice exited early:\n" + run.stderr()).isTrue();
        return run.stderr().contains("admin on http://");
      });
      assertThat(run.stderr()).contains("receiving OTLP/HTTP on http://127.0.0.1:",
          "proxying on http://127.0.0.1:");
      int port = portAfter(run, "proxying on http://127.0.0.1:");
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5)).build();
      java.util.function.Supplier<String> body = () -> {
        try {
          return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/p"))
              .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString())
              .body();
        } catch (IOException | InterruptedException e) {
          throw new IllegalStateException(e);
        }
      };
      assertThat(body.get()).startsWith("a GET /p");

      // A bad file is refused and logged; the proxy keeps going to a.
      Files.writeString(file, yaml.replace("BACKEND", "ftp://nowhere"));
      Await.until("the refusal in the log", Duration.ofSeconds(30),
          () -> run.stderr().contains("not reloaded"));
      assertThat(run.stderr()).contains("proxy.upstreams.app.endpoints[0]");
      assertThat(body.get()).startsWith("a GET /p");

      Files.writeString(file, yaml.replace("BACKEND", b.url()));
      Await.until("requests reach the new backend", Duration.ofSeconds(30),
          () -> body.get().startsWith("b GET /p"));
      assertThat(run.stderr()).contains("reloaded");

      run.process.destroy();
      assertThat(run.process.waitFor(20, TimeUnit.SECONDS)).as(run.stderr()).isTrue();
      assertThat(run.stderr()).contains("Sluice stopped");
    }
  }
}
