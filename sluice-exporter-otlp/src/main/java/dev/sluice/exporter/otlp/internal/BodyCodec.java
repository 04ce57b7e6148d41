package dev.sluice.exporter.otlp.internal;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.exporter.otlp.Compression;
import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;

/**
 * Turns the protobuf bytes of a request into a request body (encoding, then compression) and back
 * (for the dead-letter file). Thread-safe.
 */
public final class BodyCodec {
  /** gzip at the fastest level: a gateway compresses everything it forwards. */
  static final int GZIP_LEVEL = Deflater.BEST_SPEED;
  /** zstd's default level. */
  static final int ZSTD_LEVEL = 3;
  /** A gzip member header: deflate, no flags, no time, no extra flags, unknown OS. */
  private static final byte[] GZIP_HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};
  /** The least room offered to the deflater per call. */
  private static final int DEFLATE_STEP = 8192;

  private final Encoding encoding;
  private final Compression compression;
  private final ByteBufAllocator alloc;
  /**
   * Idle deflaters, at most one per thread that ever compressed at once (the exporter's workers).
   * They are not ended: their native memory is freed when the codec is collected (the JDK
   * registers a cleaner for each), which keeps a body being compressed while the exporter closes
   * safe.
   */
  private final Queue<Deflater> deflaters = new ConcurrentLinkedQueue<>();

  public BodyCodec(Encoding encoding, Compression compression, ByteBufAllocator alloc) {
    this.encoding = Objects.requireNonNull(encoding, "encoding");
    this.compression = Objects.requireNonNull(compression, "compression");
    this.alloc = Objects.requireNonNull(alloc, "alloc");
  }

  public Encoding encoding() {
    return encoding;
  }

  public Compression compression() {
    return compression;
  }

  public ByteBufAllocator allocator() {
    return alloc;
  }

  /**
   * The body for the protobuf request {@code request}; the caller owns the returned buffer.
   *
   * @throws EncodingException when the request cannot be converted to JSON
   */
  public ByteBuf encode(Signal signal, byte[] request) {
    ByteBuf in = Unpooled.wrappedBuffer(request);
    try {
      return encode(signal, in);
    } finally {
      in.release();
    }
  }

  /**
   * The body for the protobuf request in {@code request}'s readable bytes (one buffer or a
   * composite of several, heap or direct), without copying it where the encoding allows: without
   * compression the body is a retained duplicate of {@code request}, gzip reads it in place. The
   * caller keeps its reference to {@code request} and owns the returned buffer.
   *
   * @throws EncodingException when the request cannot be converted to JSON
   */
  public ByteBuf encode(Signal signal, ByteBuf request) {
    if (encoding == Encoding.JSON) {
      return compress(Unpooled.wrappedBuffer(toJson(signal, request)));
    }
    return compress(request.retainedDuplicate());
  }

  /** Compresses and releases {@code plain}; the caller owns the returned buffer. */
  private ByteBuf compress(ByteBuf plain) {
    switch (compression) {
      case NONE:
        return writable(plain);
      case ZSTD:
        try {
          return Unpooled.wrappedBuffer(Zstd.compress(array(plain), ZSTD_LEVEL));
        } finally {
          plain.release();
        }
      default:
        try {
          return gzip(plain);
        } finally {
          plain.release();
        }
    }
  }

  /**
   * {@code plain}, or a copy the transport writes without another: a direct buffer, or a
   * composite of direct ones, goes to the socket as it is (a gathering write), and so does one
   * heap buffer (the transport copies it into a pooled direct buffer). A composite with heap parts
   * would be gathered into a fresh heap array first ({@code CompositeByteBuf.nioBuffer}), garbage
   * the size of the request, so it is copied here, once, part by part, into a pooled buffer.
   * Releases {@code plain} when it copies.
   */
  private ByteBuf writable(ByteBuf plain) {
    if (plain.isDirect() || plain.nioBufferCount() == 1) {
      return plain;
    }
    try {
      ByteBuf out = alloc.ioBuffer(plain.readableBytes());
      for (ByteBuffer part : plain.nioBuffers()) {
        out.writeBytes(part);
      }
      return out;
    } finally {
      plain.release();
    }
  }

  /** The readable bytes as an array of their own (zstd-jni compresses arrays or direct buffers). */
  private static byte[] array(ByteBuf b) {
    if (b.hasArray() && b.arrayOffset() == 0 && b.readerIndex() == 0
        && b.readableBytes() == b.array().length) {
      return b.array();
    }
    return ByteBufUtil.getBytes(b);
  }

  /**
   * Gzip (RFC 1952) with a pooled {@link Deflater} that reads the input in place (each component
   * of a composite in turn) and writes straight into the pooled output buffer: no copy of the
   * request, no garbage per request but the output buffer's growth. {@code GZIPOutputStream} would
   * need an array of the input, an 8 KiB staging buffer and a new deflater for every request.
   */
  private ByteBuf gzip(ByteBuf data) {
    int length = data.readableBytes();
    // Fast-compressible telemetry often shrinks 5-10 times; start small and let the buffer grow.
    // An I/O (direct) buffer where the platform allows: the deflater writes to it as easily as to
    // an array, and the transport then writes it without copying.
    ByteBuf out = alloc.ioBuffer(Math.max(64, length / 4));
    Deflater deflater = deflaters.poll();
    if (deflater == null) {
      deflater = new Deflater(GZIP_LEVEL, true);
    }
    boolean ok = false;
    try {
      CRC32 crc = new CRC32();
      out.writeBytes(GZIP_HEADER);
      for (ByteBuffer in : data.nioBuffers()) {
        int start = in.position();
        crc.update(in);
        in.position(start);
        deflater.setInput(in);
        while (!deflater.needsInput()) {
          deflateInto(deflater, out);
        }
      }
      deflater.finish();
      while (!deflater.finished()) {
        deflateInto(deflater, out);
      }
      out.writeIntLE((int) crc.getValue());
      out.writeIntLE(length);
      ok = true;
      return out;
    } finally {
      if (!ok) {
        out.release();
      }
      deflater.reset();
      deflaters.offer(deflater);
    }
  }

  /** Deflates into {@code out}'s writable space, growing it when full. */
  private static void deflateInto(Deflater deflater, ByteBuf out) {
    out.ensureWritable(DEFLATE_STEP);
    int n;
    if (out.hasArray()) {
      n = deflater.deflate(out.array(), out.arrayOffset() + out.writerIndex(), out.writableBytes());
    } else {
      n = deflater.deflate(out.internalNioBuffer(out.writerIndex(), out.writableBytes()));
    }
    out.writerIndex(out.writerIndex() + n);
  }

  /** Converts the protobuf request in {@code request}'s readable bytes to OTLP/JSON. */
  private static byte[] toJson(Signal signal, ByteBuf request) {
    if (request.hasArray()) {
      return toJson(signal, request.array(), request.arrayOffset() + request.readerIndex(),
          request.readableBytes());
    }
    byte[] b = ByteBufUtil.getBytes(request);
    return toJson(signal, b, 0, b.length);
  }

  /** Converts the protobuf request to OTLP/JSON. */
  public static byte[] toJson(Signal signal, byte[] request) {
    return toJson(signal, request, 0, request.length);
  }

  private static byte[] toJson(Signal signal, byte[] request, int offset, int length) {
    Message m;
    try {
      m = signal.parseRequest(request, offset, length);
    } catch (InvalidProtocolBufferException e) {
      throw new EncodingException("the " + signal.id() + " request is not valid protobuf: "
          + e.getMessage(), e);
    }
    try {
      return OtlpJsonCodec.toJsonBytes(m);
    } catch (RuntimeException e) {
      throw new EncodingException("cannot write the " + signal.id() + " request as JSON: " + e, e);
    }
  }

  /** Undoes the compression of a body made by {@link #encode}; does not release it. */
  public byte[] decompress(ByteBuf body) throws IOException {
    if (compression == Compression.NONE) {
      byte[] out = new byte[body.readableBytes()];
      body.getBytes(body.readerIndex(), out);
      return out;
    }
    try (InputStream in = compression == Compression.GZIP
        ? new GZIPInputStream(new ByteBufInputStream(body.duplicate(), false))
        : new ZstdInputStreamNoFinalizer(new ByteBufInputStream(body.duplicate(), false))) {
      ByteArrayOutputStream out = new ByteArrayOutputStream(body.readableBytes() * 4);
      in.transferTo(out);
      return out.toByteArray();
    }
  }

  /** A request could not be encoded; sending it cannot succeed. */
  public static final class EncodingException extends RuntimeException {
    EncodingException(String message, Throwable cause) {
      super(message, cause);
    }
  }

}
