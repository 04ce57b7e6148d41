package dev.sluice.app.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.export.debug.DebugExporter;
import dev.sluice.pipeline.export.file.FileExporter;
import dev.sluice.receiver.otlp.OtlpHttpReceiverSettings;
import dev.sluice.receiver.otlp.auth.Authenticator;
import dev.sluice.receiver.otlp.auth.Credential;
import dev.sluice.receiver.otlp.cors.CorsPolicy;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads Sluice's YAML configuration: substitutes {@code ${env:NAME}} references, applies the
 * command line's overrides, checks every key and value, and reports all problems at once with
 * their key paths.
 *
 * <p>Key names follow the OpenTelemetry Collector's where the concept is the same ({@code
 * endpoint}, {@code max_request_body_size}, {@code cors.allowed_origins}, {@code tls.cert_file},
 * {@code rotation.max_megabytes}).
 */
public final class ConfigLoader {
  public static final String DEFAULT_OTLP_ENDPOINT = "127.0.0.1:4318";
  public static final String DEFAULT_ADMIN_ENDPOINT = "127.0.0.1:8888";
  public static final String DEFAULT_DATA_DIR = "./data";

  /** {@code $$}, or {@code ${...}} (group 1 the inside, group 2 the closing brace if any). */
  private static final Pattern REFERENCE = Pattern.compile("\\$\\$|\\$\\{([^}]*)(}?)");
  private static final Pattern ENV = Pattern.compile("env:([A-Za-z_][A-Za-z0-9_]*)(:-(.*))?");
  private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  /** YAML forbids duplicate keys; Jackson would otherwise keep the last one without a word. */
  private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

  private final Map<String, String> env;

  /** A loader that reads environment variables from {@code env}. */
  public ConfigLoader(Map<String, String> env) {
    this.env = Map.copyOf(env);
  }

  /** Command-line values that replace what the file says; null leaves the file's value. */
  public record Overrides(String listen, String admin, String dataDir, List<String> forward) {
    public static final Overrides NONE = new Overrides(null, null, null, List.of());

    public Overrides(String listen, String admin, String dataDir) {
      this(listen, admin, dataDir, List.of());
    }

    public Overrides {
      forward = forward == null ? List.of() : List.copyOf(forward);
    }
  }

  /**
   * Loads a configuration file, or the embedded defaults when {@code file} is null.
   *
   * @throws ConfigException listing every problem found
   */
  public SluiceConfig load(Path file, Overrides overrides) {
    List<String> problems = new ArrayList<>();
    Set<String> unresolved = new HashSet<>();
    JsonNode root;
    if (file == null) {
      root = JsonNodeFactory.instance.objectNode();
    } else {
      String text;
      try {
        text = Files.readString(file, StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        throw new ConfigException(List.of(file + ": the file does not exist"));
      } catch (IOException e) {
        throw new ConfigException(List.of(file + ": cannot read the file: " + e));
      }
      root = parse(file.toString(), text, problems, unresolved);
    }
    return bind(root, overrides, problems, unresolved);
  }

  /** Loads a configuration from YAML text; {@code name} is used in messages. */
  public SluiceConfig load(String name, String yaml, Overrides overrides) {
    List<String> problems = new ArrayList<>();
    Set<String> unresolved = new HashSet<>();
    return bind(parse(name, yaml, problems, unresolved), overrides, problems, unresolved);
  }

  /**
   * Loads a configuration made in code as a YAML tree (the command line's), with no environment
   * substitution; its problems name the same key paths as a file's.
   */
  public SluiceConfig loadTree(ObjectNode tree, Overrides overrides) {
    return bind(tree.deepCopy(), overrides, new ArrayList<>(), Set.of());
  }

  /**
   * Parses the YAML and substitutes the environment; a reference that cannot be substituted is
   * added to {@code problems}, so that it is reported together with the problems of binding, and
   * its key path to {@code unresolved}.
   */
  private JsonNode parse(String name, String text, List<String> problems,
      Set<String> unresolved) {
    JsonNode root;
    try {
      root = YAML.readTree(text);
    } catch (JsonProcessingException e) {
      String where = e.getLocation() == null ? "" :
          " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
      throw new ConfigException(List.of(name + ": not valid YAML" + where + ": "
          + e.getOriginalMessage()));
    }
    if (root == null || root.isMissingNode() || root.isNull()) {
      return JsonNodeFactory.instance.objectNode();
    }
    if (!root.isObject()) {
      throw new ConfigException(List.of(name + ": the top level must be a section of keys"));
    }
    return substitute(root, "", problems, unresolved);
  }

  /** Replaces {@code ${env:NAME}} and {@code ${env:NAME:-default}} in every string; {@code $$} is a dollar. */
  private JsonNode substitute(JsonNode node, String path, List<String> problems,
      Set<String> unresolved) {
    if (node.isObject()) {
      ObjectNode out = JsonNodeFactory.instance.objectNode();
      node.fields().forEachRemaining(e ->
          out.set(e.getKey(), substitute(e.getValue(),
              path.isEmpty() ? e.getKey() : path + "." + e.getKey(), problems, unresolved)));
      return out;
    }
    if (node.isArray()) {
      ArrayNode out = JsonNodeFactory.instance.arrayNode();
      for (int i = 0; i < node.size(); i++) {
        out.add(substitute(node.get(i), path + "[" + i + "]", problems, unresolved));
      }
      return out;
    }
    if (!node.isTextual() || node.asText().indexOf('$') < 0) {
      return node;
    }
    Matcher m = REFERENCE.matcher(node.asText());
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      String replacement;
      Matcher ref = m.group().equals("$$") ? null : ENV.matcher(m.group(1));
      if (ref == null) {
        replacement = "$";
      } else if (m.group(2).isEmpty() || !ref.matches()) {
        // Taken literally, "${TOKEN}" would quietly become an 8-character secret.
        String inside = m.group(1);
        String suggestion = "${env:" + (NAME.matcher(inside).matches() ? inside : "NAME") + "}";
        problems.add(path + ": " + m.group() + " is not a valid reference; write " + suggestion
            + " for an environment variable, or $$ for a literal $");
        unresolved.add(path);
        replacement = m.group();
      } else {
        String value = env.get(ref.group(1));
        if (value == null) {
          value = ref.group(3);
        }
        if (value == null) {
          problems.add(path + ": environment variable " + ref.group(1) + " is not set");
          unresolved.add(path);
          value = "";
        }
        replacement = value;
      }
      m.appendReplacement(sb, Matcher.quoteReplacement(replacement));
    }
    m.appendTail(sb);
    if (unresolved.contains(path)) {
      // Absent rather than half-substituted, so that binding does not report it a second time.
      return NullNode.getInstance();
    }
    return TextNode.valueOf(sb.toString());
  }

  private SluiceConfig bind(JsonNode tree, Overrides o, List<String> problems,
      Set<String> unresolved) {
    int firstBindingProblem = problems.size();
    ObjectNode root = (ObjectNode) tree;
    if (o.dataDir() != null) {
      root.put("data_dir", o.dataDir());
    }
    if (o.admin() != null) {
      object(root, "admin").put("endpoint", o.admin());
    }
    if (!o.forward().isEmpty()) {
      // --forward replaces the exporters with one OTLP/HTTP exporter to those backends.
      ObjectNode exporters = root.putObject("exporters");
      ArrayNode endpoints = exporters.putObject("otlphttp").putArray("endpoints");
      o.forward().forEach(endpoints::add);
    }
    if (o.listen() != null) {
      object(object(root, "receivers"), "otlp").put("endpoint", o.listen());
    }
    ConfigNode top = new ConfigNode(root, "", problems);

    Path dataDir = Path.of(top.string("data_dir", DEFAULT_DATA_DIR));
    ConfigNode adminNode = top.section("admin");
    InetSocketAddress admin = endpoint(adminNode, "endpoint", DEFAULT_ADMIN_ENDPOINT);
    adminNode.rejectUnknownKeys();

    // With a proxy, the OTLP receiver runs only when configured; without, it always runs.
    boolean hasProxy = root.hasNonNull("proxy");
    ConfigNode receivers = top.section("receivers");
    OtlpHttpReceiverSettings receiver = hasProxy && !receivers.has("otlp") ? null
        : receiver(receivers.section("otlp"));
    SluiceConfig.KafkaReceiverSpec kafkaReceiver =
        receivers.has("kafka") ? KafkaReceiverConfig.read(receivers.section("kafka")) : null;
    receivers.rejectUnknownKeys();

    ConfigNode pipeline = top.section("pipeline");
    long maxInFlight = pipeline.size("max_in_flight_bytes", 256L * 1024 * 1024, 1024 * 1024,
        Long.MAX_VALUE);
    ConfigNode q = pipeline.section("queue");
    String type = q.oneOf("type", "durable", "durable", "memory");
    long queueMax = q.size("max_bytes", 1L << 30, 1L << 20, Long.MAX_VALUE);
    long segment = q.size("segment_bytes", Math.min(64L << 20, queueMax / 2), 1L << 16, 1L << 30);
    if (segment * 2 > queueMax) {
      q.problem("segment_bytes", "must be at most half of max_bytes (" + queueMax + ")");
    }
    String fsync = q.oneOf("fsync", "always", "always", "interval", "none");
    Duration fsyncInterval = q.duration("fsync_interval", Duration.ofMillis(100));
    Path queueDir = Path.of(q.string("directory", dataDir.resolve("queue").toString()));
    q.rejectUnknownKeys();
    SluiceConfig.QueueSpec queue = new SluiceConfig.QueueSpec(type.equals("durable"), queueDir,
        queueMax, segment, fsync, fsyncInterval);
    pipeline.rejectUnknownKeys();

    List<SluiceConfig.ExporterSpec> exporters = exporters(top, dataDir, queue.durable());
    List<SluiceConfig.BridgeSpec> bridges =
        top.has("bridges") ? KafkaBridgeConfig.read(top.section("bridges")) : List.of();
    SluiceConfig.ProxySpec proxy =
        top.has("proxy") ? ProxyConfig.read(top.section("proxy")) : null;
    top.rejectUnknownKeys();
    if (!problems.isEmpty()) {
      throw new ConfigException(withoutFollowOns(problems, firstBindingProblem, unresolved));
    }
    return new SluiceConfig(dataDir, admin, receiver, kafkaReceiver, maxInFlight, queue,
        exporters, bridges, proxy);
  }

  /**
   * Drops the binding problems that only repeat an unresolved reference: those at its key path
   * ("is required") or at the section holding it ("needs exactly one of token and token_file").
   */
  private static List<String> withoutFollowOns(List<String> problems, int firstBindingProblem,
      Set<String> unresolved) {
    if (unresolved.isEmpty()) {
      return problems;
    }
    List<String> out = new ArrayList<>(problems.subList(0, firstBindingProblem));
    for (String p : problems.subList(firstBindingProblem, problems.size())) {
      int colon = p.indexOf(": ");
      String at = colon < 0 ? p : p.substring(0, colon);
      // An unknown key is a problem of its own, whatever its value.
      boolean followOn = false;
      for (String u : p.startsWith(at + ": unknown key") ? Set.<String>of() : unresolved) {
        if (u.equals(at) || u.startsWith(at + ".") || u.startsWith(at + "[")) {
          followOn = true;
          break;
        }
      }
      if (!followOn) {
        out.add(p);
      }
    }
    return out;
  }

  private static ObjectNode object(ObjectNode parent, String key) {
    JsonNode n = parent.get(key);
    if (n instanceof ObjectNode) {
      return (ObjectNode) n;
    }
    return parent.putObject(key);
  }

  private OtlpHttpReceiverSettings receiver(ConfigNode n) {
    OtlpHttpReceiverSettings.Builder b = OtlpHttpReceiverSettings.builder();
    HttpServerSettings.Builder server = HttpServerSettings.builder();
    server.address(endpoint(n, "endpoint", DEFAULT_OTLP_ENDPOINT));
    set(n, "traces_url_path", () -> b.path(Signal.TRACES, n.string("traces_url_path", "/v1/traces")));
    set(n, "metrics_url_path",
        () -> b.path(Signal.METRICS, n.string("metrics_url_path", "/v1/metrics")));
    set(n, "logs_url_path", () -> b.path(Signal.LOGS, n.string("logs_url_path", "/v1/logs")));
    b.maxRequestBodySize(n.size("max_request_body_size",
        OtlpHttpReceiverSettings.DEFAULT_MAX_REQUEST_BODY_SIZE, 1, 1L << 30));
    boolean http2 = n.bool("http2", true);
    server.http2(http2);
    server.maxHeaderSize((int) n.size("max_header_size", 64 * 1024, 1024, 1 << 20));
    server.maxHeaderCount(n.integer("max_header_count", 100, 1, 10_000));
    server.headerTimeout(n.duration("read_header_timeout", Duration.ofSeconds(10)));
    server.bodyTimeout(n.duration("read_timeout", Duration.ofSeconds(60)));
    server.idleTimeout(n.duration("idle_timeout", Duration.ofSeconds(120)));
    server.maxConnections(n.integer("max_connections", 10_000, 1, 1_000_000));
    server.maxConcurrentStreams(n.integer("max_concurrent_streams", 250, 1, 10_000));
    server.ioThreads(n.integer("io_threads", 0, 0, 1024));

    if (n.has("tls")) {
      TlsSettings tls = TlsConfig.server(n.section("tls"), http2);
      if (tls != null) {
        server.tls(tls);
      }
    }

    Authenticator authenticator = n.has("auth") ? auth(n.section("auth")) : null;
    b.auth(authenticator);

    ConfigNode cors = n.section("cors");
    List<String> allowedHeaders = new ArrayList<>(cors.strings("allowed_headers"));
    if (authenticator != null) {
      // Browsers must be allowed to send the credential headers, or every preflight fails.
      allowedHeaders.add("authorization");
      allowedHeaders.add(authenticator.apiKeyHeader());
    }
    try {
      b.cors(new CorsPolicy(cors.strings("allowed_origins"), allowedHeaders,
          cors.integer("max_age", 0, 0, 86_400)));
    } catch (IllegalArgumentException e) {
      cors.problem("allowed_origins", e.getMessage());
    }
    cors.rejectUnknownKeys();

    n.rejectUnknownKeys();
    try {
      b.server(server.build());
    } catch (IllegalArgumentException e) {
      n.problem(null, e.getMessage());
    }
    return b.build();
  }

  private static void set(ConfigNode n, String key, Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException e) {
      n.problem(key, e.getMessage());
    }
  }

  private Authenticator auth(ConfigNode a) {
    String header = a.string("api_key_header", "X-API-Key");
    List<Credential> creds = new ArrayList<>();
    // Each secret must name one tenant: the authenticator takes the first match, so a shared one
    // would quietly count one tenant's data as another's.
    Map<String, String> tenantOfSecret = new HashMap<>();
    int given = 0;
    for (ConfigNode c : a.sections("credentials")) {
      given++;
      String tenant = c.string("tenant", null);
      String token = c.string("token", null);
      String tokenFile = c.string("token_file", null);
      c.rejectUnknownKeys();
      if (tenant == null) {
        c.problem("tenant", "is required");
        continue;
      }
      if ((token == null) == (tokenFile == null)) {
        c.problem(null, "needs exactly one of token and token_file");
        continue;
      }
      if (tokenFile != null) {
        try {
          token = Files.readString(Path.of(tokenFile), StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
          c.problem("token_file", "cannot read " + tokenFile + ": " + e.getMessage());
          continue;
        }
      }
      try {
        Credential cred = new Credential(tenant, token);
        String other = tenantOfSecret.putIfAbsent(token, tenant);
        if (other != null && !other.equals(tenant)) {
          c.problem(null, "has the same token as tenant " + other
              + "; every tenant needs a token of its own");
          continue;
        }
        creds.add(cred);
      } catch (IllegalArgumentException e) {
        c.problem(null, e.getMessage());
      }
    }
    String file = a.string("credentials_file", null);
    if (file != null) {
      try {
        List<String> lines = Files.readAllLines(Path.of(file), StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
          String line = lines.get(i).trim();
          if (line.isEmpty() || line.startsWith("#")) {
            continue;
          }
          given++;
          int colon = line.indexOf(':');
          if (colon <= 0) {
            a.problem("credentials_file", file + " line " + (i + 1) + " must be tenant:token");
            continue;
          }
          try {
            Credential cred = new Credential(line.substring(0, colon).trim(),
                line.substring(colon + 1).trim());
            String other = tenantOfSecret.putIfAbsent(cred.secret(), cred.tenant());
            if (other != null && !other.equals(cred.tenant())) {
              a.problem("credentials_file", file + " line " + (i + 1)
                  + " has the same token as tenant " + other
                  + "; every tenant needs a token of its own");
              continue;
            }
            creds.add(cred);
          } catch (IllegalArgumentException e) {
            a.problem("credentials_file", file + " line " + (i + 1) + ": " + e.getMessage());
          }
        }
      } catch (IOException e) {
        a.problem("credentials_file", "cannot read " + file + ": " + e.getMessage());
      }
    }
    a.rejectUnknownKeys();
    if (creds.isEmpty()) {
      if (given == 0) { // otherwise each one given was reported with what is wrong with it
        a.problem(null, "auth is configured but no credentials are given (credentials or "
            + "credentials_file)");
      }
      return null;
    }
    return new Authenticator(creds, header);
  }

  private List<SluiceConfig.ExporterSpec> exporters(ConfigNode top, Path dataDir,
      boolean durable) {
    List<SluiceConfig.ExporterSpec> out = new ArrayList<>();
    Path defaultDir = dataDir.resolve("export");
    if (!top.has("exporters")) {
      out.add(file("file", defaultDir, 100L * 1024 * 1024, 100));
      return out;
    }
    ConfigNode ex = top.section("exporters");
    // Two file exporters in one directory would write the same files from two threads.
    Map<Path, String> fileDirs = new HashMap<>();
    for (String name : ex.keys()) {
      String type = name.contains("/") ? name.substring(0, name.indexOf('/')) : name;
      ConfigNode e = ex.section(name);
      switch (type) {
        case "file":
          {
            Path dir = Path.of(e.string("path", defaultDir.toString()));
            ConfigNode rot = e.section("rotation");
            long maxBytes = rot.integer("max_megabytes", 100, 1, 1 << 20) * 1024L * 1024;
            int backups = rot.integer("max_backups", 100, 0, 1_000_000);
            rot.rejectUnknownKeys();
            String other = fileDirs.putIfAbsent(dir.toAbsolutePath().normalize(), name);
            if (other != null) {
              e.problem("path", dir + " is already the directory of exporter " + other);
            }
            out.add(file(name, dir, maxBytes, backups));
            break;
          }
        case "debug":
          {
            String verbosity = e.oneOf("verbosity", "basic", "none", "basic", "detailed");
            int initial = e.integer("sampling_initial", 2, 0, Integer.MAX_VALUE);
            int thereafter = e.integer("sampling_thereafter", 1, 1, Integer.MAX_VALUE);
            Function<io.micrometer.core.instrument.MeterRegistry, dev.sluice.pipeline.Exporter>
                f = registry -> DebugExporter.builder().name(name)
                    .verbosity(DebugExporter.Verbosity.valueOf(verbosity.toUpperCase(
                        java.util.Locale.ROOT)))
                    .samplingInitial(initial).samplingThereafter(thereafter).build();
            out.add(new SluiceConfig.ExporterSpec(name, name + " (debug, verbosity " + verbosity
                + ")", f));
            break;
          }
        case "otlphttp":
          {
            SluiceConfig.ExporterSpec spec = OtlpHttpExporterConfig.read(name, e, dataDir, durable);
            if (spec != null) {
              out.add(spec);
            }
            continue; // read() reported its unknown keys already
          }
        case "kafka":
          {
            SluiceConfig.ExporterSpec spec = KafkaExporterConfig.read(name, e, dataDir);
            if (spec != null) {
              out.add(spec);
            }
            continue; // read() reported its unknown keys already
          }
        default:
          ex.problem(name, "unknown exporter type " + type
              + "; known: file, debug, otlphttp, kafka");
          continue;
      }
      e.rejectUnknownKeys();
    }
    if (out.isEmpty() && ex.keys().isEmpty()) {
      ex.problem(null, "at least one exporter is needed");
    }
    return out;
  }

  private static SluiceConfig.ExporterSpec file(String name, Path dir, long maxBytes,
      int backups) {
    return new SluiceConfig.ExporterSpec(name, name + " (file, " + dir + ")",
        registry -> FileExporter.builder().name(name).directory(dir).maxBytes(maxBytes)
            .maxBackups(backups).meterRegistry(registry).build());
  }

  /** Parses {@code host:port}, {@code [v6]:port} or {@code :port} (every interface). */
  static InetSocketAddress endpoint(ConfigNode n, String key, String dflt) {
    String v = n.string(key, dflt);
    int colon = v.lastIndexOf(':');
    if (colon < 0) {
      n.problem(key, "must be host:port, not " + v);
      return address(dflt);
    }
    String host = v.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(v.substring(colon + 1));
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 0 || port > 65535) {
      n.problem(key, "port must be a number from 0 to 65535 in " + v);
      return address(dflt);
    }
    return host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
  }

  private static InetSocketAddress address(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    return new InetSocketAddress(hostPort.substring(0, colon),
        Integer.parseInt(hostPort.substring(colon + 1)));
  }
}
