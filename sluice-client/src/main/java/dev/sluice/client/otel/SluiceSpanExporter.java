package dev.sluice.client.otel;

import dev.sluice.client.SluiceOtlpClient;
import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.opentelemetry.exporter.internal.otlp.traces.LowAllocationTraceRequestMarshaler;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The OpenTelemetry SDK's {@link SpanExporter} on a {@link SluiceOtlpClient}: spans are encoded to
 * OTLP protobuf by the SDK's own marshaler (the one its OTLP exporters use) on the calling thread,
 * and handed to the client, which batches, sends and retries them on its own threads.
 *
 * <pre>{@code
 * SluiceOtlpClient client = SluiceOtlpClient.builder().fromEnvironment().build();
 * SdkTracerProvider tracing = SdkTracerProvider.builder()
 *     .addSpanProcessor(BatchSpanProcessor.builder(SluiceSpanExporter.create(client)).build())
 *     .build();
 * }</pre>
 *
 * <p>The result of {@link #export} completes as soon as the client has taken the spans: with
 * success, or with failure when its bounded queue is full or it is closed. It does not wait for the
 * backend's answer, so a {@code BatchSpanProcessor} never stalls on a slow or unreachable backend
 * (the client holds at most its queue limits; delivery failures are logged by the client). {@link
 * #flush()} waits until what was exported so far was delivered, and fails if any of it failed.
 *
 * <p>Needs {@code io.opentelemetry:opentelemetry-sdk-trace} and {@code
 * io.opentelemetry:opentelemetry-exporter-otlp-common} on the class path; the client itself does
 * not.
 */
public final class SluiceSpanExporter implements SpanExporter {
  private final SluiceOtlpClient client;
  private final boolean ownsClient;
  private final AtomicBoolean shutdown = new AtomicBoolean();
  /** Marshalers are reusable: one per concurrent caller at most, usually one. */
  private final ConcurrentLinkedQueue<LowAllocationTraceRequestMarshaler> marshalers =
      new ConcurrentLinkedQueue<>();

  private SluiceSpanExporter(SluiceOtlpClient client, boolean ownsClient) {
    this.client = Objects.requireNonNull(client, "client");
    this.ownsClient = ownsClient;
  }

  /** An exporter that closes the client when it is shut down. */
  public static SluiceSpanExporter create(SluiceOtlpClient client) {
    return new SluiceSpanExporter(client, true);
  }

  /**
   * An exporter on a client shared with others (a metric or log bridge, the application's own
   * exports): shutting the exporter down flushes the client but leaves it open.
   */
  public static SluiceSpanExporter sharing(SluiceOtlpClient client) {
    return new SluiceSpanExporter(client, false);
  }

  public SluiceOtlpClient client() {
    return client;
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    if (shutdown.get()) {
      return CompletableResultCode.ofFailure();
    }
    if (spans.isEmpty()) {
      return CompletableResultCode.ofSuccess();
    }
    ByteBuf request;
    try {
      request = encode(spans, true);
    } catch (RuntimeException e) {
      return CompletableResultCode.ofExceptionalFailure(e);
    }
    CompletableFuture<Void> sent = client.export(Signal.TRACES, request, spans.size());
    if (sent.isCompletedExceptionally()) {
      Throwable cause;
      try {
        sent.getNow(null);
        cause = null;
      } catch (RuntimeException e) {
        cause = e.getCause() != null ? e.getCause() : e;
      }
      return cause == null ? CompletableResultCode.ofFailure()
          : CompletableResultCode.ofExceptionalFailure(cause);
    }
    return CompletableResultCode.ofSuccess();
  }

  /**
   * The protobuf encoding of an {@code ExportTraceServiceRequest} holding {@code spans}, grouped
   * by resource and scope, as the SDK's OTLP exporters write it.
   */
  public byte[] encode(Collection<SpanData> spans) {
    ByteBuf b = encode(spans, false);
    try {
      byte[] out = new byte[b.readableBytes()];
      b.readBytes(out);
      return out;
    } finally {
      b.release();
    }
  }

  /**
   * Encodes into a pooled I/O buffer to send (so that exporting makes no garbage of the size of
   * the request), or an unpooled heap buffer; the caller owns the buffer.
   */
  private ByteBuf encode(Collection<SpanData> spans, boolean toSend) {
    LowAllocationTraceRequestMarshaler m = marshalers.poll();
    if (m == null) {
      m = new LowAllocationTraceRequestMarshaler();
    }
    ByteBuf buf = null;
    try {
      m.initialize(spans);
      int size = m.getBinarySerializedSize();
      // An I/O (direct) buffer where the platform allows: the merged request then goes to the
      // socket as a composite of these buffers, without being copied again.
      buf = toSend ? ByteBufAllocator.DEFAULT.ioBuffer(size, size) : Unpooled.buffer(size, size);
      int written;
      if (buf.hasArray()) {
        ArrayOutput sink = new ArrayOutput(buf.array(), buf.arrayOffset() + buf.writerIndex(),
            size);
        m.writeBinaryTo(sink);
        written = sink.written;
        buf.writerIndex(buf.writerIndex() + written);
      } else {
        int before = buf.writerIndex();
        m.writeBinaryTo(new ByteBufOutputStream(buf));
        written = buf.writerIndex() - before;
      }
      if (written != size) {
        throw new IllegalStateException("the marshaler wrote " + written + " bytes of the "
            + size + " it announced");
      }
      ByteBuf done = buf;
      buf = null;
      return done;
    } catch (IOException e) {
      throw new UncheckedIOException(e); // writing to memory does not fail
    } finally {
      if (buf != null) {
        buf.release();
      }
      m.reset();
      marshalers.offer(m);
    }
  }

  /** Completes when everything exported so far was delivered; fails when any of it failed. */
  @Override
  public CompletableResultCode flush() {
    CompletableResultCode result = new CompletableResultCode();
    client.flush().whenComplete((v, error) -> {
      if (error == null) {
        result.succeed();
      } else {
        result.failExceptionally(error.getCause() != null ? error.getCause() : error);
      }
    });
    return result;
  }

  /**
   * Refuses further spans, and closes the client (which sends what it holds, waiting up to its
   * close timeout), or only flushes it when it is shared.
   */
  @Override
  public CompletableResultCode shutdown() {
    if (!shutdown.compareAndSet(false, true)) {
      return CompletableResultCode.ofSuccess();
    }
    if (!ownsClient) {
      return flush();
    }
    client.close();
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public String toString() {
    return "SluiceSpanExporter{" + client.settings(Signal.TRACES) + "}";
  }

  /** An output stream into a region of an array, of the exact size. */
  private static final class ArrayOutput extends OutputStream {
    private final byte[] out;
    private final int start;
    private final int limit;
    private int position;
    int written;

    ArrayOutput(byte[] out, int start, int length) {
      this.out = out;
      this.start = start;
      this.limit = start + length;
      this.position = start;
    }

    @Override
    public void write(int b) {
      if (position >= limit) {
        throw new IndexOutOfBoundsException("more bytes than announced");
      }
      out[position++] = (byte) b;
      written = position - start;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      if (len > limit - position) {
        throw new IndexOutOfBoundsException("more bytes than announced");
      }
      System.arraycopy(b, off, out, position, len);
      position += len;
      written = position - start;
    }
  }
}
