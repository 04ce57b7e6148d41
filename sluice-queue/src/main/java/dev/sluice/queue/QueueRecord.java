package dev.sluice.queue;

import java.nio.ByteBuffer;

/**
 * One record read from the queue: its offset, when it was appended and its payload. Immutable; the
 * payload buffer may share memory with other records of the same poll.
 */
public final class QueueRecord {
  private final long offset;
  private final long appendedAtMillis;
  private final ByteBuffer payload;

  QueueRecord(long offset, long appendedAtMillis, ByteBuffer payload) {
    this.offset = offset;
    this.appendedAtMillis = appendedAtMillis;
    this.payload = payload.asReadOnlyBuffer();
  }

  /** The record's offset: its index in the queue, starting at 0. */
  public long offset() {
    return offset;
  }

  /** Wall-clock time ({@link System#currentTimeMillis()}) at which the record was appended. */
  public long appendedAtMillis() {
    return appendedAtMillis;
  }

  /** The payload as a new read-only buffer positioned at its first byte. */
  public ByteBuffer payload() {
    return payload.duplicate();
  }

  /** The payload's length in bytes. */
  public int payloadSize() {
    return payload.remaining();
  }

  /** A copy of the payload. */
  public byte[] payloadBytes() {
    byte[] copy = new byte[payload.remaining()];
    payload.duplicate().get(copy);
    return copy;
  }

  @Override
  public String toString() {
    return "QueueRecord{offset=" + offset + ", appendedAtMillis=" + appendedAtMillis + ", size="
        + payloadSize() + "}";
  }
}
