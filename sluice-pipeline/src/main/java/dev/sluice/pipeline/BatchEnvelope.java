package dev.sluice.pipeline;

import dev.sluice.otlp.Signal;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * How a {@link TelemetryBatch} is stored as one record of the durable queue: a small header (format
 * version, signal, item count, receive time, tenant) followed by the protobuf payload as received.
 *
 * <pre>
 * u8 version (1) | u8 signal ordinal | i32 items | i64 receivedAtMillis | u16 tenant length |
 * tenant (UTF-8) | payload
 * </pre>
 */
final class BatchEnvelope {
  private static final byte VERSION = 1;
  private static final Signal[] SIGNALS = Signal.values();

  private BatchEnvelope() {}

  /** Encodes a batch; does not release it. */
  static ByteBuffer encode(TelemetryBatch batch) {
    byte[] tenant = batch.tenant().getBytes(StandardCharsets.UTF_8);
    if (tenant.length > 0xFFFF) {
      throw new IllegalArgumentException("tenant name longer than 65535 bytes");
    }
    ByteBuf payload = batch.payload();
    ByteBuffer out = ByteBuffer.allocate(16 + tenant.length + payload.readableBytes());
    out.put(VERSION)
        .put((byte) batch.signal().ordinal())
        .putInt(batch.items())
        .putLong(batch.receivedAtMillis())
        .putShort((short) tenant.length)
        .put(tenant);
    payload.getBytes(payload.readerIndex(), out.array(), out.position(), payload.readableBytes());
    out.position(out.position() + payload.readableBytes());
    return out.flip();
  }

  /**
   * Decodes a stored record into a batch whose payload is a view of {@code record}.
   *
   * @throws IllegalArgumentException when the record is not an envelope this version knows
   */
  static TelemetryBatch decode(ByteBuffer record) {
    ByteBuffer in = record.duplicate();
    if (in.remaining() < 16) {
      throw new IllegalArgumentException("queue record of " + in.remaining() + " bytes is too short");
    }
    byte version = in.get();
    if (version != VERSION) {
      throw new IllegalArgumentException("queue record has unknown format version " + version);
    }
    int signal = in.get();
    if (signal < 0 || signal >= SIGNALS.length) {
      throw new IllegalArgumentException("queue record has unknown signal " + signal);
    }
    int items = in.getInt();
    long receivedAt = in.getLong();
    int tenantLength = Short.toUnsignedInt(in.getShort());
    if (tenantLength > in.remaining()) {
      throw new IllegalArgumentException("queue record's tenant runs past its end");
    }
    byte[] tenant = new byte[tenantLength];
    in.get(tenant);
    return new TelemetryBatch(SIGNALS[signal], Unpooled.wrappedBuffer(in.slice()), items,
        new String(tenant, StandardCharsets.UTF_8), receivedAt);
  }
}
