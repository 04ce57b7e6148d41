package dev.sluice.http.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.ContentLengthNotAllowedException;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.InvalidChunkExtensionException;
import io.netty.handler.codec.http.InvalidChunkTerminationException;
import io.netty.handler.codec.http.InvalidLineSeparatorException;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.codec.http.TransferEncodingNotAllowedException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Enforces the server's limits on each request before the application sees it: decoding errors,
 * header count, the deadline for the headers (from their first byte) and the deadline for the
 * body, and closes idle connections. One instance per HTTP/1.1 connection or HTTP/2 stream.
 *
 * <p>On HTTP/1.1 the pipeline reads {@code raw-bytes -> HttpServerCodec -> keep-alive -> guard ->
 * application}; {@link #rawBytesWatcher()} sits before the codec to start the header deadline on
 * the first byte of a request. All fields are touched on the channel's event loop only.
 */
final class RequestGuard extends ChannelDuplexHandler {
  private final HttpServerSettings settings;
  private final ErrorResponder errors;
  private final boolean http2;
  /** Between a request head and the last content of its body, as read. */
  private boolean reading;
  /** Request heads read whose final (non-1xx) response has not been written yet. */
  private int pendingResponses;
  /** The response being written is informational (1xx): its end does not end the request. */
  private boolean writingInformational;
  private boolean failed;
  /** A response head has been written and its last content not yet. */
  private boolean responseStarted;
  /**
   * The deadlines of the request being read (System.nanoTime; 0 for none), and the one timer that
   * enforces both. A keep-alive connection moves its deadlines with each request but reschedules
   * the timer only when it fires early, so that requests cost no timer of their own.
   */
  private long headerDeadline;
  private long bodyDeadline;
  private ScheduledFuture<?> timer;
  private long timerAt;

  RequestGuard(HttpServerSettings settings, ErrorResponder errors, boolean http2) {
    this.settings = settings;
    this.errors = errors;
    this.http2 = http2;
  }

  /** A handler for the raw byte side of the connection that starts the header deadline. */
  ChannelInboundHandlerAdapter rawBytesWatcher() {
    return new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        // Bytes that arrive with no request being read or answered start a new request. The rest
        // of a body still being read after an early answer does not.
        if (msg instanceof ByteBuf && !reading && pendingResponses == 0 && headerDeadline == 0
            && !failed && ((ByteBuf) msg).isReadable()) {
          headerDeadline = deadline(System.nanoTime() + settings.headerTimeout().toNanos());
          arm(ctx, headerDeadline);
        }
        ctx.fireChannelRead(msg);
      }
    };
  }

  private ChannelHandlerContext self;

  /** True when no request is being read or answered: the connection may be closed at once. */
  boolean idle() {
    if (reading || pendingResponses > 0) {
      return false;
    }
    // an answer written whole may still wait in the outbound buffer: not idle until it is sent
    var out = self == null ? null : self.channel().unsafe().outboundBuffer();
    return out == null || out.totalPendingWriteBytes() == 0;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    self = ctx;
  }

  /** A deadline value that is never 0, which means none. */
  private static long deadline(long nanos) {
    return nanos == 0 ? 1 : nanos;
  }

  /** Makes sure the timer fires by {@code deadline}. */
  private void arm(ChannelHandlerContext ctx, long deadline) {
    if (timer != null && timerAt - deadline <= 0) {
      return; // fires before: it will look at the deadline then
    }
    if (timer != null) {
      timer.cancel(false);
    }
    timerAt = deadline;
    timer = ctx.executor().schedule(this::fired, Math.max(0, deadline - System.nanoTime()),
        TimeUnit.NANOSECONDS);
  }

  private void fired() {
    timer = null;
    long now = System.nanoTime();
    if (headerDeadline != 0 && now - headerDeadline >= 0) {
      headerTimeOut();
    } else if (bodyDeadline != 0 && now - bodyDeadline >= 0) {
      bodyTimeOut();
    } else if (headerDeadline != 0 || bodyDeadline != 0) {
      long next = headerDeadline == 0 ? bodyDeadline : bodyDeadline == 0 ? headerDeadline
          : (headerDeadline - bodyDeadline < 0 ? headerDeadline : bodyDeadline);
      arm(self, next);
    }
  }

  private void cancelTimers() {
    headerDeadline = 0;
    bodyDeadline = 0;
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  private void headerTimeOut() {
    headerDeadline = 0;
    if (!self.channel().isActive() || failed) {
      return;
    }
    reject(self, HttpResponseStatus.REQUEST_TIMEOUT, "request headers were not received within "
        + seconds(settings.headerTimeout().toMillis()), null);
  }

  private void bodyTimeOut() {
    bodyDeadline = 0;
    if (!self.channel().isActive() || failed) {
      return;
    }
    if (pendingResponses == 0) {
      // The request was answered early (a 401, a 413) and its body is still trickling in: there
      // is no one left to tell, so the connection just ends.
      failed = true;
      cancelTimers();
      self.close();
      return;
    }
    reject(self, HttpResponseStatus.REQUEST_TIMEOUT, "request body was not received within "
        + seconds(settings.bodyTimeout().toMillis()), null);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (failed) {
      ReferenceCountUtil.release(msg); // the connection is closing after an error answer
      return;
    }
    if (msg instanceof HttpRequest) {
      HttpRequest req = (HttpRequest) msg;
      headerDeadline = 0;
      DecoderResult result = req.decoderResult();
      if (result.isFailure()) {
        ReferenceCountUtil.release(msg);
        Throwable cause = result.cause();
        if (cause instanceof TooLongHttpHeaderException) {
          reject(ctx, HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
              "request headers are larger than " + settings.maxHeaderSize() + " bytes", null);
        } else if (cause instanceof TooLongHttpLineException) {
          reject(ctx, HttpResponseStatus.REQUEST_URI_TOO_LONG,
              "request line is longer than " + settings.maxInitialLineLength() + " bytes", null);
        } else if (cause instanceof TooLongFrameException) {
          reject(ctx, HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, cause.getMessage(),
              null);
        } else if (cause instanceof InvalidRequestException) {
          reject(ctx, ((InvalidRequestException) cause).status(), cause.getMessage(), null);
        } else {
          reject(ctx, HttpResponseStatus.BAD_REQUEST, "malformed HTTP request: "
              + reason(cause), null);
        }
        return;
      }
      if (req.headers().size() > settings.maxHeaderCount()) {
        ReferenceCountUtil.release(msg);
        reject(ctx, HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request has " + req.headers().size() + " headers, more than the limit of "
                + settings.maxHeaderCount(), req);
        return;
      }
      reading = true;
      pendingResponses++;
      if (settings.bodyTimeout().isZero()) {
        bodyDeadline = 0; // no deadline: bodies may stream for as long as bytes keep moving
      } else {
        bodyDeadline = deadline(System.nanoTime() + settings.bodyTimeout().toNanos());
        arm(ctx, bodyDeadline);
      }
    } else if (msg instanceof io.netty.handler.codec.http.HttpContent) {
      DecoderResult result = ((io.netty.handler.codec.http.HttpContent) msg).decoderResult();
      if (result.isFailure()) {
        ReferenceCountUtil.release(msg);
        reject(ctx, HttpResponseStatus.BAD_REQUEST, "malformed HTTP request body: "
            + reason(result.cause()), null);
        return;
      }
    }
    if (msg instanceof LastHttpContent && reading) {
      bodyDeadline = 0;
      reading = false;
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof HttpResponse) {
      // 100 Continue and other 1xx answers come before the real one; they end nothing.
      writingInformational = ((HttpResponse) msg).status().codeClass()
          == HttpStatusClass.INFORMATIONAL;
      responseStarted = !writingInformational;
    }
    if (msg instanceof LastHttpContent) {
      responseStarted = false;
    }
    if (msg instanceof LastHttpContent && !writingInformational && pendingResponses > 0) {
      // Counted as answered when written: idle() also waits for the outbound buffer to drain,
      // so no promise or listener is needed per response. A response sent before the body was
      // read (e.g. 413, 401) leaves the body deadline running: the rest of the body is still
      // read, and dropped, by the application.
      pendingResponses--;
    }
    ctx.write(msg, promise);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof IdleStateEvent) {
      if (idle()) {
        ctx.close();
      }
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cancelTimers();
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    cancelTimers();
  }

  private void reject(ChannelHandlerContext ctx, HttpResponseStatus status, String message,
      HttpRequest req) {
    failed = true;
    cancelTimers();
    if (responseStarted) {
      // An error answer cannot go in the middle of a response being streamed.
      ctx.close();
      return;
    }
    FullHttpResponse r = errors.render(ctx.alloc(), status, message, req);
    if (!http2) {
      r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    // Written from this handler, so the application behind it is bypassed.
    ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
  }

  /** A short reason for a decoding error, in words a client's author understands. */
  static String reason(Throwable cause) {
    if (cause instanceof ContentLengthNotAllowedException) {
      return "both Content-Length and Transfer-Encoding";
    }
    if (cause instanceof TransferEncodingNotAllowedException) {
      return "Transfer-Encoding is not allowed before HTTP/1.1";
    }
    if (cause instanceof InvalidLineSeparatorException) {
      return "bare LF line end; lines must end with CR LF";
    }
    if (cause instanceof InvalidChunkExtensionException) {
      return "invalid chunk extension or bare LF in a chunk size line";
    }
    if (cause instanceof InvalidChunkTerminationException) {
      return "chunk data not followed by CR LF";
    }
    if (cause instanceof NumberFormatException) {
      return "invalid chunk size: " + cause.getMessage();
    }
    if (cause == null || cause.getMessage() == null) {
      return cause == null ? "unknown error" : cause.getClass().getSimpleName();
    }
    Throwable detail = cause.getCause();
    if (detail != null && detail != cause && detail.getMessage() != null) {
      return cause.getMessage() + ": " + detail.getMessage(); // e.g. which character in a value
    }
    return cause.getMessage();
  }

  private static String seconds(long millis) {
    return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
  }
}
