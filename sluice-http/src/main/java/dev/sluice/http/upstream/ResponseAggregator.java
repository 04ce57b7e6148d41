package dev.sluice.http.upstream;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.util.ReferenceCountUtil;

/**
 * Gathers one response from the HTTP objects the codecs produce (HTTP/1.1's {@code
 * HttpClientCodec} or HTTP/2's {@code Http2StreamFrameToHttpObjectCodec}, which look alike),
 * skipping informational (1xx) responses and stopping at {@code maxBytes} of body. Confined to one
 * connection's event loop; every message fed is released, the body is owned by the caller of
 * {@link #take}.
 */
final class ResponseAggregator {
  enum Result { MORE, DONE, TOO_LARGE, MALFORMED }

  private final int maxBytes;
  private HttpResponse head;
  private CompositeByteBuf body;
  private boolean informational;
  private Throwable malformation;

  ResponseAggregator(int maxBytes) {
    this.maxBytes = maxBytes;
  }

  /** Feeds one message (released here). After DONE, call {@link #take}; after a failure, stop. */
  Result feed(ByteBufAllocator alloc, Object msg) {
    try {
      if (!(msg instanceof HttpObject)) {
        return Result.MORE;
      }
      HttpObject obj = (HttpObject) msg;
      if (obj.decoderResult().isFailure()) {
        malformation = obj.decoderResult().cause();
        return Result.MALFORMED;
      }
      if (obj instanceof HttpResponse) {
        HttpResponse r = (HttpResponse) obj;
        int code = r.status().code();
        if (code == 101) {
          malformation = new IllegalStateException("101 Switching Protocols was not asked for");
          return Result.MALFORMED;
        }
        if (code >= 100 && code < 200) {
          // 100 Continue, 103 Early Hints: not the answer. HTTP/1.1 ends one with an empty last
          // content, HTTP/2 may not; the next response head ends it in any case.
          informational = !(obj instanceof LastHttpContent);
          return Result.MORE;
        }
        informational = false;
        if (head != null) {
          malformation = new IllegalStateException("a second response head");
          return Result.MALFORMED;
        }
        long declared;
        try {
          declared = HttpUtil.getContentLength(r, -1L);
        } catch (NumberFormatException e) {
          malformation = e;
          return Result.MALFORMED;
        }
        if (declared > maxBytes) {
          return Result.TOO_LARGE;
        }
        head = r;
        body = alloc.compositeBuffer(1024);
      } else if (informational) {
        if (obj instanceof LastHttpContent) {
          informational = false;
        }
        return Result.MORE;
      } else if (head == null) {
        malformation = new IllegalStateException("content before a response head");
        return Result.MALFORMED;
      }
      if (obj instanceof HttpContent) {
        HttpContent c = (HttpContent) obj;
        int n = c.content().readableBytes();
        if (n > 0) {
          if ((long) body.readableBytes() + n > maxBytes) {
            return Result.TOO_LARGE;
          }
          body.addComponent(true, c.content().retain());
        }
        if (obj instanceof LastHttpContent) {
          return Result.DONE;
        }
      }
      return Result.MORE;
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  /** Whether the gathered response lets its HTTP/1.1 connection be reused. */
  boolean keepAlive() {
    return HttpUtil.isKeepAlive(head);
  }

  /** Why the response was malformed. */
  Throwable malformation() {
    return malformation;
  }

  /** The whole response; the aggregator is empty again afterwards. */
  UpstreamResponse take(Endpoint endpoint) {
    HttpHeaders headers = head.headers();
    headers.remove(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text());
    headers.remove(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text());
    UpstreamResponse r = new UpstreamResponse(endpoint, head.status().code(), headers, body);
    head = null;
    body = null;
    return r;
  }

  /** Drops whatever was gathered. */
  void reset() {
    if (body != null) {
      body.release();
    }
    head = null;
    body = null;
    informational = false;
    malformation = null;
  }
}
