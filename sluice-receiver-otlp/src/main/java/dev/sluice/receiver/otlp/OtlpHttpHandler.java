package dev.sluice.receiver.otlp;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.sluice.otlp.Signal;
import dev.sluice.otlp.json.OtlpJsonCodec;
import dev.sluice.otlp.json.OtlpJsonException;
import dev.sluice.otlp.validation.MalformedOtlpException;
import dev.sluice.otlp.validation.OtlpRequestFilter;
import dev.sluice.otlp.validation.OtlpScanner;
import dev.sluice.otlp.validation.ScanResult;
import dev.sluice.pipeline.PipelineFullException;
import dev.sluice.pipeline.TelemetryBatch;
import dev.sluice.receiver.otlp.auth.Authenticator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the OTLP/HTTP export requests of one HTTP/1.1 connection or one HTTP/2 stream: checks the
 * head (path, method, CORS, auth, content type and encoding, size), gathers the body into one heap
 * buffer, decompresses it, checks it and counts its items, hands it to the pipeline and answers
 * when the pipeline has it.
 *
 * <p>A protobuf body whose items are all valid goes to the pipeline as the bytes received, never
 * decoded into objects. On HTTP/1.1 reading stops while a request is being processed, so a
 * pipelining client waits, and answers leave in request order. All state is confined to the
 * channel's event loop.
 */
final class OtlpHttpHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(OtlpHttpHandler.class);
  private static final String ALLOW = "POST, OPTIONS";
  /**
   * How far past max_request_body_size the body of a refused request is still read and dropped,
   * so that the client, which is usually still sending it, reads the answer instead of a reset:
   * closing a connection with unread bytes makes TCP send RST, and a client that sees a reset
   * retries the same request. A body larger than that gets the answer and the connection closed.
   */
  static final long DRAIN_PAST_LIMIT = 16L * 1024 * 1024;

  private enum State {
    IDLE,
    READING,
    DISCARDING,
    PROCESSING
  }

  private final OtlpHttpReceiver receiver;
  private final boolean http2;
  private final ArrayDeque<Object> pending = new ArrayDeque<>(2);
  private State state = State.IDLE;
  private ChannelHandlerContext ctx;

  // The request in progress.
  private HttpRequest request;
  private Signal signal;
  private boolean json;
  private ContentCoding coding;
  private String tenant;
  private ByteBuf body; // owned here until handed on or released
  private long wireBytes;
  private long discarded; // bytes of a refused body dropped so far
  private boolean continued; // 100 Continue was sent for the request in progress
  private long startNanos;
  private boolean closeAfter;

  OtlpHttpHandler(OtlpHttpReceiver receiver, boolean http2) {
    this.receiver = receiver;
    this.http2 = http2;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (state == State.PROCESSING) {
      pending.add(msg); // a pipelined request; bounded since reading is paused
      return;
    }
    dispatch(msg);
  }

  private void dispatch(Object msg) {
    try {
      if (msg instanceof HttpRequest) {
        onHead((HttpRequest) msg);
      }
      if (msg instanceof HttpContent) {
        onContent((HttpContent) msg);
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  private void onHead(HttpRequest req) {
    resetRequest();
    request = req;
    startNanos = System.nanoTime();
    state = State.READING;
    try {
      check(req);
    } catch (RequestRefusedException e) {
      refuse(e);
    }
  }

  private void check(HttpRequest req) throws RequestRefusedException {
    String uri = req.uri();
    int q = uri.indexOf('?');
    String path = q < 0 ? uri : uri.substring(0, q);
    signal = receiver.signalAt(path);
    if (signal == null) {
      throw new RequestRefusedException(HttpResponseStatus.NOT_FOUND, "not_found",
          "no OTLP endpoint at " + path + "; the endpoints are " + receiver.pathsText());
    }
    HttpMethod method = req.method();
    if (method.equals(HttpMethod.OPTIONS)) {
      preflight(req);
      return;
    }
    if (!method.equals(HttpMethod.POST)) {
      throw new RequestRefusedException(HttpResponseStatus.METHOD_NOT_ALLOWED,
          "method_not_allowed", "method " + method + " is not allowed on " + path + "; use POST");
    }
    Authenticator auth = receiver.settings().auth();
    if (auth != null) {
      Authenticator.Result r = auth.authenticate(req.headers());
      if (!r.ok()) {
        throw new RequestRefusedException(HttpResponseStatus.UNAUTHORIZED, "unauthenticated",
            r.problem());
      }
      tenant = r.tenant();
    }
    String contentType = req.headers().get(HttpHeaderNames.CONTENT_TYPE);
    String media = contentType == null ? "" : OtlpResponses.mediaType(contentType);
    if (media.equals(OtlpResponses.PROTOBUF) || media.equals("application/protobuf")) {
      json = false;
    } else if (media.equals(OtlpResponses.JSON)) {
      json = true;
    } else {
      throw new RequestRefusedException(HttpResponseStatus.UNSUPPORTED_MEDIA_TYPE,
          "unsupported_media_type",
          (contentType == null ? "the request has no Content-Type" :
              "Content-Type " + contentType + " is not supported")
              + "; use application/x-protobuf or application/json");
    }
    String encoding = req.headers().get(HttpHeaderNames.CONTENT_ENCODING);
    coding = ContentCoding.of(encoding);
    if (coding == null) {
      throw new RequestRefusedException(HttpResponseStatus.UNSUPPORTED_MEDIA_TYPE,
          "unsupported_encoding", "Content-Encoding " + encoding
              + " is not supported; use gzip, deflate, zstd or none");
    }
    long max = receiver.settings().maxRequestBodySize();
    long length = HttpUtil.getContentLength(req, -1L);
    if (length > max) {
      throw new RequestRefusedException(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "too_large",
          "the body of " + length + " bytes is larger than max_request_body_size (" + max
              + " bytes)");
    }
    if (HttpUtil.is100ContinueExpected(req)) {
      continued = true;
      ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
          HttpResponseStatus.CONTINUE, Unpooled.EMPTY_BUFFER));
    }
    int initial = length > 0 ? (int) length : 16 * 1024;
    body = ctx.alloc().heapBuffer(initial, (int) max);
  }

  private void preflight(HttpRequest req) throws RequestRefusedException {
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.NO_CONTENT, Unpooled.EMPTY_BUFFER);
    r.headers().set(HttpHeaderNames.ALLOW, ALLOW);
    if (req.headers().contains(HttpHeaderNames.ORIGIN) && receiver.settings().cors().enabled()) {
      String problem = receiver.settings().cors().preflight(req.headers(), r.headers());
      if (problem != null) {
        r.release();
        throw new RequestRefusedException(HttpResponseStatus.FORBIDDEN, "cors", "CORS: " + problem);
      }
    }
    state = State.DISCARDING;
    send(r, 0, 0);
  }

  private void onContent(HttpContent content) {
    if (state == State.READING) {
      ByteBuf chunk = content.content();
      wireBytes += chunk.readableBytes();
      long max = receiver.settings().maxRequestBodySize();
      if (body.readableBytes() + (long) chunk.readableBytes() > max) {
        discarded = body.readableBytes() + (long) chunk.readableBytes();
        refuse(new RequestRefusedException(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
            "too_large", "the body is larger than max_request_body_size (" + max + " bytes)"));
        return;
      }
      body.writeBytes(chunk);
      if (content instanceof LastHttpContent) {
        state = State.PROCESSING;
        if (!http2) {
          ctx.channel().config().setAutoRead(false);
        }
        process();
      }
    } else if (state == State.DISCARDING) {
      discarded += content.content().readableBytes();
      if (content instanceof LastHttpContent) {
        state = State.IDLE;
      } else if (discarded > drainLimit() && ctx.channel().isActive()) {
        ctx.close(); // answered already; the rest is not worth reading
      }
    }
  }

  private void process() {
    ByteBuf data = body;
    body = null;
    ByteBuf payload = null;
    try {
      long max = receiver.settings().maxRequestBodySize();
      if (coding != ContentCoding.IDENTITY) {
        ByteBuf compressed = data;
        data = null; // released below, whether decoding succeeds or not; never twice
        try {
          data = coding.decode(compressed, ctx.alloc(), max);
        } finally {
          compressed.release();
        }
      }
      ScanResult result;
      if (!json) {
        try {
          result = OtlpScanner.scan(signal, data.array(), data.arrayOffset() + data.readerIndex(),
              data.readableBytes());
        } catch (MalformedOtlpException e) {
          throw decodeError("the body is not a valid protobuf " + requestName() + ": "
              + e.getMessage());
        }
        if (result.allValid()) {
          payload = data;
          data = null;
        } else {
          Message parsed;
          try {
            parsed = signal.parseRequest(data.array(), data.arrayOffset() + data.readerIndex(),
                data.readableBytes());
          } catch (InvalidProtocolBufferException e) {
            throw decodeError("the body is not a valid protobuf " + requestName() + ": "
                + e.getMessage());
          }
          payload = Unpooled.wrappedBuffer(
              OtlpRequestFilter.filter(signal, parsed).request().toByteArray());
        }
      } else {
        Message parsed;
        try {
          parsed = OtlpJsonCodec.parse(data.array(), data.arrayOffset() + data.readerIndex(),
              data.readableBytes(), signal.requestPrototype());
        } catch (OtlpJsonException e) {
          throw decodeError("the body is not valid OTLP JSON for " + requestName() + ": "
              + e.getMessage());
        }
        OtlpRequestFilter.Filtered f = OtlpRequestFilter.filter(signal, parsed);
        result = f.result();
        payload = Unpooled.wrappedBuffer(f.request().toByteArray());
      }
      if (data != null) {
        data.release();
        data = null;
      }
      receiver.metrics().refusedItems(signal.id(), "invalid_item", result.rejected());
      if (result.rejected() > 0) {
        log.debug("partial success from {}: {}", ctx.channel().remoteAddress(),
            result.firstProblem());
      }
      if (result.accepted() == 0) {
        payload.release();
        payload = null;
        answer(result);
        return;
      }
      TelemetryBatch batch = new TelemetryBatch(signal, payload,
          result.accepted(), tenant == null ? "" : tenant, System.currentTimeMillis());
      payload = null; // the batch owns it, and the pipeline takes the batch
      ScanResult scanned = result;
      receiver.pipeline().submit(batch).whenComplete((v, error) -> {
        if (ctx.executor().inEventLoop()) {
          delivered(scanned, error);
        } else {
          ctx.executor().execute(() -> delivered(scanned, error));
        }
      });
    } catch (RequestRefusedException e) {
      refuse(e);
    } catch (RuntimeException e) {
      log.error("unexpected failure while processing a {} request", signal.id(), e);
      refuse(new RequestRefusedException(HttpResponseStatus.SERVICE_UNAVAILABLE, "internal",
          "internal error: " + e, 5));
    } finally {
      if (data != null) {
        data.release();
      }
      if (payload != null) {
        payload.release();
      }
    }
  }

  private long drainLimit() {
    return receiver.settings().maxRequestBodySize() + DRAIN_PAST_LIMIT;
  }

  private String requestName() {
    return signal.requestPrototype().getDescriptorForType().getName();
  }

  private static RequestRefusedException decodeError(String message) {
    return new RequestRefusedException(HttpResponseStatus.BAD_REQUEST, "decode_error", message);
  }

  private void delivered(ScanResult result, Throwable error) {
    if (error == null) {
      answer(result);
      return;
    }
    Throwable cause = error instanceof CompletionException && error.getCause() != null
        ? error.getCause() : error;
    receiver.metrics().refusedItems(signal.id(), cause instanceof PipelineFullException
        ? "pipeline_full" : "exporter_failed", result.accepted());
    if (cause instanceof PipelineFullException) {
      refuse(new RequestRefusedException(HttpResponseStatus.SERVICE_UNAVAILABLE, "pipeline_full",
          cause.getMessage(), ((PipelineFullException) cause).retryAfterSeconds()));
    } else {
      log.warn("an exporter failed a {} batch: {}", signal.id(), cause.toString());
      refuse(new RequestRefusedException(HttpResponseStatus.SERVICE_UNAVAILABLE, "exporter_failed",
          "the data could not be stored: " + cause.getMessage(), 5));
    }
  }

  private void answer(ScanResult result) {
    Message response = signal.response(result.rejected(), result.firstProblem());
    FullHttpResponse r = OtlpResponses.message(ctx.alloc(), HttpResponseStatus.OK, response, json,
        OtlpResponses.acceptsGzip(request));
    send(r, result.accepted(), result.rejected());
  }

  private void refuse(RequestRefusedException e) {
    String sig = signal == null ? "unknown" : signal.id();
    receiver.metrics().refusedRequest(sig, e.reason);
    if (body != null) {
      body.release();
      body = null;
    }
    // The rest of a body not read yet is dropped as it arrives, unless it will not come (the
    // client waits for a 100 Continue that is not sent) or is not worth reading.
    if (state == State.READING) {
      state = State.DISCARDING;
      if ((HttpUtil.is100ContinueExpected(request) && !continued)
          || HttpUtil.getContentLength(request, -1L) > drainLimit()) {
        closeAfter = true;
      }
    }
    FullHttpResponse r = OtlpResponses.error(ctx.alloc(), e.status, e.getMessage(), request);
    if (e.status.equals(HttpResponseStatus.METHOD_NOT_ALLOWED)) {
      r.headers().set(HttpHeaderNames.ALLOW, ALLOW);
    } else if (e.status.equals(HttpResponseStatus.UNAUTHORIZED)) {
      r.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, receiver.settings().auth().challenge());
    } else if (e.retryAfterSeconds > 0) {
      r.headers().setInt(HttpHeaderNames.RETRY_AFTER, e.retryAfterSeconds);
    }
    send(r, 0, 0);
  }

  private void send(FullHttpResponse r, long accepted, long rejected) {
    HttpRequest req = request;
    if (req != null) {
      receiver.settings().cors().decorate(req.headers().get(HttpHeaderNames.ORIGIN), r.headers());
    }
    int status = r.status().code();
    if (signal != null) {
      ReceiverMetrics.Outcome o = receiver.metrics().outcome(signal.id(),
          encodingLabel(req), compressionLabel(req), status);
      o.requests.increment();
      o.items.increment(accepted);
      o.bytes.increment(wireBytes);
      receiver.metrics().latency(signal, System.nanoTime() - startNanos);
    }
    boolean close = closeAfter && !http2;
    if (close) {
      r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    } else if (!http2 && req != null) {
      HttpUtil.setKeepAlive(r.headers(), req.protocolVersion(), HttpUtil.isKeepAlive(req));
    }
    if (state == State.PROCESSING) {
      state = State.IDLE;
    }
    var future = ctx.writeAndFlush(r);
    if (close) {
      future.addListener(ChannelFutureListener.CLOSE);
      return;
    }
    if (!http2) {
      ctx.channel().config().setAutoRead(true);
    }
    while (state != State.PROCESSING && !pending.isEmpty() && ctx.channel().isActive()) {
      dispatch(pending.poll());
    }
  }

  /**
   * The encoding label of a request's metrics, from its Content-Type whether or not the request got
   * as far as the check: json, protobuf, or other (absent or not supported).
   */
  private static String encodingLabel(HttpRequest req) {
    String ct = req == null ? null : req.headers().get(HttpHeaderNames.CONTENT_TYPE);
    String media = ct == null ? "" : OtlpResponses.mediaType(ct);
    if (media.equals(OtlpResponses.JSON)) {
      return "json";
    }
    if (media.equals(OtlpResponses.PROTOBUF) || media.equals("application/protobuf")) {
      return "protobuf";
    }
    return "other";
  }

  /** The compression label of a request's metrics: none, gzip, deflate, zstd or other. */
  private static String compressionLabel(HttpRequest req) {
    ContentCoding c = ContentCoding.of(
        req == null ? null : req.headers().get(HttpHeaderNames.CONTENT_ENCODING));
    return c == null ? "other" : c.label;
  }

  private void resetRequest() {
    if (body != null) {
      body.release();
      body = null;
    }
    request = null;
    signal = null;
    json = false;
    coding = null;
    tenant = null;
    wireBytes = 0;
    discarded = 0;
    continued = false;
    closeAfter = false;
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cleanUp();
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    cleanUp();
  }

  private void cleanUp() {
    if (body != null) {
      body.release();
      body = null;
    }
    Object m;
    while ((m = pending.poll()) != null) {
      ReferenceCountUtil.release(m);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof IOException) {
      log.debug("connection {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
    } else {
      log.warn("closing connection {} after an error", ctx.channel().remoteAddress(), cause);
    }
    ctx.close();
  }
}
