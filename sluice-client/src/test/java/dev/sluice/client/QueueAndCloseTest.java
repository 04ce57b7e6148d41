package dev.sluice.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.otlp.Signal;
import dev.sluice.testing.Await;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The bounded queue refuses without blocking; close sends what is held, within its deadline. */
class QueueAndCloseTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private Backend backend() throws Exception {
    Backend b = new Backend();
    closeables.add(b);
    return b;
  }

  private SluiceOtlpClient client(SluiceOtlpClient.Builder b) {
    SluiceOtlpClient c = b.build();
    closeables.add(c);
    return c;
  }

  @Test
  void aFullRequestQueueRefusesAtOnceAndTakesMoreOnceAnswered() throws Exception {
    Backend backend = backend().hold();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO).maxQueuedRequests(2));
    CompletableFuture<Void> first = client.export(Requests.traces("q1", 1));
    CompletableFuture<Void> second = client.export(Requests.traces("q2", 1));
    Await.until("both requests at the backend", Duration.ofSeconds(10),
        () -> backend.received().size() == 2);

    CompletableFuture<Void> third = client.export(Requests.traces("q3", 1));

    // refused in the call itself: the caller never waits on the backend that holds the answers
    assertThat(third).isCompletedExceptionally();
    assertThat(ClientExportTest.failure(third)).isInstanceOf(QueueFullException.class)
        .hasMessageContaining("2 exports");
    assertThat(first).isNotDone();
    assertThat(second).isNotDone();
    assertThat(client.queuedRequests()).isEqualTo(2);
    assertThat(client.rejectedExports()).isEqualTo(1);

    backend.release();
    first.get(10, TimeUnit.SECONDS);
    second.get(10, TimeUnit.SECONDS);
    assertThat(client.queuedRequests()).isZero();
    client.export(Requests.traces("q4", 1)).get(10, TimeUnit.SECONDS);
    assertThat(backend.messages()).containsExactlyInAnyOrder(Requests.traces("q1", 1),
        Requests.traces("q2", 1), Requests.traces("q4", 1));
  }

  @Test
  void aFullByteQueueRefusesWhatWouldPassTheLimit() throws Exception {
    Backend backend = backend().hold();
    byte[] request = Requests.logs("bytes", 10).toByteArray();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO).maxQueuedBytes(request.length * 2L + request.length / 2));
    CompletableFuture<Void> a = client.export(Signal.LOGS, request, 10);
    CompletableFuture<Void> b = client.export(Signal.LOGS, request, 10);
    assertThat(client.queuedBytes()).isEqualTo(2L * request.length);

    CompletableFuture<Void> c = client.export(Signal.LOGS, request, 10);

    assertThat(c).isCompletedExceptionally();
    assertThat(ClientExportTest.failure(c)).isInstanceOf(QueueFullException.class)
        .hasMessageContaining("max_queued_bytes");
    assertThat(client.queuedBytes()).isEqualTo(2L * request.length);
    backend.release();
    a.get(10, TimeUnit.SECONDS);
    b.get(10, TimeUnit.SECONDS);
    assertThat(client.queuedBytes()).isZero();
  }

  @Test
  void oneExportLargerThanTheByteLimitGoesWhenNothingElseIsQueued() throws Exception {
    Backend backend = backend();
    byte[] request = Requests.logs("big", 50).toByteArray();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO).maxQueuedBytes(100));

    client.export(Signal.LOGS, request, 50).get(10, TimeUnit.SECONDS);

    assertThat(backend.received()).singleElement()
        .satisfies(r -> assertThat(r.body()).isEqualTo(request));
  }

  @Test
  void aBufferHandedOverIsReleasedWhenRefusedAndWhenDelivered() throws Exception {
    Backend backend = backend().hold();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO).maxQueuedRequests(1));
    byte[] request = Requests.traces("buf", 2).toByteArray();
    ByteBuf held = Unpooled.copiedBuffer(request);
    ByteBuf refused = Unpooled.copiedBuffer(request);

    CompletableFuture<Void> accepted = client.export(Signal.TRACES, held, 2);
    CompletableFuture<Void> full = client.export(Signal.TRACES, refused, 2);

    assertThat(full).isCompletedExceptionally();
    assertThat(refused.refCnt()).isZero();
    backend.release();
    accepted.get(10, TimeUnit.SECONDS);
    assertThat(held.refCnt()).isZero();
    client.close();
    ByteBuf late = Unpooled.copiedBuffer(request);
    assertThat(client.export(Signal.TRACES, late, 2)).isCompletedExceptionally();
    assertThat(late.refCnt()).isZero();
    assertThat(backend.received()).singleElement()
        .satisfies(r -> assertThat(r.body()).isEqualTo(request));
  }

  @Test
  void closeSendsWhatIsBatchedAndThenRefusesExports() throws Exception {
    Backend backend = backend();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ofMinutes(5)));
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      futures.add(client.export(Requests.logs("c" + i, 1)));
    }
    assertThat(futures).allSatisfy(f -> assertThat(f).isNotDone()); // held for 5 minutes

    client.close();

    for (CompletableFuture<Void> f : futures) {
      assertThat(f).isCompleted(); // close returned after they were delivered
      assertThat(f).isNotCompletedExceptionally();
    }
    assertThat(backend.received()).hasSize(1); // the three, merged
    assertThat(backend.received().get(0).message())
        .extracting(m -> ((io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest) m)
            .getResourceLogsCount())
        .isEqualTo(3);
    assertThat(client.isClosed()).isTrue();
    CompletableFuture<Void> late = client.export(Requests.logs("late", 1));
    assertThat(late).isCompletedExceptionally();
    assertThat(ClientExportTest.failure(late)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }

  @Test
  void closeGivesUpOnWhatTheBackendHoldsAfterItsDeadline() throws Exception {
    Backend backend = backend().hold();
    SluiceOtlpClient client = client(SluiceOtlpClient.builder().endpoint(backend.url())
        .batchTimeout(Duration.ZERO).closeTimeout(Duration.ofMillis(300)));
    CompletableFuture<Void> f = client.export(Requests.traces("stuck", 1));
    Await.until("the request at the backend", Duration.ofSeconds(10),
        () -> backend.received().size() == 1);
    long start = System.nanoTime();

    client.close();

    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(tookMillis).isBetween(250L, 4_000L);
    assertThat(ClientExportTest.failure(f)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed before this export was delivered");
    assertThat(client.queuedRequests()).isZero();
  }
}
