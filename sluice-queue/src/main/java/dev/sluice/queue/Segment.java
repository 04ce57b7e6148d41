package dev.sluice.queue;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * One segment file as the queue knows it: its first offset, how much of it readers may see, whether
 * it is sealed (no longer written), and a sparse in-memory index from offsets to byte positions.
 *
 * <p>The writer thread is the only one that publishes extents and seals; readers read the volatile
 * extent and then read no byte beyond it.
 */
final class Segment {
  /** One index entry per this many records. */
  static final int INDEX_INTERVAL = 64;

  /** How far readers may read: records below {@code endOffset}, bytes below {@code bytes}. */
  record Extent(long endOffset, long bytes) {}

  final long baseOffset;
  final Path path;
  private volatile Extent extent;
  private volatile boolean sealed;

  // positions of records baseOffset + k * INDEX_INTERVAL
  private long[] index = new long[8];
  private int indexCount;

  Segment(long baseOffset, Path path) {
    this.baseOffset = baseOffset;
    this.path = path;
    this.extent = new Extent(baseOffset, 0);
  }

  Extent extent() {
    return extent;
  }

  void publish(long endOffset, long bytes) {
    extent = new Extent(endOffset, bytes);
  }

  boolean sealed() {
    return sealed;
  }

  void seal() {
    sealed = true;
  }

  /** Notes where record {@code offset} starts; keeps only every INDEX_INTERVAL-th, in order. */
  synchronized void indexRecord(long offset, long position) {
    long rel = offset - baseOffset;
    if (rel % INDEX_INTERVAL != 0 || rel / INDEX_INTERVAL != indexCount) {
      return;
    }
    if (indexCount == index.length) {
      index = Arrays.copyOf(index, indexCount * 2);
    }
    index[indexCount++] = position;
  }

  /**
   * The nearest indexed record at or before {@code offset}: {@code {recordOffset, bytePosition}}.
   */
  synchronized long[] indexFloor(long offset) {
    if (indexCount == 0) {
      return new long[] {baseOffset, 0};
    }
    long k = Math.min((offset - baseOffset) / INDEX_INTERVAL, indexCount - 1);
    return new long[] {baseOffset + k * INDEX_INTERVAL, index[(int) k]};
  }

  @Override
  public String toString() {
    return path.getFileName() + extent.toString();
  }
}
