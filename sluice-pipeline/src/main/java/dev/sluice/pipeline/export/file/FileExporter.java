package dev.sluice.pipeline.export.file;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes every batch as one line of OTLP/JSON to {@code <directory>/<signal>/<signal>.jsonl},
 * rotating the files by size the way the OpenTelemetry Collector's file exporter does.
 *
 * <p>Each signal has a writer thread of its own, so traces never wait behind logs. {@link #export}
 * only queues the batch; the writer takes everything queued, writes it through a buffer, flushes
 * once and then completes the futures of the whole group. A completed future means the line was
 * handed to the operating system, not that it was forced to disk: there is no fsync, because
 * durability across a power loss is the job of the write-ahead queue that comes in front of the
 * exporters, and an fsync per group would cap the throughput of the embedded default.
 *
 * <p>When the file would grow past {@code maxBytes} with the next line, it is renamed to {@code
 * <signal>-<yyyyMMdd'T'HHmmss.SSS'Z'>.jsonl} (UTC, with a counter if the name is taken) and a fresh
 * {@code <signal>.jsonl} is started; the oldest of these backups beyond {@code maxBackups} are
 * deleted. A line is never split across files, and a single line longer than {@code maxBytes}
 * gets a file of its own.
 *
 * <p>A write that fails (disk full, directory gone) fails the batches it concerns with an {@link
 * IOException} naming the file; the writer reopens the file for the next batch. The futures are
 * completed on the writer threads, so what callers chain on them must be quick.
 */
public final class FileExporter implements Exporter {
  private static final Logger LOG = LoggerFactory.getLogger(FileExporter.class);
  private static final long CLOSE_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30);

  private enum State { NEW, RUNNING, CLOSED }

  private final String name;
  private final Path directory;
  private final long maxBytes;
  private final int maxBackups;
  private final Map<Signal, SignalWriter> writers = new EnumMap<>(Signal.class);
  private volatile State state = State.NEW;

  private FileExporter(Builder b) {
    this.name = b.name;
    this.directory = b.directory;
    this.maxBytes = b.maxBytes;
    this.maxBackups = b.maxBackups;
    for (Signal signal : Signal.values()) {
      writers.put(signal, new SignalWriter(name, signal, directory.resolve(signal.id()), maxBytes,
          maxBackups, b.clock, b.registry));
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String name() {
    return name;
  }

  public Path directory() {
    return directory;
  }

  public long maxBytes() {
    return maxBytes;
  }

  public int maxBackups() {
    return maxBackups;
  }

  /** The file that lines of {@code signal} are appended to now. */
  public Path file(Signal signal) {
    return writers.get(signal).path();
  }

  /**
   * Creates the directories and starts the writer threads.
   *
   * @throws IllegalStateException if a directory cannot be created or written, or when called twice
   */
  @Override
  public synchronized void start() {
    if (state != State.NEW) {
      throw new IllegalStateException("the file exporter '" + name + "' was already started");
    }
    for (Signal signal : Signal.values()) {
      Path dir = directory.resolve(signal.id());
      try {
        Files.createDirectories(dir);
      } catch (IOException | RuntimeException e) {
        throw new IllegalStateException("the file exporter '" + name
            + "' cannot create the directory " + dir + ": " + e, e);
      }
      if (!Files.isWritable(dir)) {
        throw new IllegalStateException(
            "the file exporter '" + name + "' cannot write to the directory " + dir);
      }
    }
    writers.values().forEach(SignalWriter::start);
    state = State.RUNNING;
    LOG.info("[{}] writing OTLP/JSON lines under {} (rotating at {} bytes, keeping {} old files)",
        name, directory, maxBytes, maxBackups == 0 ? "all" : maxBackups);
  }

  /**
   * Queues the batch for its signal's writer and returns at once; the future completes when the line
   * is flushed to the OS. Takes ownership of the reference.
   */
  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    Objects.requireNonNull(batch, "batch");
    State s = state;
    if (s != State.RUNNING) {
      batch.release();
      return CompletableFuture.failedFuture(s == State.CLOSED
          ? closedException()
          : new IllegalStateException("the file exporter '" + name + "' has not been started"));
    }
    return writers.get(batch.signal()).submit(batch);
  }

  /**
   * Writes and flushes what was queued, closes the files and stops the threads, waiting at most 30
   * seconds; idempotent.
   */
  @Override
  public synchronized void close() {
    State before = state;
    state = State.CLOSED;
    if (before != State.RUNNING) {
      return; // closed already, or never started: no thread, and export() refused everything
    }
    writers.values().forEach(SignalWriter::stop);
    long deadline = System.nanoTime() + CLOSE_TIMEOUT_NANOS;
    boolean interrupted = false;
    for (SignalWriter w : writers.values()) {
      try {
        if (!w.join(deadline)) {
          LOG.warn("[{}] the writer of {} did not finish within 30 s; stopping it", name, w.path());
          w.interrupt();
        }
      } catch (InterruptedException e) {
        interrupted = true;
        w.interrupt();
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  static PipelineFullException closedException() {
    return new PipelineFullException("the file exporter is closed", 5);
  }

  @Override
  public String toString() {
    return "FileExporter[" + name + ", " + directory + "]";
  }

  /** Settings of a {@link FileExporter}, each checked when it is set. */
  public static final class Builder {
    private String name = "file";
    private Path directory;
    private long maxBytes = 100L * 1024 * 1024;
    private int maxBackups = 100;
    private MeterRegistry registry;
    private Clock clock = Clock.systemUTC();

    private Builder() {}

    /** The exporter's name in logs and metrics; default {@code file}. */
    public Builder name(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank");
      }
      this.name = name;
      return this;
    }

    /** Where the {@code traces}, {@code metrics} and {@code logs} directories go; required. */
    public Builder directory(Path directory) {
      this.directory = Objects.requireNonNull(directory, "directory");
      return this;
    }

    /** The size at which a file is rotated, like {@code rotation.max_megabytes}; default 100 MiB. */
    public Builder maxBytes(long maxBytes) {
      if (maxBytes <= 0) {
        throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
      }
      this.maxBytes = maxBytes;
      return this;
    }

    /**
     * How many rotated files to keep per signal, like {@code rotation.max_backups}; 0 keeps all;
     * default 100.
     */
    public Builder maxBackups(int maxBackups) {
      if (maxBackups < 0) {
        throw new IllegalArgumentException("maxBackups must not be negative: " + maxBackups);
      }
      this.maxBackups = maxBackups;
      return this;
    }

    /**
     * Where to count {@code sluice.exporter.items}, {@code sluice.exporter.bytes} (protobuf payload
     * bytes) and {@code sluice.exporter.errors} (failed batches), tagged with exporter and signal;
     * default and {@code null}: not counted.
     */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** The clock that names rotated files; for tests. */
    Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    public FileExporter build() {
      if (directory == null) {
        throw new IllegalStateException("directory is required");
      }
      return new FileExporter(this);
    }
  }
}
