package dev.sluice.pipeline.export.file;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line-oriented file, {@code <dir>/<base>.jsonl}, that is renamed to a timestamped backup when
 * the next line would make it larger than a limit; used by one thread only.
 */
final class RotatingFile implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(RotatingFile.class);
  private static final DateTimeFormatter STAMP =
      DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC);
  private static final int BUFFER_BYTES = 64 * 1024;

  private final Path dir;
  private final String base;
  private final Path path;
  private final long maxBytes;
  private final int maxBackups;
  private final Clock clock;
  private final Pattern backupName;

  private FileChannel channel;
  private OutputStream out;
  /** Bytes in the file including what is still buffered. */
  private long size;
  /** Bytes known to have reached the OS: the last flush's {@link #size}. */
  private long flushedSize;
  /** The last write or flush failed, so the file may end in part of a line past flushedSize. */
  private boolean torn;
  /** The name of the last rotation, to keep the next one after it. */
  private String lastStamp;
  private int lastCounter;

  RotatingFile(Path dir, String base, long maxBytes, int maxBackups, Clock clock) {
    this.dir = dir;
    this.base = base;
    this.path = dir.resolve(base + ".jsonl");
    this.maxBytes = maxBytes;
    this.maxBackups = maxBackups;
    this.clock = clock;
    this.backupName =
        Pattern.compile(Pattern.quote(base) + "-(\\d{8}T\\d{6}\\.\\d{3}Z)(?:-(\\d{1,9}))?\\.jsonl");
  }

  /** The file lines are appended to. */
  Path path() {
    return path;
  }

  /**
   * Whether a record of {@code recordBytes} (newline included) does not fit in the current file and
   * the file must be rotated first. A file that is still empty takes any record, so a single line
   * larger than the limit gets a file of its own instead of being refused or split.
   */
  boolean mustRotateBefore(long recordBytes) throws IOException {
    open();
    return size > 0 && size + recordBytes > maxBytes;
  }

  /** Appends {@code line} and a newline to the buffer; {@link #flush} hands them to the OS. */
  void append(byte[] line) throws IOException {
    open();
    out.write(line);
    out.write('\n');
    size += line.length + 1L;
  }

  void flush() throws IOException {
    if (out == null) {
      return;
    }
    try {
      out.flush();
    } catch (IOException e) {
      torn = true;
      throw e;
    }
    flushedSize = size;
  }

  /**
   * Closes the current file, renames it to {@code <base>-<UTC stamp>.jsonl} and deletes the oldest
   * backups beyond the limit; the next append opens a fresh file.
   *
   * @return the backup's path
   */
  Path rotate() throws IOException {
    close();
    Path backup = moveAside();
    size = 0;
    flushedSize = 0;
    pruneBackups();
    return backup;
  }

  /**
   * Forgets the open file after a failed write without flushing what is buffered; the next append
   * reopens it and first cuts off whatever part of a line the failure left behind.
   */
  void abandon() {
    if (channel == null) {
      return;
    }
    torn = true;
    try {
      channel.close(); // not out.close(): that would try to flush the buffer again
    } catch (IOException e) {
      LOG.debug("closing {} after a failed write also failed", path, e);
    }
    channel = null;
    out = null;
  }

  /** Flushes and closes the current file, if one is open. */
  @Override
  public void close() throws IOException {
    if (out == null) {
      return;
    }
    OutputStream o = out;
    out = null;
    channel = null;
    try {
      o.close(); // flushes, then closes the channel even when the flush fails
      flushedSize = size;
    } catch (IOException e) {
      torn = true;
      throw e;
    }
  }

  private void open() throws IOException {
    if (out != null) {
      return;
    }
    // Created again here and not only at start: someone may have removed the directory since.
    Files.createDirectories(dir);
    // READ too: the last byte is looked at to repair a line cut short by a crash.
    FileChannel ch = FileChannel.open(
        path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      long existing = ch.size();
      if (torn && existing > flushedSize) {
        // Our own last write failed halfway: cut the partial line so every line stays whole.
        ch.truncate(flushedSize);
        existing = flushedSize;
      }
      torn = false;
      ch.position(existing);
      if (existing > 0 && lastByte(ch, existing) != '\n') {
        // A file left by a crash may end in part of a line; our first line must not join it.
        ch.write(ByteBuffer.wrap(new byte[] {'\n'}));
        existing++;
      }
      size = existing;
      flushedSize = existing;
      channel = ch;
      out = new BufferedOutputStream(Channels.newOutputStream(ch), BUFFER_BYTES);
    } catch (IOException | RuntimeException e) {
      try {
        ch.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  private static byte lastByte(FileChannel ch, long size) throws IOException {
    ByteBuffer one = ByteBuffer.allocate(1);
    while (one.hasRemaining()) {
      if (ch.read(one, size - 1) < 0) {
        return '\n'; // shrank under us; nothing to repair
      }
    }
    return one.get(0);
  }

  private Path moveAside() throws IOException {
    String stamp = STAMP.format(clock.instant());
    int counter = 0;
    if (lastStamp != null && stamp.compareTo(lastStamp) <= 0) {
      // Same millisecond as the last rotation, or the clock went back: continue the last name's
      // counter so that names keep sorting oldest first. Reusing a name that pruning freed would
      // make the newest file look like the oldest one, and the next pruning would delete it.
      stamp = lastStamp;
      counter = lastCounter + 1;
    }
    while (true) {
      Path target = dir.resolve(base + "-" + stamp + (counter == 0 ? "" : "-" + counter) + ".jsonl");
      try {
        // No REPLACE_EXISTING: a file left by an earlier run under this name must not be lost.
        Path moved = Files.move(path, target);
        lastStamp = stamp;
        lastCounter = counter;
        return moved;
      } catch (FileAlreadyExistsException e) {
        counter++;
      }
    }
  }

  private void pruneBackups() {
    if (maxBackups == 0) {
      return;
    }
    List<Backup> backups = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, base + "-*.jsonl")) {
      for (Path p : files) {
        Matcher m = backupName.matcher(p.getFileName().toString());
        if (m.matches()) {
          int counter = m.group(2) == null ? 0 : Integer.parseInt(m.group(2));
          backups.add(new Backup(p, m.group(1), counter));
        }
      }
    } catch (IOException | RuntimeException e) {
      // The line that caused the rotation was written; a failed clean-up must not fail it.
      LOG.warn("cannot list old files in {} to keep only {}: {}", dir, maxBackups, e.toString());
      return;
    }
    if (backups.size() <= maxBackups) {
      return;
    }
    // Sorted by stamp, then counter: a plain name sort would put "-1.jsonl" before ".jsonl".
    backups.sort(Comparator.comparing(Backup::stamp).thenComparingInt(Backup::counter));
    for (Backup b : backups.subList(0, backups.size() - maxBackups)) {
      try {
        Files.deleteIfExists(b.path());
      } catch (IOException e) {
        LOG.warn("cannot delete old file {}: {}", b.path(), e.toString());
      }
    }
  }

  private record Backup(Path path, String stamp, int counter) {}
}
