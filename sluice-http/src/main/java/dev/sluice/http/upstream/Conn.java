package dev.sluice.http.upstream;

import dev.sluice.http.transport.Http2FrameCodecs;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * One connection to an endpoint, HTTP/1.1 or HTTP/2.
 *
 * <p>Threading: the fields of this class belong to the group's control event loop, like the
 * {@link Pool}. The channel runs on an event loop of its own (any of the group's); the handlers
 * below ({@link Http1Handler}, {@link StreamHandler}, {@link Watcher}) hold their state on that
 * loop and report everything to the control loop by posting to it, never touching the pool
 * themselves. Each exchange handed to the connection gets exactly one report: a response or a
 * failure.
 *
 * <p>Pipelines: {@code wire-counter -> [ssl -> alpn] -> raw-tap -> HttpClientCodec -> http1 ->
 * watcher}, or
 * {@code wire-counter -> [ssl -> alpn] -> Http2FrameCodec -> Http2MultiplexHandler -> watcher}
 * whose streams run {@code Http2StreamFrameToHttpObjectCodec -> stream}.
 */
final class Conn {
  enum State { CONNECTING, READY, CLOSED }

  final Pool pool;
  private final UpstreamGroup group;

  Channel channel;
  State state = State.CONNECTING;
  boolean http2;
  /** An HTTP/2 connection that received a GOAWAY. */
  boolean draining;
  /** HTTP/2 streams in flight. */
  int active;
  int maxStreams = 1;
  long lastUsed;
  /** The HTTP/1.1 exchange in flight, or null. */
  Exchange current;
  /** Set on the connection's loop before it reports READY; read on the control loop after. */
  private volatile Http1Handler http1;
  /** Exchanges started on this connection. */
  private long uses;

  Conn(Pool pool) {
    this.pool = pool;
    this.group = pool.group;
  }

  private EndpointState ep() {
    return pool.ep;
  }

  void connect(io.netty.channel.EventLoop loop) {
    EndpointState ep = ep();
    Bootstrap b = new Bootstrap()
        .group(loop != null ? loop : group.loops.next())
        .channel(group.transport.clientChannel())
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE,
            Math.max(1, group.connectTimeout.toMillis())))
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            setUp(ch);
          }
        });
    ChannelFuture f = b.connect(InetSocketAddress.createUnresolved(ep.host, ep.endpoint.port()));
    channel = f.channel();
    f.addListener(done -> {
      if (!done.isSuccess()) {
        Throwable cause = done.cause();
        group.post(() -> pool.connectFailed(this, cause));
      }
    });
  }

  /** On the connection's loop, at registration. */
  private void setUp(Channel ch) {
    EndpointState ep = ep();
    WireCounter wire = new WireCounter();
    ChannelPipeline p = ch.pipeline();
    p.addLast("wire-counter", wire);
    Watcher watcher = new Watcher();
    if (ep.endpoint.tls()) {
      String peer = group.tls.serverName() != null ? group.tls.serverName() : ep.host;
      SslHandler ssl = group.sslContext.newHandler(ch.alloc(), peer, ep.endpoint.port());
      ssl.setHandshakeTimeoutMillis(Math.max(1, group.connectTimeout.toMillis()));
      p.addLast("ssl", ssl);
      p.addLast("alpn", new ApplicationProtocolNegotiationHandler(
          ApplicationProtocolNames.HTTP_1_1) {
        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
          if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
            addHttp2(ctx.pipeline(), watcher);
          } else {
            addHttp1(ctx.pipeline(), wire, watcher);
            watcher.ready(false, 1);
          }
        }

        @Override
        protected void handshakeFailure(ChannelHandlerContext ctx, Throwable cause) {
          watcher.error(cause);
          ctx.close();
        }
      });
      p.addLast("watcher", watcher);
    } else if (group.priorKnowledge(ep)) {
      p.addLast("watcher", watcher);
      addHttp2(p, watcher);
    } else {
      p.addLast("watcher", watcher);
      addHttp1(p, wire, watcher);
      watcher.readyOnActive = true;
    }
  }

  private void addHttp1(ChannelPipeline p, WireCounter wire, Watcher watcher) {
    RawTap tap = new RawTap();
    Http1Handler h = new Http1Handler(wire, tap);
    http1 = h;
    p.addBefore("watcher", "raw-tap", tap);
    p.addBefore("watcher", "http1-codec", new HttpClientCodec(8192, 64 * 1024, 64 * 1024));
    p.addBefore("watcher", "http1", h);
  }

  private void addHttp2(ChannelPipeline p, Watcher watcher) {
    p.addBefore("watcher", "http2-codec", Http2FrameCodecs.forClient()
        .initialSettings(Http2Settings.defaultSettings().pushEnabled(false)
            .maxHeaderListSize(64 * 1024))
        .encoderEnforceMaxConcurrentStreams(true)
        .validateHeaders(true)
        .build());
    p.addBefore("watcher", "http2-multiplex", new Http2MultiplexHandler(
        new ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg); // pushed streams: refused by SETTINGS, dropped here
            ctx.close();
          }
        }));
    watcher.awaitSettings(p.channel());
  }

  /** On the control loop: sends the exchange on this connection. */
  void start(Exchange ex) {
    ex.conn = this;
    ex.sent = true;
    lastUsed = System.nanoTime();
    if (ex.streamHandler != null) {
      startStream(ex);
      return;
    }
    uses++;
    FullHttpRequest request = group.buildRequest(ex);
    if (!http2) {
      current = ex;
      Http1Handler h = http1;
      try {
        channel.eventLoop().execute(() -> h.begin(ex, request));
      } catch (RejectedExecutionException e) {
        request.release();
        pool.http1Failed(this, ex, UpstreamException.Kind.CLOSED, "event loop shut down", e,
            false, false);
      }
      return;
    }
    active++;
    StreamHandler h = new StreamHandler(ex, request);
    Future<Http2StreamChannel> opening = new Http2StreamChannelBootstrap(channel).handler(h).open();
    opening.addListener(f -> h.opened(opening));
  }

  /** On the control loop: lends this connection, or a new stream of it, to a streamed exchange. */
  private void startStream(Exchange ex) {
    boolean reused = uses++ > 0;
    group.opened(ex, reused);
    if (!http2) {
      current = ex;
      Http1Handler h = http1;
      try {
        if (channel.eventLoop().inEventLoop()) {
          h.lend(ex, reused);
        } else {
          channel.eventLoop().execute(() -> h.lend(ex, reused));
        }
      } catch (RejectedExecutionException e) {
        pool.http1StreamEnded(this, ex, false, false, false);
        ex.streamHandler.onFailure(new UpstreamException(UpstreamException.Kind.CLOSED,
            ep().endpoint, false, "event loop shut down", e));
      }
      return;
    }
    active++;
    Http2Lease lease = new Http2Lease(ex, reused);
    Future<Http2StreamChannel> opening =
        new Http2StreamChannelBootstrap(channel).handler(lease).open();
    opening.addListener(f -> lease.opened(opening));
  }

  /**
   * What a streamed exchange's caller sees of an HTTP/1.1 connection or HTTP/2 stream: the
   * response's progress, to know at the end whether the connection can be reused.
   */
  private abstract class Lease extends ChannelInboundHandlerAdapter implements UpstreamStream {
    final Exchange exchange;
    final UpstreamStreamHandler handler;
    final boolean reused;
    /** The final (non-informational) response head was read. */
    boolean finalResponse;
    boolean responseDone;
    boolean requestDone;
    boolean keepAlive = true;
    boolean upgraded;
    boolean ended;

    Lease(Exchange exchange, boolean reused) {
      this.exchange = exchange;
      this.handler = exchange.streamHandler;
      this.reused = reused;
    }

    abstract Channel channel();

    @Override
    public Endpoint endpoint() {
      return ep().endpoint;
    }

    @Override
    public boolean reused() {
      return reused;
    }

    @Override
    public io.netty.channel.EventLoop eventLoop() {
      return channel().eventLoop();
    }

    @Override
    public boolean isWritable() {
      return channel().isWritable();
    }

    @Override
    public void setAutoRead(boolean autoRead) {
      channel().config().setAutoRead(autoRead);
    }

    @Override
    public void flush() {
      channel().flush();
    }

    @Override
    public void write(io.netty.handler.codec.http.HttpObject msg) {
      if (ended) {
        ReferenceCountUtil.release(msg);
        return;
      }
      if (msg instanceof io.netty.handler.codec.http.LastHttpContent) {
        requestDone = true;
      }
      // A failed write closes the channel, which reports the failure: no promise needed.
      channel().write(msg, channel().voidPromise());
    }

    @Override
    public boolean rawBytes() {
      return false;
    }

    @Override
    public void writeBytes(ByteBuf bytes) {
      bytes.release();
      throw new IllegalStateException("not in raw mode: call rawBytes() first");
    }

    @Override
    public void completeRaw(int status, boolean reusable) {
      throw new IllegalStateException("not in raw mode: end the exchange with complete()");
    }

    /** Follows the response through, then hands it to the caller. */
    void read(Object msg) {
      if (msg instanceof io.netty.handler.codec.http.HttpResponse) {
        var r = (io.netty.handler.codec.http.HttpResponse) msg;
        int code = r.status().code();
        if (code >= 200 || code == 101) {
          finalResponse = true;
          keepAlive = io.netty.handler.codec.http.HttpUtil.isKeepAlive(r);
        }
      }
      if (finalResponse && msg instanceof io.netty.handler.codec.http.LastHttpContent) {
        responseDone = true;
      }
      handler.onResponse(msg);
    }

    /** What a break of the connection means for the caller: reached, or provably not. */
    UpstreamException broken(Throwable cause, boolean reached) {
      String text = (malformed(cause) ? "malformed response" : "connection closed before the"
          + " response was complete") + " (" + ep().endpoint.authority() + "): "
          + Pool.describe(cause);
      return new UpstreamException(malformed(cause) ? UpstreamException.Kind.BAD_RESPONSE
          : UpstreamException.Kind.CONNECTION_LOST, ep().endpoint, reached, text, cause);
    }
  }

  /**
   * What an HTTP/2 stream's events and errors tell of its end: the first error, and whether the
   * server refused the stream (a reset with REFUSED_STREAM, or a GOAWAY, which is told only to
   * streams beyond its last stream id), in which case the request provably reached nothing.
   */
  private static final class StreamFate {
    boolean refused;
    Throwable error;

    void event(Object evt) {
      if (evt instanceof Http2ResetFrame) {
        long code = ((Http2ResetFrame) evt).errorCode();
        refused |= code == Http2Error.REFUSED_STREAM.code();
        failed(new IllegalStateException("stream reset by the server, error code " + code));
      } else if (evt instanceof Http2GoAwayFrame) {
        refused = true;
        failed(new IllegalStateException("stream not processed: GOAWAY"));
      }
      ReferenceCountUtil.release(evt);
    }

    void failed(Throwable cause) {
      if (error == null) {
        error = cause;
      }
    }

    /** Whether the stream's request may have been processed: it got an id and was not refused. */
    boolean reached(ChannelHandlerContext ctx) {
      return !refused && ((Http2StreamChannel) ctx.channel()).stream().id() > 0;
    }
  }

  /**
   * Whether a pipeline error means the response was malformed, rather than the connection broken:
   * a decoding error, except the TLS ones ({@code SslHandler} is a decoder too, and a server's
   * alert is a lost connection).
   */
  private static boolean malformed(Throwable t) {
    if (t instanceof TooLongFrameException) {
      return true;
    }
    return t instanceof DecoderException && !(t.getCause() instanceof SSLException);
  }

  /**
   * The last handler of the connection: reports readiness (after TCP for cleartext HTTP/1.1, after
   * ALPN over TLS, after the server's first SETTINGS for HTTP/2), HTTP/2 connection frames, and the
   * close with whatever error caused it.
   */
  private final class Watcher extends ChannelInboundHandlerAdapter {
    private boolean readyOnActive;
    private boolean readied;
    private Throwable error;
    private Future<?> settingsTimeout;

    void error(Throwable cause) {
      if (error == null) {
        error = cause;
      }
    }

    void ready(boolean isHttp2, int maxStreams) {
      if (!readied) {
        readied = true;
        group.post(() -> pool.connected(Conn.this, isHttp2, maxStreams));
      }
    }

    void awaitSettings(Channel ch) {
      settingsTimeout = ch.eventLoop().schedule(() -> {
        if (!readied) {
          error(new ConnectTimeoutException("no HTTP/2 SETTINGS from "
              + ep().endpoint.authority() + " within " + group.connectTimeout.toMillis() + " ms"));
          ch.close();
        }
      }, Math.max(1, group.connectTimeout.toMillis()), TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      if (readyOnActive) {
        ready(false, 1);
      }
      ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof Http2SettingsFrame) {
          Long max = ((Http2SettingsFrame) msg).settings().maxConcurrentStreams();
          int streams = max == null ? Integer.MAX_VALUE : (int) Math.min(Integer.MAX_VALUE, max);
          if (!readied) {
            if (settingsTimeout != null) {
              settingsTimeout.cancel(false);
            }
            ready(true, streams);
          } else if (max != null) {
            group.post(() -> pool.maxStreams(Conn.this, streams));
          }
        } else if (msg instanceof Http2GoAwayFrame) {
          group.post(() -> pool.goAway(Conn.this));
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      error(cause);
      ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (settingsTimeout != null) {
        settingsTimeout.cancel(false);
      }
      Throwable cause = error;
      group.post(() -> pool.closed(Conn.this, cause));
    }
  }

  /**
   * Between TLS and the HTTP codec of an HTTP/1.1 connection: while a lease is in raw mode, hands
   * it the bytes read and lends it its context to write through, so that raw traffic bypasses the
   * codec yet still passes TLS and the wire counter; otherwise passes everything on. Costs the
   * ordinary path one handler hop per read, and nothing per exchange.
   *
   * <pre>
   * wire-counter -> [ssl] -> raw-tap -> http1-codec -> http1 -> watcher
   *                            |  ^
   *             bytes read     v  |  bytes written (raw lease)
   *                          raw lease
   * </pre>
   */
  private static final class RawTap extends ChannelInboundHandlerAdapter {
    ChannelHandlerContext ctx;
    /** The lease in raw mode, or null; event loop only. */
    Http1Handler.Http1Lease lease;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      Http1Handler.Http1Lease raw = lease;
      if (raw != null && msg instanceof ByteBuf) {
        raw.readRaw((ByteBuf) msg); // the caller's handler owns it from here
      } else {
        ctx.fireChannelRead(msg);
      }
    }
  }

  /**
   * An HTTP/1.1 connection's exchange handler: writes one request at a time, gathers the response.
   * A request counts as having reached nothing only when not a byte left the socket since it began
   * (the wire counter is unchanged) and its write was not reported done.
   */
  private final class Http1Handler extends ChannelInboundHandlerAdapter {
    private final WireCounter wire;
    private final RawTap tap;
    private final ResponseAggregator aggregator = new ResponseAggregator(group.maxResponseBytes);
    private ChannelHandlerContext ctx;
    private Exchange exchange;
    private long mark;
    private boolean written;
    private Throwable error;

    Http1Handler(WireCounter wire, RawTap tap) {
      this.wire = wire;
      this.tap = tap;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
    }

    /** The streamed exchange this connection is lent to, or null. */
    private Http1Lease lease;

    void lend(Exchange ex, boolean reused) {
      exchange = ex;
      written = false;
      mark = wire.written();
      lease = new Http1Lease(ex, reused, ctx);
      if (!ctx.channel().config().isAutoRead()) {
        ctx.channel().config().setAutoRead(true);
      }
      if (!ctx.channel().isActive()) {
        lease.broke(new ClosedChannelException());
        return;
      }
      ex.streamHandler.onOpen(lease);
    }

    /**
     * An HTTP/1.1 connection lent to one streamed exchange. In raw mode the {@link RawTap} hands
     * it the bytes read, and it writes through the tap's context: the codec sees none of it.
     */
    private final class Http1Lease extends Lease {
      private final ChannelHandlerContext ctx;
      /** Something was written; in raw mode, a readable buffer, with a promise. */
      private boolean wrote;
      private boolean raw;

      Http1Lease(Exchange exchange, boolean reused, ChannelHandlerContext ctx) {
        super(exchange, reused);
        this.ctx = ctx;
      }

      @Override
      Channel channel() {
        return ctx.channel();
      }

      @Override
      public boolean isHttp2() {
        return false;
      }

      @Override
      public void write(io.netty.handler.codec.http.HttpObject msg) {
        if (raw) {
          ReferenceCountUtil.release(msg);
          throw new IllegalStateException("raw mode: write the request with writeBytes");
        }
        if (ended) {
          ReferenceCountUtil.release(msg);
          return;
        }
        wrote = true;
        if (msg instanceof io.netty.handler.codec.http.LastHttpContent) {
          requestDone = true;
        }
        // Whether the request reached the endpoint is told by the wire counter, which counts the
        // head (once its bytes leave, the request has reached the endpoint); the body can only
        // follow it. A failed write closes the channel, which reports the failure.
        if (msg instanceof io.netty.handler.codec.http.HttpRequest) {
          wire.countNextWrite();
        }
        ctx.write(msg, ctx.voidPromise());
      }

      @Override
      public boolean rawBytes() {
        if (raw) {
          return true;
        }
        if (wrote) {
          throw new IllegalStateException("raw mode must be taken before anything is written");
        }
        raw = true;
        if (!ended) {
          tap.lease = this;
        }
        return true;
      }

      @Override
      public void writeBytes(ByteBuf bytes) {
        if (!raw) {
          super.writeBytes(bytes);
          return;
        }
        if (ended) {
          bytes.release();
          return;
        }
        // As for write(): the wire counter counts the first readable buffer, which any later one
        // can only follow; a failed write closes the channel, which reports the failure.
        ChannelHandlerContext out = tap.ctx;
        if (!wrote && bytes.isReadable()) {
          wrote = true;
          wire.countNextWrite();
          out.write(bytes, out.voidPromise());
        } else {
          out.write(bytes, out.voidPromise());
        }
      }

      @Override
      public void flush() {
        if (raw) {
          tap.ctx.flush(); // nothing waits in the codec: skip it
        } else {
          ctx.channel().flush();
        }
      }

      @Override
      public void complete(int status) {
        // In raw mode the response is not followed: the connection cannot be known reusable.
        finish(status, responseDone && requestDone && keepAlive && !upgraded);
      }

      @Override
      public void completeRaw(int status, boolean reusable) {
        if (!raw) {
          super.completeRaw(status, reusable);
        }
        finish(status, reusable);
      }

      /** The response ends with the connection: its close is the end, not a failure. */
      private boolean closeEnds;

      @Override
      public void endsWithClose() {
        closeEnds = raw;
      }

      private void finish(int status, boolean reusableIfActive) {
        if (ended) {
          return;
        }
        ended = true;
        boolean reusable = reusableIfActive && ctx.channel().isActive();
        end();
        if (!reusable) {
          ctx.close();
        } else if (!ctx.channel().config().isAutoRead()) {
          ctx.channel().config().setAutoRead(true);
        }
        group.postOrRun(() -> pool.http1StreamEnded(Conn.this, exchange, reusable, true,
            status >= 500));
      }

      @Override
      public void abort(boolean failure) {
        if (ended) {
          return;
        }
        ended = true;
        end();
        ctx.close();
        group.postOrRun(() -> pool.http1StreamEnded(Conn.this, exchange, false, failure,
            failure));
      }

      @Override
      public Channel upgrade() {
        if (raw) {
          throw new IllegalStateException("raw mode has no protocol upgrade");
        }
        if (!finalResponse || upgraded) {
          throw new IllegalStateException("no 101 response to upgrade after");
        }
        upgraded = true;
        ChannelPipeline p = ctx.pipeline();
        if (p.get("http1-codec") != null) {
          p.remove("http1-codec"); // bytes it holds past the 101 go on, raw
        }
        return ctx.channel();
      }

      private void end() {
        lease = null;
        tap.lease = null;
        Http1Handler.this.exchange = null;
      }

      /** In raw mode: bytes read, from the tap. */
      void readRaw(ByteBuf bytes) {
        handler.onResponse(bytes);
      }

      /** The connection broke while lent. */
      void broke(Throwable cause) {
        if (ended) {
          return;
        }
        ended = true;
        boolean reached = written || wire.written() != mark;
        end();
        UpstreamException e = broken(cause, reached);
        boolean failure = !closeEnds;
        group.post(() -> pool.http1StreamEnded(Conn.this, exchange, false, true, failure));
        handler.onFailure(e);
      }
    }

    void begin(Exchange ex, FullHttpRequest request) {
      exchange = ex;
      written = false;
      mark = wire.written();
      ctx.writeAndFlush(request).addListener(f -> {
        if (exchange != ex) {
          return; // answered (early) or failed already
        }
        if (f.isSuccess()) {
          written = true;
        } else {
          fail(UpstreamException.Kind.CONNECTION_LOST, "request write failed", f.cause());
          ctx.close();
        }
      });
    }

    private void fail(UpstreamException.Kind kind, String message, Throwable cause) {
      Exchange ex = exchange;
      exchange = null;
      aggregator.reset();
      boolean nothingSent = !written && wire.written() == mark;
      String text = message + " (" + ep().endpoint.authority() + "): " + Pool.describe(cause);
      group.post(() -> pool.http1Failed(Conn.this, ex, kind, text, cause, !nothingSent,
          nothingSent && kind == UpstreamException.Kind.CONNECTION_LOST));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (lease != null) {
        if (lease.raw) {
          // What the codec made of bytes from before the raw exchange (stray, at a close): none
          // of the raw exchange's business.
          ReferenceCountUtil.release(msg);
          return;
        }
        lease.read(msg);
        return;
      }
      if (exchange == null) {
        ReferenceCountUtil.release(msg);
        if (error == null) {
          error = new IllegalStateException("a response without a request");
        }
        ctx.close();
        return;
      }
      switch (aggregator.feed(ctx.alloc(), msg)) {
        case MORE:
          return;
        case DONE: {
          Exchange ex = exchange;
          exchange = null;
          boolean reusable = written && ctx.channel().isActive() && aggregator.keepAlive();
          UpstreamResponse response = aggregator.take(ep().endpoint);
          group.post(() -> pool.http1Responded(Conn.this, ex, response, reusable),
              response::release);
          if (!reusable) {
            ctx.close();
          }
          return;
        }
        case TOO_LARGE:
          fail(UpstreamException.Kind.BAD_RESPONSE,
              "response larger than " + group.maxResponseBytes + " bytes", null);
          ctx.close();
          return;
        default:
          fail(UpstreamException.Kind.BAD_RESPONSE, "malformed response",
              aggregator.malformation());
          ctx.close();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (error == null) {
        error = cause;
      }
      ctx.close();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (lease != null) {
        lease.handler.onWritabilityChanged(ctx.channel().isWritable());
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (lease != null) {
        lease.broke(error != null ? error : new ClosedChannelException());
      } else if (exchange != null) {
        if (malformed(error)) {
          fail(UpstreamException.Kind.BAD_RESPONSE, "malformed response", error);
        } else {
          fail(UpstreamException.Kind.CONNECTION_LOST, "connection closed before the response"
              + " was complete", error != null ? error : new ClosedChannelException());
        }
      }
      aggregator.reset();
      ctx.fireChannelInactive();
    }
  }

  /**
   * One HTTP/2 stream's exchange. A stream the server refused (RST_STREAM REFUSED_STREAM, or
   * beyond a GOAWAY's last stream id) or that never got an id was provably not processed.
   */
  private final class StreamHandler extends ChannelInboundHandlerAdapter {
    private final Exchange exchange;
    private FullHttpRequest request;
    private final ResponseAggregator aggregator = new ResponseAggregator(group.maxResponseBytes);
    private boolean finished;
    private boolean written;
    private final StreamFate fate = new StreamFate();

    StreamHandler(Exchange exchange, FullHttpRequest request) {
      this.exchange = exchange;
      this.request = request;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      ctx.pipeline().addBefore(ctx.name(), "http2-to-http",
          new Http2StreamFrameToHttpObjectCodec(false));
    }

    /** On the connection's loop, when the stream channel is open (or could not be). */
    void opened(Future<Http2StreamChannel> f) {
      FullHttpRequest req = request;
      request = null;
      if (!f.isSuccess()) {
        req.release();
        finished = true;
        report(UpstreamException.Kind.CONNECTION_LOST, "cannot open a stream", f.cause(),
            false);
        return;
      }
      Http2StreamChannel stream = f.getNow();
      exchange.stream = stream;
      if (exchange.done) {
        req.release();
        stream.close();
        return;
      }
      stream.writeAndFlush(req).addListener(w -> {
        if (w.isSuccess()) {
          written = true;
        } else if (!finished) {
          fate.failed(w.cause());
          stream.close();
        }
      });
    }

    private void report(UpstreamException.Kind kind, String message, Throwable cause,
        boolean reached) {
      String text = message + " (" + ep().endpoint.authority() + "): " + Pool.describe(cause);
      group.post(() -> pool.streamFailed(Conn.this, exchange, kind, text, cause, reached,
          !reached && kind == UpstreamException.Kind.CONNECTION_LOST));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (finished) {
        ReferenceCountUtil.release(msg);
        return;
      }
      switch (aggregator.feed(ctx.alloc(), msg)) {
        case MORE:
          return;
        case DONE: {
          finished = true;
          UpstreamResponse response = aggregator.take(ep().endpoint);
          group.post(() -> pool.streamResponded(Conn.this, exchange, response),
              response::release);
          if (!written) {
            ctx.close(); // answered before the request was all sent: reset the stream
          }
          return;
        }
        case TOO_LARGE:
          finished = true;
          aggregator.reset();
          report(UpstreamException.Kind.BAD_RESPONSE,
              "response larger than " + group.maxResponseBytes + " bytes", null, true);
          ctx.close();
          return;
        default:
          finished = true;
          Throwable why = aggregator.malformation();
          aggregator.reset();
          report(UpstreamException.Kind.BAD_RESPONSE, "malformed response", why, true);
          ctx.close();
      }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      fate.event(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      fate.failed(cause);
      ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      aggregator.reset();
      if (!finished) {
        finished = true;
        Throwable error = fate.error;
        if (malformed(error)) {
          report(UpstreamException.Kind.BAD_RESPONSE, "malformed response", error, true);
        } else {
          report(UpstreamException.Kind.CONNECTION_LOST,
              "stream closed before the response was complete", error, fate.reached(ctx));
        }
      }
      ctx.fireChannelInactive();
    }
  }

  /** One HTTP/2 stream lent to a streamed exchange; its handler on the stream's channel. */
  private final class Http2Lease extends Lease {
    private Http2StreamChannel stream;
    private final StreamFate fate = new StreamFate();

    Http2Lease(Exchange exchange, boolean reused) {
      super(exchange, reused);
    }

    @Override
    Channel channel() {
      return stream;
    }

    @Override
    public boolean isHttp2() {
      return true;
    }

    @Override
    public Channel upgrade() {
      throw new IllegalStateException("HTTP/2 has no protocol upgrade");
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      ctx.pipeline().addBefore(ctx.name(), "http2-to-http",
          new Http2StreamFrameToHttpObjectCodec(false));
    }

    /** On the connection's loop, when the stream channel is open (or could not be). */
    void opened(Future<Http2StreamChannel> f) {
      if (!f.isSuccess()) {
        ended = true;
        group.post(() -> pool.http2StreamEnded(Conn.this, exchange, false, false));
        handler.onFailure(broken(f.cause(), false));
        return;
      }
      stream = f.getNow();
      handler.onOpen(this);
    }

    @Override
    public void complete(int status) {
      if (ended) {
        return;
      }
      ended = true;
      // A stream ended both ways is closed already; one still open is reset.
      stream.close();
      group.postOrRun(() -> pool.http2StreamEnded(Conn.this, exchange, true, status >= 500));
    }

    @Override
    public void abort(boolean failure) {
      if (ended) {
        return;
      }
      ended = true;
      stream.close();
      group.postOrRun(() -> pool.http2StreamEnded(Conn.this, exchange, failure, failure));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (ended) {
        ReferenceCountUtil.release(msg);
        return;
      }
      read(msg);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (!ended) {
        handler.onWritabilityChanged(ctx.channel().isWritable());
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      fate.event(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      fate.failed(cause);
      ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (!ended) {
        ended = true;
        boolean reached = fate.reached(ctx);
        group.post(() -> pool.http2StreamEnded(Conn.this, exchange, true, true));
        handler.onFailure(broken(fate.error != null ? fate.error : new ClosedChannelException(),
            reached));
      }
      ctx.fireChannelInactive();
    }
  }
}
