package dev.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Test buffers that begin after some unrelated bytes, so that offsets are absolute; closes them. */
final class Bufs implements AutoCloseable {
  static final int PAD = 7;
  private final List<ByteBuf> held = new ArrayList<>();

  /** A direct pooled buffer holding PAD filler bytes, then s, with its reader index after the filler. */
  ByteBuf of(String s) {
    return of(s.getBytes(StandardCharsets.ISO_8859_1));
  }

  ByteBuf of(byte[] bytes) {
    ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(PAD + bytes.length);
    held.add(b);
    b.writeBytes("PADDING".getBytes(StandardCharsets.US_ASCII), 0, PAD);
    b.readerIndex(PAD);
    b.writeBytes(bytes);
    return b;
  }

  static String text(ByteBuf b, int from, int to) {
    return b.toString(from, to - from, StandardCharsets.ISO_8859_1);
  }

  @Override
  public void close() {
    for (ByteBuf b : held) {
      b.release();
    }
    held.clear();
  }
}
