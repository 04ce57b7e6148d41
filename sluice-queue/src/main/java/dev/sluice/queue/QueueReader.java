package dev.sluice.queue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One named reader of a {@link DurableQueue}: polls records in offset order from its read position
 * and commits what it has delivered. The committed offset is kept on disk; the read position is
 * not (after a restart or {@link #rewind()} the reader continues just after its last commit).
 *
 * <p>Use a reader from one thread at a time. Closing it keeps its registration and position; see
 * {@link DurableQueue#removeReader(String)} to forget it.
 */
public final class QueueReader implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DurableQueue.class);
  private static final int MAX_CHUNK = 8 << 20;
  private static final Duration MAX_WAIT = Duration.ofDays(1);

  private final DurableQueue queue;
  private final SegmentLog segments;
  private final DurableQueue.ReaderEntry entry;
  private Segment segment;
  private volatile FileChannel channel;
  private long position;
  private long nextOffset;
  private volatile String closedReason;

  QueueReader(DurableQueue queue, SegmentLog segments, DurableQueue.ReaderEntry entry) {
    this.queue = queue;
    this.segments = segments;
    this.entry = entry;
  }

  public String name() {
    return entry.name;
  }

  /** The last committed offset, -1 (or the offset before the oldest record) when none. */
  public long committedOffset() {
    return entry.committed;
  }

  /** The offset the next {@link #poll} starts at. */
  public long position() {
    return nextOffset;
  }

  /** How many records are in the queue after this reader's last commit. */
  public long lag() {
    return Math.max(0, segments.publishedEnd() - (entry.committed + 1));
  }

  /**
   * Returns the next records after the read position, in offset order, and moves the position past
   * them. Blocks until at least one record is there or {@code timeout} passes (then returns an empty
   * list). Returns at most {@code maxRecords} records whose payloads add up to at most {@code
   * maxBytes}, except that the first record is returned whatever its size.
   *
   * @throws QueueClosedException when the queue or this reader is closed (also while waiting)
   * @throws IOException when reading a segment fails
   */
  public List<QueueRecord> poll(int maxRecords, long maxBytes, Duration timeout)
      throws IOException, InterruptedException {
    if (maxRecords < 1) {
      throw new IllegalArgumentException("maxRecords must be positive: " + maxRecords);
    }
    if (maxBytes < 1) {
      throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
    }
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative()) {
      throw new IllegalArgumentException("timeout must not be negative: " + timeout);
    }
    long deadline = System.nanoTime() + (timeout.compareTo(MAX_WAIT) > 0 ? MAX_WAIT : timeout)
        .toNanos();
    while (true) {
      checkOpen();
      List<QueueRecord> records;
      try {
        records = read(maxRecords, maxBytes);
      } catch (ClosedChannelException e) {
        checkOpen(); // closed under us by the queue's close()
        throw e; // e.g. ClosedByInterruptException; the channel is reopened on the next poll
      }
      if (!records.isEmpty()) {
        return records;
      }
      if (!segments.awaitData(nextOffset, deadline)) {
        return records;
      }
    }
  }

  /**
   * Declares every record up to and including {@code offset} delivered, durably (see {@link
   * DurableQueue}). Committing an offset at or below the last commit does nothing; committing past
   * the read position moves the read position after it. Segments every reader has committed past
   * are deleted.
   *
   * @throws IllegalArgumentException when there is no record at {@code offset} yet
   */
  public void commit(long offset) throws IOException {
    checkOpen();
    long end = segments.publishedEnd();
    if (offset >= end) {
      throw new IllegalArgumentException("cannot commit offset " + offset + " for queue reader "
          + entry.name + ": the last record in the queue has offset " + (end - 1));
    }
    if (offset <= entry.committed) {
      return;
    }
    queue.writePosition(entry, offset);
    if (offset >= nextOffset) {
      seek(offset + 1);
    }
    queue.deleteConsumedSegments();
  }

  /** Moves the read position back to just after the last commit, to read uncommitted records again. */
  public void rewind() throws IOException {
    checkOpen();
    seek(entry.committed + 1);
  }

  /** Closes this handle; the reader stays registered with its committed position. */
  @Override
  public void close() {
    if (closedReason == null) {
      closedReason = "queue reader " + entry.name + " is closed";
      queue.detach(entry, this);
      closeChannel();
    }
  }

  void detached(String reason) {
    if (closedReason == null) {
      closedReason = reason;
    }
    closeChannel();
  }

  private void checkOpen() {
    String reason = closedReason;
    if (reason != null) {
      throw new QueueClosedException(reason);
    }
    queue.checkOpen();
  }

  /** Places the read position at {@code offset}, which must be on disk or the published end. */
  void seek(long offset) throws IOException {
    Segment s = segments.segmentFor(offset);
    if (s == null) {
      throw new IllegalStateException("offset " + offset + " is no longer in the queue (oldest is "
          + segments.oldestOffset() + ")");
    }
    if (s != segment) {
      closeChannel();
      segment = s;
    }
    position = Frames.positionOf(channel(), s, offset);
    nextOffset = offset;
  }

  private FileChannel channel() throws IOException {
    FileChannel ch = channel;
    if (ch == null || !ch.isOpen()) {
      ch = FileChannel.open(segment.path, StandardOpenOption.READ);
      channel = ch;
      if (closedReason != null) {
        closeChannel();
      }
    }
    return ch;
  }

  private void closeChannel() {
    FileChannel ch = channel;
    channel = null;
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException e) {
        log.debug("Could not close {}", segment.path, e);
      }
    }
  }

  private List<QueueRecord> read(int maxRecords, long maxBytes) throws IOException {
    List<QueueRecord> out = new ArrayList<>();
    long bytes = 0;
    while (out.size() < maxRecords) {
      Segment.Extent extent = segment.extent();
      if (nextOffset >= extent.endOffset()) {
        if (!segment.sealed()) {
          break;
        }
        if (nextOffset < segment.extent().endOffset()) {
          continue; // published and sealed since we looked
        }
        Segment next = segments.segmentAfter(segment);
        if (next == null) {
          break; // the next segment is not in place yet; it will be before its records appear
        }
        closeChannel();
        segment = next;
        position = 0;
        continue;
      }
      long budget = Math.min(maxBytes - bytes, MAX_CHUNK);
      if (budget <= 0) {
        break;
      }
      long wanted = budget + (long) Frames.OVERHEAD * Math.min(maxRecords - out.size(), 1024);
      long available = extent.bytes() - position;
      int size = (int) Math.min(available, Math.max(Math.min(wanted, MAX_CHUNK), Frames.OVERHEAD));
      ByteBuffer chunk = ByteBuffer.allocate(size);
      FileChannel ch = channel();
      Frames.readFully(ch, chunk, position);
      int off = 0;
      boolean done = false;
      while (off + Frames.HEADER <= size && out.size() < maxRecords) {
        long length = Integer.toUnsignedLong(chunk.getInt(off));
        if (length < Frames.TIMESTAMP || position + off + Frames.HEADER + length > extent.bytes()) {
          position += off;
          off = 0;
          skipDamaged(ch, extent, "an impossible length " + length);
          break;
        }
        int payloadSize = (int) (length - Frames.TIMESTAMP);
        if (!out.isEmpty() && bytes + payloadSize > maxBytes) {
          done = true;
          break;
        }
        int frameSize = (int) (Frames.HEADER + length);
        ByteBuffer frame = chunk;
        int at = off;
        if (off + frameSize > size) {
          if (off > 0) {
            break; // read on from this frame with the next chunk
          }
          frame = ByteBuffer.allocate(frameSize);
          Frames.readFully(ch, frame, position);
          at = 0;
        }
        int storedCrc = frame.getInt(at + 4);
        if (Frames.crc(frame.array(), at + Frames.HEADER, (int) length) != storedCrc) {
          position += off;
          off = 0;
          skipDamaged(ch, extent, "a CRC32C mismatch");
          break;
        }
        long appendedAt = frame.getLong(at + Frames.HEADER);
        out.add(new QueueRecord(nextOffset, appendedAt,
            ByteBuffer.wrap(frame.array(), at + Frames.OVERHEAD, payloadSize).slice()));
        bytes += payloadSize;
        nextOffset++;
        off += frameSize;
        if (frame != chunk) {
          break;
        }
      }
      position += off;
      if (done) {
        break;
      }
    }
    return out;
  }

  /**
   * The record at the read position is damaged. If the length fields from the next record on still
   * chain exactly to the published end, only this record is skipped; otherwise the rest of the
   * segment's published records are.
   */
  private void skipDamaged(FileChannel ch, Segment.Extent extent, String what) throws IOException {
    long length = Integer.toUnsignedLong(readInt(ch, position));
    long next = position + Frames.HEADER + length;
    long skipped;
    if (length >= Frames.TIMESTAMP && next <= extent.bytes()
        && chainsTo(ch, next, nextOffset + 1, extent)) {
      skipped = 1;
      position = next;
      nextOffset++;
    } else {
      skipped = extent.endOffset() - nextOffset;
      position = extent.bytes();
      nextOffset = extent.endOffset();
    }
    segments.corruptRecordsSkipped.addAndGet(skipped);
    log.error("Queue reader {}: the record at offset {} in {} is damaged ({}); skipped {} record(s)",
        entry.name, nextOffset - skipped, segment.path, what, skipped);
  }

  private static boolean chainsTo(FileChannel ch, long from, long fromOffset, Segment.Extent extent)
      throws IOException {
    long at = from;
    long offset = fromOffset;
    while (at + Frames.HEADER <= extent.bytes() && offset < extent.endOffset()) {
      long length = Integer.toUnsignedLong(readInt(ch, at));
      if (length < Frames.TIMESTAMP) {
        return false;
      }
      at += Frames.HEADER + length;
      offset++;
    }
    return at == extent.bytes() && offset == extent.endOffset();
  }

  private static int readInt(FileChannel ch, long at) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(4);
    Frames.readFully(ch, b, at);
    return b.getInt(0);
  }

  @Override
  public String toString() {
    return "QueueReader{" + entry.name + " at " + nextOffset + ", committed " + entry.committed
        + "}";
  }
}
