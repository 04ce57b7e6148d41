package dev.sluice.proxy.engine;

import dev.sluice.http.server.ClientAddress;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.StreamOptions;
import dev.sluice.http.upstream.UpstreamStream;
import dev.sluice.http.wire.ResponseHead;
import dev.sluice.proxy.limit.RateLimiter;
import dev.sluice.proxy.metrics.RouteMeters;
import dev.sluice.proxy.route.HeaderEdits;
import dev.sluice.proxy.route.Route;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.proxy.trace.TraceContext;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.VoidChannelPromise;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2FrameStreamEvent;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamFrame;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.ChannelOutputShutdownEvent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the HTTP/2 streams of one connection that it can proxy with certainty on the connection's
 * own channel, with no stream channel: builds the HTTP/1.1 request head for the upstream from the
 * stream's headers, writes it raw to an upstream HTTP/1.1 connection ({@link
 * UpstreamStream#rawBytes()}), parses the response with {@link ResponseHead} and writes it back as
 * HEADERS and DATA frames, the bodies as slices of the buffers read.
 *
 * <p>Why not Netty's {@code Http2MultiplexHandler} and {@link ProxyHandler}, as the other streams
 * use: a child channel per stream with its own pipeline, the conversions of frames to HttpObjects
 * and back, a promise per write and the upstream's {@code HttpClientCodec} cost about 23 µs of CPU
 * per small request on one core (h2load, 64 connections of one stream), against about 12 µs for
 * nginx; served here, a stream costs about 15 µs.
 *
 * <p>A stream is taken at its HEADERS frame when the request is plain (a path, an authority, no
 * {@code Expect}, a valid Content-Length if any), a route takes it whose header rules leave
 * {@code traceparent} and {@code Expect} alone, and its
 * upstream group speaks only HTTP/1.1. Every other stream goes to the multiplexer untouched: its
 * stream event held back until then, then its frames, so {@link ProxyHandler} serves it as usual.
 * Frames and events of taken streams never reach the multiplexer; since it visits every active
 * stream's channel when the connection turns writable, that news waits until no taken stream is
 * active.
 *
 * <p>The request of an h2c upgrade arrives as stream 1's HEADERS (and DATA) like any other, after
 * the HTTP/1.1 handlers validated it, and is judged the same way.
 *
 * <p>Pipeline: {@code ... -> Http2FrameCodec -> raw-http2 (this) -> Http2MultiplexHandler ->
 * h2-idle}. Everything runs on the channel's event loop; callbacks of an upstream connection of
 * another loop hop here.
 */
final class RawHttp2Proxy extends ChannelDuplexHandler {
  private static final Logger log = LoggerFactory.getLogger(RawHttp2Proxy.class);
  private static final int MAX_RESPONSE_HEAD = Calls.MAX_RESPONSE_HEAD;
  private static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
  private static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
  private static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");
  private static final AsciiString TRACEPARENT = AsciiString.cached("traceparent");
  private static final AsciiString HOST = AsciiString.cached("host");
  private static final AsciiString TE = AsciiString.cached("te");
  private static final AsciiString EXPECT = AsciiString.cached("expect");
  private static final AsciiString COOKIE = AsciiString.cached("cookie");
  private static final AsciiString CONTENT_LENGTH = AsciiString.cached("content-length");
  private static final AsciiString USER_AGENT = AsciiString.cached("user-agent");
  private static final AsciiString VIA = AsciiString.cached("via");
  private static final AsciiString RETRY_AFTER = AsciiString.cached("retry-after");
  private static final AsciiString CONTENT_TYPE = AsciiString.cached("content-type");
  private static final AsciiString TEXT_PLAIN = AsciiString.cached("text/plain");
  private static final byte[] HTTP11_LINE_END = ascii(" HTTP/1.1\r\n");
  private static final byte[] XFF = ascii("x-forwarded-for: ");
  private static final byte[] XFP_HTTP = ascii("x-forwarded-proto: http\r\n");
  private static final byte[] XFP_HTTPS = ascii("x-forwarded-proto: https\r\n");
  private static final byte[] XFH = ascii("x-forwarded-host: ");
  private static final byte[] HOST_COLON = ascii("host: ");
  private static final byte[] COOKIE_COLON = ascii("cookie: ");
  private static final byte[] TRACEPARENT_COLON = ascii("traceparent: ");
  private static final byte[] CHUNKED = ascii("transfer-encoding: chunked\r\n");
  private static final byte[] LAST_CHUNK = ascii("0\r\n\r\n");
  private static final short CRLF = ('\r' << 8) | '\n';
  /** The marker of a stream passed to the multiplexer, in {@link #streams}. */
  private static final Object PASSED = new Object();

  private final ProxyEngine engine;
  private final String listener;
  private final HttpServerSettings server;
  private final boolean tls;
  private final ResponseHead responseHead = new ResponseHead(MAX_RESPONSE_HEAD, 1024);
  private ChannelHandlerContext ctx;
  /**
   * The promise of every write: a failed write (to a stream the client reset, say) must not reach
   * the pipeline as an exception, which would end the connection.
   */
  private ChannelPromise quiet;
  private Http2Connection connection;
  /**
   * By stream id: the held stream event of a stream whose HEADERS are awaited, {@link #PASSED}, or
   * the {@link Exchange} of a stream taken.
   */
  private final IntObjectHashMap<Object> streams = new IntObjectHashMap<>();
  /** The connection's timer, due at {@link #tickAt}; see {@link #arm}. */
  private ScheduledFuture<?> tick;
  private long tickAt;
  private int taken;
  /** The connection turned writable while a taken stream was active: the multiplexer must hear. */
  private boolean writableNewsHeld;
  private boolean closed;
  private InetSocketAddress clientAddress;
  private byte[] clientText;
  private String clientString;
  private ProxyState viaState;
  private AsciiString via2;
  private AsciiString via11;

  RawHttp2Proxy(ProxyEngine engine, String listener, HttpServerSettings server, boolean tls) {
    this.engine = engine;
    this.listener = listener;
    this.server = server;
    this.tls = tls;
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  /** The authority of the endpoint last used, kept: the same endpoint serves most requests. */
  private Endpoint lastEndpoint;
  private String lastAuthority;

  private String authority(Endpoint e) {
    if (e != lastEndpoint) {
      lastAuthority = e.authority();
      lastEndpoint = e;
    }
    return lastAuthority;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    this.quiet = new VoidChannelPromise(ctx.channel(), false);
    Http2FrameCodec codec = ctx.pipeline().get(Http2FrameCodec.class);
    if (codec == null) {
      throw new IllegalStateException("the raw HTTP/2 handler needs an Http2FrameCodec before it");
    }
    this.connection = codec.connection();
  }

  // ---- the connection: what reaches the multiplexer, and what does not ----

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof Http2FrameStreamEvent) {
      Http2FrameStreamEvent e = (Http2FrameStreamEvent) evt;
      int id = e.stream().id();
      Object s = streams.get(id);
      if (s instanceof Exchange) {
        Exchange x = (Exchange) s;
        if (e.type() == Http2FrameStreamEvent.Type.Writability) {
          x.streamWritabilityChanged();
        } else if (e.stream().state() == Http2Stream.State.CLOSED) {
          streamGone(id, x);
        }
        return;
      }
      if (e.type() != Http2FrameStreamEvent.Type.State) {
        return; // the multiplexer reads only state events
      }
      if (s == null) {
        Http2Stream.State state = e.stream().state();
        if (!closed && (state == Http2Stream.State.OPEN
            || state == Http2Stream.State.HALF_CLOSED_REMOTE)) {
          streams.put(id, e); // held until the stream's HEADERS tell whether it is taken
          return;
        }
      } else if (s != PASSED) {
        // a held stream that changed before its HEADERS came: it is not for us
        streams.put(id, PASSED);
        engine.streamLeftToStandard();
        ctx.fireUserEventTriggered(s);
        s = PASSED;
      }
      if (s == PASSED && e.stream().state() == Http2Stream.State.CLOSED) {
        streams.remove(id);
      }
      ctx.fireUserEventTriggered(evt);
      return;
    }
    if (taken > 0 && (evt == ChannelInputShutdownReadComplete.INSTANCE
        || evt == ChannelOutputShutdownEvent.INSTANCE || evt == SslCloseCompletionEvent.SUCCESS)) {
      // the multiplexer would hand these to the channel of every active stream, ours included;
      // the connection is ending, and its close ends the other streams' channels
      ReferenceCountUtil.release(evt);
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Http2StreamFrame && ((Http2StreamFrame) msg).stream() != null) {
      Http2StreamFrame f = (Http2StreamFrame) msg;
      int id = f.stream().id();
      Object s = streams.get(id);
      if (s instanceof Exchange) {
        ((Exchange) s).frame(f);
        return;
      }
      if (s instanceof Http2FrameStreamEvent) {
        if (msg instanceof Http2HeadersFrame && begin((Http2HeadersFrame) msg)) {
          return;
        }
        streams.put(id, PASSED);
        engine.streamLeftToStandard();
        ctx.fireUserEventTriggered(s);
      }
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (ctx.channel().isWritable()) {
      if (taken > 0) {
        writableNewsHeld = true;
        for (Object s : streams.values()) {
          if (s instanceof Exchange) {
            ((Exchange) s).streamWritabilityChanged();
          }
        }
        return;
      }
      writableNewsHeld = false;
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof Http2FrameStreamException) {
      Http2FrameStreamException e = (Http2FrameStreamException) cause;
      Object s = streams.get(e.stream().id());
      if (s instanceof Exchange) {
        // a stream error of the client's (a wrong Content-Length, say): the stream is reset
        Exchange x = (Exchange) s;
        ctx.writeAndFlush(new DefaultHttp2ResetFrame(e.error()).stream(e.stream()),
            quiet);
        x.clientGone("stream error: " + e.getCause());
        return;
      }
      if (s instanceof Http2FrameStreamEvent) {
        streams.put(e.stream().id(), PASSED);
        ctx.fireUserEventTriggered(s);
      }
      ctx.fireExceptionCaught(cause);
      return;
    }
    if (taken > 0) {
      // The multiplexer would pass it to every active stream's channel, ours included, and the
      // connection ends on it anyway.
      log.debug("HTTP/2 connection {} failed: {}", ctx.channel().remoteAddress(),
          cause.toString());
      ctx.close();
      return;
    }
    ctx.fireExceptionCaught(cause);
  }

  // ---- the connection's timer: one for all its exchanges, at the earliest deadline ----

  private void arm(long deadline) {
    if (tick != null && tickAt - deadline <= 0) {
      return; // fires before: it looks at the deadlines then
    }
    if (tick != null) {
      tick.cancel(false);
    }
    tickAt = deadline;
    tick = ctx.executor().schedule(this::ticked, Math.max(0, deadline - System.nanoTime()),
        TimeUnit.NANOSECONDS);
  }

  private void cancelTick() {
    if (tick != null) {
      tick.cancel(false);
      tick = null;
    }
  }

  private void ticked() {
    tick = null;
    if (closed) {
      return;
    }
    long now = System.nanoTime();
    long next = Long.MAX_VALUE;
    for (Object s : new ArrayList<>(streams.values())) {
      if (!(s instanceof Exchange)) {
        continue;
      }
      Exchange x = (Exchange) s;
      if (x.ended || x.deadline == Long.MAX_VALUE) {
        continue;
      }
      if (x.deadline - now <= 0) {
        x.timerFired(); // may set a later deadline, which arms the timer again
      } else if (next == Long.MAX_VALUE || x.deadline - next < 0) {
        next = x.deadline;
      }
    }
    if (next != Long.MAX_VALUE) {
      arm(next);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closed = true;
    cancelTick();
    for (Object s : new ArrayList<>(streams.values())) {
      if (s instanceof Exchange) {
        ((Exchange) s).clientGone("client closed the connection");
      }
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    cancelTick();
    for (Object s : new ArrayList<>(streams.values())) {
      if (s instanceof Exchange) {
        ((Exchange) s).clientGone("client closed the connection");
      }
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    for (Object s : streams.values()) {
      if (s instanceof Exchange) {
        Exchange x = (Exchange) s;
        if (x.attempt != null) {
          x.attempt.flushIfNeeded();
        }
      }
    }
    ctx.fireChannelReadComplete();
  }

  /** A taken stream closed: whatever is left of its exchange ends. */
  private void streamGone(int id, Exchange x) {
    streams.remove(id);
    taken--;
    if (!x.ended) {
      if (x.responseDone) {
        x.end(x.status, false); // the last frame went out as the response finished
      } else {
        x.clientGone("client reset the stream");
      }
    }
    if (taken == 0 && writableNewsHeld) {
      // not now: the codec may be walking its active streams
      ctx.executor().execute(() -> {
        if (taken == 0 && writableNewsHeld && ctx.channel().isWritable()) {
          writableNewsHeld = false;
          ctx.fireChannelWritabilityChanged();
        }
      });
    }
  }

  // ---- a stream's request ----

  /** Takes the stream of these HEADERS if it can proxy it with certainty; else returns false. */
  private boolean begin(Http2HeadersFrame frame) {
    Http2Headers hs = frame.headers();
    CharSequence methodText = hs.method();
    CharSequence pathText = hs.path();
    CharSequence authority = hs.authority();
    if (methodText == null || pathText == null || authority == null || pathText.length() == 0
        || pathText.charAt(0) != '/' || hs.get(Http2Headers.PseudoHeaderName.PROTOCOL.value())
        != null || !fits(methodText, true) || !fits(pathText, true) || !fits(authority, true)) {
      return false;
    }
    long contentLength = -1;
    int count = 0;
    boolean cookie = false;
    for (Map.Entry<CharSequence, CharSequence> h : hs) {
      CharSequence name = h.getKey();
      if (name.length() > 0 && name.charAt(0) == ':') {
        continue;
      }
      count++;
      if (!fits(h.getValue(), false)) {
        return false; // the standard handlers refuse what cannot go into an HTTP/1.1 head
      }
      if (AsciiString.contentEquals(CONTENT_LENGTH, name)) {
        if (contentLength >= 0) {
          return false;
        }
        contentLength = parseLength(h.getValue());
        if (contentLength < 0) {
          return false;
        }
      } else if (AsciiString.contentEquals(EXPECT, name) || AsciiString.contentEquals(HOST, name)) {
        return false;
      } else if (AsciiString.contentEquals(COOKIE, name)) {
        cookie = true;
      }
    }
    if (count > server.maxHeaderCount()) {
      return false;
    }
    ProxyState state = engine.state();
    long start = System.nanoTime();
    if (clientAddress == null) {
      clientAddress = ClientAddress.of(ctx.channel());
      clientString = clientAddress == null || clientAddress.getAddress() == null ? "unknown"
          : clientAddress.getAddress().getHostAddress();
      clientText = clientString.getBytes(StandardCharsets.US_ASCII);
    }
    InetAddress client = clientAddress == null ? null : clientAddress.getAddress();
    HttpMethod method = HttpMethod.valueOf(methodText.toString());
    String target = pathText.toString();
    int q = target.indexOf('?');
    String path = q < 0 ? target : target.substring(0, q);
    String host = authority.toString();
    HttpHeaders headers = state.router.matchesHeaders() ? headers(hs) : null;
    Route route = state.router.select(listener, method.name(), host, path, headers);
    if (route == null) {
      return false; // the standard handlers answer it
    }
    String upstreamName = route.pickUpstream();
    UpstreamRuntime upstream = state.upstreams.get(upstreamName);
    if ((route.editsHeaders() && !route.editsFitRawPath()) || upstream.group.mayUseHttp2()) {
      return false;
    }
    if (client != null && !state.admits(route, client)) {
      return false; // refused there, and counted
    }
    RouteMeters meters = state.meters(route, upstreamName);
    Http2FrameStream stream = frame.stream();
    RateLimiter limiter = route.rateLimiter();
    if (limiter != null) {
      RouteSettings.RateLimit limit = limiter.settings();
      if (headers == null && (limit.key() == RouteSettings.RateLimit.KeySource.HEADER
          || limit.key() == RouteSettings.RateLimit.KeySource.API_KEY)) {
        headers = headers(hs);
      }
      long wait = limiter.tryAcquire(RateLimiter.keyOf(limit, headers, client));
      if (wait > 0) {
        meters.rateLimited();
        long seconds = Math.max(1, (wait + 999_999_999L) / 1_000_000_000L);
        Exchange x = new Exchange(stream, state, route, upstream, meters, method, start, null,
            target, host, null, null, hs, frame.isEndStream());
        take(x);
        x.writeError(HttpResponseStatus.TOO_MANY_REQUESTS, "rate limit exceeded", seconds);
        x.responseStarted = true;
        x.responseDone = true;
        x.end(HttpResponseStatus.TOO_MANY_REQUESTS.code(), !x.requestDone);
        return true;
      }
    }
    byte[] hashKey = null;
    if (upstream.settings.loadBalancing() == LoadBalancing.CONSISTENT_HASH) {
      if (headers == null) {
        headers = headers(hs);
      }
      hashKey = hashKey(upstream.settings.hashBy(), headers);
    }
    TraceContext trace = null;
    if (state.settings.tracing()) {
      CharSequence tp = hs.get(TRACEPARENT);
      TraceContext parent = tp == null ? null : TraceContext.parse(tp.toString());
      trace = parent != null ? parent.child() : TraceContext.newRoot(true);
    }
    boolean endStream = frame.isEndStream();
    boolean chunked = !endStream && contentLength < 0;
    ByteBuf upstreamHead = upstreamHead(hs, state, route, method, target, host, trace, cookie,
        chunked);
    Exchange x = new Exchange(stream, state, route, upstream, meters, method, start, trace, target,
        host, upstreamHead, hashKey, hs, endStream);
    x.chunkedRequest = chunked;
    take(x);
    x.startAttempt();
    return true;
  }

  private void take(Exchange x) {
    streams.put(x.stream.id(), x);
    taken++;
  }

  /**
   * Whether a value can be copied into an HTTP/1.1 head as it is: no CR, LF or NUL (the codec
   * checks names, not values), nothing beyond ISO-8859-1, and for the request line no space or
   * control character either.
   */
  private static boolean fits(CharSequence v, boolean token) {
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c == '\r' || c == '\n' || c == 0 || c > 0xff
          || (token && (c <= ' ' || c == 0x7f))) {
        return false;
      }
    }
    return true;
  }

  private static long parseLength(CharSequence v) {
    int n = v.length();
    if (n == 0 || n > 18) {
      return -1;
    }
    long r = 0;
    for (int i = 0; i < n; i++) {
      char c = v.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      r = r * 10 + (c - '0');
    }
    return r;
  }

  /** The HTTP/1.1 request head for the upstream, as {@link ProxyHandler} builds it for a stream. */
  private ByteBuf upstreamHead(Http2Headers hs, ProxyState state, Route route, HttpMethod method,
      String target, String host, TraceContext trace, boolean cookie, boolean chunked) {
    RouteSettings rs = route.settings();
    boolean trusted = clientAddress != null && clientAddress.getAddress() != null
        && !state.trustedProxies.isEmpty()
        && state.trustedProxies.contains(clientAddress.getAddress());
    String rewritten = route.rewriteUri(target);
    // the route's edits come last, as on the standard path: they may drop what is added here
    HeaderEdits edits = route.requestEdits().isEmpty() ? null : route.requestEdits();
    ByteBuf out = ctx.alloc().ioBuffer(256 + rewritten.length() * 3 + hs.size() * 48
        + route.requestEdits().lineBytes());
    out.writeCharSequence(method.name(), StandardCharsets.US_ASCII);
    out.writeByte(' ');
    out.writeCharSequence(rewritten, StandardCharsets.UTF_8);
    out.writeBytes(HTTP11_LINE_END);
    if (edits == null || !edits.drops(HOST)) {
      out.writeBytes(HOST_COLON);
      out.writeCharSequence(rs.hostRewrite() != null ? rs.hostRewrite() : host,
          StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    String priorForwardedFor = null;
    boolean protoGiven = false;
    boolean hostGiven = false;
    for (Map.Entry<CharSequence, CharSequence> h : hs) {
      CharSequence name = h.getKey();
      int nl = name.length();
      if ((nl > 0 && name.charAt(0) == ':') || (edits != null && edits.drops(name))) {
        continue;
      }
      if (nl == 15 && AsciiString.contentEquals(X_FORWARDED_FOR, name)) {
        if (trusted) {
          String v = h.getValue().toString();
          priorForwardedFor = priorForwardedFor == null ? v : priorForwardedFor + ", " + v;
        }
        continue;
      }
      if (nl == 17 && AsciiString.contentEquals(X_FORWARDED_PROTO, name)) {
        if (!trusted) {
          continue;
        }
        protoGiven = true;
      } else if (nl == 16 && AsciiString.contentEquals(X_FORWARDED_HOST, name)) {
        if (!trusted) {
          continue;
        }
        hostGiven = true;
      } else if (nl == 11 && trace != null && AsciiString.contentEquals(TRACEPARENT, name)) {
        continue;
      } else if (nl == 2 && AsciiString.contentEquals(TE, name)) {
        continue;
      } else if (nl == 6 && cookie && AsciiString.contentEquals(COOKIE, name)) {
        continue; // joined below, as HTTP/1.1 wants one cookie header
      }
      out.writeCharSequence(name, StandardCharsets.ISO_8859_1);
      out.writeByte(':').writeByte(' ');
      out.writeCharSequence(h.getValue(), StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    if (cookie && (edits == null || !edits.drops(COOKIE))) {
      out.writeBytes(COOKIE_COLON);
      boolean first = true;
      for (CharSequence c : hs.getAll(COOKIE)) {
        if (!first) {
          out.writeByte(';').writeByte(' ');
        }
        first = false;
        out.writeCharSequence(c, StandardCharsets.ISO_8859_1);
      }
      out.writeShort(CRLF);
    }
    if (edits == null || !edits.drops(X_FORWARDED_FOR)) {
      out.writeBytes(XFF);
      if (priorForwardedFor != null) {
        out.writeCharSequence(priorForwardedFor, StandardCharsets.ISO_8859_1);
        out.writeByte(',').writeByte(' ');
      }
      out.writeBytes(clientText);
      out.writeShort(CRLF);
    }
    if (!protoGiven && (edits == null || !edits.drops(X_FORWARDED_PROTO))) {
      out.writeBytes(tls ? XFP_HTTPS : XFP_HTTP);
    }
    if (!hostGiven && (edits == null || !edits.drops(X_FORWARDED_HOST))) {
      out.writeBytes(XFH);
      out.writeCharSequence(host, StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    if (edits == null || !edits.drops(VIA)) {
      out.writeCharSequence("via: ", StandardCharsets.US_ASCII);
      out.writeCharSequence(via(state), StandardCharsets.US_ASCII);
      out.writeShort(CRLF);
    }
    if (trace != null) {
      out.writeBytes(TRACEPARENT_COLON);
      out.writeCharSequence(trace.traceparent(), StandardCharsets.US_ASCII);
      out.writeShort(CRLF);
    }
    if (chunked) {
      out.writeBytes(CHUNKED);
    }
    if (edits != null) {
      edits.writeLines(out);
    }
    out.writeShort(CRLF);
    return out;
  }

  /** {@code 2 <name>} for the generation in force. */
  private AsciiString via(ProxyState state) {
    if (viaState != state) {
      via2 = new AsciiString(state.via2);
      via11 = new AsciiString(state.via11);
      viaState = state;
    }
    return via2;
  }

  /** The request headers as a map, for the rare rules that need one (header routes, keys). */
  private static HttpHeaders headers(Http2Headers hs) {
    HttpHeaders h = new DefaultHttpHeaders(false);
    for (Map.Entry<CharSequence, CharSequence> e : hs) {
      CharSequence name = e.getKey();
      if (name.length() > 0 && name.charAt(0) != ':') {
        h.add(name, e.getValue());
      }
    }
    CharSequence authority = hs.authority();
    if (authority != null) {
      h.set(HOST, authority);
    }
    return h;
  }

  private byte[] hashKey(UpstreamSettings.HashKey by, HttpHeaders headers) {
    String key;
    if (by == null || by.source() == UpstreamSettings.HashKey.Source.CLIENT_ADDRESS) {
      key = clientAddress == null || clientAddress.getAddress() == null ? null : clientString;
    } else if (by.source() == UpstreamSettings.HashKey.Source.HEADER) {
      key = headers.get(by.name());
    } else {
      key = ProxyHandler.cookie(headers, by.name());
    }
    return key == null ? null : key.getBytes(StandardCharsets.UTF_8);
  }

  /** One stream's request through the proxy, over one or more attempts; see {@link RawCall}. */
  private final class Exchange extends RawCall {
    final Http2FrameStream stream;
    boolean chunkedRequest;
    /** Flow-controlled bytes read and not yet given back to the client's window. */
    int unconsumed;
    boolean responseDone;

    Exchange(Http2FrameStream stream, ProxyState state, Route route, UpstreamRuntime upstream,
        RouteMeters meters, HttpMethod method, long start, TraceContext trace, String target,
        String host, ByteBuf upstreamHead, byte[] hashKey, Http2Headers hs, boolean endStream) {
      super(RawHttp2Proxy.this.engine, RawHttp2Proxy.this.listener, clientAddress, true, state,
          route, upstream, meters, method, start, trace, target, host, upstreamHead, hashKey);
      this.stream = stream;
      this.requestDone = endStream;
      if (engine.logsAccess()) {
        CharSequence f = hs.get(X_FORWARDED_FOR);
        CharSequence u = hs.get(USER_AGENT);
        forwardedFor = f == null ? null : f.toString();
        userAgent = u == null ? null : u.toString();
      }
    }

    @Override
    void startAttempt() {
      attempts++;
      Attempt a = new Attempt(this);
      attempt = a;
      upstream.group.open(new StreamOptions(hashKey, ctx.channel().eventLoop(), exclude(),
          timeouts.connect()), a);
    }

    /** A frame of the client's on this stream; this exchange owns it. */
    void frame(Http2StreamFrame f) {
      if (f instanceof Http2DataFrame) {
        Http2DataFrame d = (Http2DataFrame) f;
        unconsumed += d.initialFlowControlledBytes();
        ByteBuf data = d.content();
        boolean last = d.isEndStream();
        if (ended || requestDone) {
          data.release();
          consume();
          return;
        }
        body(data, last);
        return;
      }
      if (f instanceof Http2HeadersFrame) {
        // trailers: they end the body; their fields are not passed on
        if (!ended && !requestDone && ((Http2HeadersFrame) f).isEndStream()) {
          body(Unpooled.EMPTY_BUFFER, true);
        }
        return;
      }
      if (f instanceof Http2ResetFrame) {
        clientGone("client reset the stream");
        return;
      }
      ReferenceCountUtil.release(f);
    }

    /** A body chunk of the client's; this exchange owns it. */
    private void body(ByteBuf data, boolean last) {
      int n = data.readableBytes();
      bytesIn += n;
      lastActivity = System.nanoTime();
      ByteBuf out = data;
      if (chunkedRequest && (n > 0 || last)) {
        out = chunk(data, last);
      } else if (n == 0) {
        data.release();
        out = null;
      }
      if (last) {
        requestDone = true;
      }
      RawAttempt<?> a = attempt;
      if (out != null) {
        if (a != null && a.stream != null) {
          a.writeBody(out);
        } else {
          pend(out);
        }
      }
      if (a != null && a.stream != null) {
        if (a.stream.isWritable()) {
          consume();
        }
        if (requestDone) {
          a.requestSent();
        }
      }
    }

    /** The chunk framing of a body piece for the upstream; takes {@code data}. */
    private ByteBuf chunk(ByteBuf data, boolean last) {
      int n = data.readableBytes();
      ByteBuf size = ctx.alloc().ioBuffer(16);
      if (n > 0) {
        ByteBufUtil.writeAscii(size, Integer.toHexString(n));
        size.writeShort(CRLF);
      }
      io.netty.buffer.CompositeByteBuf c = ctx.alloc().compositeBuffer(4);
      if (n > 0) {
        c.addComponent(true, size);
        c.addComponent(true, data);
        c.addComponent(true, Unpooled.wrappedBuffer(new byte[] {'\r', '\n'}));
      } else {
        size.release();
        data.release();
      }
      if (last) {
        c.addComponent(true, Unpooled.wrappedBuffer(LAST_CHUNK));
      }
      return c;
    }

    /** Gives the bytes read back to the client's flow-control windows. */
    void consume() {
      Http2Stream s = connection.stream(stream.id());
      if (unconsumed > 0 && s != null && s.state() != Http2Stream.State.CLOSED) {
        int n = unconsumed;
        unconsumed = 0;
        ctx.write(new DefaultHttp2WindowUpdateFrame(n).stream(stream), quiet);
        ctx.flush();
      }
    }

    void clientGone(String why) {
      if (ended) {
        return;
      }
      RawAttempt<?> a = attempt;
      if (a != null && a.stream != null) {
        a.abort(false);
      }
      error = why;
      end(499, false);
    }

    /** Answers the client with an error of the proxy's own, or resets a response started. */
    @Override
    void fail(HttpResponseStatus status, String reason) {
      if (ended) {
        return;
      }
      error = reason;
      if (responseStarted) {
        end(status.code(), true);
        return;
      }
      writeError(status, reason, 0);
      this.status = status.code();
      responseStarted = true;
      responseDone = true;
      end(status.code(), !requestDone);
    }

    void writeError(HttpResponseStatus status, String reason, long retryAfter) {
      byte[] body = Calls.errorBody(status, reason);
      Http2Headers h = new DefaultHttp2Headers(false, 4).status(status.codeAsText())
          .set(CONTENT_TYPE, TEXT_PLAIN).setInt(CONTENT_LENGTH, body.length);
      if (retryAfter > 0) {
        h.setLong(RETRY_AFTER, retryAfter);
      }
      ctx.write(new DefaultHttp2HeadersFrame(h, false).stream(stream), quiet);
      ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(body), true)
          .stream(stream), quiet);
    }

    @Override
    void armTimer(long nanos) {
      deadline = System.nanoTime() + nanos;
      arm(deadline);
    }

    @Override
    void responseStalled() {
      end(status, true);
    }

    /** The exchange ends; with {@code reset}, the stream is reset if still open. */
    void end(int finalStatus, boolean reset) {
      if (ended) {
        return;
      }
      if (reset && stream.state() != Http2Stream.State.CLOSED && ctx.channel().isActive()) {
        // a response cut short is an error; an answer before the whole request came is not
        ctx.writeAndFlush(new DefaultHttp2ResetFrame(responseStarted && !responseDone
            ? Http2Error.INTERNAL_ERROR : Http2Error.NO_ERROR).stream(stream), quiet);
      }
      close(finalStatus);
    }

    /** Stream or connection writability changed: the upstream's reading follows it. */
    void streamWritabilityChanged() {
      RawAttempt<?> a = attempt;
      if (!ended && !responseDone && a != null && a.stream != null && a.inBody) {
        a.setUpstreamRead(writable());
      }
    }

    boolean writable() {
      Http2Stream s = connection.stream(stream.id());
      return s != null && ctx.channel().isWritable()
          && connection.remote().flowController().isWritable(s);
    }
  }

  /** One try of an exchange on one upstream connection; the response goes out as frames. */
  private final class Attempt extends RawAttempt<Exchange> {
    /** De-chunking of a chunked response: bytes of data left in the chunk being read. */
    private long chunkLeft;
    /** De-chunking: 0 size line, 1 data, 2 the CRLF after data, 3 trailers and the end. */
    private int chunkState;
    private boolean inExtension;

    Attempt(Exchange call) {
      super(call, RawHttp2Proxy.this.ctx, RawHttp2Proxy.this.responseHead, MAX_RESPONSE_HEAD);
    }

    @Override
    boolean clientClosed() {
      return false; // a closed connection ends its exchanges, which makes them not current
    }

    @Override
    String authority(Endpoint endpoint) {
      return RawHttp2Proxy.this.authority(endpoint);
    }

    @Override
    void bodyWritten(UpstreamStream s) {
      // the client's window is given back as the upstream takes the body (Exchange.consume)
    }

    @Override
    void requestEnded() {
    }

    @Override
    void opened(UpstreamStream s) {
      if (s.isWritable()) {
        call.consume();
      }
    }

    @Override
    void informational(ResponseHead rh, ByteBuf bytes) {
      ctx.writeAndFlush(new DefaultHttp2HeadersFrame(clientHeaders(rh, bytes, false), false)
          .stream(call.stream), quiet);
    }

    @Override
    void responseHead(ResponseHead rh, ByteBuf bytes, boolean endsNow) {
      if (framing == Framing.CHUNKED) {
        chunkState = 0;
        chunkLeft = 0;
        inExtension = false;
      }
      ctx.write(new DefaultHttp2HeadersFrame(clientHeaders(rh, bytes, true), endsNow)
          .stream(call.stream), quiet);
    }

    /**
     * The response headers for the client: names in lower case, hop-by-hop out, Via in. The
     * header lines are copied once; names and values are views of the copy, and the names most
     * responses carry are Netty's constants, whose hashes are computed once for all.
     */
    private Http2Headers clientHeaders(ResponseHead rh, ByteBuf buf, boolean finalResponse) {
      HeaderEdits edits = !finalResponse || call.route.responseEdits().isEmpty() ? null
          : call.route.responseEdits();
      int count = rh.headerCount();
      Http2Headers h = new DefaultHttp2Headers(false, count + 2);
      h.status(HttpResponseStatus.valueOf(rh.status()).codeAsText());
      if (count > 0) {
        int base = rh.lineStart(0);
        byte[] lines = new byte[rh.valueEnd(count - 1) - base];
        buf.getBytes(base, lines);
        for (int i = 0; i < count; i++) {
          if (rh.hopByHop(i) || (edits != null
              && edits.drops(buf, rh.nameStart(i), rh.nameEnd(i) - rh.nameStart(i)))) {
            continue;
          }
          int ns = rh.nameStart(i) - base;
          int nl = rh.nameEnd(i) - base - ns;
          for (int j = ns; j < ns + nl; j++) {
            byte b = lines[j];
            if (b >= 'A' && b <= 'Z') {
              lines[j] = (byte) (b + ('a' - 'A'));
            }
          }
          AsciiString name = ResponseHeaderNames.common(lines, ns, nl);
          if (name == null) {
            name = new AsciiString(lines, ns, nl, false);
          }
          int vs = rh.valueStart(i) - base;
          h.add(name, new AsciiString(lines, vs, rh.valueEnd(i) - base - vs, false));
        }
      }
      if (edits == null || !edits.drops(VIA)) {
        via(call.state);
        h.add(VIA, via11); // the upstream answered in HTTP/1.1
      }
      if (edits != null) {
        edits.addTo(h);
      }
      return h;
    }

    @Override
    void relay(ByteBuf data, boolean last) {
      call.bytesOut += data.readableBytes();
      ctx.write(new DefaultHttp2DataFrame(data, last).stream(call.stream), quiet);
    }

    @Override
    void relayChunked(ByteBuf buf, int to, boolean done) {
      dechunk(buf, to, done);
    }

    /**
     * Relays the data of the chunks in {@code buf} up to {@code to}, which the scanner found
     * well formed; the last DATA frame ends the stream when {@code done}.
     */
    private void dechunk(ByteBuf buf, int to, boolean done) {
      int i = buf.readerIndex();
      while (i < to) {
        switch (chunkState) {
          case 0: { // the size line, through its LF; extensions are skipped
            byte b = buf.getByte(i++);
            if (b == '\n') {
              chunkState = chunkLeft == 0 ? 3 : 1;
              inExtension = false;
            } else if (!inExtension) {
              int d = Character.digit(b, 16);
              if (d >= 0) {
                chunkLeft = chunkLeft * 16 + d;
              } else {
                inExtension = true; // ';', a space or the CR: no more digits
              }
            }
            break;
          }
          case 1: {
            int n = (int) Math.min(chunkLeft, to - i);
            chunkLeft -= n;
            relay(buf.retainedSlice(i, n), false);
            i += n;
            if (chunkLeft == 0) {
              chunkState = 2;
            }
            break;
          }
          case 2: // the CRLF after the data
            if (buf.getByte(i++) == '\n') {
              chunkState = 0;
            }
            break;
          default: // trailers and the final blank line: not passed on
            i = to;
        }
      }
      if (done) {
        ctx.write(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true).stream(call.stream),
            quiet);
      }
    }

    @Override
    void relayUntilClose(ByteBuf data) {
      relay(data, false);
    }

    @Override
    boolean clientWritable() {
      return call.writable();
    }

    @Override
    void finish() {
      int code = call.status;
      call.responseDone = true;
      completeRaw(code, upstreamKeepAlive && !extra && call.requestDone);
      ctx.flush();
      call.end(code, !call.requestDone);
    }

    @Override
    void endedByClose() {
      ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true)
          .stream(call.stream), quiet);
      call.responseDone = true;
      call.end(call.status, !call.requestDone);
    }

    @Override
    void upstreamWritabilityChanged(boolean writable) {
      if (writable) {
        call.consume();
      }
    }
  }
}
