package dev.sluice.kafka.bridge;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The bridge's meters, tagged {@code bridge} with its name:
 *
 * <ul>
 *   <li>{@code sluice.kafka.bridge.transactions} (tag {@code outcome}: {@code committed} or
 *       {@code aborted}): transactions ended;
 *   <li>{@code sluice.kafka.bridge.records.in}: input records whose offsets were committed;
 *   <li>{@code sluice.kafka.bridge.records.out}: output records of committed transactions;
 *   <li>{@code sluice.kafka.bridge.commit.latency}: {@code sendOffsetsToTransaction} plus {@code
 *       commitTransaction};
 *   <li>{@code sluice.kafka.bridge.producer.restarts}: transactional producers replaced after an
 *       error that left one unusable (not after fencing, which stops the bridge).
 * </ul>
 */
final class BridgeMetrics {
  // The counts themselves, readable whatever the registry (a registry may keep no-op meters).
  final AtomicLong committed = new AtomicLong();
  final AtomicLong aborted = new AtomicLong();
  final AtomicLong recordsIn = new AtomicLong();
  final AtomicLong recordsOut = new AtomicLong();
  final AtomicLong producerRestarts = new AtomicLong();
  final Timer commitLatency;

  BridgeMetrics(MeterRegistry registry, String bridge) {
    FunctionCounter.builder("sluice.kafka.bridge.transactions", committed, AtomicLong::get)
        .tag("bridge", bridge).tag("outcome", "committed").description("Transactions committed")
        .register(registry);
    FunctionCounter.builder("sluice.kafka.bridge.transactions", aborted, AtomicLong::get)
        .tag("bridge", bridge).tag("outcome", "aborted").description("Transactions aborted")
        .register(registry);
    FunctionCounter.builder("sluice.kafka.bridge.records.in", recordsIn, AtomicLong::get)
        .tag("bridge", bridge)
        .description("Input records whose offsets were committed in a transaction")
        .register(registry);
    FunctionCounter.builder("sluice.kafka.bridge.records.out", recordsOut, AtomicLong::get)
        .tag("bridge", bridge).description("Output records of committed transactions")
        .register(registry);
    FunctionCounter.builder("sluice.kafka.bridge.producer.restarts", producerRestarts,
        AtomicLong::get).tag("bridge", bridge)
        .description("Transactional producers replaced after an error left one unusable")
        .register(registry);
    commitLatency = Timer.builder("sluice.kafka.bridge.commit.latency").tag("bridge", bridge)
        .description("sendOffsetsToTransaction plus commitTransaction").register(registry);
  }
}
