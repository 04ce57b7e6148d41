package dev.sluice.exporter.otlp.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.luben.zstd.Zstd;
import dev.sluice.exporter.otlp.Compression;
import dev.sluice.exporter.otlp.Encoding;
import dev.sluice.exporter.otlp.testdata.TestData;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class BodyCodecTest {
  private static byte[] bytes(ByteBuf b) {
    byte[] out = new byte[b.readableBytes()];
    b.getBytes(b.readerIndex(), out);
    return out;
  }

  @Test
  void gzipBodiesAreGzip() throws IOException {
    byte[] req = TestData.traces(2, 2, 20, 3, 30).toByteArray();
    ByteBuf body = new BodyCodec(Encoding.PROTOBUF, Compression.GZIP, ByteBufAllocator.DEFAULT)
        .encode(Signal.TRACES, req);
    try {
      byte[] plain = new GZIPInputStream(new ByteArrayInputStream(bytes(body))).readAllBytes();
      assertThat(plain).isEqualTo(req);
      assertThat(body.readableBytes()).isLessThan(req.length);
    } finally {
      body.release();
    }
  }

  @Test
  void zstdBodiesAreZstd() {
    byte[] req = TestData.logs(1, 1, 50, 30).toByteArray();
    ByteBuf body = new BodyCodec(Encoding.PROTOBUF, Compression.ZSTD, ByteBufAllocator.DEFAULT)
        .encode(Signal.LOGS, req);
    try {
      byte[] compressed = bytes(body);
      assertThat(Zstd.decompress(compressed, req.length)).isEqualTo(req);
    } finally {
      body.release();
    }
  }

  @Test
  void jsonBodiesAreOtlpJson() {
    ExportMetricsServiceRequest m = TestData.metrics(1, 2, 3, 2);
    ByteBuf body = new BodyCodec(Encoding.JSON, Compression.NONE, ByteBufAllocator.DEFAULT)
        .encode(Signal.METRICS, m.toByteArray());
    try {
      byte[] json = bytes(body);
      assertThat(new String(json, StandardCharsets.UTF_8)).startsWith("{\"resourceMetrics\":[");
      assertThat(OtlpJsonCodec.parse(json, 0, json.length,
          ExportMetricsServiceRequest.getDefaultInstance())).isEqualTo(m);
    } finally {
      body.release();
    }
  }

  @ParameterizedTest
  @EnumSource(Compression.class)
  void decompressUndoesEncode(Compression c) throws IOException {
    byte[] req = TestData.logs(2, 1, 10, 10).toByteArray();
    BodyCodec codec = new BodyCodec(Encoding.PROTOBUF, c, ByteBufAllocator.DEFAULT);
    ByteBuf body = codec.encode(Signal.LOGS, req);
    try {
      assertThat(codec.decompress(body)).isEqualTo(req);
      assertThat(codec.decompress(body)).as("does not consume the body").isEqualTo(req);
    } finally {
      body.release();
    }
  }

  /** A request in three pieces of a composite: a direct one among heap ones. */
  private static CompositeByteBuf pieces(byte[] req) {
    int a = req.length / 3;
    int b = 2 * req.length / 3;
    CompositeByteBuf c = ByteBufAllocator.DEFAULT.compositeBuffer(3);
    c.addComponent(true, ByteBufAllocator.DEFAULT.heapBuffer().writeBytes(req, 0, a));
    c.addComponent(true, ByteBufAllocator.DEFAULT.directBuffer().writeBytes(req, a, b - a));
    c.addComponent(true, ByteBufAllocator.DEFAULT.heapBuffer().writeBytes(req, b,
        req.length - b));
    return c;
  }

  @ParameterizedTest
  @EnumSource(Compression.class)
  void aCompositeRequestEncodesAsItsBytesWouldAndStaysTheCallers(Compression c)
      throws IOException {
    byte[] req = TestData.traces(2, 2, 40, 3, 30).toByteArray();
    BodyCodec codec = new BodyCodec(Encoding.PROTOBUF, c, ByteBufAllocator.DEFAULT);
    CompositeByteBuf request = pieces(req);
    ByteBuf body = codec.encode(Signal.TRACES, request);
    try {
      assertThat(request.readableBytes()).as("not consumed").isEqualTo(req.length);
      assertThat(codec.decompress(body)).isEqualTo(req);
    } finally {
      body.release();
    }
    assertThat(request.refCnt()).as("still the caller's").isOne();
    request.release();
  }

  @Test
  void gzipOfManyRequestsReusesItsDeflaterCorrectlyAndGrowsItsOutput() throws IOException {
    BodyCodec codec = new BodyCodec(Encoding.PROTOBUF, Compression.GZIP,
        ByteBufAllocator.DEFAULT);
    java.util.Random random = new java.util.Random(7);
    for (int i = 0; i < 5; i++) {
      // incompressible bytes: the output outgrows its first guess of a quarter of the input
      byte[] req = new byte[50_000 + i * 20_000];
      random.nextBytes(req);
      CompositeByteBuf request = pieces(req);
      ByteBuf body = codec.encode(Signal.LOGS, request);
      try {
        assertThat(body.readableBytes()).isGreaterThan(req.length);
        assertThat(new GZIPInputStream(new ByteArrayInputStream(bytes(body))).readAllBytes())
            .isEqualTo(req);
      } finally {
        body.release();
        request.release();
      }
    }
  }

  @Test
  void jsonOfACompositeRequestIsOtlpJson() {
    ExportMetricsServiceRequest m = TestData.metrics(1, 2, 3, 2);
    CompositeByteBuf request = pieces(m.toByteArray());
    ByteBuf body = new BodyCodec(Encoding.JSON, Compression.NONE, ByteBufAllocator.DEFAULT)
        .encode(Signal.METRICS, request);
    try {
      byte[] json = bytes(body);
      assertThat(OtlpJsonCodec.parse(json, 0, json.length,
          ExportMetricsServiceRequest.getDefaultInstance())).isEqualTo(m);
    } finally {
      body.release();
      request.release();
    }
  }

  @Test
  void jsonOfBytesThatAreNotProtobufFails() {
    BodyCodec codec = new BodyCodec(Encoding.JSON, Compression.GZIP, ByteBufAllocator.DEFAULT);
    assertThatThrownBy(() -> codec.encode(Signal.TRACES, new byte[] {0x0a, 0x05, 0x01}))
        .isInstanceOf(BodyCodec.EncodingException.class)
        .hasMessageContaining("not valid protobuf");
  }
}
