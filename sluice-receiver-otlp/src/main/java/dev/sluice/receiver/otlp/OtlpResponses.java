package dev.sluice.receiver.otlp;

import com.google.protobuf.MessageLite;
import com.google.rpc.Code;
import com.google.rpc.Status;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.zip.GZIPOutputStream;

/**
 * Encodes the receiver's answers: {@code Export*ServiceResponse} on success and {@code
 * google.rpc.Status} on failure, in protobuf or JSON to match the request, gzipped when the client
 * accepts gzip.
 */
final class OtlpResponses {
  static final String PROTOBUF = "application/x-protobuf";
  static final String JSON = "application/json";

  private OtlpResponses() {}

  /** The content type to answer in: JSON when the request was JSON, protobuf otherwise. */
  static boolean wantsJson(HttpRequest request) {
    if (request == null) {
      return false;
    }
    String ct = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
    return ct != null && mediaType(ct).equals(JSON);
  }

  static String mediaType(String contentType) {
    int semi = contentType.indexOf(';');
    return (semi < 0 ? contentType : contentType.substring(0, semi)).trim().toLowerCase(
        java.util.Locale.ROOT);
  }

  /**
   * True when {@code Accept-Encoding} lists gzip (or its alias x-gzip) with a non-zero quality;
   * {@code gzip;q=0}, {@code gzip;q=0.0} and the like refuse it (RFC 9110, section 12.5.3).
   */
  static boolean acceptsGzip(HttpRequest request) {
    if (request == null) {
      return false;
    }
    String ae = request.headers().get(HttpHeaderNames.ACCEPT_ENCODING);
    if (ae == null) {
      return false;
    }
    for (String part : ae.split(",")) {
      String[] params = part.split(";");
      String coding = params[0].trim();
      if (!coding.equalsIgnoreCase("gzip") && !coding.equalsIgnoreCase("x-gzip")) {
        continue;
      }
      boolean refused = false;
      for (int i = 1; i < params.length; i++) {
        String p = params[i].trim();
        int eq = p.indexOf('=');
        if (eq > 0 && p.substring(0, eq).trim().equalsIgnoreCase("q")) {
          refused = isZeroQuality(p.substring(eq + 1).trim());
        }
      }
      return !refused;
    }
    return false;
  }

  /** A qvalue of zero: "0" optionally followed by "." and up to three zeros. */
  private static boolean isZeroQuality(String q) {
    return q.matches("0(\\.0{0,3})?");
  }

  static FullHttpResponse message(ByteBufAllocator alloc, HttpResponseStatus status,
      MessageLite body, boolean json, boolean gzip) {
    ByteBuf content = alloc.buffer();
    try (ByteBufOutputStream raw = new ByteBufOutputStream(content)) {
      if (gzip) {
        try (GZIPOutputStream z = new GZIPOutputStream(raw, 512)) {
          write(body, json, z);
        }
      } else {
        write(body, json, raw);
      }
    } catch (IOException e) {
      content.release();
      throw new UncheckedIOException(e); // writing to memory does not fail
    }
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
    HttpHeaders h = r.headers();
    h.set(HttpHeaderNames.CONTENT_TYPE, json ? JSON : PROTOBUF);
    h.setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
    if (gzip) {
      h.set(HttpHeaderNames.CONTENT_ENCODING, HttpHeaderValues.GZIP);
    }
    return r;
  }

  private static void write(MessageLite body, boolean json, java.io.OutputStream out)
      throws IOException {
    if (json) {
      OtlpJsonCodec.write((com.google.protobuf.MessageOrBuilder) body, out);
    } else {
      body.writeTo(out);
    }
  }

  static FullHttpResponse error(ByteBufAllocator alloc, HttpResponseStatus status, String message,
      HttpRequest request) {
    Status body = Status.newBuilder().setCode(rpcCode(status).getNumber()).setMessage(message)
        .build();
    return message(alloc, status, body, wantsJson(request), acceptsGzip(request));
  }

  /** The gRPC code that says the same as an HTTP status, as gRPC's HTTP mapping has it. */
  static Code rpcCode(HttpResponseStatus status) {
    switch (status.code()) {
      case 400:
      case 413:
      case 415:
      case 431:
      case 414:
        return Code.INVALID_ARGUMENT;
      case 401:
        return Code.UNAUTHENTICATED;
      case 403:
        return Code.PERMISSION_DENIED;
      case 404:
        return Code.NOT_FOUND;
      case 405:
        return Code.UNIMPLEMENTED;
      case 408:
        return Code.DEADLINE_EXCEEDED;
      case 429:
        return Code.RESOURCE_EXHAUSTED;
      case 503:
        return Code.UNAVAILABLE;
      default:
        return Code.INTERNAL;
    }
  }
}
