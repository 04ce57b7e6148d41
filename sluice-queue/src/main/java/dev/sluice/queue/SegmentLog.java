package dev.sluice.queue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The segment files of a queue: recovery at open, the group-commit writer thread, publication of
 * written records to readers, deletion of consumed segments. Knows nothing of readers' names.
 */
final class SegmentLog {
  private static final Logger log = LoggerFactory.getLogger(DurableQueue.class);

  static final String SEGMENT_SUFFIX = ".seg";
  private static final Pattern SEGMENT_NAME = Pattern.compile("\\d{20}\\.seg");
  private static final int STAGING_BYTES = 4 << 20;
  static final long RETRY_AFTER_SECONDS = 5;

  private final Path directory;
  private final Path segmentsDir;
  private final long segmentBytes;
  private final long maxBytes;
  private final FsyncPolicy fsync;
  private final long intervalNanos;

  private final ConcurrentSkipListMap<Long, Segment> segments = new ConcurrentSkipListMap<>();
  /** Bytes of live segment files plus appends accepted and not yet written (or failed). */
  private final AtomicLong usedBytes = new AtomicLong();

  // Appenders hand work to the writer here.
  private final ReentrantLock appendLock = new ReentrantLock();
  private final Condition workArrived = appendLock.newCondition();
  private ArrayList<Pending> pending = new ArrayList<>(); // guarded by appendLock
  private boolean closing; // guarded by appendLock
  private volatile Throwable failure;

  // Readers wait here for the writer to publish.
  private volatile long publishedEnd;
  private final ReentrantLock dataLock = new ReentrantLock();
  private final Condition dataArrived = dataLock.newCondition();
  private volatile boolean closed;

  // Owned by the writer thread (after construction).
  private Segment active;
  private FileChannel activeChannel;
  private long activeBytes;
  private long nextOffset;
  private final ArrayList<Pending> unacked = new ArrayList<>();
  private ByteBuffer staging;
  private boolean dirty;
  private long nextFsyncNanos;
  private final Thread writer;

  // Counters: written by the writer thread, read by anyone.
  private final AtomicLong appends = new AtomicLong();
  private final AtomicLong writeGroups = new AtomicLong();
  private final AtomicLong fsyncs = new AtomicLong();
  private final AtomicLong bytesWritten = new AtomicLong();
  private final AtomicLong rejectedFull = new AtomicLong();
  final AtomicLong corruptRecordsSkipped = new AtomicLong();

  /** An append on its way to disk. */
  private static final class Pending {
    final byte[] frame;
    final CompletableFuture<Long> future = new CompletableFuture<>();
    long offset;

    Pending(byte[] frame) {
      this.frame = frame;
    }
  }

  private SegmentLog(Path directory, long segmentBytes, long maxBytes, FsyncPolicy fsync) {
    this.directory = directory;
    this.segmentsDir = directory.resolve("segments");
    this.segmentBytes = segmentBytes;
    this.maxBytes = maxBytes;
    this.fsync = fsync;
    this.intervalNanos = fsync.interval().toNanos();
    this.writer = new Thread(this::writerLoop, "sluice-queue-writer[" + directory.getFileName() + "]");
    this.writer.setDaemon(true);
  }

  // ---------------------------------------------------------------------------------------------
  // Opening and recovery

  /**
   * Opens the segments under {@code directory/segments}, recovering from a crash, and starts the
   * writer thread.
   *
   * @param emptyStartOffset the first offset when there is no segment at all
   */
  static SegmentLog open(Path directory, long segmentBytes, long maxBytes, FsyncPolicy fsync,
      long emptyStartOffset) throws IOException {
    SegmentLog segmentLog = new SegmentLog(directory, segmentBytes, maxBytes, fsync);
    segmentLog.recover(emptyStartOffset);
    segmentLog.writer.start();
    return segmentLog;
  }

  private void recover(long emptyStartOffset) throws IOException {
    Files.createDirectories(segmentsDir);
    List<Long> bases = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(segmentsDir)) {
      for (Path file : files) {
        String name = file.getFileName().toString();
        if (SEGMENT_NAME.matcher(name).matches()) {
          bases.add(Long.parseLong(name.substring(0, 20)));
        } else {
          log.warn("Ignoring unexpected file {} in the queue's segment directory", file);
        }
      }
    }
    bases.sort(null);

    // Sealed segments: a structural walk. The count of records must fit the next segment's name.
    int last = bases.size() - 1;
    for (int i = 0; i < bases.size() - 1; i++) {
      long base = bases.get(i);
      Segment segment = new Segment(base, segmentPath(base));
      long size = Files.size(segment.path);
      Frames.ScanResult result;
      try (FileChannel ch = FileChannel.open(segment.path, StandardOpenOption.READ)) {
        result = Frames.scan(ch, segment, size, false);
      }
      long expected = bases.get(i + 1) - base;
      if (result.problem() == null && result.records() == expected) {
        segment.publish(base + expected, size);
        segment.seal();
        segments.put(base, segment);
        continue;
      }
      String why = result.problem() != null
          ? result.problem() + " at byte " + result.validBytes()
          : "it holds " + result.records() + " records but the next segment starts at offset "
              + bases.get(i + 1) + " (" + expected + " expected)";
      List<Path> later = new ArrayList<>();
      for (int j = i + 1; j < bases.size(); j++) {
        later.add(segmentPath(bases.get(j)));
      }
      Path quarantine = quarantine(later);
      log.error("Queue segment {} is damaged in the middle of the log: {}. The log now ends in"
              + " this segment; {} later segment file(s) were moved to {} and are no longer"
              + " part of the queue", segment.path, why, later.size(), quarantine);
      last = i;
      break;
    }

    if (bases.isEmpty()) {
      active = createSegmentFile(emptyStartOffset);
    } else {
      long base = bases.get(last);
      active = new Segment(base, segmentPath(base));
      try (FileChannel ch =
          FileChannel.open(active.path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        long size = ch.size();
        Frames.ScanResult result = Frames.scan(ch, active, size, true);
        if (result.problem() != null) {
          ch.truncate(result.validBytes());
          if (fsync.mode() != FsyncPolicy.Mode.NONE) {
            ch.force(true);
          }
          log.warn("Recovered queue segment {}: cut {} bytes of torn or corrupt data at byte {}"
                  + " ({}); {} records remain in it and the log continues at offset {}",
              active.path, size - result.validBytes(), result.validBytes(), result.problem(),
              result.records(), base + result.records());
        }
        active.publish(base + result.records(), result.validBytes());
      }
    }
    segments.put(active.baseOffset, active);
    activeBytes = active.extent().bytes();
    nextOffset = active.extent().endOffset();
    publishedEnd = nextOffset;
    long used = 0;
    for (Segment s : segments.values()) {
      used += s.extent().bytes();
    }
    usedBytes.set(used);
    activeChannel = FileChannel.open(active.path, StandardOpenOption.WRITE);
    staging = ByteBuffer.allocateDirect((int) Math.min(STAGING_BYTES, segmentBytes));
  }

  private Path quarantine(List<Path> files) throws IOException {
    Path quarantine = directory.resolve("quarantine");
    Files.createDirectories(quarantine);
    String stamp = "." + System.currentTimeMillis();
    for (Path file : files) {
      Files.move(file, quarantine.resolve(file.getFileName() + stamp));
    }
    if (fsync.mode() != FsyncPolicy.Mode.NONE) {
      DurableQueue.fsyncDirectory(quarantine);
      DurableQueue.fsyncDirectory(segmentsDir);
    }
    return quarantine;
  }

  Path segmentPath(long baseOffset) {
    return segmentsDir.resolve(String.format("%020d", baseOffset) + SEGMENT_SUFFIX);
  }

  private Segment createSegmentFile(long baseOffset) throws IOException {
    Segment segment = new Segment(baseOffset, segmentPath(baseOffset));
    Files.newByteChannel(segment.path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
        .close();
    if (fsync.mode() != FsyncPolicy.Mode.NONE) {
      DurableQueue.fsyncDirectory(segmentsDir);
    }
    return segment;
  }

  // ---------------------------------------------------------------------------------------------
  // Appending

  /** Largest payload an append takes. */
  long maxPayloadBytes() {
    return segmentBytes - Frames.OVERHEAD;
  }

  CompletableFuture<Long> append(ByteBuffer payload) {
    long frameBytes = (long) Frames.OVERHEAD + payload.remaining();
    if (frameBytes > segmentBytes) {
      throw new IllegalArgumentException("a record of " + payload.remaining()
          + " bytes is larger than the queue takes: at most " + maxPayloadBytes()
          + " bytes fit in a segment of " + segmentBytes + " bytes (the maximum size is "
          + maxBytes + " bytes)");
    }
    Throwable failed = failure;
    if (failed != null) {
      return CompletableFuture.failedFuture(failedException(failed));
    }
    if (closed) {
      return CompletableFuture.failedFuture(closedException());
    }
    if (!reserve(frameBytes)) {
      rejectedFull.incrementAndGet();
      return CompletableFuture.failedFuture(new QueueFullException("the queue at " + directory
          + " is full: " + usedBytes.get() + " of " + maxBytes + " bytes used, a record of "
          + frameBytes + " bytes does not fit", RETRY_AFTER_SECONDS));
    }
    Pending p;
    try {
      p = new Pending(Frames.encode(payload, System.currentTimeMillis()));
    } catch (RuntimeException | Error e) {
      usedBytes.addAndGet(-frameBytes);
      throw e;
    }
    appendLock.lock();
    try {
      if (closing) {
        usedBytes.addAndGet(-frameBytes);
        Throwable f = failure;
        return CompletableFuture.failedFuture(f != null ? failedException(f) : closedException());
      }
      pending.add(p);
      if (pending.size() == 1) {
        workArrived.signal();
      }
    } finally {
      appendLock.unlock();
    }
    return p.future;
  }

  private boolean reserve(long bytes) {
    while (true) {
      long used = usedBytes.get();
      if (used + bytes > maxBytes) {
        return false;
      }
      if (usedBytes.compareAndSet(used, used + bytes)) {
        return true;
      }
    }
  }

  private QueueClosedException closedException() {
    return new QueueClosedException("the queue at " + directory + " is closed");
  }

  private IOException failedException(Throwable cause) {
    return new IOException("the queue at " + directory + " refuses appends after an I/O error"
        + " (reopen it to recover): " + cause, cause);
  }

  // ---------------------------------------------------------------------------------------------
  // The writer thread

  private void writerLoop() {
    try {
      while (true) {
        ArrayList<Pending> group;
        boolean stop;
        appendLock.lock();
        try {
          while (pending.isEmpty() && !closing) {
            if (dirty && intervalNanos > 0) {
              long wait = nextFsyncNanos - System.nanoTime();
              if (wait <= 0) {
                break;
              }
              workArrived.awaitNanos(wait);
            } else {
              workArrived.await();
            }
          }
          group = pending;
          pending = new ArrayList<>();
          stop = closing;
        } finally {
          appendLock.unlock();
        }
        if (!group.isEmpty()) {
          writeGroup(group);
        }
        if (dirty && intervalNanos > 0 && System.nanoTime() - nextFsyncNanos >= 0) {
          intervalSync();
        }
        if (stop) {
          break;
        }
      }
      if (dirty && fsync.mode() != FsyncPolicy.Mode.NONE && failure == null) {
        intervalSync();
      }
    } catch (Throwable t) {
      setFailure(t);
      appendLock.lock();
      ArrayList<Pending> left;
      try {
        closing = true;
        left = pending;
        pending = new ArrayList<>();
      } finally {
        appendLock.unlock();
      }
      failUnacked(t);
      failRange(left, 0, left.size(), t);
    } finally {
      try {
        activeChannel.close();
      } catch (IOException e) {
        log.warn("Could not close queue segment {}", active.path, e);
      }
    }
  }

  private void writeGroup(List<Pending> group) {
    int n = group.size();
    Throwable failed = failure;
    if (failed != null) {
      failRange(group, 0, n, failedException(failed));
      return;
    }
    writeGroups.incrementAndGet();
    int i = 0;
    while (i < n) {
      if (activeBytes > 0 && activeBytes + group.get(i).frame.length > segmentBytes) {
        try {
          roll();
        } catch (IOException e) {
          setFailure(e);
          failUnacked(e);
          failRange(group, i, n, e);
          return;
        }
      }
      int start = i;
      long runBytes = 0;
      while (i < n && activeBytes + runBytes + group.get(i).frame.length <= segmentBytes) {
        runBytes += group.get(i).frame.length;
        i++;
      }
      try {
        writeRun(group, start, i);
      } catch (IOException e) {
        log.error("Could not write {} record(s) to queue segment {}", n - start, active.path, e);
        failUnacked(e);
        failRange(group, start, n, e);
        return;
      }
    }
    try {
      if (fsync.mode() == FsyncPolicy.Mode.ALWAYS) {
        force();
      }
    } catch (IOException e) {
      setFailure(e);
      failUnacked(e);
      return;
    }
    publishAndComplete();
  }

  /** Writes frames {@code from..to} at the end of the active segment with as few writes as fit. */
  private void writeRun(List<Pending> group, int from, int to) throws IOException {
    long start = activeBytes;
    long position = start;
    try {
      staging.clear();
      for (int k = from; k < to; k++) {
        byte[] frame = group.get(k).frame;
        int off = 0;
        while (off < frame.length) {
          int chunk = Math.min(staging.remaining(), frame.length - off);
          staging.put(frame, off, chunk);
          off += chunk;
          if (!staging.hasRemaining()) {
            position = flushStaging(position);
          }
        }
      }
      position = flushStaging(position);
    } catch (IOException e) {
      try {
        activeChannel.truncate(start);
      } catch (IOException t) {
        e.addSuppressed(t);
        setFailure(e);
      }
      throw e;
    }
    long recordStart = start;
    for (int k = from; k < to; k++) {
      Pending p = group.get(k);
      p.offset = nextOffset++;
      active.indexRecord(p.offset, recordStart);
      recordStart += p.frame.length;
      unacked.add(p);
    }
    activeBytes = position;
    bytesWritten.addAndGet(position - start);
    if (!dirty) {
      dirty = true;
      nextFsyncNanos = System.nanoTime() + intervalNanos;
    }
  }

  private long flushStaging(long position) throws IOException {
    staging.flip();
    while (staging.hasRemaining()) {
      position += activeChannel.write(staging, position);
    }
    staging.clear();
    return position;
  }

  private void force() throws IOException {
    activeChannel.force(false);
    fsyncs.incrementAndGet();
    dirty = false;
  }

  private void intervalSync() {
    try {
      force();
    } catch (IOException e) {
      dirty = false; // no retry loop: the queue is failed from here on
      setFailure(e);
    }
  }

  /** Seals the active segment (forcing it unless the policy is NONE) and starts the next one. */
  private void roll() throws IOException {
    if (dirty && fsync.mode() != FsyncPolicy.Mode.NONE) {
      force();
    }
    publishAndComplete();
    active.seal();
    activeChannel.close();
    Segment next = createSegmentFile(nextOffset);
    activeChannel = FileChannel.open(next.path, StandardOpenOption.WRITE);
    segments.put(next.baseOffset, next);
    active = next;
    activeBytes = 0;
  }

  private void publishAndComplete() {
    if (unacked.isEmpty()) {
      return;
    }
    active.publish(nextOffset, activeBytes);
    publishedEnd = nextOffset;
    dataLock.lock();
    try {
      dataArrived.signalAll();
    } finally {
      dataLock.unlock();
    }
    appends.addAndGet(unacked.size());
    for (Pending p : unacked) {
      try {
        p.future.complete(p.offset);
      } catch (RuntimeException e) {
        log.warn("An append callback failed on the queue's writer thread", e);
      }
    }
    unacked.clear();
  }

  private void failUnacked(Throwable cause) {
    failRange(unacked, 0, unacked.size(), cause);
    unacked.clear();
  }

  private void failRange(List<Pending> list, int from, int to, Throwable cause) {
    for (int k = from; k < to; k++) {
      Pending p = list.get(k);
      usedBytes.addAndGet(-p.frame.length);
      p.future.completeExceptionally(cause);
    }
  }

  private void setFailure(Throwable t) {
    if (failure == null) {
      failure = t;
      log.error("The queue at {} stopped taking appends after an I/O error; reopen it to recover",
          directory, t);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading side

  /** Offset of the next record to be published: every record below it can be read. */
  long publishedEnd() {
    return publishedEnd;
  }

  boolean isClosed() {
    return closed;
  }

  /**
   * Waits until a record at or after {@code offset} is published, the deadline passes (false) or
   * the log closes ({@link QueueClosedException}).
   */
  boolean awaitData(long offset, long deadlineNanos) throws InterruptedException {
    if (publishedEnd > offset) {
      return true;
    }
    dataLock.lockInterruptibly();
    try {
      while (publishedEnd <= offset) {
        if (closed) {
          throw closedException();
        }
        long wait = deadlineNanos - System.nanoTime();
        if (wait <= 0) {
          return false;
        }
        dataArrived.awaitNanos(wait);
      }
      return true;
    } finally {
      dataLock.unlock();
    }
  }

  /** The segment holding {@code offset}, or null when it is below the oldest segment. */
  Segment segmentFor(long offset) {
    Map.Entry<Long, Segment> e = segments.floorEntry(offset);
    return e == null ? null : e.getValue();
  }

  Segment segmentAfter(Segment segment) {
    Map.Entry<Long, Segment> e = segments.higherEntry(segment.baseOffset);
    return e == null ? null : e.getValue();
  }

  long oldestOffset() {
    return segments.firstKey();
  }

  /** When the record at {@code offset} (below the published end) was appended. */
  long appendedAtMillis(long offset) throws IOException {
    Segment segment = segmentFor(offset);
    if (segment == null) {
      throw new NoSuchFileException("no segment holds offset " + offset);
    }
    try (FileChannel ch = FileChannel.open(segment.path, StandardOpenOption.READ)) {
      long position = Frames.positionOf(ch, segment, offset);
      ByteBuffer ts = ByteBuffer.allocate(Frames.TIMESTAMP);
      Frames.readFully(ch, ts, position + Frames.HEADER);
      return ts.getLong(0);
    }
  }

  /** Deletes sealed segments whose records are all below {@code offset}; returns how many. */
  int deleteSegmentsBelow(long offset) {
    int deleted = 0;
    for (Segment segment : segments.values()) {
      Segment.Extent extent = segment.extent();
      if (!segment.sealed() || extent.endOffset() > offset) {
        break;
      }
      try {
        Files.deleteIfExists(segment.path);
      } catch (IOException e) {
        log.warn("Could not delete consumed queue segment {}; will try again", segment.path, e);
        break;
      }
      segments.remove(segment.baseOffset);
      usedBytes.addAndGet(-extent.bytes());
      deleted++;
      log.debug("Deleted consumed queue segment {} (offsets {} to {})", segment.path,
          segment.baseOffset, extent.endOffset() - 1);
    }
    return deleted;
  }

  long usedBytes() {
    return usedBytes.get();
  }

  QueueStats stats() {
    long oldest;
    try {
      oldest = segments.firstKey();
    } catch (java.util.NoSuchElementException e) {
      oldest = publishedEnd;
    }
    return new QueueStats(usedBytes.get(), maxBytes, segments.size(), oldest, publishedEnd,
        appends.get(), writeGroups.get(), fsyncs.get(), bytesWritten.get(), rejectedFull.get(),
        corruptRecordsSkipped.get());
  }

  // ---------------------------------------------------------------------------------------------
  // Closing

  boolean isWriterThread() {
    return Thread.currentThread() == writer;
  }

  /** Stops taking appends, lets the writer finish every accepted one, then wakes the readers. */
  void close() {
    appendLock.lock();
    try {
      closing = true;
      workArrived.signal();
    } finally {
      appendLock.unlock();
    }
    boolean interrupted = false;
    while (true) {
      try {
        writer.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    closed = true;
    dataLock.lock();
    try {
      dataArrived.signalAll();
    } finally {
      dataLock.unlock();
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
