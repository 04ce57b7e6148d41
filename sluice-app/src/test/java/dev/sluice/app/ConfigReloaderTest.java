package dev.sluice.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.app.config.ConfigLoader;
import dev.sluice.app.config.SluiceConfig;
import dev.sluice.testing.Await;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reloads from a real file on disk: edits and replacements are noticed, a bad file is refused and
 * the running configuration stays, SIGHUP reloads.
 */
class ConfigReloaderTest {
  private static final Duration DEADLINE = Duration.ofSeconds(30);

  @TempDir Path tmp;

  private final List<SluiceConfig> applied = new CopyOnWriteArrayList<>();

  private static String proxyTo(String url) {
    return "proxy:\n  listeners: [{address: 127.0.0.1:0}]\n"
        + "  upstreams:\n    app: {endpoints: [\"" + url + "\"]}\n"
        + "  routes: [{to: app}]\n";
  }

  private static String upstreamOf(SluiceConfig c) {
    return c.proxy().settings().upstreams().get("app").endpoints().get(0).uri().toString();
  }

  private ConfigReloader reloader(Path file) {
    ConfigLoader loader = new ConfigLoader(Map.of());
    return new ConfigReloader(file, () -> loader.load(file, ConfigLoader.Overrides.NONE),
        applied::add);
  }

  @Test
  void anEditedFileIsReloadedAndABadOneRefused() throws Exception {
    Path file = Files.writeString(tmp.resolve("sluice.yaml"), proxyTo("http://127.0.0.1:9001"));
    try (ConfigReloader r = reloader(file).start()) {
      Files.writeString(file, proxyTo("http://127.0.0.1:9002"));
      Await.until("the edit applied", DEADLINE, () -> r.applied() == 1);
      assertThat(upstreamOf(applied.get(0))).isEqualTo("http://127.0.0.1:9002");

      Files.writeString(file, proxyTo("ftp://nowhere"));
      Await.until("the bad file refused", DEADLINE, () -> r.refused() == 1);
      assertThat(applied).hasSize(1);

      // Written elsewhere and moved over the file, as editors and deployment tools do.
      Path next = Files.writeString(tmp.resolve("next.yaml"), proxyTo("http://127.0.0.1:9003"));
      Files.move(next, file, StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
      Await.until("the replacement applied", DEADLINE, () -> r.applied() == 2);
      assertThat(upstreamOf(applied.get(1))).isEqualTo("http://127.0.0.1:9003");
    }
  }

  @Test
  void whatTheApplyingSideRefusesIsCountedAndLogged() throws Exception {
    Path file = Files.writeString(tmp.resolve("sluice.yaml"), proxyTo("http://127.0.0.1:9001"));
    ConfigLoader loader = new ConfigLoader(Map.of());
    try (ConfigReloader r = new ConfigReloader(file,
        () -> loader.load(file, ConfigLoader.Overrides.NONE),
        c -> {
          throw new IllegalArgumentException("listener addresses cannot change by reload");
        }).start()) {
      r.reload();
      assertThat(r.refused()).isEqualTo(1);
      assertThat(r.applied()).isZero();
    }
  }

  @Test
  void sighupReloads() throws Exception {
    Path file = Files.writeString(tmp.resolve("sluice.yaml"), proxyTo("http://127.0.0.1:9001"));
    try (ConfigReloader r = reloader(file).start()) {
      Assumptions.assumeTrue(r.reloadsOnHangup(), "no SIGHUP on this platform");
      sun.misc.Signal.raise(new sun.misc.Signal("HUP"));
      Await.until("the reload after SIGHUP", DEADLINE, () -> r.applied() == 1);
      assertThat(upstreamOf(applied.get(0))).isEqualTo("http://127.0.0.1:9001");
    }
  }
}
