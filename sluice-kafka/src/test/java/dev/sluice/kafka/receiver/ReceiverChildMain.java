package dev.sluice.kafka.receiver;

import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.DurablePipeline;
import dev.sluice.pipeline.Exporter;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.pipeline.TelemetrySink;
import dev.sluice.queue.DurableQueue;
import dev.sluice.queue.FsyncPolicy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A receiver in a JVM of its own, for {@code KafkaReceiverRestartTest} to kill with SIGKILL: reads
 * a logs topic into a durable pipeline whose queue lives in a directory the test opens afterwards.
 * Each submission is answered 5 ms late, so that the test can kill it mid-stream.
 *
 * <p>Arguments: bootstrap servers, topic, group, queue directory.
 */
public final class ReceiverChildMain {
  private ReceiverChildMain() {}

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    String group = args[2];
    Path queueDir = Path.of(args[3]);
    DurableQueue queue = DurableQueue.builder().directory(queueDir).fsync(FsyncPolicy.none())
        .maxBytes(64L << 20).segmentBytes(4L << 20).build();
    Exporter discard = new Exporter() {
      @Override
      public String name() {
        return "child";
      }

      @Override
      public CompletableFuture<Void> export(TelemetryBatch batch) {
        batch.release();
        return CompletableFuture.completedFuture(null);
      }

      @Override
      public void close() {}
    };
    DurablePipeline pipeline = DurablePipeline.builder().queue(queue)
        .exporters(List.of(discard)).build();
    pipeline.start();
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    TelemetrySink slow = new TelemetrySink() {
      @Override
      public CompletableFuture<Void> submit(TelemetryBatch batch) {
        CompletableFuture<Void> appended = pipeline.submit(batch);
        CompletableFuture<Void> late = new CompletableFuture<>();
        appended.whenComplete((v, e) -> timer.schedule(() -> {
          if (e == null) {
            late.complete(null);
          } else {
            late.completeExceptionally(e);
          }
        }, 5, TimeUnit.MILLISECONDS));
        return late;
      }

      @Override
      public boolean ready() {
        return pipeline.ready();
      }
    };
    KafkaReceiver receiver = KafkaReceiver.builder().name("child").bootstrapServers(bootstrap)
        .groupId(group).initialOffset(InitialOffset.EARLIEST).sink(slow).deadLetterTopic(null)
        .topics(Signal.TRACES, List.of()).topics(Signal.METRICS, List.of())
        .topic(Signal.LOGS, topic).maxConcurrentSubmitsPerPartition(1)
        .commitInterval(Duration.ofMillis(50)).pollTimeout(Duration.ofMillis(50))
        // The broker's smallest session timeout: the group notices the death within 6 s.
        .consumerProperty("session.timeout.ms", 6000)
        .consumerProperty("heartbeat.interval.ms", 500)
        .build();
    receiver.start();
    System.out.println("STARTED");
    System.out.flush();
    Thread.currentThread().join(); // until killed
  }
}
