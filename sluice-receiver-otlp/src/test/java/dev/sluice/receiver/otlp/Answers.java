package dev.sluice.receiver.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.sluice.otlp.Signal;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * Reads the receiver's answers the way a client would, independently of the receiver's own
 * encoders: protobuf with protobuf-java, JSON with Jackson, gzip with the JDK.
 */
public final class Answers {
  private static final ObjectMapper JSON = new ObjectMapper();

  private Answers() {}

  /** The body, gunzipped when the answer says {@code Content-Encoding: gzip}. */
  public static byte[] body(HttpResponse<byte[]> r) {
    String ce = r.headers().firstValue("content-encoding").orElse("");
    return ce.equalsIgnoreCase("gzip") ? gunzip(r.body()) : r.body();
  }

  public static byte[] gunzip(byte[] gz) {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("the body is not valid gzip", e);
    }
  }

  public static String contentType(HttpResponse<byte[]> r) {
    return r.headers().firstValue("content-type").orElse(null);
  }

  private static boolean isJson(String contentType) {
    return contentType != null
        && contentType.toLowerCase(Locale.ROOT).startsWith(ReceiverFixture.JSON);
  }

  /**
   * The {@code google.rpc.Status} of an error answer: protobuf when the answer is protobuf, else
   * the JSON object {@code {"code": .., "message": ..}}. Fails when the body is neither.
   */
  public static Status status(HttpResponse<byte[]> r) {
    return status(contentType(r), body(r));
  }

  public static Status status(RawHttp.Response r) {
    byte[] body = "gzip".equalsIgnoreCase(r.header("content-encoding")) ? gunzip(r.body())
        : r.body();
    return status(r.header("content-type"), body);
  }

  public static Status status(String contentType, byte[] body) {
    if (isJson(contentType)) {
      JsonNode n = json(body);
      assertThat(n.isObject()).as("JSON Status body %s", n).isTrue();
      Status.Builder b = Status.newBuilder();
      if (n.has("code")) {
        assertThat(n.get("code").isInt()).as("code of %s", n).isTrue();
        b.setCode(n.get("code").intValue());
      }
      if (n.has("message")) {
        b.setMessage(n.get("message").textValue());
      }
      return b.build();
    }
    assertThat(contentType).as("Content-Type of an error answer")
        .isEqualTo(ReceiverFixture.PROTOBUF);
    try {
      return Status.parseFrom(body);
    } catch (InvalidProtocolBufferException e) {
      throw new AssertionError("the body is not a google.rpc.Status", e);
    }
  }

  /** Parses a JSON body with Jackson. */
  public static JsonNode json(byte[] body) {
    try {
      return JSON.readTree(body);
    } catch (IOException e) {
      throw new AssertionError("the body is not JSON: " + new String(body), e);
    }
  }

  /** A protobuf {@code Export*ServiceResponse} of the signal. */
  public static Message protobufResponse(Signal signal, byte[] body) {
    Message prototype = signal.response(0, "").getDefaultInstanceForType();
    try {
      return prototype.getParserForType().parseFrom(body);
    } catch (InvalidProtocolBufferException e) {
      throw new AssertionError("the body is not an " + prototype.getDescriptorForType().getName(),
          e);
    }
  }

  /**
   * The {@code partial_success} of a success answer in protobuf or JSON, as (rejected count, error
   * message); (0, "") and {@code present == false} when the field is unset.
   */
  public record PartialSuccess(boolean present, long rejected, String errorMessage) {}

  private static final String[] REJECTED_JSON = {
    "rejectedSpans", "rejectedDataPoints", "rejectedLogRecords"
  };

  public static PartialSuccess partialSuccess(Signal signal, HttpResponse<byte[]> r) {
    return partialSuccess(signal, contentType(r), body(r));
  }

  public static PartialSuccess partialSuccess(Signal signal, String contentType, byte[] body) {
    if (isJson(contentType)) {
      JsonNode n = json(body);
      JsonNode ps = n.get("partialSuccess");
      if (ps == null) {
        return new PartialSuccess(false, 0, "");
      }
      JsonNode rejected = ps.get(REJECTED_JSON[signal.ordinal()]);
      JsonNode message = ps.get("errorMessage");
      return new PartialSuccess(true, rejected == null ? 0 : rejected.asLong(),
          message == null ? "" : message.textValue());
    }
    Message m = protobufResponse(signal, body);
    var field = m.getDescriptorForType().findFieldByName("partial_success");
    if (!m.hasField(field)) {
      return new PartialSuccess(false, 0, "");
    }
    Message ps = (Message) m.getField(field);
    long rejected = 0;
    String message = "";
    for (var f : ps.getDescriptorForType().getFields()) {
      if (f.getName().startsWith("rejected_")) {
        rejected = (Long) ps.getField(f);
      } else if (f.getName().equals("error_message")) {
        message = (String) ps.getField(f);
      }
    }
    return new PartialSuccess(true, rejected, message);
  }
}
