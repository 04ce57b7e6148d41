package dev.sluice.pipeline.export.debug;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs a line per batch to the logger {@code dev.sluice.exporter.debug}, sampled like the
 * OpenTelemetry Collector's debug exporter, and confirms every batch at once.
 *
 * <p>A line reads {@code traces: 100 spans, 40960 bytes, tenant -}; with {@link
 * Verbosity#DETAILED} the request follows on the next line as OTLP/JSON. In each second the first
 * {@code samplingInitial} batches are logged and after them every {@code samplingThereafter}-th.
 * Logging happens on the caller's thread, so keep it to debugging and sample when the traffic is
 * real.
 */
public final class DebugExporter implements Exporter {
  /** The logger's name, to turn the output on and off in the logging configuration. */
  public static final String LOGGER_NAME = "dev.sluice.exporter.debug";

  private static final Logger LOG = LoggerFactory.getLogger(LOGGER_NAME);
  private static final long SECOND_NANOS = 1_000_000_000L;

  /** How much is logged per batch, as the Collector's {@code verbosity} setting. */
  public enum Verbosity {
    /** Nothing. */
    NONE,
    /** One line: signal, items, bytes and tenant. */
    BASIC,
    /** The line, then the request as OTLP/JSON. */
    DETAILED;

    /** Reads {@code none}, {@code basic} or {@code detailed}, in any case. */
    public static Verbosity parse(String text) {
      Objects.requireNonNull(text, "verbosity");
      try {
        return valueOf(text.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "verbosity must be one of none, basic, detailed: '" + text + "'", e);
      }
    }
  }

  private final String name;
  private final Verbosity verbosity;
  private final long samplingInitial;
  private final long samplingThereafter;
  private final LongSupplier nanoTime;
  /** The second (of {@link #nanoTime}) that {@link #inSecond} counts in. */
  private final AtomicLong second = new AtomicLong(Long.MIN_VALUE);
  private final AtomicLong inSecond = new AtomicLong();
  private volatile boolean closed;

  private DebugExporter(Builder b) {
    this.name = b.name;
    this.verbosity = b.verbosity;
    this.samplingInitial = b.samplingInitial;
    this.samplingThereafter = b.samplingThereafter;
    this.nanoTime = b.nanoTime;
  }

  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String name() {
    return name;
  }

  public Verbosity verbosity() {
    return verbosity;
  }

  /** Logs the batch if sampling lets it through, releases it and returns a completed future. */
  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    Objects.requireNonNull(batch, "batch");
    try {
      if (closed) {
        return CompletableFuture.failedFuture(
            new PipelineFullException("the debug exporter is closed", 5));
      }
      if (verbosity != Verbosity.NONE && LOG.isInfoEnabled() && sampled()) {
        log(batch);
      }
      return CompletableFuture.completedFuture(null);
    } finally {
      batch.release();
    }
  }

  /**
   * Counts the batch in the current second and tells whether it is one to log. Without locks: two
   * threads crossing into a new second at once may each reset the count, or a count may land in
   * the second it left, which only makes the sample a little off at the edge of a second.
   */
  private boolean sampled() {
    long now = Math.floorDiv(nanoTime.getAsLong(), SECOND_NANOS);
    long was = second.get();
    if (was != now && second.compareAndSet(was, now)) {
      inSecond.set(0);
    }
    long n = inSecond.incrementAndGet();
    return n <= samplingInitial || (n - samplingInitial) % samplingThereafter == 0;
  }

  private void log(TelemetryBatch batch) {
    String tenant = batch.tenant().isEmpty() ? "-" : batch.tenant();
    if (verbosity == Verbosity.BASIC) {
      LOG.info("{}: {} {}, {} bytes, tenant {}", batch.signal().id(), batch.items(),
          batch.signal().itemNoun(), batch.bytes(), tenant);
      return;
    }
    String json;
    try {
      json = toJson(batch);
    } catch (InvalidProtocolBufferException | RuntimeException e) {
      // Receivers validate payloads, so this is a bug upstream; say so, but the debug output is no
      // reason to fail the batch for the other exporters.
      LOG.warn("{}: {} {}, {} bytes, tenant {}; the payload cannot be shown as OTLP/JSON: {}",
          batch.signal().id(), batch.items(), batch.signal().itemNoun(), batch.bytes(), tenant,
          e.toString());
      return;
    }
    LOG.info("{}: {} {}, {} bytes, tenant {}\n{}", batch.signal().id(), batch.items(),
        batch.signal().itemNoun(), batch.bytes(), tenant, json);
  }

  private static String toJson(TelemetryBatch batch) throws InvalidProtocolBufferException {
    ByteBuf payload = batch.payload();
    Message request;
    if (payload.hasArray()) {
      request = batch.signal().parseRequest(
          payload.array(), payload.arrayOffset() + payload.readerIndex(), payload.readableBytes());
    } else {
      byte[] copy = batch.payloadBytes();
      request = batch.signal().parseRequest(copy, 0, copy.length);
    }
    return new String(OtlpJsonCodec.toJsonBytes(request), StandardCharsets.UTF_8);
  }

  /** Stops taking batches; idempotent. */
  @Override
  public void close() {
    closed = true;
  }

  @Override
  public String toString() {
    return "DebugExporter[" + name + ", " + verbosity.name().toLowerCase(Locale.ROOT) + "]";
  }

  /** Settings of a {@link DebugExporter}, each checked when it is set. */
  public static final class Builder {
    private String name = "debug";
    private Verbosity verbosity = Verbosity.BASIC;
    private long samplingInitial = 2;
    private long samplingThereafter = 1;
    private LongSupplier nanoTime = System::nanoTime;

    private Builder() {}

    /** The exporter's name in logs; default {@code debug}. */
    public Builder name(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank");
      }
      this.name = name;
      return this;
    }

    /** How much to log per batch; default {@link Verbosity#BASIC}. */
    public Builder verbosity(Verbosity verbosity) {
      this.verbosity = Objects.requireNonNull(verbosity, "verbosity");
      return this;
    }

    /** How many batches are logged in each second before sampling starts; default 2. */
    public Builder samplingInitial(int samplingInitial) {
      if (samplingInitial < 0) {
        throw new IllegalArgumentException(
            "samplingInitial must not be negative: " + samplingInitial);
      }
      this.samplingInitial = samplingInitial;
      return this;
    }

    /** After the initial ones, every how many-th batch is logged; default 1, that is all. */
    public Builder samplingThereafter(int samplingThereafter) {
      if (samplingThereafter <= 0) {
        throw new IllegalArgumentException(
            "samplingThereafter must be positive: " + samplingThereafter);
      }
      this.samplingThereafter = samplingThereafter;
      return this;
    }

    /** The time source of the sampling seconds; for tests. */
    Builder nanoTime(LongSupplier nanoTime) {
      this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
      return this;
    }

    public DebugExporter build() {
      return new DebugExporter(this);
    }
  }
}
