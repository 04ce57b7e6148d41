package dev.sluice.loadgen;

import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Gzip (RFC 1952) into a {@link ByteBuf} with one reused {@link Deflater}: no allocation per body
 * beyond what the output buffer needs. Not thread-safe; one per connection. {@link #close()} frees
 * the deflater's native memory.
 */
public final class GzipEncoder implements AutoCloseable {
  private static final byte[] HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};

  private final Deflater deflater;
  private final CRC32 crc = new CRC32();
  private final byte[] chunk = new byte[16 * 1024];

  /** At {@link Deflater#DEFAULT_COMPRESSION}, as the OpenTelemetry SDKs compress. */
  public GzipEncoder() {
    this(Deflater.DEFAULT_COMPRESSION);
  }

  public GzipEncoder(int level) {
    deflater = new Deflater(level, true);
  }

  /** Appends the gzip encoding of {@code in}'s readable bytes to {@code out}; {@code in} is not changed. */
  public void encode(ByteBuf in, ByteBuf out) {
    deflater.reset();
    crc.reset();
    int length = in.readableBytes();
    ByteBuffer input = in.nioBuffer(in.readerIndex(), length);
    crc.update(input.duplicate());
    deflater.setInput(input);
    deflater.finish();
    out.writeBytes(HEADER);
    while (!deflater.finished()) {
      int n = deflater.deflate(chunk);
      out.writeBytes(chunk, 0, n);
    }
    out.writeIntLE((int) crc.getValue());
    out.writeIntLE(length);
  }

  @Override
  public void close() {
    deflater.end();
  }
}
