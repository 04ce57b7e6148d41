package dev.sluice.exporter.otlp.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.rpc.Status;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ResponseBodiesTest {
  private static ByteBuf buf(byte[] b) {
    return Unpooled.wrappedBuffer(b);
  }

  private static ByteBuf text(String s) {
    return buf(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void readsTheMessageOfAProtobufStatus() {
    Status s = Status.newBuilder().setCode(3).setMessage("span 7 has an invalid trace id").build();
    assertThat(ResponseBodies.errorMessage(buf(s.toByteArray()), "application/x-protobuf"))
        .isEqualTo("span 7 has an invalid trace id");
  }

  @Test
  void readsTheMessageOfAJsonStatus() {
    assertThat(ResponseBodies.errorMessage(
        text("{\"code\":3,\"message\":\"quota exceeded\",\"details\":[]}"),
        "application/json; charset=utf-8")).isEqualTo("quota exceeded");
  }

  @Test
  void otherBodiesGiveTheirFirst200CharactersOnOneLine() {
    String body = "<html>\n<body>" + "e".repeat(300) + "</body></html>";
    String m = ResponseBodies.errorMessage(text(body), "text/html");
    assertThat(m).hasSize(200).startsWith("<html> <body>eee").doesNotContain("\n");
    assertThat(ResponseBodies.errorMessage(text("not json"), "application/json"))
        .isEqualTo("not json");
    assertThat(ResponseBodies.errorMessage(Unpooled.EMPTY_BUFFER, "text/plain")).isEmpty();
  }

  @Test
  void readsPartialSuccessFromProtobufAndJson() {
    byte[] pb = Signal.TRACES.response(5, "5 spans too old").toByteArray();
    assertThat(ResponseBodies.partialSuccess(Signal.TRACES, buf(pb), "application/x-protobuf"))
        .isEqualTo(new ResponseBodies.PartialSuccess(5, "5 spans too old"));
    byte[] json = OtlpJsonCodec.toJsonBytes(Signal.LOGS.response(2, "dropped"));
    assertThat(ResponseBodies.partialSuccess(Signal.LOGS, buf(json), "application/json"))
        .isEqualTo(new ResponseBodies.PartialSuccess(2, "dropped"));
    assertThat(ResponseBodies.partialSuccess(Signal.METRICS,
        buf(Signal.METRICS.response(0, "").toByteArray()), "application/x-protobuf")).isNull();
    assertThat(ResponseBodies.partialSuccess(Signal.METRICS, text("{}"), "application/json"))
        .isNull();
  }
}
