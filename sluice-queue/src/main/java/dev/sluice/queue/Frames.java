package dev.sluice.queue;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.zip.CRC32C;

/** The record framing and the positional I/O around it. See {@link DurableQueue} for the format. */
final class Frames {
  /** length u32 + crc32c u32. */
  static final int HEADER = 8;
  /** appendedAtMillis i64, the first field of the checksummed body. */
  static final int TIMESTAMP = 8;
  /** Bytes a record takes on disk besides its payload. */
  static final int OVERHEAD = HEADER + TIMESTAMP;

  private Frames() {}

  /** The complete frame of one record: header, timestamp, a copy of the payload's remaining bytes. */
  static byte[] encode(ByteBuffer payload, long appendedAtMillis) {
    int n = payload.remaining();
    byte[] frame = new byte[OVERHEAD + n];
    ByteBuffer b = ByteBuffer.wrap(frame);
    b.putInt(0, TIMESTAMP + n);
    b.putLong(HEADER, appendedAtMillis);
    payload.get(payload.position(), frame, OVERHEAD, n);
    CRC32C crc = new CRC32C();
    crc.update(frame, HEADER, TIMESTAMP + n);
    b.putInt(4, (int) crc.getValue());
    return frame;
  }

  static int crc(byte[] array, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(array, offset, length);
    return (int) crc.getValue();
  }

  static void readFully(FileChannel channel, ByteBuffer dst, long position) throws IOException {
    long at = position;
    while (dst.hasRemaining()) {
      int n = channel.read(dst, at);
      if (n < 0) {
        throw new EOFException("unexpected end of file at byte " + at);
      }
      at += n;
    }
  }

  /**
   * The byte position of record {@code offset} in {@code segment}, found from the segment's sparse
   * index and a walk over record headers. {@code offset} may be the segment's published end.
   */
  static long positionOf(FileChannel channel, Segment segment, long offset) throws IOException {
    long[] floor = segment.indexFloor(offset);
    long current = floor[0];
    long position = floor[1];
    ByteBuffer header = ByteBuffer.allocate(4);
    while (current < offset) {
      header.clear();
      readFully(channel, header, position);
      long length = Integer.toUnsignedLong(header.getInt(0));
      if (length < TIMESTAMP) {
        throw new IOException(
            "corrupt record header at byte " + position + " of " + segment.path + ": length "
                + length);
      }
      position += HEADER + length;
      current++;
    }
    return position;
  }

  /** What a scan of a segment file found. {@code problem} is null when the whole file is valid. */
  record ScanResult(long records, long validBytes, String problem) {}

  /**
   * Walks the records of a segment file from its start, indexing them in {@code segment}. With
   * {@code verify} it reads every record and checks its CRC; without, it only follows the length
   * fields (a structural check that costs one small read per record). Stops at the first record
   * that is cut short, has an impossible length or (with {@code verify}) a wrong checksum.
   */
  static ScanResult scan(FileChannel channel, Segment segment, long fileSize, boolean verify)
      throws IOException {
    long position = 0;
    long records = 0;
    ByteBuffer header = ByteBuffer.allocate(HEADER);
    Window window = verify ? new Window(channel, fileSize) : null;
    while (position < fileSize) {
      long left = fileSize - position;
      if (left < HEADER) {
        return new ScanResult(records, position, "a record header is cut short (" + left
            + " of " + HEADER + " bytes)");
      }
      ByteBuffer h;
      if (verify) {
        h = window.view(position, HEADER);
      } else {
        header.clear();
        readFully(channel, header, position);
        h = header.flip();
      }
      long length = Integer.toUnsignedLong(h.getInt(h.position()));
      int storedCrc = h.getInt(h.position() + 4);
      if (length < TIMESTAMP) {
        return new ScanResult(records, position, "invalid record length " + length);
      }
      if (HEADER + length > left) {
        return new ScanResult(records, position, "a record whose length field says " + length
            + " bytes runs past the end of the file (" + (left - HEADER) + " bytes left)");
      }
      if (verify) {
        ByteBuffer body = window.view(position + HEADER, (int) length);
        CRC32C crc = new CRC32C();
        crc.update(body);
        if ((int) crc.getValue() != storedCrc) {
          return new ScanResult(records, position, "CRC32C mismatch in the record at offset "
              + (segment.baseOffset + records));
        }
      }
      segment.indexRecord(segment.baseOffset + records, position);
      position += HEADER + length;
      records++;
    }
    return new ScanResult(records, position, null);
  }

  /** Sequential reads through a file in large chunks, handing out views of byte ranges. */
  private static final class Window {
    private static final int SIZE = 1 << 20;
    private final FileChannel channel;
    private final long fileSize;
    private final ByteBuffer buffer = ByteBuffer.allocate(SIZE);
    private long start;
    private int length;

    Window(FileChannel channel, long fileSize) {
      this.channel = channel;
      this.fileSize = fileSize;
    }

    ByteBuffer view(long position, int size) throws IOException {
      if (size > SIZE) {
        ByteBuffer big = ByteBuffer.allocate(size);
        readFully(channel, big, position);
        return big.flip();
      }
      if (position < start || position + size > start + length) {
        buffer.clear();
        buffer.limit((int) Math.min(SIZE, fileSize - position));
        readFully(channel, buffer, position);
        start = position;
        length = buffer.limit();
      }
      int at = (int) (position - start);
      return buffer.duplicate().limit(at + size).position(at);
    }
  }
}
