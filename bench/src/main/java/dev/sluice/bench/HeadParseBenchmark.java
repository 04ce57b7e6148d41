package dev.sluice.bench;

import dev.sluice.http.wire.RequestHead;
import dev.sluice.http.wire.ResponseHead;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One HTTP/1.1 request head as wrk sends it and one response head as nginx answers it, each held
 * in a pooled direct buffer (as the proxy reads them), parsed on one thread four ways:
 *
 * <ul>
 *   <li>{@link #nettyRequest} and {@link #nettyResponse}: Netty's {@code HttpRequestDecoder} and
 *       {@code HttpResponseDecoder} with their default limits, driven through their decode method
 *       as {@code ByteToMessageDecoder} drives it (no channel around them); the baseline;
 *   <li>{@link #wireRequest} and {@link #wireResponse}: {@link RequestHead#parse} and {@link
 *       ResponseHead#parse}, what the proxy's raw HTTP/1.1 path runs on the same bytes.
 * </ul>
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar HeadParse}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class HeadParseBenchmark {
  /** What wrk sends with a Host and a few headers added on its command line. */
  static final String REQUEST = "GET / HTTP/1.1\r\n"
      + "Host: 127.0.0.1:8080\r\n"
      + "User-Agent: wrk/4.2.0\r\n"
      + "Accept: */*\r\n"
      + "Accept-Encoding: gzip, deflate\r\n"
      + "Connection: keep-alive\r\n"
      + "\r\n";

  /** What nginx 1.22 answers for a static file. */
  static final String RESPONSE = "HTTP/1.1 200 OK\r\n"
      + "Server: nginx/1.22.1\r\n"
      + "Date: Tue, 17 Sep 2024 12:00:00 GMT\r\n"
      + "Content-Type: text/html\r\n"
      + "Content-Length: 612\r\n"
      + "Last-Modified: Tue, 17 Sep 2024 11:00:00 GMT\r\n"
      + "Connection: keep-alive\r\n"
      + "ETag: \"66e96130-264\"\r\n"
      + "Accept-Ranges: bytes\r\n"
      + "\r\n";

  private ByteBuf request;
  private ByteBuf response;
  // The decoders move the reader index: they read views of the same bytes with their own indexes.
  private ByteBuf requestForNetty;
  private ByteBuf responseForNetty;
  private final RequestHead requestHead = new RequestHead(4096, 8192, 100);
  private final ResponseHead responseHead = new ResponseHead(8192, 100);
  private final RequestDecoder requestDecoder = new RequestDecoder();
  private final ResponseDecoder responseDecoder = new ResponseDecoder();
  private final List<Object> out = new ArrayList<>();

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    request = direct(REQUEST);
    response = direct(RESPONSE);
    requestForNetty = request.duplicate();
    responseForNetty = response.duplicate();
    HttpObject r = nettyRequest();
    if (!(r instanceof HttpRequest) || ((HttpRequest) r).headers().size() != 5) {
      throw new IllegalStateException("HttpRequestDecoder did not read the request head: " + r);
    }
    r = nettyResponse();
    if (!(r instanceof HttpResponse) || ((HttpResponse) r).headers().size() != 8) {
      throw new IllegalStateException("HttpResponseDecoder did not read the response head: " + r);
    }
    // After the decoders ran: the parsers must see the whole heads still.
    if (wireRequest() != REQUEST.length() || requestHead.headerCount() != 5
        || !"127.0.0.1:8080".equals(requestHead.host())) {
      throw new IllegalStateException("RequestHead did not read the request head");
    }
    if (wireResponse() != RESPONSE.length() || responseHead.headerCount() != 8
        || responseHead.contentLength() != 612 || !responseHead.keepAlive()) {
      throw new IllegalStateException("ResponseHead did not read the response head");
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    request.release();
    response.release();
  }

  private static ByteBuf direct(String head) {
    ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(head.length());
    buf.writeBytes(head.getBytes(StandardCharsets.US_ASCII));
    return buf;
  }

  /** The baseline: Netty's decoder builds a request with its header map. */
  @Benchmark
  public HttpObject nettyRequest() throws Exception {
    requestForNetty.readerIndex(0);
    requestDecoder.decode(requestForNetty, out);
    return first(out, requestForNetty);
  }

  /** The baseline: Netty's decoder builds a response with its header map. */
  @Benchmark
  public HttpObject nettyResponse() throws Exception {
    responseForNetty.readerIndex(0);
    responseDecoder.decode(responseForNetty, out);
    // The head announces a body that is not there: start the next message afresh.
    responseDecoder.reset();
    return first(out, responseForNetty);
  }

  @Benchmark
  public int wireRequest() {
    return requestHead.parse(request);
  }

  @Benchmark
  public int wireResponse() {
    return responseHead.parse(response);
  }

  /** The decoded head, after checking it and releasing everything decoded. */
  private static HttpObject first(List<Object> out, ByteBuf in) {
    if (in.isReadable() || out.isEmpty()) {
      throw new IllegalStateException("the decoder did not read the whole head");
    }
    HttpObject head = (HttpObject) out.get(0);
    if (!head.decoderResult().isSuccess()) {
      throw new IllegalStateException("the decoder failed: " + head.decoderResult());
    }
    for (int i = 0; i < out.size(); i++) {
      ReferenceCountUtil.release(out.get(i));
    }
    out.clear();
    return head;
  }

  /** Exposes the decode step that ByteToMessageDecoder calls; the decoder never reads ctx. */
  private static final class RequestDecoder extends HttpRequestDecoder {
    void decode(ByteBuf in, List<Object> out) throws Exception {
      decode(null, in, out);
    }
  }

  private static final class ResponseDecoder extends HttpResponseDecoder {
    void decode(ByteBuf in, List<Object> out) throws Exception {
      decode(null, in, out);
    }
  }
}
