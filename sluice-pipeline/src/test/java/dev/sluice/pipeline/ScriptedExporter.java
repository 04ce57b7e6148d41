package dev.sluice.pipeline;

import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * An exporter for the durable pipeline tests that records every batch it is handed and answers as
 * its script says: confirm at once, fail the future, throw, or hold the future until the test
 * confirms it. Batches made with {@link #batch} carry a sequence number in their first four bytes,
 * so that what arrives can be matched with what was submitted.
 */
final class ScriptedExporter implements Exporter {
  /** What the exporter does with one call of {@link #export}. */
  enum Answer {
    CONFIRM,
    FAIL,
    THROW,
    HOLD
  }

  /** Decides the answer to the {@code call}-th export (from 0) of the batch numbered {@code seq}. */
  interface Script {
    Answer answer(int call, int seq);
  }

  /** One call of {@link #export}, as the exporter saw it. */
  record Call(int seq, Answer answer, long atNanos, Signal signal, int items, String tenant,
      long receivedAtMillis, byte[] payload, int refCntAtExport) {}

  private final String name;
  private volatile Script script;
  private final List<Call> calls = new ArrayList<>(); // guarded by this
  private final List<Integer> confirmed = new ArrayList<>(); // guarded by this
  private final List<TelemetryBatch> held = new ArrayList<>(); // guarded by this
  private final List<CompletableFuture<Void>> heldFutures = new ArrayList<>(); // guarded by this
  private final List<TelemetryBatch> thrown = new ArrayList<>(); // guarded by this
  private int starts;
  private int closes;

  ScriptedExporter(String name, Script script) {
    this.name = name;
    this.script = script;
  }

  static ScriptedExporter confirming(String name) {
    return new ScriptedExporter(name, (call, seq) -> Answer.CONFIRM);
  }

  static ScriptedExporter holding(String name) {
    return new ScriptedExporter(name, (call, seq) -> Answer.HOLD);
  }

  /** A leak-tracked batch of {@code size} bytes (at least 4) whose first int is {@code seq}. */
  static TelemetryBatch batch(int seq, int size) {
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(size);
    buf.writeInt(seq);
    buf.writeZero(size - 4);
    return new TelemetryBatch(Signal.TRACES, buf, 1, "", System.currentTimeMillis());
  }

  void script(Script s) {
    this.script = s;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public synchronized void start() {
    starts++;
  }

  @Override
  public CompletableFuture<Void> export(TelemetryBatch batch) {
    ByteBuf p = batch.payload();
    byte[] bytes = new byte[p.readableBytes()];
    p.getBytes(p.readerIndex(), bytes);
    int seq = bytes.length >= 4 ? p.getInt(p.readerIndex()) : -1;
    synchronized (this) {
      Answer answer = script.answer(calls.size(), seq);
      calls.add(new Call(seq, answer, System.nanoTime(), batch.signal(), batch.items(),
          batch.tenant(), batch.receivedAtMillis(), bytes, batch.refCnt()));
      switch (answer) {
        case CONFIRM:
          batch.release();
          confirmed.add(seq);
          return CompletableFuture.completedFuture(null);
        case FAIL:
          batch.release();
          return CompletableFuture.failedFuture(new IOException("scripted failure of " + seq));
        case THROW:
          thrown.add(batch); // an exporter that throws has not taken the reference
          throw new IllegalStateException("scripted throw for " + seq);
        default:
          CompletableFuture<Void> f = new CompletableFuture<>();
          held.add(batch);
          heldFutures.add(f);
          return f;
      }
    }
  }

  /** Confirms every held batch, in the order they were handed over. */
  void confirmHeld() {
    List<CompletableFuture<Void>> toComplete;
    synchronized (this) {
      for (TelemetryBatch b : held) {
        confirmed.add(b.payload().getInt(b.payload().readerIndex()));
        b.release();
      }
      held.clear();
      toComplete = new ArrayList<>(heldFutures);
      heldFutures.clear();
    }
    toComplete.forEach(f -> f.complete(null));
  }

  /** Releases the held batches without ever completing their futures: a hung exporter. */
  synchronized void abandonHeld() {
    held.forEach(TelemetryBatch::release);
    held.clear();
    heldFutures.clear();
  }

  synchronized List<Call> calls() {
    return new ArrayList<>(calls);
  }

  synchronized List<Integer> callSeqs() {
    return calls.stream().map(Call::seq).toList();
  }

  /** Sequence numbers of the batches confirmed, in the order they were confirmed. */
  synchronized List<Integer> confirmed() {
    return new ArrayList<>(confirmed);
  }

  synchronized int heldCount() {
    return held.size();
  }

  synchronized List<TelemetryBatch> thrown() {
    return new ArrayList<>(thrown);
  }

  synchronized int starts() {
    return starts;
  }

  synchronized int closes() {
    return closes;
  }

  @Override
  public synchronized void close() {
    closes++;
  }

  @Override
  public String toString() {
    return "ScriptedExporter[" + name + "]";
  }
}
