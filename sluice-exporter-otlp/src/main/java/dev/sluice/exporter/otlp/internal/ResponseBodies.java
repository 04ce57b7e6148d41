package dev.sluice.exporter.otlp.internal;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/** Reads what an OTLP/HTTP backend says in its answers: error messages and partial success. */
public final class ResponseBodies {
  /** How much of a plain-text error body is kept. */
  public static final int MAX_TEXT = 200;

  private ResponseBodies() {}

  /** What the backend said about a failed request. */
  public record PartialSuccess(long rejected, String message) {}

  /**
   * The message of an error answer: the {@code message} of a {@code google.rpc.Status} (protobuf or
   * JSON, as the content type says), else the first {@value #MAX_TEXT} characters of the body as
   * text; empty for an empty body. Does not release the body.
   */
  public static String errorMessage(ByteBuf body, String contentType) {
    if (body == null || !body.isReadable()) {
      return "";
    }
    byte[] bytes = bytes(body);
    String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
    try {
      if (type.contains("protobuf")) {
        Status s = Status.parseFrom(bytes);
        if (!s.getMessage().isEmpty()) {
          return clip(s.getMessage(), 1000);
        }
      } else if (type.contains("json")) {
        Status s = OtlpJsonCodec.parse(bytes, 0, bytes.length, Status.getDefaultInstance());
        if (!s.getMessage().isEmpty()) {
          return clip(s.getMessage(), 1000);
        }
      }
    } catch (Exception e) {
      // not a Status after all: fall back to the text
    }
    return clip(new String(bytes, StandardCharsets.UTF_8), MAX_TEXT);
  }

  /**
   * The {@code partial_success} of a successful answer, or null when there is none (or the body
   * cannot be read: a 2xx stands on its own). Does not release the body.
   */
  public static PartialSuccess partialSuccess(Signal signal, ByteBuf body, String contentType) {
    if (body == null || !body.isReadable()) {
      return null;
    }
    byte[] bytes = bytes(body);
    String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
    try {
      if (type.contains("json")) {
        return fromJson(signal, bytes);
      }
      return fromProtobuf(bytes);
    } catch (RuntimeException e) {
      return null;
    }
  }

  /** Export*ServiceResponse: partial_success = 1 {rejected_* = 1 (int64), error_message = 2}. */
  private static PartialSuccess fromProtobuf(byte[] b) {
    Wire w = new Wire(b, 0, b.length);
    PartialSuccess found = null;
    while (w.hasNext()) {
      w.next();
      if (w.field == 1 && w.wireType == Wire.LEN) {
        long rejected = found == null ? 0 : found.rejected();
        String message = found == null ? "" : found.message();
        Wire p = new Wire(b, w.valueStart, w.valueEnd);
        while (p.hasNext()) {
          p.next();
          if (p.field == 1 && p.wireType == Wire.VARINT) {
            rejected = p.varint;
          } else if (p.field == 2 && p.wireType == Wire.LEN) {
            message = new String(b, p.valueStart, p.valueEnd - p.valueStart,
                StandardCharsets.UTF_8);
          }
        }
        found = new PartialSuccess(rejected, message);
      }
    }
    return found;
  }

  private static PartialSuccess fromJson(Signal signal, byte[] b) {
    Message prototype = signal.response(0, "").getDefaultInstanceForType();
    Message response = OtlpJsonCodec.parse(b, 0, b.length, prototype);
    FieldDescriptor field = prototype.getDescriptorForType().findFieldByNumber(1);
    if (field == null || !response.hasField(field)) {
      return null;
    }
    Message ps = (Message) response.getField(field);
    FieldDescriptor rejected = ps.getDescriptorForType().findFieldByNumber(1);
    FieldDescriptor message = ps.getDescriptorForType().findFieldByNumber(2);
    return new PartialSuccess((Long) ps.getField(rejected), (String) ps.getField(message));
  }

  private static byte[] bytes(ByteBuf body) {
    byte[] out = new byte[body.readableBytes()];
    body.getBytes(body.readerIndex(), out);
    return out;
  }

  /** At most {@code max} characters, on one line. */
  static String clip(String s, int max) {
    String t = s.length() > max ? s.substring(0, max) : s;
    StringBuilder b = new StringBuilder(t.length());
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      b.append(Character.isISOControl(c) ? ' ' : c);
    }
    return b.toString().trim();
  }
}
