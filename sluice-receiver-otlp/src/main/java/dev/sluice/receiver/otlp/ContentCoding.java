package dev.sluice.receiver.otlp;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufInputStream;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;

/**
 * The {@code Content-Encoding} values the receiver takes, and their decompression with a limit on
 * the output, so that a small compressed bomb costs no more than the limit before it is refused.
 */
enum ContentCoding {
  IDENTITY("none"),
  GZIP("gzip"),
  DEFLATE("deflate"),
  ZSTD("zstd");

  final String label;

  ContentCoding(String label) {
    this.label = label;
  }

  /** Returns the coding named by a {@code Content-Encoding} header, or null if unsupported. */
  static ContentCoding of(String header) {
    if (header == null) {
      return IDENTITY;
    }
    switch (header.trim().toLowerCase(Locale.ROOT)) {
      case "":
      case "identity":
        return IDENTITY;
      case "gzip":
      case "x-gzip":
        return GZIP;
      case "deflate":
        return DEFLATE;
      case "zstd":
        return ZSTD;
      default:
        return null;
    }
  }

  /**
   * Decompresses {@code body} into a new heap buffer of at most {@code limit} bytes. Does not
   * release {@code body}.
   */
  ByteBuf decode(ByteBuf body, ByteBufAllocator alloc, long limit)
      throws RequestRefusedException {
    ByteBuf out = alloc.heapBuffer(Math.min(Math.max(body.readableBytes() * 4, 4096), 1 << 20));
    boolean ok = false;
    try (InputStream in = open(new ByteBufInputStream(body.duplicate(), false))) {
      while (true) {
        if (out.writableBytes() == 0) {
          if (out.capacity() >= limit) {
            if (in.read() < 0) {
              break; // exactly at the limit
            }
            throw tooLarge(limit);
          }
          out.capacity((int) Math.min(limit, (long) out.capacity() * 2));
        }
        int n = out.writeBytes(in, out.writableBytes());
        if (n < 0) {
          break;
        }
      }
      ok = true;
      return out;
    } catch (IOException e) {
      throw new RequestRefusedException(
          HttpResponseStatus.BAD_REQUEST,
          "decompression_error",
          "the body does not decompress as " + label + ": " + message(e));
    } finally {
      if (!ok) {
        out.release();
      }
    }
  }

  static RequestRefusedException tooLarge(long limit) {
    return new RequestRefusedException(
        HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
        "too_large",
        "the decompressed body is larger than max_request_body_size (" + limit + " bytes)");
  }

  private InputStream open(ByteBufInputStream raw) throws IOException {
    switch (this) {
      case GZIP:
        return new GZIPInputStream(raw, 8192);
      case DEFLATE:
        // HTTP's deflate is the zlib format; some clients send a raw deflate stream instead.
        return new InflaterInputStream(raw, new Inflater(!looksLikeZlib(raw)), 8192) {
          @Override
          public void close() throws IOException {
            super.close();
            inf.end();
          }
        };
      case ZSTD:
        return new ZstdInputStreamNoFinalizer(raw);
      default:
        return raw;
    }
  }

  private static boolean looksLikeZlib(ByteBufInputStream in) throws IOException {
    in.mark(2);
    int cmf = in.read();
    int flg = in.read();
    in.reset();
    return cmf >= 0 && flg >= 0 && (cmf & 0x0F) == 8 && ((cmf << 8) | flg) % 31 == 0;
  }

  private static String message(IOException e) {
    return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }
}
