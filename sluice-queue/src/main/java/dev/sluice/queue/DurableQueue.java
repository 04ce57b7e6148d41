package dev.sluice.queue;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A durable write-ahead queue of opaque records on local disk: what {@link #append} acknowledges is
 * on disk first, and every reader gets every record at least once, even across crashes.
 *
 * <pre>{@code
 * DurableQueue q = DurableQueue.builder().directory(path).maxBytes(1L << 30).build(); // opens + recovers
 * long offset = q.append(payload).get();             // durable once the future completes
 * QueueReader r = q.reader("otlp-upstream");          // own position, kept on disk
 * List<QueueRecord> batch = r.poll(500, 4 << 20, Duration.ofSeconds(1));
 * ... deliver ...
 * r.commit(batch.get(batch.size() - 1).offset());    // delivered up to and including this offset
 * }</pre>
 *
 * <h2>Offsets</h2>
 *
 * A record's offset is its index in the queue: the first record ever appended in a directory has
 * offset 0 and each append gets the next one, dense and monotonically increasing, never reused for
 * a record that was acknowledged. (After a crash, an offset whose append was never acknowledged may
 * be given to a new record; see Recovery.)
 *
 * <h2>Files</h2>
 *
 * <pre>
 * &lt;directory&gt;/queue.lock                       held locked (fcntl) while a process has the queue open
 * &lt;directory&gt;/queue.properties                 format=1
 * &lt;directory&gt;/segments/00000000000000000000.seg  records, the file named by its first record's offset (20 digits)
 * &lt;directory&gt;/segments/00000000000000001234.seg  ...
 * &lt;directory&gt;/readers/&lt;name&gt;.pos              one per registered reader: "committed=&lt;offset&gt;"
 * &lt;directory&gt;/quarantine/                      only after damage in the middle of the log (see Recovery)
 * </pre>
 *
 * A segment file is nothing but records back to back, each framed as (integers big-endian):
 *
 * <pre>
 * length          u32   number of bytes that follow the CRC: 8 + payload length
 * crc             u32   CRC32C (java.util.zip.CRC32C) of those {@code length} bytes
 * appendedAtMillis i64  wall-clock time of the append
 * payload         length - 8 bytes, exactly as appended (may be empty)
 * </pre>
 *
 * A record therefore takes 16 bytes plus its payload; a length below 8 is impossible, so a zero
 * header is never a record. The writer starts a new segment when the next record would take the
 * current one past {@code segmentBytes} (default 64 MiB); a segment holds at least one record, so no
 * record may be larger than a segment. Segment files are not preallocated: a file is exactly the
 * records it holds. (Zero-filling segments ahead, as some databases do for their logs to make
 * fsyncs cheaper, was measured end to end and was slower here, besides writing everything twice.)
 *
 * <h2>Appending and group commit</h2>
 *
 * {@link #append} copies the payload (the caller may reuse its buffer as soon as the call returns),
 * frames and checksums it on the calling thread, and hands it to the queue's single writer thread.
 * The writer takes every append waiting at that moment as one group, writes the group with as few
 * writes as fit in its 4 MiB staging buffer (one for any group up to that size), and under {@link
 * FsyncPolicy#always()} forces it with a single {@code FileChannel.force(false)} (fdatasync); only
 * then does it complete the group's futures, in offset order. Appends made while a group is being
 * forced form the next group, so many concurrent appenders share one fsync. Appends from one thread
 * get increasing offsets in the order of its calls.
 *
 * <p>What a completed append's future guarantees depends on the {@link FsyncPolicy}:
 *
 * <table>
 *   <caption>Guarantees per fsync policy</caption>
 *   <tr><th>policy</th><th>the future completes after</th><th>a completed append survives</th></tr>
 *   <tr><td>{@code always()} (default)</td><td>write and fdatasync of its group</td>
 *       <td>a process crash (kill -9) and a power loss or kernel crash</td></tr>
 *   <tr><td>{@code interval(d)}</td><td>write to the operating system; the queue forces written
 *       data at most {@code d} later</td><td>a process crash; a power loss can take up to the last
 *       {@code d} of appends</td></tr>
 *   <tr><td>{@code none()}</td><td>write to the operating system; never forced by the queue</td>
 *       <td>a process crash; a power loss can take whatever the OS had not written back</td></tr>
 * </table>
 *
 * Under {@code always()} and {@code interval(d)} a segment is also forced before the next one is
 * started, and a new segment file's directory entry is forced; under {@code none()} nothing is.
 * Readers see a record only once its append could complete: under {@code always()} only durable
 * records are ever delivered.
 *
 * <p>Futures complete on the writer thread. Dependent actions attached with the non-async {@code
 * then...} methods run there and hold up the next group: keep them short (hand off to an event
 * loop), or use the {@code ...Async} variants. They must not block on another append's future nor
 * call {@link #close()} (which refuses).
 *
 * <p>An append fails, without blocking, with:
 *
 * <ul>
 *   <li>{@link IllegalArgumentException}, thrown at once, when the record is larger than a segment
 *       can hold ({@code segmentBytes - 16} bytes of payload; so also never larger than {@code
 *       maxBytes});
 *   <li>a future failed with {@link QueueFullException} when the queue's bytes ({@link
 *       #sizeBytes()}: live segment files plus appends accepted and not yet written) plus this
 *       record would exceed {@code maxBytes}. Nothing in the queue is ever dropped to make room;
 *   <li>a future failed with {@link QueueClosedException} once {@link #close()} has begun;
 *   <li>a future failed with an {@link IOException} when writing failed. A failed write is cut off
 *       the file again and only the appends of its group (those not yet written) fail, and the
 *       queue goes on. A failed fsync, or any other I/O
 *       error of the writer, leaves the queue failed: every later append fails until the queue is
 *       closed and opened again, which recovers from the files as after a crash.
 * </ul>
 *
 * <h2>Readers and space</h2>
 *
 * A {@linkplain #reader(String) reader} is a named position in the queue: the offset of the last
 * record it has {@linkplain QueueReader#commit(long) committed}. Readers are independent; each is
 * registered by its file under {@code readers/}, so a restarted process knows them all. A reader
 * created with a new name starts at the oldest record still on disk. {@link QueueReader#commit} is
 * synchronous and durable: it writes the position to a temporary file, forces it, renames it over
 * the old one and forces the directory (no forces under {@code none()}). After a crash a reader
 * resumes just after its last commit, so records polled but not committed are delivered again
 * (at-least-once). Commit once per delivered batch, not per record.
 *
 * <p>A sealed segment (not the one being written) is deleted as soon as every registered reader has
 * committed all of its records; that is how space comes back. While no reader is registered nothing
 * is deleted, and the queue fills up to {@code maxBytes}. (Deletions are not forced: a deleted
 * segment that a power loss brings back only holds records every reader had committed, and goes
 * again with the next commit.) {@link #removeReader(String)} unregisters
 * a reader that will never come back, so that it no longer holds segments. {@code maxBytes} must be
 * at least twice {@code segmentBytes}, so that a queue whose readers have committed everything
 * always has room for the next record.
 *
 * <h2>Recovery</h2>
 *
 * Opening a queue recovers from whatever state a crash left:
 *
 * <ul>
 *   <li>The last segment is read in full and every record's length and CRC is checked. At the
 *       first record whose header is cut short, whose length runs past the end of the file or is
 *       impossible, or whose CRC32C does not match, the file is truncated, and a WARN says which
 *       file, how many bytes were cut, at which byte and why. Such a torn tail can only hold
 *       appends whose futures had not completed under {@code always()}.
 *   <li>Older segments are checked structurally (their length fields must chain exactly to the
 *       end of the file, and their record count must match the next file's name); their CRCs are
 *       checked as readers read them. Damage there should never happen (the queue forces a segment
 *       before starting the next); if it does, the log is stopped there: that segment is truncated
 *       as above, every later segment file is moved to {@code quarantine/} (kept for inspection,
 *       no longer part of the queue or its size), and an ERROR says so.
 *   <li>A reader whose committed position lies beyond the recovered end (possible only when
 *       records that were not yet forced were lost, under {@code interval} or {@code none}) is
 *       moved back to the end, with a WARN; so new records are never skipped.
 * </ul>
 *
 * When a reader meets a record whose CRC does not match in an older segment, it logs an ERROR and
 * skips it (or, if the length field itself is damaged, the rest of that segment), counting the loss
 * in {@link QueueStats#corruptRecordsSkipped()}, rather than stopping delivery for good.
 *
 * <h2>Threads</h2>
 *
 * {@link #append}, {@link #reader}, {@link #removeReader}, the metrics and {@link #close} may be
 * called from any thread. A {@link QueueReader} must be used by one thread at a time. Readers read
 * with their own file channels and positional reads and hold no lock while reading, so they never
 * hold up appends; a reader blocked in {@link QueueReader#poll} waits on a condition and wakes up as
 * soon as the writer publishes new records (the writer takes that lock only to signal). Only one
 * process (and one {@code DurableQueue} in it) may have a directory open: the lock file enforces
 * it.
 *
 * <p>{@link #close()} stops taking appends, writes (and under {@code always()} and {@code interval}
 * forces) every append accepted before, completes their futures, and then wakes blocked readers,
 * whose polls fail with {@link QueueClosedException}. It is idempotent.
 */
public final class DurableQueue implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DurableQueue.class);

  /** Default {@code maxBytes}: 1 GiB. */
  public static final long DEFAULT_MAX_BYTES = 1L << 30;
  /** Default {@code segmentBytes}: 64 MiB (or half of {@code maxBytes} when that is less). */
  public static final long DEFAULT_SEGMENT_BYTES = 64L << 20;
  /** Smallest segment size. */
  public static final long MIN_SEGMENT_BYTES = 1024;
  /** Largest segment size. */
  public static final long MAX_SEGMENT_BYTES = 1L << 30;

  static final String FORMAT_FILE = "queue.properties";
  static final String LOCK_FILE = "queue.lock";
  static final String POSITION_SUFFIX = ".pos";
  private static final String FORMAT_VERSION = "1";
  private static final Pattern READER_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private final Path directory;
  private final Path readersDir;
  private final FsyncPolicy fsync;
  private final long maxBytes;
  private final long segmentBytes;
  private final SegmentLog segments;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final Map<String, ReaderEntry> readers; // guarded by itself
  private final Object closeLock = new Object();
  private volatile boolean closed;

  /** A registered reader: its position file and committed offset, and its open handle if any. */
  static final class ReaderEntry {
    final String name;
    final Path file;
    volatile long committed;
    QueueReader handle; // guarded by the readers map
    boolean removed; // guarded by this

    ReaderEntry(String name, Path file, long committed) {
      this.name = name;
      this.file = file;
      this.committed = committed;
    }
  }

  private DurableQueue(Builder b, Path directory, SegmentLog segments, FileChannel lockChannel,
      FileLock lock, Map<String, ReaderEntry> readers) {
    this.directory = directory;
    this.readersDir = directory.resolve("readers");
    this.fsync = b.fsync;
    this.maxBytes = b.maxBytes;
    this.segmentBytes = b.effectiveSegmentBytes();
    this.segments = segments;
    this.lockChannel = lockChannel;
    this.lock = lock;
    this.readers = readers;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Settings of a queue; {@link #build()} opens it. */
  public static final class Builder {
    private Path directory;
    private long maxBytes = DEFAULT_MAX_BYTES;
    private long segmentBytes = -1;
    private FsyncPolicy fsync = FsyncPolicy.always();

    private Builder() {}

    /** The queue's directory; created if missing. Required. */
    public Builder directory(Path directory) {
      this.directory = Objects.requireNonNull(directory, "directory");
      return this;
    }

    /** Bound on the queue's bytes on disk (default 1 GiB); at least twice {@code segmentBytes}. */
    public Builder maxBytes(long maxBytes) {
      this.maxBytes = maxBytes;
      return this;
    }

    /**
     * Size at which a segment file is closed and the next started (default 64 MiB, or half of
     * {@code maxBytes} if less); between {@value #MIN_SEGMENT_BYTES} bytes and 1 GiB. Space is
     * reclaimed a whole segment at a time.
     */
    public Builder segmentBytes(long segmentBytes) {
      this.segmentBytes = segmentBytes;
      return this;
    }

    /** When appends are forced to disk (default {@link FsyncPolicy#always()}). */
    public Builder fsync(FsyncPolicy fsync) {
      this.fsync = Objects.requireNonNull(fsync, "fsync");
      return this;
    }

    long effectiveSegmentBytes() {
      return segmentBytes > 0 ? segmentBytes : Math.min(DEFAULT_SEGMENT_BYTES, maxBytes / 2);
    }

    /**
     * Opens the queue, creating the directory if needed and recovering from a crash (see the class
     * documentation).
     *
     * @throws IllegalArgumentException when the settings are inconsistent
     * @throws IOException when the directory cannot be used: not a directory, locked by another
     *     process or already open here, of another format, or unreadable
     */
    public DurableQueue build() throws IOException {
      if (directory == null) {
        throw new IllegalArgumentException("the queue needs a directory");
      }
      if (maxBytes <= 0) {
        throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
      }
      long segment = effectiveSegmentBytes();
      if (segment < MIN_SEGMENT_BYTES || segment > MAX_SEGMENT_BYTES) {
        throw new IllegalArgumentException("segmentBytes must be between " + MIN_SEGMENT_BYTES
            + " and " + MAX_SEGMENT_BYTES + ": " + segment
            + (segmentBytes > 0 ? "" : " (half of maxBytes " + maxBytes + ")"));
      }
      if (maxBytes < 2 * segment) {
        throw new IllegalArgumentException("maxBytes (" + maxBytes + ") must be at least twice"
            + " segmentBytes (" + segment + "), so that a fully consumed queue always has room"
            + " for the next record");
      }
      return open(this);
    }
  }

  private static DurableQueue open(Builder b) throws IOException {
    Path dir = b.directory.toAbsolutePath().normalize();
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IOException("cannot open the queue at " + dir + ": it exists and is not a directory");
    }
    try {
      Files.createDirectories(dir);
    } catch (FileAlreadyExistsException e) {
      throw new IOException("cannot open the queue at " + dir + ": " + e.getFile()
          + " exists and is not a directory", e);
    }
    Path lockFile = dir.resolve(LOCK_FILE);
    FileChannel lockChannel =
        FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = lockChannel.tryLock();
    } catch (OverlappingFileLockException e) {
      lockChannel.close();
      throw new IOException("the queue at " + dir + " is already open in this process");
    } catch (IOException e) {
      lockChannel.close();
      throw e;
    }
    if (lock == null) {
      lockChannel.close();
      throw new IOException("the queue at " + dir + " is in use by another process ("
          + lockFile + " is locked)");
    }
    SegmentLog segments = null;
    try {
      checkFormat(dir, b.fsync);
      Path readersDir = dir.resolve("readers");
      Files.createDirectories(readersDir);
      Map<String, ReaderEntry> readers = loadReaders(readersDir);
      long emptyStart = 0;
      for (ReaderEntry e : readers.values()) {
        emptyStart = Math.max(emptyStart, e.committed + 1);
      }
      segments = SegmentLog.open(dir, b.effectiveSegmentBytes(), b.maxBytes, b.fsync, emptyStart);
      DurableQueue queue = new DurableQueue(b, dir, segments, lockChannel, lock, readers);
      queue.clampReaders();
      log.info("Opened queue {}: offsets {} to {}, {} bytes in {} segment(s), readers {}, fsync {}",
          dir, segments.oldestOffset(), segments.publishedEnd(), segments.usedBytes(),
          segments.stats().segments(), readers.keySet(), b.fsync);
      return queue;
    } catch (IOException | RuntimeException | Error e) {
      if (segments != null) {
        segments.close();
      }
      try {
        lock.release();
        lockChannel.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  private static void checkFormat(Path dir, FsyncPolicy fsync) throws IOException {
    Path file = dir.resolve(FORMAT_FILE);
    if (Files.exists(file)) {
      Properties p = new Properties();
      p.load(new StringReader(Files.readString(file, StandardCharsets.UTF_8)));
      String format = p.getProperty("format");
      if (!FORMAT_VERSION.equals(format)) {
        throw new IOException("the queue at " + dir + " has format " + format + " (" + file
            + "); this version reads format " + FORMAT_VERSION);
      }
    } else {
      writeAtomically(file, ("# Sluice durable queue; do not edit\nformat=" + FORMAT_VERSION
          + "\n").getBytes(StandardCharsets.UTF_8), fsync.mode() != FsyncPolicy.Mode.NONE);
    }
  }

  private static Map<String, ReaderEntry> loadReaders(Path readersDir) throws IOException {
    Map<String, ReaderEntry> readers = new TreeMap<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(readersDir)) {
      for (Path file : files) {
        String fileName = file.getFileName().toString();
        if (fileName.endsWith(".tmp")) {
          Files.deleteIfExists(file); // a commit interrupted by a crash: the old file is intact
          continue;
        }
        String name = fileName.endsWith(POSITION_SUFFIX)
            ? fileName.substring(0, fileName.length() - POSITION_SUFFIX.length())
            : null;
        if (name == null || !READER_NAME.matcher(name).matches()) {
          log.warn("Ignoring unexpected file {} in the queue's reader directory", file);
          continue;
        }
        long committed = -1;
        try {
          Properties p = new Properties();
          p.load(new StringReader(Files.readString(file, StandardCharsets.UTF_8)));
          committed = Long.parseLong(Objects.requireNonNull(p.getProperty("committed")).trim());
          if (committed < -1) {
            throw new NumberFormatException("negative offset " + committed);
          }
        } catch (RuntimeException e) {
          log.warn("Unreadable position of queue reader {} in {} ({}); it starts again at the"
              + " oldest record", name, file, e.toString());
          committed = -1; // clamped up to the oldest record below
        }
        readers.put(name, new ReaderEntry(name, file, committed));
      }
    }
    return readers;
  }

  /** Brings every reader's position inside the recovered log. */
  private void clampReaders() throws IOException {
    long oldest = segments.oldestOffset();
    long end = segments.publishedEnd();
    for (ReaderEntry e : readers.values()) {
      long next = e.committed + 1;
      if (next > end) {
        log.warn("Queue reader {} had committed up to offset {} but the recovered log's last"
                + " record has offset {} (records not yet synced were lost); it continues with"
                + " the next record appended, offset {}", e.name, e.committed, end - 1, end);
        writePosition(e, end - 1);
      } else if (next < oldest) {
        if (e.committed >= 0) {
          log.warn("Queue reader {} had committed up to offset {} but the oldest record on disk"
              + " has offset {}; it continues from there", e.name, e.committed, oldest);
        }
        writePosition(e, oldest - 1);
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Appending

  /**
   * Appends a copy of {@code payload}. The returned future completes with the record's offset when
   * the record is written (and, under {@link FsyncPolicy#always()}, forced to disk).
   *
   * @throws IllegalArgumentException when the payload is larger than a segment can hold
   */
  public CompletableFuture<Long> append(byte[] payload) {
    Objects.requireNonNull(payload, "payload");
    return append(ByteBuffer.wrap(payload));
  }

  /**
   * Appends a copy of the bytes between {@code payload}'s position and limit; the buffer's position
   * is not changed. Otherwise as {@link #append(byte[])}.
   */
  public CompletableFuture<Long> append(ByteBuffer payload) {
    Objects.requireNonNull(payload, "payload");
    if (closed) { // SegmentLog decides for appends racing with close()
      return CompletableFuture.failedFuture(
          new QueueClosedException("the queue at " + directory + " is closed"));
    }
    return segments.append(payload);
  }

  // -----------------------------------------------------------------------------------------------
  // Readers

  /**
   * Opens the reader called {@code name}, registering it (at the oldest record on disk) if the
   * queue does not know it yet. A reader has one open handle at a time: close the previous one
   * before asking again.
   *
   * @param name letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128
   * @throws IllegalStateException when the reader is already open
   * @throws QueueClosedException when the queue is closed
   */
  public QueueReader reader(String name) throws IOException {
    checkName(name);
    synchronized (readers) {
      checkOpen();
      ReaderEntry entry = readers.get(name);
      if (entry == null) {
        entry = new ReaderEntry(name, readersDir.resolve(name + POSITION_SUFFIX), -1);
        writePosition(entry, segments.oldestOffset() - 1);
        readers.put(name, entry);
        log.info("Registered queue reader {} at offset {}", name, entry.committed + 1);
      } else if (entry.handle != null) {
        throw new IllegalStateException("queue reader " + name + " is already open");
      }
      QueueReader reader = new QueueReader(this, segments, entry);
      reader.seek(entry.committed + 1);
      entry.handle = reader;
      return reader;
    }
  }

  /**
   * Unregisters a reader and deletes its position, so that it no longer holds segments on disk. An
   * open handle of it is closed.
   *
   * @return false when no reader had that name
   */
  public boolean removeReader(String name) throws IOException {
    checkName(name);
    QueueReader handle;
    synchronized (readers) {
      checkOpen();
      ReaderEntry entry = readers.remove(name);
      if (entry == null) {
        return false;
      }
      synchronized (entry) {
        entry.removed = true;
        Files.deleteIfExists(entry.file);
      }
      if (syncs()) {
        fsyncDirectory(readersDir);
      }
      handle = entry.handle;
      entry.handle = null;
      log.info("Removed queue reader {} (it had committed up to offset {})", name, entry.committed);
    }
    if (handle != null) {
      handle.detached("queue reader " + name + " was removed");
    }
    deleteConsumedSegments();
    return true;
  }

  /** The names of the registered readers. */
  public Set<String> readerNames() {
    synchronized (readers) {
      return new TreeSet<>(readers.keySet());
    }
  }

  private static void checkName(String name) {
    Objects.requireNonNull(name, "name");
    if (!READER_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("invalid queue reader name '" + name + "': use letters,"
          + " digits, '.', '_' and '-', starting with a letter or digit, at most 128");
    }
  }

  /** Writes a reader's position atomically and durably, then takes it as the committed offset. */
  void writePosition(ReaderEntry entry, long committed) throws IOException {
    synchronized (entry) {
      if (entry.removed) {
        throw new QueueClosedException("queue reader " + entry.name + " was removed");
      }
      writeAtomically(entry.file,
          ("# position of queue reader " + entry.name + ": last committed offset\ncommitted="
              + committed + "\n").getBytes(StandardCharsets.UTF_8), syncs());
      entry.committed = committed;
    }
  }

  void detach(ReaderEntry entry, QueueReader handle) {
    synchronized (readers) {
      if (entry.handle == handle) {
        entry.handle = null;
      }
    }
  }

  /** Deletes the sealed segments that every registered reader has committed past. */
  void deleteConsumedSegments() {
    synchronized (readers) {
      if (readers.isEmpty() || closed) {
        return;
      }
      segments.deleteSegmentsBelow(minNextOffset());
    }
  }

  private long minNextOffset() {
    long min = Long.MAX_VALUE;
    for (ReaderEntry e : readers.values()) {
      min = Math.min(min, e.committed + 1);
    }
    return min;
  }

  // -----------------------------------------------------------------------------------------------
  // Metrics

  /** Bytes of live segment files plus appends accepted and not yet written. */
  public long sizeBytes() {
    return segments.usedBytes();
  }

  public long maxBytes() {
    return maxBytes;
  }

  public long segmentBytes() {
    return segmentBytes;
  }

  public FsyncPolicy fsyncPolicy() {
    return fsync;
  }

  public Path directory() {
    return directory;
  }

  /** Offset of the oldest record still on disk (equals {@link #endOffset()} when there is none). */
  public long oldestOffset() {
    return segments.oldestOffset();
  }

  /** The offset the next readable record will have: every record below it can be read. */
  public long endOffset() {
    return segments.publishedEnd();
  }

  /**
   * How long ago the oldest record that some registered reader has not committed was appended; 0
   * when every reader has committed everything or no reader is registered.
   */
  public long oldestUncommittedAgeMillis() {
    synchronized (readers) {
      if (readers.isEmpty() || closed) {
        return 0;
      }
      long min = minNextOffset();
      if (min >= segments.publishedEnd()) {
        return 0;
      }
      try {
        return Math.max(0, System.currentTimeMillis() - segments.appendedAtMillis(min));
      } catch (IOException e) {
        log.warn("Could not read the time of the record at offset {}", min, e);
        return 0;
      }
    }
  }

  /** Counters and sizes, for metrics and tests. */
  public QueueStats stats() {
    return segments.stats();
  }

  // -----------------------------------------------------------------------------------------------
  // Closing

  void checkOpen() {
    if (closed) {
      throw new QueueClosedException("the queue at " + directory + " is closed");
    }
  }

  private boolean syncs() {
    return fsync.mode() != FsyncPolicy.Mode.NONE;
  }

  /**
   * Stops taking appends, finishes every append accepted before (see the class documentation),
   * closes the readers and releases the directory. Idempotent.
   */
  @Override
  public void close() {
    if (segments.isWriterThread()) {
      throw new IllegalStateException("close() called from an append callback on the queue's"
          + " writer thread, which close() has to wait for; close from another thread");
    }
    synchronized (closeLock) {
      if (closed) {
        return;
      }
      closed = true;
      segments.close();
      List<QueueReader> handles = new ArrayList<>();
      synchronized (readers) {
        for (ReaderEntry e : readers.values()) {
          if (e.handle != null) {
            handles.add(e.handle);
            e.handle = null;
          }
        }
      }
      handles.forEach(h -> h.detached("the queue at " + directory + " is closed"));
      try {
        lock.release();
        lockChannel.close();
      } catch (IOException e) {
        log.warn("Could not release the lock of queue {}", directory, e);
      }
      log.info("Closed queue {} at offset {}", directory, segments.publishedEnd());
    }
  }

  @Override
  public String toString() {
    return "DurableQueue{" + directory + "}";
  }

  // -----------------------------------------------------------------------------------------------
  // File helpers

  /** Replaces {@code file} with {@code content}: temp file, fsync, rename, fsync directory. */
  static void writeAtomically(Path file, byte[] content, boolean sync) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE,
        StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
      ByteBuffer buffer = ByteBuffer.wrap(content);
      while (buffer.hasRemaining()) {
        ch.write(buffer);
      }
      if (sync) {
        ch.force(true);
      }
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    if (sync) {
      fsyncDirectory(file.getParent());
    }
  }

  /** Makes a directory's entries (created, renamed files) durable. */
  static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}
