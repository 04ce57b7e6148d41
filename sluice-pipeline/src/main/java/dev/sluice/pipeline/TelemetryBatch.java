package dev.sluice.pipeline;

import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.util.AbstractReferenceCounted;
import java.util.Objects;

/**
 * One accepted OTLP export request on its way from a receiver to the exporters: the protobuf
 * encoding of an {@code Export*ServiceRequest}, as received where nothing had to change.
 *
 * <p>A batch is reference counted through its payload: whoever holds it releases it exactly once.
 * {@link Pipeline#submit} takes the caller's reference; each {@link Exporter} is handed a reference
 * of its own.
 */
public final class TelemetryBatch extends AbstractReferenceCounted {
  private final Signal signal;
  private final ByteBuf payload;
  private final int items;
  private final String tenant;
  private final long receivedAtMillis;

  /**
   * @param payload protobuf bytes of the request; the batch takes ownership of this reference
   * @param items number of spans, metric data points or log records in the payload
   * @param tenant the authenticated tenant, or empty when auth is off
   */
  public TelemetryBatch(Signal signal, ByteBuf payload, int items, String tenant,
      long receivedAtMillis) {
    this.signal = Objects.requireNonNull(signal, "signal");
    this.payload = Objects.requireNonNull(payload, "payload");
    this.items = items;
    this.tenant = Objects.requireNonNull(tenant, "tenant");
    this.receivedAtMillis = receivedAtMillis;
  }

  public Signal signal() {
    return signal;
  }

  /** The protobuf bytes, readable from {@code readerIndex()}; do not change its indexes. */
  public ByteBuf payload() {
    return payload;
  }

  /** Payload size in bytes. */
  public int bytes() {
    return payload.readableBytes();
  }

  public int items() {
    return items;
  }

  public String tenant() {
    return tenant;
  }

  public long receivedAtMillis() {
    return receivedAtMillis;
  }

  /** Copies the payload out, for code that needs an array (the slow paths). */
  public byte[] payloadBytes() {
    byte[] out = new byte[payload.readableBytes()];
    payload.getBytes(payload.readerIndex(), out);
    return out;
  }

  @Override
  protected void deallocate() {
    payload.release();
  }

  @Override
  public TelemetryBatch touch(Object hint) {
    payload.touch(hint);
    return this;
  }

  @Override
  public TelemetryBatch retain() {
    super.retain();
    return this;
  }

  @Override
  public TelemetryBatch retain(int increment) {
    super.retain(increment);
    return this;
  }

  @Override
  public TelemetryBatch touch() {
    payload.touch();
    return this;
  }

  @Override
  public String toString() {
    return signal.id() + " batch of " + items + " " + signal.itemNoun() + ", " + bytes()
        + " bytes" + (tenant.isEmpty() ? "" : ", tenant " + tenant);
  }
}
