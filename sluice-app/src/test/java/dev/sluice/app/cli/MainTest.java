package dev.sluice.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.app.Version;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The command line, run in-process through {@link Main#commandLine()} with its output captured:
 * picocli's own writers for help and usage errors, and System.out/err for what the commands print.
 */
class MainTest {
  @TempDir Path tmp;

  private PrintStream savedOut;
  private PrintStream savedErr;
  private ByteArrayOutputStream sysOut;
  private ByteArrayOutputStream sysErr;

  /** What a run of the command line printed and returned. */
  record Result(int code, String out, String err) {}

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

  private Path write(String name, String yaml) throws IOException {
    return Files.writeString(tmp.resolve(name), yaml);
  }

  @Test
  void help() {
    Result r = run("--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice", "run", "check", "--version", "--help");
    assertThat(r.err()).isEmpty();
  }

  @Test
  void noSubcommandPrintsTheUsage() {
    Result r = run();
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice", "run", "check");
  }

  @Test
  void version() {
    assertThat(Version.get()).isNotBlank().isNotEqualTo("unknown").doesNotContain("${");
    Result r = run("--version");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("sluice " + Version.get())
        .contains(System.getProperty("java.version"));
  }

  @Test
  void runHelp() {
    Result r = run("run", "--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice run", "--config", "--listen", "--admin",
        "--data-dir", "--drain-timeout", "127.0.0.1:4318", "127.0.0.1:8888", "10s");
  }

  @Test
  void checkHelp() {
    Result r = run("check", "--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice check", "--config", "key path");
  }

  @Test
  void helpSubcommand() {
    Result r = run("help", "check");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice check");
  }

  @Test
  void anUnknownSubcommandIsAUsageError() {
    Result r = run("frobnicate");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("frobnicate");
  }

  @Test
  void checkAValidFile() throws IOException {
    Path file = write("valid.yaml", ""
        + "data_dir: /srv/sluice-data\n"
        + "admin:\n  endpoint: 127.0.0.1:19888\n"
        + "receivers:\n  otlp:\n    endpoint: 127.0.0.1:14318\n"
        + "    auth:\n      credentials:\n        - {tenant: a, token: a-long-enough-token}\n"
        + "exporters:\n  file/main:\n    path: /srv/sluice-export\n  debug:\n"
        + "    verbosity: detailed\n");
    Result r = run("check", "--config", file.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out())
        .contains(file + ": valid")
        .contains("http://127.0.0.1:14318", "with auth")
        .contains("http://127.0.0.1:19888")
        .contains("/srv/sluice-data")
        .contains("file/main", "/srv/sluice-export")
        .contains("debug", "detailed");
    assertThat(r.err()).isEmpty();
  }

  @Test
  void checkAnEmptyFileShowsTheDefaults() throws IOException {
    Path file = write("empty.yaml", "");
    Result r = run("check", "-c", file.toString());
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("valid", "http://127.0.0.1:4318", "http://127.0.0.1:8888",
        "data", "export");
  }

  @Test
  void checkABadFilePrintsEveryProblemWithItsKeyPath() throws IOException {
    Path file = write("bad.yaml", ""
        + "receivers:\n"
        + "  otlp:\n"
        + "    max_request_body_size: huge\n"
        + "    cors:\n"
        + "      allowed_origins: [\"app.example.com\"]\n"
        + "    colour: blue\n"
        + "exporters:\n"
        + "  debug:\n"
        + "    verbosity: loud\n");
    Result r = run("check", "--config", file.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err())
        .contains(file.toString())
        .contains("4 problems")
        .contains("receivers.otlp.max_request_body_size: ")
        .contains("receivers.otlp.cors.allowed_origins: ")
        .contains("receivers.otlp.colour: unknown key")
        .contains("exporters.debug.verbosity: ");
    assertThat(r.out()).doesNotContain("valid");
  }

  @Test
  void checkInvalidYamlShowsWhere() throws IOException {
    Path file = write("broken.yaml", "admin:\n  endpoint: [1, 2\n");
    Result r = run("check", "--config", file.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("not valid YAML").containsPattern("line \\d+, column \\d+");
  }

  @Test
  void checkAMissingFile() {
    Path missing = tmp.resolve("missing.yaml");
    Result r = run("check", "--config", missing.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains(missing.toString(), "does not exist");
    assertThat(r.err()).doesNotContain("Exception", "\tat ");
  }

  @Test
  void checkNeedsAFile() {
    Result r = run("check");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--config");
  }

  @Test
  void runWithABadConfigExitsTwoAndStartsNothing() throws IOException {
    Path file = write("bad.yaml", "receivers:\n  otlp:\n    endpoint: nowhere\n");
    Result r = run("run", "--config", file.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("receivers.otlp.endpoint: ", "nowhere");
  }

  @Test
  void runWithABadFlagNamesItsKey() {
    Result r = run("run", "--listen", "4318", "--data-dir", tmp.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("receivers.otlp.endpoint: ", "4318");
  }

  @Test
  void runWithABadDrainTimeout() {
    Result r = run("run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
        "--data-dir", tmp.toString(), "--drain-timeout", "soon");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--drain-timeout", "soon");
  }

  @Test
  void runWhenThePortIsTakenFailsWithAMessage() throws IOException {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      Result r = run("run", "--listen", "127.0.0.1:0",
          "--admin", "127.0.0.1:" + taken.getLocalPort(), "--data-dir", tmp.toString());
      assertThat(r.code()).isEqualTo(1);
      assertThat(r.err()).containsPattern("(?m)^sluice: .*" + taken.getLocalPort());
      assertThat(r.err()).doesNotContain("\tat ");
    }
  }

  @Test
  void runWhenTheExportDirectoryCannotBeCreatedFailsWithAMessage() throws IOException {
    Path notADir = Files.writeString(tmp.resolve("plain-file"), "x");
    Path file = write("c.yaml", "exporters:\n  file:\n    path: '" + notADir + "'\n");
    Result r = run("run", "--config", file.toString(), "--listen", "127.0.0.1:0",
        "--admin", "127.0.0.1:0", "--data-dir", tmp.resolve("data").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).containsPattern("(?m)^sluice: .*" + java.util.regex.Pattern.quote(
        notADir.toString()));
    assertThat(r.err()).doesNotContain("\tat ");
  }

  @Test
  void proxyHelp() {
    Result r = run("proxy", "--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: sluice proxy", "--listen", "--to", "--config",
        "--admin", "--io-threads", "--health-check", "--lb", "--access-log", "--drain-timeout");
    // Help text wraps where it likes; the defaults are there, whatever the line breaks.
    assertThat(r.out().replaceAll("\\s+", "")).contains("default127.0.0.1:8080",
        "default127.0.0.1:8889");
    assertThat(run("--help").out()).contains("proxy");
  }

  @Test
  void proxyNeedsAnUpstream() {
    Result r = run("proxy", "--listen", "127.0.0.1:0");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--to");
  }

  @Test
  void proxyFlagProblemsNameTheFlag() {
    Result r = run("proxy", "--listen", "nowhere", "--to", "ftp://x", "--lb", "random",
        "--health-check", "health", "--admin", "127.0.0.1:0");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err())
        .contains("4 problems")
        .contains("--listen: must be host:port, not nowhere")
        .contains("--to: endpoint ftp://x must be http:// or https://")
        .contains("--lb: must be one of round_robin, least_requests, power_of_two_choices,"
            + " consistent_hash, not random")
        .contains("--health-check: health check path must start with '/': health")
        .doesNotContain("proxy.", "\tat ");
  }

  @Test
  void proxyWithBadNumbers() {
    assertThat(run("proxy", "--to", "http://127.0.0.1:1", "--io-threads", "0").err())
        .contains("--io-threads must be between 1 and 1024, not 0");
    Result r = run("proxy", "--to", "http://127.0.0.1:1", "--drain-timeout", "soon");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--drain-timeout", "soon");
  }

  @Test
  void proxyWithAConfigTakesNoRoutingFlags() throws IOException {
    Path file = write("p.yaml", "proxy:\n  listeners: [{address: 127.0.0.1:0}]\n"
        + "  upstreams:\n    app: {endpoints: [\"http://127.0.0.1:1\"]}\n"
        + "  routes: [{to: app}]\n");
    Result r = run("proxy", "--config", file.toString(), "--to", "http://127.0.0.1:2");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--config runs the file's proxy section");
  }

  @Test
  void proxyWithAConfigThatHasNoProxy() throws IOException {
    Path file = write("g.yaml", "receivers:\n  otlp:\n    endpoint: 127.0.0.1:0\n");
    Result r = run("proxy", "--config", file.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("there is no proxy section to run");
  }

  @Test
  void checkAProxyConfiguration() throws IOException {
    Path file = write("p.yaml", "proxy:\n  listeners: [{name: web, address: 127.0.0.1:18080}]\n"
        + "  upstreams:\n    app: {endpoints: [\"http://127.0.0.1:9001\", \"http://127.0.0.1:9002\"],"
        + " load_balancing: least_requests}\n"
        + "    canary: {endpoints: [\"http://127.0.0.1:9003\"]}\n"
        + "  routes: [{name: main, to: [{upstream: app, weight: 9}, {upstream: canary}]}]\n");
    Result r = run("check", "--config", file.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out())
        .contains("listener: web http://127.0.0.1:18080")
        .contains("upstream: app http://127.0.0.1:9001 http://127.0.0.1:9002 (least_requests)")
        .contains("upstream: canary http://127.0.0.1:9003 (round_robin)")
        .contains("route:    main -> app (weight 9), canary (weight 1)")
        .doesNotContain("receiver:", "queue:");
  }

  @Test
  void checkReportsProxyProblemsWithTheirKeyPaths() throws IOException {
    Path file = write("p.yaml", "proxy:\n  listeners: [{address: 127.0.0.1:18080}]\n"
        + "  upstreams:\n    api: {endpoints: [\"http://127.0.0.1:9001\"]}\n"
        + "  routes: [{to: api}, {to: api}, {to: apii}]\n");
    Result r = run("check", "--config", file.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("proxy.routes[2].to: upstream \"apii\" is not defined");
  }
}
