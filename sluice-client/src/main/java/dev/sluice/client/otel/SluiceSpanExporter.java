package dev.sluice.client.otel;

import dev.sluice.client.SluiceOtlpClient;
import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The OpenTelemetry SDK's {@link SpanExporter} on a {@link SluiceOtlpClient}: spans are encoded to
 * OTLP protobuf on the calling thread (by an encoder of Sluice's own, which writes what the SDK's
 * OTLP exporters write, faster than their marshaler), and handed to the client,
 * which batches, sends and retries them on its own threads.
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
 * <p>Needs {@code io.opentelemetry:opentelemetry-sdk-trace} on the class path; the client itself
 * does not.
 */
public final class SluiceSpanExporter implements SpanExporter {
  private final SluiceOtlpClient client;
  private final boolean ownsClient;
  private final AtomicBoolean shutdown = new AtomicBoolean();
  /** Encoders are reusable: one per concurrent caller at most, usually one. */
  private final ConcurrentLinkedQueue<SpanEncoder> encoders = new ConcurrentLinkedQueue<>();

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
   * the request: the merged request goes to the socket as a composite of these buffers, without
   * being copied again), or an unpooled heap buffer; the caller owns the buffer.
   */
  private ByteBuf encode(Collection<SpanData> spans, boolean toSend) {
    SpanEncoder encoder = encoders.poll();
    if (encoder == null) {
      encoder = new SpanEncoder();
    }
    try {
      return toSend ? encoder.encode(spans, ByteBufAllocator.DEFAULT, true)
          : encoder.encode(spans, UnpooledByteBufAllocator.DEFAULT, false);
    } finally {
      encoders.offer(encoder);
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
}
