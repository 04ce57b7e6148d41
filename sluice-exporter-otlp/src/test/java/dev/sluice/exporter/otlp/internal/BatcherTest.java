package dev.sluice.exporter.otlp.internal;

import static dev.sluice.exporter.otlp.testdata.TestData.flatKeys;
import static dev.sluice.exporter.otlp.testdata.TestData.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.otlp.Signal;
import dev.sluice.pipeline.TelemetryBatch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class BatcherTest {

  @Test
  void flushesWhenEnoughItemsArePending() {
    Batcher b = new Batcher(10, 1 << 20, 1 << 20);
    List<TelemetryBatch> all = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      TelemetryBatch batch = TestData.batch(Signal.LOGS, TestData.logs(1, 1, 3, 0));
      all.add(batch);
      assertThat(b.add(batch, new CompletableFuture<>())).isEmpty();
    }
    TelemetryBatch last = TestData.batch(Signal.LOGS, TestData.logs(1, 1, 3, 0));
    List<Batcher.Pending> out = b.add(last, new CompletableFuture<>());
    assertThat(out).hasSize(1);
    assertThat(out.get(0).items()).isEqualTo(12);
    assertThat(out.get(0).size()).isEqualTo(4);
    assertThat(b.isEmpty()).isTrue();
    out.get(0).release();
    all.add(last);
    assertThat(all).allSatisfy(x -> assertThat(x.refCnt()).isZero());
  }

  @Test
  void flushesWhenEnoughBytesArePending() {
    Message m = TestData.logs(1, 1, 5, 100);
    int size = m.getSerializedSize();
    Batcher b = new Batcher(1_000_000, size * 2L + 1, 1 << 20);
    assertThat(b.add(TestData.batch(Signal.LOGS, m), new CompletableFuture<>())).isEmpty();
    assertThat(b.add(TestData.batch(Signal.LOGS, m), new CompletableFuture<>())).isEmpty();
    assertThat(b.bytes()).isEqualTo(size * 2L);
    List<Batcher.Pending> out = b.add(TestData.batch(Signal.LOGS, m), new CompletableFuture<>());
    assertThat(out).hasSize(1);
    assertThat(out.get(0).bytes()).isEqualTo(size * 3L);
    out.get(0).release();
  }

  @Test
  void theMergeIsTheConcatenationAndHoldsEveryItemInOrder() {
    Batcher b = new Batcher(1_000_000, 1 << 20, 1 << 20);
    List<String> expected = new ArrayList<>();
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      Message m = TestData.traces(1 + i % 2, 1, 2 + i, 2, i);
      expected.addAll(flatKeys(m));
      CompletableFuture<Void> f = new CompletableFuture<>();
      futures.add(f);
      b.add(TestData.batch(Signal.TRACES, m), f);
    }
    long generation = b.generation();
    Batcher.Pending p = b.drain();
    assertThat(b.generation()).isNotEqualTo(generation);
    assertThat(b.drain()).isNull();
    assertThat(p.futures()).containsExactlyElementsOf(futures);
    byte[] merged = p.merge();
    assertThat(merged.length).isEqualTo(p.bytes());
    assertThat(flatKeys(parse(Signal.TRACES, merged))).isEqualTo(expected);
  }

  @Test
  void mergeBuffersIsTheConcatenationWithoutCopyingAndHoldsThePayloadsUntilReleased() {
    Batcher b = new Batcher(1_000_000, 1 << 20, 1 << 20);
    List<String> expected = new ArrayList<>();
    List<TelemetryBatch> batches = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      Message m = TestData.traces(1, 1 + i % 2, 3, 2, i);
      expected.addAll(flatKeys(m));
      TelemetryBatch batch = TestData.batch(Signal.TRACES, m);
      batches.add(batch);
      b.add(batch, new CompletableFuture<>());
    }
    Batcher.Pending p = b.drain();
    ByteBuf merged = p.mergeBuffers(ByteBufAllocator.DEFAULT);
    try {
      assertThat(batches).allSatisfy(x -> assertThat(x.refCnt()).isZero());
      assertThat(batches).allSatisfy(x -> assertThat(x.payload().refCnt()).isOne());
      assertThat(merged).isInstanceOf(CompositeByteBuf.class);
      assertThat(((CompositeByteBuf) merged).numComponents()).isEqualTo(4);
      assertThat(merged.readableBytes()).isEqualTo(p.bytes());
      // the payloads' own memory: a change to one shows in the merge
      int at = batches.get(0).bytes() + 1;
      byte before = merged.getByte(at);
      batches.get(1).payload().setByte(batches.get(1).payload().readerIndex() + 1, before + 1);
      assertThat(merged.getByte(at)).isEqualTo((byte) (before + 1));
      batches.get(1).payload().setByte(batches.get(1).payload().readerIndex() + 1, before);
      assertThat(flatKeys(parse(Signal.TRACES, ByteBufUtil.getBytes(merged))))
          .isEqualTo(expected);
    } finally {
      merged.release();
    }
    assertThat(batches).allSatisfy(x -> assertThat(x.payload().refCnt()).isZero());
  }

  @Test
  void mergeBuffersOfOneBatchIsItsPayload() {
    Message m = TestData.logs(1, 1, 3, 5);
    TelemetryBatch batch = TestData.batch(Signal.LOGS, m);
    Batcher.Pending p = Batcher.Pending.of(batch, new CompletableFuture<>());
    ByteBuf merged = p.mergeBuffers(ByteBufAllocator.DEFAULT);
    assertThat(batch.refCnt()).isZero();
    assertThat(ByteBufUtil.getBytes(merged)).isEqualTo(m.toByteArray());
    merged.release();
    assertThat(batch.payload().refCnt()).isZero();
  }

  @Test
  void aBatchThatWouldOverflowTheRequestLimitSendsThePendingOnesFirst() {
    Message small = TestData.logs(1, 1, 2, 10);
    Message big = TestData.logs(1, 1, 20, 50);
    long max = big.getSerializedSize() + small.getSerializedSize() - 1;
    Batcher b = new Batcher(1_000_000, Long.MAX_VALUE, max);
    assertThat(b.add(TestData.batch(Signal.LOGS, small), new CompletableFuture<>())).isEmpty();
    List<Batcher.Pending> out = b.add(TestData.batch(Signal.LOGS, big), new CompletableFuture<>());
    // the small one leaves alone; the big one, not reaching the limit alone, waits
    assertThat(out).hasSize(1);
    assertThat(out.get(0).items()).isEqualTo(2);
    assertThat(b.bytes()).isEqualTo(big.getSerializedSize());
    out.get(0).release();
    b.drain().release();
  }

  @Test
  void aBatchOverTheRequestLimitLeavesAtOnceAfterThePendingOnes() {
    Message small = TestData.logs(1, 1, 2, 10);
    Message huge = TestData.logs(1, 1, 50, 100);
    Batcher b = new Batcher(1_000_000, Long.MAX_VALUE, huge.getSerializedSize() - 10);
    b.add(TestData.batch(Signal.LOGS, small), new CompletableFuture<>());
    List<Batcher.Pending> out = b.add(TestData.batch(Signal.LOGS, huge), new CompletableFuture<>());
    assertThat(out).hasSize(2);
    assertThat(out.get(0).items()).isEqualTo(2);
    assertThat(out.get(1).items()).isEqualTo(50);
    assertThat(b.isEmpty()).isTrue();
    out.forEach(Batcher.Pending::release);
  }
}
