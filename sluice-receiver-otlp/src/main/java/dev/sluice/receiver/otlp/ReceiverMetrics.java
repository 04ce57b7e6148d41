package dev.sluice.receiver.otlp;

import dev.sluice.otlp.Signal;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;

/**
 * The receiver's meters: requests, items and bytes by signal, encoding, compression and status;
 * refused requests and items by reason; request latency with P50/P95/P99; open connections.
 *
 * <p>Meters are looked up once per combination of labels and then kept, so a request costs a few
 * counter increments and no registry look-up.
 */
final class ReceiverMetrics {
  private final MeterRegistry registry;
  private final ConcurrentHashMap<String, Outcome> outcomes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> refused = new ConcurrentHashMap<>();
  private final Timer[] latency = new Timer[Signal.values().length];
  private final Timer[] quantiles = new Timer[Signal.values().length];

  /** The meters of one outcome: a signal, encoding, compression and status code together. */
  static final class Outcome {
    final Counter requests;
    final Counter items;
    final Counter bytes;

    Outcome(Counter requests, Counter items, Counter bytes) {
      this.requests = requests;
      this.items = items;
      this.bytes = bytes;
    }
  }

  ReceiverMetrics(MeterRegistry registry) {
    this.registry = registry == null ? new SimpleMeterRegistry() : registry;
    for (Signal s : Signal.values()) {
      latency[s.ordinal()] =
          Timer.builder("sluice.receiver.request.duration")
              .description("Time from a request's last byte to its answer")
              .tag("signal", s.id())
              .publishPercentileHistogram()
              .minimumExpectedValue(Duration.ofNanos(50_000))
              .maximumExpectedValue(Duration.ofSeconds(30))
              .register(this.registry);
      // Prometheus takes either buckets or quantiles from one timer: the buckets above aggregate
      // across instances, these quantiles read directly as P50/P95/P99 of this instance.
      quantiles[s.ordinal()] =
          Timer.builder("sluice.receiver.request.latency")
              .description("Time from a request's head to its answer, as quantiles")
              .tag("signal", s.id())
              .publishPercentiles(0.5, 0.95, 0.99)
              .register(this.registry);
    }
  }

  <T> void gauge(String name, String description, T obj, ToDoubleFunction<T> f) {
    io.micrometer.core.instrument.Gauge.builder(name, obj, f)
        .description(description)
        .register(registry);
  }

  Outcome outcome(String signal, String encoding, String compression, int status) {
    String key = signal + '|' + encoding + '|' + compression + '|' + status;
    Outcome o = outcomes.get(key);
    if (o != null) {
      return o;
    }
    return outcomes.computeIfAbsent(
        key,
        k -> {
          String[] tags = {
            "signal", signal, "encoding", encoding, "compression", compression,
            "status", Integer.toString(status)
          };
          return new Outcome(
              Counter.builder("sluice.receiver.requests")
                  .description("Requests answered, by outcome")
                  .tags(tags)
                  .register(registry),
              Counter.builder("sluice.receiver.items")
                  .description("Items (spans, data points, log records) accepted, by outcome")
                  .tags(tags)
                  .register(registry),
              Counter.builder("sluice.receiver.bytes")
                  .description("Request body bytes as sent, by outcome")
                  .baseUnit("bytes")
                  .tags(tags)
                  .register(registry));
        });
  }

  void refusedItems(String signal, String reason, long items) {
    if (items <= 0) {
      return;
    }
    refused
        .computeIfAbsent(
            signal + '|' + reason,
            k ->
                Counter.builder("sluice.receiver.refused.items")
                    .description("Items refused, by reason")
                    .tags("signal", signal, "reason", reason)
                    .register(registry))
        .increment(items);
  }

  void refusedRequest(String signal, String reason) {
    refused
        .computeIfAbsent(
            "req|" + signal + '|' + reason,
            k ->
                Counter.builder("sluice.receiver.refused.requests")
                    .description("Requests refused as a whole, by reason")
                    .tags("signal", signal, "reason", reason)
                    .register(registry))
        .increment();
  }

  void latency(Signal s, long nanos) {
    latency[s.ordinal()].record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    quantiles[s.ordinal()].record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }
}
