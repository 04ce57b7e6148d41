package dev.sluice.proxy.engine;

import dev.sluice.http.upstream.UpstreamGroup;
import dev.sluice.proxy.settings.UpstreamSettings;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream group as the proxy runs it: the group, its settings, and the counts the retry
 * budget and Envoy's retry threshold are computed from (shared by every event loop).
 */
public final class UpstreamRuntime {
  final UpstreamSettings settings;
  final UpstreamGroup group;
  final AtomicInteger active = new AtomicInteger();
  final AtomicInteger activeRetries = new AtomicInteger();

  public UpstreamRuntime(UpstreamSettings settings, UpstreamGroup group) {
    this.settings = settings;
    this.group = group;
  }

  public UpstreamSettings settings() {
    return settings;
  }

  public UpstreamGroup group() {
    return group;
  }

  /**
   * Takes a retry slot when the budget allows one: retries in progress stay under {@code
   * budgetPercent} of the requests in progress (but {@code minRetries} are always allowed), and
   * under the group's {@code maxActiveRetries}.
   */
  boolean tryStartRetry(double budgetPercent, int minRetries) {
    int limit = Math.max(minRetries, (int) (active.get() * budgetPercent / 100.0));
    limit = Math.min(limit, settings.limits().maxActiveRetries());
    while (true) {
      int n = activeRetries.get();
      if (n >= limit) {
        return false;
      }
      if (activeRetries.compareAndSet(n, n + 1)) {
        return true;
      }
    }
  }

  void retryEnded() {
    activeRetries.decrementAndGet();
  }
}
