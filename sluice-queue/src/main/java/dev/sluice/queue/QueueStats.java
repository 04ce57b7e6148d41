package dev.sluice.queue;

/**
 * A snapshot of a queue's counters, for metrics and tests. Counters count since the queue was
 * opened.
 *
 * @param sizeBytes bytes of live segment files plus appends accepted but not yet written
 * @param maxBytes the configured bound on {@code sizeBytes}
 * @param segments live segment files
 * @param oldestOffset offset of the oldest record still on disk (equal to {@code endOffset} when
 *     the queue is empty)
 * @param endOffset offset the next readable record will have: every record below it is readable
 * @param appends appends completed successfully
 * @param writeGroups groups of appends written by the writer thread (one write, one fsync each)
 * @param fsyncs forces of segment data to disk
 * @param bytesWritten framed bytes written to segment files
 * @param rejectedFull appends refused with {@link QueueFullException}
 * @param corruptRecordsSkipped records readers skipped because their checksum did not match
 */
public record QueueStats(
    long sizeBytes,
    long maxBytes,
    int segments,
    long oldestOffset,
    long endOffset,
    long appends,
    long writeGroups,
    long fsyncs,
    long bytesWritten,
    long rejectedFull,
    long corruptRecordsSkipped) {}
