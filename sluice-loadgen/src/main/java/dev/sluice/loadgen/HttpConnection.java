package dev.sluice.loadgen;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One keep-alive HTTP/1.1 client connection with at most one request outstanding: {@link #send}
 * writes a request that the caller encoded completely (head and body), and the {@link Listener}
 * hears the answer (status, headers, body, latency from the write to the end of the answer) or why
 * there is none (the connection failed or closed, or the timeout passed).
 *
 * <p>Made by {@link HttpConnector#connect}. Everything runs on the connection's {@link
 * #eventLoop()}: call {@link #send} there, and the listener is called there. After a failure the
 * connection is closed; connect a new one. Sending the same pre-encoded request again and again
 * allocates nothing per request (without a timeout).
 */
public final class HttpConnection {
  /** Bytes of an answer's body kept for the listener; the rest is dropped. */
  public static final int MAX_BODY = 1 << 20;

  /** Hears what became of a request. Called on the connection's event loop, exactly once. */
  public interface Listener {
    /**
     * The whole answer arrived. {@code body} holds up to {@link HttpConnection#MAX_BODY} bytes of
     * it, as the server sent it (this client asks for no compression), and is valid only during
     * the call; do not release it. The listener may {@link HttpConnection#send} the next request from here.
     */
    void onResponse(int status, HttpHeaders headers, ByteBuf body, long latencyNanos);

    /**
     * No answer: the write failed, the connection closed or failed, or {@code timeoutNanos}
     * passed ({@link TimeoutException}). The connection is closed.
     */
    void onFailure(Throwable cause);
  }

  private final Channel channel;
  private final Handler handler;

  HttpConnection(Channel channel, Handler handler) {
    this.channel = channel;
    this.handler = handler;
  }

  public Channel channel() {
    return channel;
  }

  public EventLoop eventLoop() {
    return channel.eventLoop();
  }

  /**
   * True while requests can be sent: the connection is open and the server did not announce that
   * it closes it ({@code Connection: close} on the last answer).
   */
  public boolean isActive() {
    return channel.isActive() && !handler.closing;
  }

  /** True while a request is outstanding. Event loop only. */
  public boolean busy() {
    return handler.listener != null;
  }

  /**
   * Writes {@code request} (a whole HTTP/1.1 request; this call takes over the reference) and calls
   * {@code listener} when it is answered or fails. On the event loop only, one request at a time.
   *
   * @param timeoutNanos how long to wait for the end of the answer; 0 waits for ever
   * @throws IllegalStateException when a request is outstanding or not on the event loop
   */
  public void send(ByteBuf request, long timeoutNanos, Listener listener) {
    if (!channel.eventLoop().inEventLoop() || handler.listener != null) {
      request.release();
      throw new IllegalStateException(handler.listener != null
          ? "a request is outstanding on this connection" : "send is for the event loop");
    }
    handler.send(request, timeoutNanos, listener);
  }

  /** Closes the connection; an outstanding request fails. */
  public ChannelFuture close() {
    return channel.close();
  }

  @Override
  public String toString() {
    return "HttpConnection" + channel;
  }

  /** The last handler of the pipeline: matches answers to the request outstanding. */
  static final class Handler extends ChannelInboundHandlerAdapter {
    private Channel channel;
    private ByteBuf body;
    Listener listener;
    private long sentAt;
    private int status;
    private HttpHeaders headers;
    private boolean keepAlive;
    private long timeoutNanos;
    private ScheduledFuture<?> timeout;
    private long generation;
    boolean closing;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      channel = ctx.channel();
    }

    void send(ByteBuf request, long timeoutNanos, Listener l) {
      generation++;
      listener = l;
      status = 0;
      headers = null;
      this.timeoutNanos = timeoutNanos;
      if (!channel.isActive() || closing) {
        request.release();
        long g = generation;
        // Not from inside send: the listener is usually the caller.
        channel.eventLoop().execute(() -> {
          if (g == generation) {
            fail(new IOException("the connection is closed"));
          }
        });
        return;
      }
      if (timeoutNanos > 0) {
        long g = generation;
        timeout = channel.eventLoop().schedule(() -> timedOut(g), timeoutNanos,
            TimeUnit.NANOSECONDS);
      }
      sentAt = System.nanoTime();
      // A failed write reaches exceptionCaught through the void promise: nothing allocated.
      channel.writeAndFlush(request, channel.voidPromise());
    }

    private void timedOut(long g) {
      if (g == generation && listener != null) {
        timeout = null;
        fail(new TimeoutException("no answer within " + TimeUnit.NANOSECONDS.toMillis(timeoutNanos)
            + " ms"));
        channel.close();
      }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof HttpResponse) {
          HttpResponse r = (HttpResponse) msg;
          status = r.status().code();
          headers = r.headers();
          keepAlive = HttpUtil.isKeepAlive(r);
        }
        if (msg instanceof HttpContent) {
          ByteBuf content = ((HttpContent) msg).content();
          if (content.isReadable()) {
            if (body == null) {
              body = ctx.alloc().heapBuffer(Math.min(content.readableBytes(), MAX_BODY));
            }
            int room = MAX_BODY - body.readableBytes();
            if (room > 0) {
              body.writeBytes(content, content.readerIndex(), Math.min(room, content.readableBytes()));
            }
          }
          if (msg instanceof LastHttpContent) {
            answered();
          }
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    private void answered() {
      if (status >= 100 && status < 200) {
        // 100 Continue and the like: the real answer follows.
        if (body != null) {
          body.clear();
        }
        return;
      }
      Listener l = listener;
      if (l == null) {
        // An answer to nothing: the server is confused; do not reuse the connection.
        channel.close();
        return;
      }
      long latency = System.nanoTime() - sentAt;
      listener = null;
      if (timeout != null) {
        timeout.cancel(false);
        timeout = null;
      }
      // The server closes after this answer: a request sent from the listener fails at once.
      closing = !keepAlive;
      ByteBuf b = body != null ? body : Unpooled.EMPTY_BUFFER;
      try {
        l.onResponse(status, headers, b, latency);
      } finally {
        if (body != null) {
          body.clear();
        }
        if (closing) {
          channel.close();
        }
      }
    }

    private void fail(Throwable cause) {
      Listener l = listener;
      listener = null;
      if (timeout != null) {
        timeout.cancel(false);
        timeout = null;
      }
      if (l != null) {
        l.onFailure(cause);
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (listener != null) {
        fail(new IOException("the server closed the connection before answering"));
      }
      releaseBody();
      ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
      releaseBody();
    }

    private void releaseBody() {
      if (body != null) {
        body.release();
        body = null;
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      fail(cause);
      ctx.close();
    }
  }
}
