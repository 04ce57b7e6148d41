package dev.sluice.exporter.otlp.internal;

import dev.sluice.otlp.Signal;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The exporter's meters, all tagged {@code exporter} and {@code signal}, and {@code endpoint}
 * (host:port, or {@code none} when no endpoint was chosen) where one is concerned. Meters are
 * looked up once and kept: they are updated on event loops.
 */
public final class ExporterMetrics {
  public static final String SENT = "sluice.exporter.sent.items";
  public static final String FAILED = "sluice.exporter.failed.items";
  public static final String RETRIES = "sluice.exporter.retries";
  public static final String DEAD_LETTERED = "sluice.exporter.dead_lettered.items";
  public static final String DURATION = "sluice.exporter.request.duration";
  public static final String PARTIAL_REJECTED = "sluice.exporter.partial_success.rejected.items";

  private final MeterRegistry registry;
  private final String exporter;
  private final ConcurrentHashMap<Key, Meter> meters = new ConcurrentHashMap<>();

  /** A meter's identity: its name and tag values; {@code endpoint} null for none. */
  private record Key(String name, Signal signal, String endpoint, String extra) {}

  public ExporterMetrics(MeterRegistry registry, String exporter) {
    this.registry = registry;
    this.exporter = exporter;
  }

  public MeterRegistry registry() {
    return registry;
  }

  private static String endpoint(String endpoint) {
    return endpoint == null ? "none" : endpoint;
  }

  private Tags tags(Signal signal, String endpoint) {
    return Tags.of("exporter", exporter, "signal", signal.id(), "endpoint", endpoint);
  }

  private Counter counter(String name, String description, Signal signal, String endpoint,
      String extraTag, String extra) {
    return (Counter) meters.computeIfAbsent(new Key(name, signal, endpoint, extra), k -> {
      Counter.Builder b = Counter.builder(name).description(description)
          .tags(endpoint == null ? Tags.of("exporter", exporter, "signal", signal.id())
              : tags(signal, endpoint));
      if (extraTag != null) {
        b.tag(extraTag, extra);
      }
      return b.register(registry);
    });
  }

  /** Items in requests the backend answered with 2xx. */
  public void sent(Signal signal, String endpoint, int items) {
    counter(SENT, "Items delivered to the backend (2xx answers)", signal, endpoint(endpoint),
        null, null).increment(items);
  }

  /**
   * Items not delivered: {@code reason} is {@code refused} (a permanent error answer), {@code
   * retries_exhausted}, {@code encoding} (the request could not be encoded) or {@code shutdown}.
   */
  public void failed(Signal signal, String endpoint, String reason, int items) {
    counter(FAILED, "Items that could not be delivered", signal, endpoint(endpoint), "reason",
        reason).increment(items);
  }

  public void retry(Signal signal, String endpoint) {
    counter(RETRIES, "Requests scheduled for another attempt", signal, endpoint(endpoint), null,
        null).increment();
  }

  public void deadLettered(Signal signal, int items) {
    counter(DEAD_LETTERED, "Items written to the dead-letter file", signal, null, null, null)
        .increment(items);
  }

  public void partialRejected(Signal signal, String endpoint, long items) {
    counter(PARTIAL_REJECTED, "Items the backend rejected in a partial_success answer", signal,
        endpoint(endpoint), null, null).increment(items);
  }

  /**
   * One request's duration; {@code outcome} is {@code success}, {@code retriable} or {@code
   * refused}.
   */
  public void duration(Signal signal, String endpoint, String outcome, long nanos) {
    String ep = endpoint(endpoint);
    Timer timer = (Timer) meters.computeIfAbsent(new Key(DURATION, signal, ep, outcome),
        k -> Timer.builder(DURATION).description("Time from sending a request to its answer")
            .tags(tags(signal, ep)).tag("outcome", outcome).publishPercentileHistogram()
            .register(registry));
    timer.record(nanos, TimeUnit.NANOSECONDS);
  }
}
