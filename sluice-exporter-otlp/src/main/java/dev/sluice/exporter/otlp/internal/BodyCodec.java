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
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Objects;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Turns the protobuf bytes of a request into a request body (encoding, then compression) and back
 * (for the dead-letter file). Thread-safe.
 */
public final class BodyCodec {
  /** gzip at the fastest level: a gateway compresses everything it forwards. */
  static final int GZIP_LEVEL = Deflater.BEST_SPEED;
  /** zstd's default level. */
  static final int ZSTD_LEVEL = 3;

  private final Encoding encoding;
  private final Compression compression;
  private final ByteBufAllocator alloc;

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

  /**
   * The body for the protobuf request {@code request}; the caller owns the returned buffer.
   *
   * @throws EncodingException when the request cannot be converted to JSON
   */
  public ByteBuf encode(Signal signal, byte[] request) {
    byte[] encoded = encoding == Encoding.JSON ? toJson(signal, request) : request;
    switch (compression) {
      case NONE:
        return Unpooled.wrappedBuffer(encoded);
      case ZSTD:
        return Unpooled.wrappedBuffer(Zstd.compress(encoded, ZSTD_LEVEL));
      default:
        return gzip(encoded);
    }
  }

  private ByteBuf gzip(byte[] data) {
    // Fast-compressible telemetry often shrinks 5-10 times; start small and let the buffer grow.
    ByteBuf out = alloc.heapBuffer(Math.max(64, data.length / 4));
    boolean ok = false;
    try (OutputStream gz = new LevelGzipOutputStream(new ByteBufOutputStream(out), GZIP_LEVEL)) {
      gz.write(data);
      ok = true;
    } catch (IOException e) {
      throw new UncheckedIOException(e); // writing to memory does not fail
    } finally {
      if (!ok) {
        out.release();
      }
    }
    return out;
  }

  /** Converts the protobuf request to OTLP/JSON. */
  public static byte[] toJson(Signal signal, byte[] request) {
    Message m;
    try {
      m = signal.parseRequest(request, 0, request.length);
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

  private static final class LevelGzipOutputStream extends GZIPOutputStream {
    LevelGzipOutputStream(OutputStream out, int level) throws IOException {
      super(out, 8192);
      def.setLevel(level);
    }
  }
}
