package dev.sluice.kafka.bridge;

import dev.sluice.otlp.Signal;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * A bridge in a JVM of its own, for {@link TransactionalBridgeCrashTest}, which kills it: {@code
 * java -cp ... dev.sluice.kafka.bridge.BridgeChild key=value...} with {@code bootstrap}, {@code
 * group}, {@code instance}, {@code in}, {@code out} and optionally {@code maxRecords} and {@code
 * maxTransactionMillis}. Re-keys traces from {@code in} to {@code out} until it is killed, or
 * closes the bridge on SIGTERM. Exits 0 after a close, 1 when the bridge failed, 2 on bad
 * arguments.
 */
public final class BridgeChild {
  private BridgeChild() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (String arg : args) {
      int eq = arg.indexOf('=');
      if (eq <= 0) {
        System.err.println("expected key=value, got " + arg);
        System.exit(2);
      }
      a.put(arg.substring(0, eq), arg.substring(eq + 1));
    }
    TransactionalBridge bridge = TransactionalBridge.builder().name("child")
        .bootstrapServers(a.get("bootstrap"))
        .groupId(a.get("group"))
        .instanceId(a.get("instance"))
        .signals(Signal.TRACES)
        .inputTopic(Signal.TRACES, a.get("in"))
        .outputTopic(Signal.TRACES, a.get("out"))
        .transform(BridgeTransform.rekey())
        .maxRecordsPerTransaction(Integer.parseInt(a.getOrDefault("maxRecords", "100")))
        .maxTransactionTime(Duration.ofMillis(
            Long.parseLong(a.getOrDefault("maxTransactionMillis", "100"))))
        .retryBackoff(Duration.ofMillis(50))
        .closeTimeout(Duration.ofSeconds(5))
        .build();
    Runtime.getRuntime().addShutdownHook(new Thread(bridge::close, "child-shutdown"));
    bridge.start();
    System.out.println("CHILD STARTED " + bridge.transactionalId());
    try {
      bridge.termination().join();
      System.out.println("CHILD CLOSED after " + bridge.recordsIn() + " records");
    } catch (RuntimeException e) {
      System.out.println("CHILD FAILED: " + bridge.failure());
      System.exit(1);
    }
  }
}
