package dev.sluice.proxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/**
 * The meters of one route and upstream pair, made once by {@link ProxyMetrics#route} and kept by
 * the caller so that recording a request does no lookup and builds no tags. Safe from any thread.
 */
public final class RouteMeters {
  private static final String[] STATUS_CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
  private static final int ERROR = 5;

  private final Counter[] requests = new Counter[STATUS_CLASSES.length];
  private final Timer duration;
  private final Timer latency;
  private final Counter retries;
  private final Counter rateLimited;
  private final Counter denied;
  private final Counter upstreamFailures;

  RouteMeters(MeterRegistry registry, String route, String upstream) {
    Tags tags = Tags.of("route", route, "upstream", upstream);
    for (int i = 0; i < STATUS_CLASSES.length; i++) {
      requests[i] = Counter.builder("sluice.proxy.requests")
          .description("Requests answered, by status class; error when no response was sent")
          .tags(tags).tag("status_class", STATUS_CLASSES[i])
          .register(registry);
    }
    duration = Timer.builder("sluice.proxy.request.duration")
        .description("From a request's arrival to the end of its response")
        .tags(tags)
        .publishPercentileHistogram()
        .register(registry);
    // Prometheus drops a timer's own quantiles when it has a histogram: they get a timer of their
    // own, so that P50/P95/P99 per route and upstream are there without histogram_quantile.
    latency = Timer.builder("sluice.proxy.request.latency")
        .description("P50, P95 and P99 of the time from a request's arrival to the end of its"
            + " response, over the last minute")
        .tags(tags)
        .publishPercentiles(0.5, 0.95, 0.99)
        .register(registry);
    retries = counter(registry, "sluice.proxy.retries", "Requests sent again to another endpoint",
        tags);
    rateLimited = counter(registry, "sluice.proxy.rate_limited",
        "Requests refused by a rate limit", tags);
    denied = counter(registry, "sluice.proxy.denied", "Requests refused by access control", tags);
    upstreamFailures = counter(registry, "sluice.proxy.upstream.failures",
        "Attempts that got no response or a 5xx from the endpoint", tags);
  }

  private static Counter counter(MeterRegistry registry, String name, String description,
      Tags tags) {
    return Counter.builder(name).description(description).tags(tags).register(registry);
  }

  /**
   * Counts a finished request by status class and records its duration.
   *
   * @param status the status sent to the client; 0 (or anything outside 100 to 599) counts as
   *     {@code error}: no response was sent
   */
  public void request(int status, long durationNanos) {
    int i = status >= 100 && status < 600 ? status / 100 - 1 : ERROR;
    requests[i].increment();
    duration.record(durationNanos, TimeUnit.NANOSECONDS);
    latency.record(durationNanos, TimeUnit.NANOSECONDS);
  }

  /** Removes every meter of this pair from {@code registry}. */
  void removeFrom(MeterRegistry registry) {
    for (Counter c : requests) {
      registry.remove(c);
    }
    for (io.micrometer.core.instrument.Meter m : new io.micrometer.core.instrument.Meter[] {
        duration, latency, retries, rateLimited, denied, upstreamFailures}) {
      registry.remove(m);
    }
  }

  /** Counts one retry: an attempt after the first. */
  public void retried() {
    retries.increment();
  }

  /** Counts a request refused by a rate limit. */
  public void rateLimited() {
    rateLimited.increment();
  }

  /** Counts a request refused by access control. */
  public void denied() {
    denied.increment();
  }

  /** Counts an attempt that got no response or a 5xx from the endpoint. */
  public void upstreamFailure() {
    upstreamFailures.increment();
  }
}
