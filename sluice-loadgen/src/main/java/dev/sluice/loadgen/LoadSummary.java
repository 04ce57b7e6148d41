package dev.sluice.loadgen;

import dev.sluice.otlp.Signal;
import java.net.URI;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;

/**
 * The outcome of a run of {@link LoadGenerator}.
 *
 * @param requestsSent distinct requests sent (retries are not counted again)
 * @param requestsSucceeded requests answered 2xx
 * @param requestsFailed requests that failed for good, after their retries
 * @param itemsAccepted items the server took: those of 2xx answers minus their rejections
 * @param itemsRejected items refused in {@code partial_success} of 2xx answers
 * @param failures failed requests by reason: {@code HTTP 400}, {@code timeout}, {@code connection
 *     error}, {@code interrupted}; sorted by reason
 * @param retried retries (a request retried twice counts 2)
 * @param attempts requests written or tried, retries included
 * @param bytesSent request bodies as sent (compressed when gzip), retries included
 * @param elapsed from the first request to the last answer
 * @param answers answers the latencies were measured on (every attempt that got an answer)
 * @param firstProblem what went wrong first, in words, or null
 * @param abortReason why the run stopped before its end, or null
 */
public record LoadSummary(Signal signal, URI endpoint, int itemsPerRequest, long requestsSent,
    long requestsSucceeded, long requestsFailed, long itemsAccepted, long itemsRejected,
    Map<String, Long> failures, long retried, long attempts, long bytesSent, Duration elapsed,
    long answers, long p50Nanos, long p95Nanos, long p99Nanos, long maxNanos,
    String firstProblem, String abortReason) {

  public LoadSummary {
    failures = Map.copyOf(failures);
  }

  /** Items in the requests sent. */
  public long itemsSent() {
    return requestsSent * itemsPerRequest;
  }

  /** True when every request was sent, answered 2xx and had nothing rejected. */
  public boolean allAccepted() {
    return abortReason == null && requestsSent > 0 && requestsFailed == 0 && itemsRejected == 0
        && requestsSucceeded == requestsSent;
  }

  /** {@code sluice send}'s exit status: 0 when {@link #allAccepted()}, 1 otherwise. */
  public int exitCode() {
    return allAccepted() ? 0 : 1;
  }

  public double requestsPerSecond() {
    return perSecond(requestsSent);
  }

  public double itemsAcceptedPerSecond() {
    return perSecond(itemsAccepted);
  }

  /** Megabytes (10^6 bytes) of request bodies per second, as sent. */
  public double megabytesPerSecond() {
    return perSecond(bytesSent) / 1e6;
  }

  private double perSecond(long n) {
    double s = elapsed.toNanos() / 1e9;
    return s > 0 ? n / s : 0;
  }

  /** The summary for people, several lines, each ending with a line break. */
  public String format() {
    String noun = signal.itemNoun();
    StringBuilder sb = new StringBuilder();
    line(sb, "sent", String.format(Locale.ROOT, "%,d requests, %,d %s (%s) in %s", requestsSent,
        itemsSent(), noun, megabytes(bytesSent), Durations.format(elapsed)));
    line(sb, "accepted", String.format(Locale.ROOT, "%,d %s", itemsAccepted, noun));
    line(sb, "rejected", String.format(Locale.ROOT, "%,d %s", itemsRejected, noun));
    String failed = String.format(Locale.ROOT, "%,d requests", requestsFailed);
    if (!failures.isEmpty()) {
      StringJoiner j = new StringJoiner(", ", ": ", "");
      failures.entrySet().stream().sorted(Map.Entry.comparingByKey())
          .forEach(e -> j.add(String.format(Locale.ROOT, "%s x%,d", e.getKey(), e.getValue())));
      failed += j;
    }
    line(sb, "failed", failed);
    line(sb, "retried", String.format(Locale.ROOT, "%,d times", retried));
    line(sb, "throughput", String.format(Locale.ROOT, "%,.1f requests/s, %,.0f %s accepted/s, "
        + "%.2f MB/s", requestsPerSecond(), itemsAcceptedPerSecond(), noun, megabytesPerSecond()));
    if (answers > 0) {
      line(sb, "latency", String.format(Locale.ROOT, "p50 %s, p95 %s, p99 %s, max %s (%,d answers)",
          millis(p50Nanos), millis(p95Nanos), millis(p99Nanos), millis(maxNanos), answers));
    } else {
      line(sb, "latency", "no answers");
    }
    if (firstProblem != null) {
      line(sb, "first problem", firstProblem);
    }
    if (abortReason != null) {
      line(sb, "stopped early", abortReason);
    }
    line(sb, "result", allAccepted() ? "everything was accepted" : "NOT everything was accepted");
    return sb.toString();
  }

  private static void line(StringBuilder sb, String label, String text) {
    sb.append(String.format(Locale.ROOT, "%-14s", label)).append(text).append('\n');
  }

  static String millis(long nanos) {
    double ms = nanos / 1e6;
    return ms < 10 ? String.format(Locale.ROOT, "%.2f ms", ms)
        : ms < 1000 ? String.format(Locale.ROOT, "%.1f ms", ms)
        : String.format(Locale.ROOT, "%.2f s", ms / 1000);
  }

  static String megabytes(long bytes) {
    return bytes < 1_000_000 ? String.format(Locale.ROOT, "%.1f kB", bytes / 1e3)
        : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
  }
}
