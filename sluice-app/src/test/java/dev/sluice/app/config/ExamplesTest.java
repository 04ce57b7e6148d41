package dev.sluice.app.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every example configuration under {@code examples/} loads without a problem, the proxy examples
 * with a proxy section. Examples that name TLS files through {@code ${env:SLUICE_TLS_DIR}} get a directory holding a test certificate and
 * key under the names they use.
 */
class ExamplesTest {
  private static final Path EXAMPLES = Path.of("..", "examples");

  @TempDir Path tmp;

  private static List<Path> examples() throws IOException {
    if (!Files.isDirectory(EXAMPLES)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(EXAMPLES)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".yaml")).sorted()
          .collect(Collectors.toList());
    }
  }

  private Path tlsDir() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("tls"));
    copy("tls/server.crt", dir.resolve("server.crt"));
    copy("tls/server.key", dir.resolve("server.key"));
    copy("tls/server.crt", dir.resolve("clients-ca.crt"));
    return dir;
  }

  private void copy(String resource, Path to) throws IOException {
    try (InputStream in = getClass().getResourceAsStream("/" + resource)) {
      assertThat(in).as(resource).isNotNull();
      Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  @TestFactory
  Stream<DynamicTest> everyExampleIsValid() throws IOException {
    List<Path> files = examples();
    Assumptions.assumeTrue(!files.isEmpty(), "no examples/*.yaml yet");
    Map<String, String> env = Map.of(
        "SLUICE_TLS_DIR", tlsDir().toString(),
        "SLUICE_DATA_DIR", tmp.resolve("data").toString());
    ConfigLoader loader = new ConfigLoader(env);
    return files.stream().map(file -> DynamicTest.dynamicTest(file.getFileName().toString(), () -> {
      SluiceConfig c;
      try {
        c = loader.load(file, ConfigLoader.Overrides.NONE);
      } catch (ConfigException e) {
        fail(file + " is not a valid configuration:\n  " + String.join("\n  ", e.problems()));
        return;
      }
      assertThat(c.exporters()).as(file + " exports somewhere").isNotEmpty();
      assertThat(c.receiver() != null || c.proxy() != null)
          .as(file + " runs a receiver or a proxy").isTrue();
      if (c.receiver() != null) {
        assertThat(c.receiver().server().address()).isNotNull();
      }
      if (file.getFileName().toString().startsWith("proxy-")) {
        assertThat(c.proxy()).as(file + " configures the proxy").isNotNull();
        assertThat(c.proxy().settings().routes()).isNotEmpty();
      }
    }));
  }

  @TestFactory
  Stream<DynamicTest> everyExampleAlsoLoadsWithItsOwnDefaults() throws IOException {
    // Without the TLS directory: only an example that needs files it cannot have may fail, and
    // then only for those files.
    List<Path> files = examples();
    Assumptions.assumeTrue(!files.isEmpty(), "no examples/*.yaml yet");
    ConfigLoader loader = new ConfigLoader(Map.of());
    return files.stream().map(file -> DynamicTest.dynamicTest(file.getFileName().toString(), () -> {
      try {
        loader.load(file, ConfigLoader.Overrides.NONE);
      } catch (ConfigException e) {
        assertThat(e.problems()).as(file.toString()).allSatisfy(p -> assertThat(p)
            .matches("(receivers\\.otlp|proxy\\.listeners\\[\\d+\\]|proxy\\.upstreams\\.[^.]+)"
                + "\\.tls.*")
            .contains("does not exist"));
      }
    }));
  }
}
