package dev.sluice.app;

import dev.sluice.app.config.ConfigException;
import dev.sluice.app.config.SluiceConfig;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reloads a configuration file when it changes on disk or the process gets SIGHUP: the file is
 * loaded and checked in full, and only a valid one is handed on; a bad one is logged with every
 * problem and the running configuration stays.
 *
 * <p>Changes are noticed by watching the file's directory, so that editors that write a new file
 * and rename it over the old one, and Kubernetes' ConfigMap volumes that swap a symbolic link, are
 * seen too. Bursts of events are coalesced, and a file whose bytes did not change is not reloaded.
 */
public final class ConfigReloader implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConfigReloader.class);
  /** Editors write in steps: the file is read once the directory has been quiet this long. */
  private static final long QUIET_MILLIS = 300;

  private final Path file;
  private final Supplier<SluiceConfig> loader;
  private final Consumer<SluiceConfig> apply;
  private final Object lock = new Object();
  private final AtomicInteger applied = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();
  private byte[] lastDigest;
  private WatchService watcher;
  private Thread thread;
  private Object previousHupHandler;
  private volatile boolean hangupHandled;
  private volatile boolean closed;

  /**
   * @param file the configuration file
   * @param loader loads and checks it, throwing {@link ConfigException} with every problem
   * @param apply takes a new valid configuration; may throw {@link IllegalArgumentException} or
   *     {@link IllegalStateException} when it cannot apply it
   */
  public ConfigReloader(Path file, Supplier<SluiceConfig> loader, Consumer<SluiceConfig> apply) {
    this.file = Objects.requireNonNull(file, "file").toAbsolutePath();
    this.loader = Objects.requireNonNull(loader, "loader");
    this.apply = Objects.requireNonNull(apply, "apply");
  }

  /** Starts watching the file and, where the platform has it, listening for SIGHUP. */
  public ConfigReloader start() {
    synchronized (lock) {
      lastDigest = digest();
    }
    try {
      watcher = FileSystems.getDefault().newWatchService();
      Path dir = file.getParent();
      dir.register(watcher, StandardWatchEventKinds.ENTRY_CREATE,
          StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_DELETE);
      thread = new Thread(this::watch, "sluice-config-watch");
      thread.setDaemon(true);
      thread.start();
    } catch (IOException | UnsupportedOperationException e) {
      log.warn("cannot watch {} for changes ({}); reload with SIGHUP", file, e.toString());
    }
    installHangupHandler();
    return this;
  }

  /** Whether SIGHUP reloads (false where the platform has no such signal). */
  public boolean reloadsOnHangup() {
    return hangupHandled;
  }

  /** Reloads now, whether or not the file changed. */
  public void reload() {
    synchronized (lock) {
      lastDigest = digest();
      load();
    }
  }

  /** Configurations applied since the start. */
  public int applied() {
    return applied.get();
  }

  /** New configurations refused (invalid, or not applicable) since the start. */
  public int refused() {
    return refused.get();
  }

  private void reloadIfChanged() {
    synchronized (lock) {
      byte[] d = digest();
      if (d == null || Arrays.equals(d, lastDigest)) {
        return; // gone for a moment (replaced), or touched without a change
      }
      lastDigest = d;
      load();
    }
  }

  private void load() {
    if (closed) {
      return;
    }
    SluiceConfig next;
    try {
      next = loader.get();
    } catch (ConfigException e) {
      refused.incrementAndGet();
      log.error("{} not reloaded, the running configuration stays: {}", file, e.getMessage());
      return;
    }
    try {
      apply.accept(next);
    } catch (IllegalArgumentException | IllegalStateException e) {
      refused.incrementAndGet();
      log.error("{} not reloaded, the running configuration stays: {}", file, e.getMessage());
      return;
    }
    applied.incrementAndGet();
    log.info("{} reloaded", file);
  }

  private void watch() {
    try {
      while (!closed) {
        WatchKey key = watcher.take();
        key.pollEvents();
        key.reset();
        // Coalesce a burst (truncate, write, rename) into one reload.
        WatchKey more;
        while ((more = watcher.poll(QUIET_MILLIS, TimeUnit.MILLISECONDS)) != null) {
          more.pollEvents();
          more.reset();
        }
        reloadIfChanged();
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      // closing
    } catch (RuntimeException e) {
      log.error("watching {} failed; reload with SIGHUP", file, e);
    }
  }

  private byte[] digest() {
    try {
      return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
    } catch (IOException e) {
      return null;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private void installHangupHandler() {
    try {
      sun.misc.Signal hup = new sun.misc.Signal("HUP");
      previousHupHandler = sun.misc.Signal.handle(hup, signal -> {
        // The signal's thread only hands over: loading may take a while.
        Thread t = new Thread(() -> {
          log.info("SIGHUP: reloading {}", file);
          reload();
        }, "sluice-config-reload");
        t.setDaemon(true);
        t.start();
      });
      hangupHandled = true;
    } catch (IllegalArgumentException | UnsupportedOperationException | LinkageError e) {
      log.debug("no SIGHUP on this platform: {}", e.toString());
    }
  }

  @Override
  public void close() {
    closed = true;
    if (hangupHandled && previousHupHandler instanceof sun.misc.SignalHandler previous) {
      try {
        sun.misc.Signal.handle(new sun.misc.Signal("HUP"), previous);
      } catch (IllegalArgumentException e) {
        // it was ours to restore; nothing more to do
      }
    }
    if (watcher != null) {
      try {
        watcher.close();
      } catch (IOException e) {
        log.debug("closing the watch of {}: {}", file, e.toString());
      }
    }
    if (thread != null) {
      thread.interrupt();
    }
  }
}
