package dev.sluice.proxy.engine;

import dev.sluice.http.server.ClientAddress;
import dev.sluice.http.server.DrainAware;
import dev.sluice.http.server.Http1Fallback;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.StreamOptions;
import dev.sluice.http.upstream.UpstreamException;
import dev.sluice.http.upstream.UpstreamStream;
import dev.sluice.http.upstream.UpstreamStreamHandler;
import dev.sluice.http.wire.ChunkedBodyScanner;
import dev.sluice.http.wire.RequestHead;
import dev.sluice.http.wire.ResponseHead;
import dev.sluice.proxy.limit.RateLimiter;
import dev.sluice.proxy.metrics.RouteMeters;
import dev.sluice.proxy.route.Route;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.proxy.trace.TraceContext;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proxies the requests of one HTTP/1.1 connection as raw bytes: reads each request head in place
 * ({@link RequestHead}), writes an edited copy of it to an upstream HTTP/1.1 connection taken raw
 * ({@link UpstreamStream#rawBytes()}), parses the response head ({@link ResponseHead}), writes an
 * edited copy to the client, and relays both bodies as slices of the buffers read.
 *
 * <p>Why not Netty's HTTP codecs, as {@link ProxyHandler} uses: a request through a server codec
 * and a client codec each way cost about 7 µs of CPU in user space, most of it decoding heads
 * into header maps, validating them character by character and encoding them again, against
 * about 3 µs for nginx. Here a head is scanned once and copied line by line.
 *
 * <p>It takes only what it can proxy with certainty: {@link RequestHead} declines anything but a
 * plain HTTP/1.1 request (no chunked or upgrade request, no {@code Expect}, nothing odd), and
 * routes that edit headers, or upstream groups that may speak HTTP/2, are left out too. At the
 * first such request, between requests, the connection goes to the server's own handlers ({@link
 * Http1Fallback#handOver}), which validate, refuse or proxy it with {@link ProxyHandler}, for the
 * rest of the connection.
 *
 * <p>Pipeline: {@code connection-limit -> [acl] -> idle -> [ssl] -> raw-http1 (this)}. Everything
 * runs on the channel's event loop; callbacks of an upstream connection of another loop hop here.
 */
final class RawHttp1Proxy extends ChannelInboundHandlerAdapter implements DrainAware {
  private static final Logger log = LoggerFactory.getLogger(RawHttp1Proxy.class);
  private static final int MAX_REPLAY_BYTES = Calls.MAX_REPLAY_BYTES;
  /** Bytes of pipelined requests read ahead, at most, while one is answered. */
  private static final int MAX_READ_AHEAD = 64 * 1024;
  private static final int MAX_RESPONSE_HEAD = Calls.MAX_RESPONSE_HEAD;
  private static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
  private static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
  private static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");
  private static final AsciiString TRACEPARENT = AsciiString.cached("traceparent");
  private static final AsciiString HOST = AsciiString.cached("host");
  private static final AsciiString USER_AGENT = AsciiString.cached("user-agent");
  private static final AsciiString TRANSFER_ENCODING = AsciiString.cached("transfer-encoding");
  private static final byte[] HTTP11_LINE_END = ascii(" HTTP/1.1\r\n");
  private static final byte[] HTTP11 = ascii("HTTP/1.1 ");
  private static final byte[] XFF = ascii("x-forwarded-for: ");
  private static final byte[] XFP_HTTP = ascii("x-forwarded-proto: http\r\n");
  private static final byte[] XFP_HTTPS = ascii("x-forwarded-proto: https\r\n");
  private static final byte[] XFH = ascii("x-forwarded-host: ");
  private static final byte[] HOST_COLON = ascii("host: ");
  private static final byte[] TRACEPARENT_COLON = ascii("traceparent: ");
  private static final byte[] VIA_COLON = ascii("via: ");
  private static final byte[] CHUNKED = ascii("transfer-encoding: chunked\r\n");
  private static final byte[] CLOSE = ascii("connection: close\r\n");
  private static final byte[] LAST_CHUNK = ascii("0\r\n\r\n");
  private static final short CRLF = ('\r' << 8) | '\n';

  private final ProxyEngine engine;
  private final String listener;
  private final Http1Fallback fallback;
  private final boolean tls;
  private final HttpServerSettings server;
  private final RequestHead head;
  private final ResponseHead responseHead;
  private final ChunkedBodyScanner chunks = new ChunkedBodyScanner();
  private ChannelHandlerContext ctx;
  /** Bytes read from the client and not consumed yet. */
  private ByteBuf in;
  /** The request being proxied, or null between requests. */
  private Call call;
  /** Body bytes of a request answered by the proxy itself, still to be read and dropped. */
  private long skipBody;
  private boolean processing;
  private boolean closed;
  private boolean handedOver;
  private InetSocketAddress clientAddress;
  private byte[] clientText;
  private String clientString;
  /** When the head being read must be complete (System.nanoTime), or 0. */
  private long headerDeadline;
  /** The connection's one timer; see {@link ProxyHandler}. */
  private ScheduledFuture<?> tick;
  private long tickAt;
  /** The {@code Via} value of the generation last seen, as bytes with its line end. */
  private ProxyState viaState;
  private byte[] viaLine;

  RawHttp1Proxy(ProxyEngine engine, String listener, Http1Fallback fallback, boolean tls) {
    this.engine = engine;
    this.listener = listener;
    this.fallback = fallback;
    this.tls = tls;
    this.server = fallback.settings();
    this.head = new RequestHead(server.maxInitialLineLength(), server.maxHeaderSize(),
        server.maxHeaderCount());
    this.responseHead = new ResponseHead(MAX_RESPONSE_HEAD, 1024);
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
  }

  @Override
  public boolean idle() {
    if (call != null || (in != null && in.isReadable())) {
      return false;
    }
    ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
    return out == null || out.totalPendingWriteBytes() == 0;
  }

  // ---- the client's side ----

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ByteBuf) || closed) {
      ReferenceCountUtil.release(msg);
      return;
    }
    ByteBuf buf = (ByteBuf) msg;
    in = in == null ? buf : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), in, buf);
    process();
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    Call c = call;
    if (c != null && c.attempt != null) {
      c.attempt.flushIfNeeded();
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    Call c = call;
    if (c != null && c.attempt != null && c.attempt.stream != null) {
      c.attempt.setUpstreamRead(ctx.channel().isWritable());
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closed = true;
    cancelTick();
    Call c = call;
    if (c != null) {
      c.clientGone();
    }
    releaseInput();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    cancelTick();
    if (!handedOver) {
      releaseInput();
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof IdleStateEvent) {
      if (idle()) {
        ctx.close();
      }
      return;
    }
    ReferenceCountUtil.release(evt);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("client connection {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
    ctx.close();
  }

  private void releaseInput() {
    if (in != null) {
      in.release();
      in = null;
    }
  }

  /** Consumes what the client sent, as far as the request in progress allows. */
  private void process() {
    if (processing) {
      return; // the loop below goes on with whatever changed
    }
    processing = true;
    try {
      while (!closed && !handedOver && in != null && in.isReadable()) {
        Call c = call;
        if (c != null) {
          if (c.bodyLeft > 0) {
            int n = (int) Math.min(c.bodyLeft, in.readableBytes());
            c.bodyLeft -= n;
            c.body(in.readRetainedSlice(n));
            continue;
          }
          // A pipelined request: it waits for this one's answer, and so does reading past a bound.
          if (in.readableBytes() > MAX_READ_AHEAD) {
            ctx.channel().config().setAutoRead(false);
          }
          break;
        }
        if (skipBody > 0) {
          int n = (int) Math.min(skipBody, in.readableBytes());
          skipBody -= n;
          in.skipBytes(n);
          continue;
        }
        int length = head.parse(in);
        if (length == RequestHead.NEED_MORE) {
          if (headerDeadline == 0) {
            headerDeadline = deadline(System.nanoTime() + server.headerTimeout().toNanos());
            arm(headerDeadline);
          }
          break;
        }
        headerDeadline = 0;
        if (length == RequestHead.DECLINED) {
          handOver();
          return;
        }
        begin(length);
      }
      if (in != null && !in.isReadable() && !handedOver) {
        releaseInput();
      }
      // A body read here goes out now: reads of pipelined requests come with no read-complete.
      Call c = call;
      if (c != null && c.attempt != null) {
        c.attempt.flushIfNeeded();
      }
    } finally {
      processing = false;
    }
  }

  /** Gives the connection, and the bytes not consumed, to the server's own handlers. */
  private void handOver() {
    cancelTick();
    handedOver = true;
    engine.handedOver();
    ByteBuf rest = in;
    in = null;
    fallback.handOver(ctx, rest);
  }

  /** After a request is answered: reads the next one, if any is waiting. */
  private void next() {
    call = null;
    if (closed) {
      return;
    }
    if (!ctx.channel().config().isAutoRead()) {
      ctx.channel().config().setAutoRead(true);
    }
    process();
  }

  // ---- a request ----

  private void begin(int length) {
    ProxyState state = engine.state();
    long start = System.nanoTime();
    if (clientAddress == null) {
      clientAddress = ClientAddress.of(ctx.channel());
      clientString = clientAddress == null || clientAddress.getAddress() == null ? "unknown"
          : clientAddress.getAddress().getHostAddress();
      clientText = clientString.getBytes(StandardCharsets.US_ASCII);
    }
    InetAddress client = clientAddress == null ? null : clientAddress.getAddress();
    ByteBuf buf = in;
    HttpMethod method = head.method();
    String target = head.target();
    String path = head.pathEnd() == head.targetEnd() ? target
        : target.substring(0, head.pathEnd() - head.targetStart());
    String host = head.host();
    HttpHeaders headers = state.router.matchesHeaders() ? headers(buf) : null;
    Route route = state.router.select(listener, method.name(), host, path, headers);
    if (route == null) {
      refuse(length, HttpResponseStatus.NOT_FOUND, "no route for " + (host == null ? "" : host)
          + path, null);
      return;
    }
    String upstreamName = route.pickUpstream();
    UpstreamRuntime upstream = state.upstreams.get(upstreamName);
    if (route.editsHeaders() || upstream.group.mayUseHttp2()) {
      handOver(); // nothing consumed: the standard handlers read this request again
      return;
    }
    RouteMeters meters = state.meters(route, upstreamName);
    if (client != null && !state.admits(route, client)) {
      meters.denied();
      refuse(length, HttpResponseStatus.FORBIDDEN, "access denied", null);
      return;
    }
    RateLimiter limiter = route.rateLimiter();
    if (limiter != null) {
      RouteSettings.RateLimit limit = limiter.settings();
      if (headers == null && (limit.key() == RouteSettings.RateLimit.KeySource.HEADER
          || limit.key() == RouteSettings.RateLimit.KeySource.API_KEY)) {
        headers = headers(buf);
      }
      long wait = limiter.tryAcquire(RateLimiter.keyOf(limit, headers, client));
      if (wait > 0) {
        meters.rateLimited();
        long seconds = Math.max(1, (wait + 999_999_999L) / 1_000_000_000L);
        refuse(length, HttpResponseStatus.TOO_MANY_REQUESTS, "rate limit exceeded",
            "retry-after: " + seconds + "\r\n");
        return;
      }
    }
    byte[] hashKey = null;
    if (upstream.settings.loadBalancing() == LoadBalancing.CONSISTENT_HASH) {
      if (headers == null) {
        headers = headers(buf);
      }
      hashKey = hashKey(upstream.settings.hashBy(), headers);
    }
    TraceContext trace = null;
    if (state.settings.tracing()) {
      int i = head.indexOf(TRACEPARENT);
      TraceContext parent = i < 0 ? null : TraceContext.parse(head.value(i));
      trace = parent != null ? parent.child() : TraceContext.newRoot(true);
    }
    ByteBuf upstreamHead = upstreamHead(buf, length, state, route, target, host, trace);
    Call c = new Call(state, route, upstream, meters, method, start, trace, target, host,
        upstreamHead, hashKey);
    if (engine.logsAccess()) {
      int f = head.indexOf(X_FORWARDED_FOR);
      int u = head.indexOf(USER_AGENT);
      c.forwardedFor = f < 0 ? null : head.value(f);
      c.userAgent = u < 0 ? null : head.value(u);
    }
    c.keepAlive = head.keepAlive();
    long contentLength = head.contentLength();
    c.bodyLeft = Math.max(0, contentLength);
    c.requestDone = c.bodyLeft == 0;
    buf.skipBytes(length);
    call = c;
    c.startAttempt();
  }

  /** The request head for the upstream: hop-by-hop headers out, forwarding headers in. */
  private ByteBuf upstreamHead(ByteBuf buf, int length, ProxyState state, Route route,
      String target, String host, TraceContext trace) {
    RouteSettings rs = route.settings();
    boolean trusted = clientAddress != null && clientAddress.getAddress() != null
        && !state.trustedProxies.isEmpty()
        && state.trustedProxies.contains(clientAddress.getAddress());
    String rewritten = route.rewriteUri(target);
    ByteBuf out = ctx.alloc().ioBuffer(length + 192 + (rewritten == target ? 0
        : rewritten.length() * 3));
    int start = buf.readerIndex();
    // the method and its space, then the target
    out.writeBytes(buf, start, head.targetStart() - start);
    if (rewritten == target) {
      out.writeBytes(buf, head.targetStart(), head.targetEnd() - head.targetStart());
    } else {
      out.writeCharSequence(rewritten, StandardCharsets.UTF_8);
    }
    out.writeBytes(HTTP11_LINE_END);
    String priorForwardedFor = null;
    boolean protoGiven = false;
    boolean hostGiven = false;
    int count = head.headerCount();
    for (int i = 0; i < count; i++) {
      if (head.hopByHop(i)) {
        continue;
      }
      int ns = head.nameStart(i);
      int nl = head.nameEnd(i) - ns;
      if (nl == 15 && nameIs(buf, ns, X_FORWARDED_FOR)) {
        if (trusted) {
          String v = head.value(i);
          priorForwardedFor = priorForwardedFor == null ? v : priorForwardedFor + ", " + v;
        }
        continue;
      }
      if (nl == 17 && nameIs(buf, ns, X_FORWARDED_PROTO)) {
        if (!trusted) {
          continue;
        }
        protoGiven = true;
      } else if (nl == 16 && nameIs(buf, ns, X_FORWARDED_HOST)) {
        if (!trusted) {
          continue;
        }
        hostGiven = true;
      } else if (nl == 11 && trace != null && nameIs(buf, ns, TRACEPARENT)) {
        continue;
      } else if (nl == 4 && rs.hostRewrite() != null && nameIs(buf, ns, HOST)) {
        continue;
      }
      out.writeBytes(buf, head.lineStart(i), head.valueEnd(i) - head.lineStart(i));
      out.writeShort(CRLF);
    }
    out.writeBytes(XFF);
    if (priorForwardedFor != null) {
      out.writeCharSequence(priorForwardedFor, StandardCharsets.ISO_8859_1);
      out.writeByte(',').writeByte(' ');
    }
    out.writeBytes(clientText);
    out.writeShort(CRLF);
    if (!protoGiven) {
      out.writeBytes(tls ? XFP_HTTPS : XFP_HTTP);
    }
    if (!hostGiven && host != null) {
      out.writeBytes(XFH);
      out.writeCharSequence(host, StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    out.writeBytes(via(state));
    if (rs.hostRewrite() != null) {
      out.writeBytes(HOST_COLON);
      out.writeCharSequence(rs.hostRewrite(), StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    if (trace != null) {
      out.writeBytes(TRACEPARENT_COLON);
      out.writeCharSequence(trace.traceparent(), StandardCharsets.US_ASCII);
      out.writeShort(CRLF);
    }
    out.writeShort(CRLF);
    return out;
  }

  /** {@code via: 1.1 <name>} with its line end, for the generation in force. */
  private byte[] via(ProxyState state) {
    if (viaState != state) {
      viaLine = ascii("via: " + state.via11 + "\r\n");
      viaState = state;
    }
    return viaLine;
  }

  /** Whether the header name at {@code at} equals {@code lower} (of the same length), any case. */
  private static boolean nameIs(ByteBuf buf, int at, AsciiString lower) {
    for (int i = 0; i < lower.length(); i++) {
      int b = buf.getByte(at + i);
      if (b >= 'A' && b <= 'Z') {
        b += 'a' - 'A';
      }
      if (b != lower.byteAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The request headers as a map, for the rare rules that need one (header routes, keys). */
  private HttpHeaders headers(ByteBuf buf) {
    HttpHeaders h = new DefaultHttpHeaders(false);
    for (int i = 0; i < head.headerCount(); i++) {
      h.add(buf.toString(head.nameStart(i), head.nameEnd(i) - head.nameStart(i),
          StandardCharsets.US_ASCII), head.value(i));
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

  /**
   * Answers a request the proxy does not forward; its body is read and dropped, and the
   * connection stays open when the client wants it to.
   */
  private void refuse(int length, HttpResponseStatus status, String reason, String extraHeader) {
    boolean keepAlive = head.keepAlive();
    long body = Math.max(0, head.contentLength());
    String method = head.method().name();
    String host = head.host();
    String target = head.target();
    String forwardedFor = null;
    String userAgent = null;
    if (engine.logsAccess()) {
      int f = head.indexOf(X_FORWARDED_FOR);
      int u = head.indexOf(USER_AGENT);
      forwardedFor = f < 0 ? null : head.value(f);
      userAgent = u < 0 ? null : head.value(u);
    }
    in.skipBytes(length);
    skipBody = body;
    writeError(status, reason, extraHeader, keepAlive);
    engine.accessLog(listener, null, method, host, target, false, status.code(), 0, 0, 0, null, 0,
        clientAddress, forwardedFor, userAgent, null, null);
  }

  /** Writes an error response of the proxy's own, and closes after it unless kept alive. */
  private void writeError(HttpResponseStatus status, String reason, String extraHeader,
      boolean keepAlive) {
    byte[] body = Calls.errorBody(status, reason);
    StringBuilder h = new StringBuilder(160)
        .append("HTTP/1.1 ").append(status.code()).append(' ').append(status.reasonPhrase())
        .append("\r\ncontent-type: text/plain\r\ncontent-length: ").append(body.length)
        .append("\r\n");
    if (extraHeader != null) {
      h.append(extraHeader);
    }
    if (!keepAlive) {
      h.append("connection: close\r\n");
    }
    h.append("\r\n");
    ByteBuf out = ctx.alloc().ioBuffer(h.length() + body.length);
    out.writeCharSequence(h, StandardCharsets.US_ASCII);
    out.writeBytes(body);
    if (keepAlive) {
      ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
    } else {
      closed = true;
      ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
    }
  }

  // ---- the connection's timer ----

  private static long deadline(long nanos) {
    return nanos == 0 ? 1 : nanos;
  }

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
    if (closed || handedOver) {
      return;
    }
    long now = System.nanoTime();
    Call c = call;
    if (c == null) {
      if (headerDeadline != 0) {
        if (now - headerDeadline >= 0) {
          headerDeadline = 0;
          closed = true;
          fallback.reject(ctx, HttpResponseStatus.REQUEST_TIMEOUT,
              "request headers were not received within " + millis(server.headerTimeout()));
        } else {
          arm(headerDeadline);
        }
      }
      return;
    }
    if (c.ended || c.deadline == Long.MAX_VALUE) {
      return;
    }
    if (c.deadline - now <= 0) {
      c.timerFired();
    } else {
      arm(c.deadline);
    }
  }

  private static String millis(java.time.Duration d) {
    return Calls.millis(d);
  }

  /** One request through the proxy, over one or more attempts; see {@link RawCall}. */
  private final class Call extends RawCall {
    boolean keepAlive;
    long bodyLeft;
    long pendingBytes;
    Attempt attempt;

    Call(ProxyState state, Route route, UpstreamRuntime upstream, RouteMeters meters,
        HttpMethod method, long start, TraceContext trace, String target, String host,
        ByteBuf upstreamHead, byte[] hashKey) {
      super(RawHttp1Proxy.this.engine, RawHttp1Proxy.this.listener, clientAddress, false, state,
          route, upstream, meters, method, start, trace, target, host, upstreamHead, hashKey);
    }

    @Override
    void startAttempt() {
      attempts++;
      Attempt a = new Attempt(this);
      attempt = a;
      upstream.group.open(new StreamOptions(hashKey, ctx.channel().eventLoop(), exclude(),
          timeouts.connect()), a);
    }

    /** A body chunk from the client; this call owns it. */
    void body(ByteBuf chunk) {
      if (ended) {
        chunk.release();
        return;
      }
      int n = chunk.readableBytes();
      bytesIn += n;
      lastActivity = System.nanoTime();
      if (bodyLeft == 0) {
        requestDone = true;
      }
      Attempt a = attempt;
      if (a != null && a.stream != null) {
        a.writeBody(chunk);
        if (requestDone) {
          a.requestSent();
        }
      } else {
        pend(chunk);
        pendingBytes += n;
        if (pendingBytes > MAX_REPLAY_BYTES) {
          // no connection yet: the body waits here, and no more of it is read meanwhile
          ctx.channel().config().setAutoRead(false);
        }
      }
    }

    void clientGone() {
      if (ended) {
        return;
      }
      Attempt a = attempt;
      if (a != null && a.stream != null) {
        a.abort(false);
      }
      error = "client closed the connection";
      end(499);
    }

    /** Answers the client with an error of the proxy's own, when no response was started. */
    @Override
    void fail(HttpResponseStatus status, String reason) {
      if (ended) {
        return;
      }
      error = reason;
      if (responseStarted) {
        // Part of the response went out: the client can only learn of it by a broken stream.
        closed = true;
        ctx.close();
        end(status.code());
        return;
      }
      // the rest of an unread body would be taken for a request: the connection ends
      boolean keep = keepAlive && requestDone;
      writeError(status, reason, null, keep);
      this.status = status.code();
      end(status.code());
    }

    @Override
    void armTimer(long nanos) {
      deadline = System.nanoTime() + nanos;
      arm(deadline);
    }

    @Override
    void abortAttempt(boolean failure) {
      Attempt a = attempt;
      if (a != null && a.stream != null) {
        a.stale = true;
        a.abort(failure);
      }
    }

    @Override
    void responseStalled() {
      closed = true;
      end(status);
      ctx.close();
    }

    void end(int finalStatus) {
      if (!close(finalStatus)) {
        return;
      }
      if (call == this) {
        if (bodyLeft > 0) {
          skipBody = bodyLeft; // answered before the whole body came: the rest is dropped
          bodyLeft = 0;
        }
        next();
      }
    }
  }

  /** How a response's body ends. */
  private enum Framing { NONE, LENGTH, CHUNKED, UNTIL_CLOSE }

  /** One try of a call on one upstream connection; the upstream layer's handler for it. */
  private final class Attempt implements UpstreamStreamHandler {
    final Call call;
    UpstreamStream stream;
    /** The stream's loop is this connection's: calls go straight, not as tasks. */
    boolean sameLoop;
    /** Superseded (timed out, retried): whatever it still hears is dropped. */
    boolean stale;
    boolean unflushed;
    /** Response bytes gathered until the head is complete. */
    ByteBuf headBytes;
    boolean inBody;
    Framing framing;
    long responseLeft;
    /** The client gets the body chunked because the upstream's ends with its connection. */
    boolean rechunk;
    boolean upstreamKeepAlive;
    /** Bytes came past the end of the response: the connection cannot be trusted again. */
    boolean extra;

    Attempt(Call call) {
      this.call = call;
    }

    private boolean current() {
      return !stale && call.attempt == this && !call.ended;
    }

    private void onStream(Runnable r) {
      if (sameLoop) {
        r.run();
      } else {
        stream.eventLoop().execute(r);
      }
    }

    void abort(boolean failure) {
      UpstreamStream s = stream;
      if (sameLoop) {
        s.abort(failure);
      } else {
        s.eventLoop().execute(() -> s.abort(failure));
      }
      releaseHeadBytes();
    }

    void completeRaw(int code, boolean reusable) {
      UpstreamStream s = stream;
      if (sameLoop) {
        s.completeRaw(code, reusable);
      } else {
        s.eventLoop().execute(() -> s.completeRaw(code, reusable));
      }
      releaseHeadBytes();
    }

    void setUpstreamRead(boolean read) {
      UpstreamStream s = stream;
      if (sameLoop) {
        s.setAutoRead(read);
      } else {
        s.eventLoop().execute(() -> s.setAutoRead(read));
      }
    }

    void flushIfNeeded() {
      if (stream != null && unflushed) {
        unflushed = false;
        UpstreamStream s = stream;
        if (sameLoop) {
          s.flush();
        } else {
          s.eventLoop().execute(s::flush);
        }
      }
    }

    private void releaseHeadBytes() {
      if (headBytes != null) {
        headBytes.release();
        headBytes = null;
      }
    }

    @Override
    public void onOpen(UpstreamStream s) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onOpen(s));
        return;
      }
      sameLoop = s.eventLoop() == ctx.channel().eventLoop();
      if (!current() || closed) {
        s.eventLoop().execute(() -> s.abort(false));
        return;
      }
      stream = s;
      call.upstreamAuthority = authority(s.endpoint());
      call.tried(s.endpoint());
      ByteBuf[] again = call.replayCopies();
      ByteBuf headCopy = call.upstreamHead.retainedDuplicate();
      if (sameLoop) {
        startOn(s, headCopy, again);
      } else {
        ByteBuf[] replayed = again;
        s.eventLoop().execute(() -> startOn(s, headCopy, replayed));
      }
      ByteBuf c;
      while ((c = call.nextPending()) != null) {
        writeBody(c);
      }
      call.pendingBytes = 0;
      if (call.requestDone) {
        requestSent();
      } else {
        call.lastActivity = System.nanoTime();
        call.armTimer(call.timeouts.write().toNanos());
      }
      unflushed = false;
      if (sameLoop) {
        s.flush();
      } else {
        s.eventLoop().execute(s::flush);
      }
      if (!call.requestDone && !s.isWritable()) {
        ctx.channel().config().setAutoRead(false);
      } else if (!ctx.channel().config().isAutoRead() && call.pendingBytes == 0
          && (call.requestDone || s.isWritable())) {
        ctx.channel().config().setAutoRead(true);
      }
    }

    /** On the stream's loop: the head (and a replayed body) go first. */
    private void startOn(UpstreamStream s, ByteBuf headCopy, ByteBuf[] replayed) {
      if (!s.rawBytes()) {
        // not expected: groups that may speak HTTP/2 are left to the standard handlers
        headCopy.release();
        if (replayed != null) {
          for (ByteBuf b : replayed) {
            b.release();
          }
        }
        s.abort(false);
        ctx.executor().execute(() -> {
          if (current()) {
            call.fail(HttpResponseStatus.BAD_GATEWAY, "upstream " + s.endpoint().authority()
                + " answered in HTTP/2 where HTTP/1.1 was expected");
          }
        });
        return;
      }
      s.writeBytes(headCopy);
      if (replayed != null) {
        for (ByteBuf b : replayed) {
          s.writeBytes(b);
        }
      }
    }

    /** Writes a body chunk of the client's, keeping a copy for a retry while small enough. */
    void writeBody(ByteBuf data) {
      call.keepForReplay(data);
      UpstreamStream s = stream;
      if (sameLoop) {
        s.writeBytes(data);
      } else {
        s.eventLoop().execute(() -> s.writeBytes(data));
      }
      unflushed = true;
      if (!s.isWritable()) {
        ctx.channel().config().setAutoRead(false);
      }
    }

    /** The whole request went out: now the response head is awaited. */
    void requestSent() {
      call.armTimer(call.firstByteTimeout().toNanos());
      if (!ctx.channel().config().isAutoRead()) {
        ctx.channel().config().setAutoRead(true);
      }
    }

    @Override
    public void onOpenFailed(UpstreamException cause) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onOpenFailed(cause));
        return;
      }
      if (current()) {
        call.openFailed(cause);
      }
    }

    @Override
    public void onResponse(Object msg) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onResponse(msg));
        return;
      }
      if (!(msg instanceof ByteBuf) || !current() || closed) {
        ReferenceCountUtil.release(msg);
        return;
      }
      call.lastActivity = System.nanoTime();
      ByteBuf buf = (ByteBuf) msg;
      if (!inBody) {
        headBytes = headBytes == null ? buf
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), headBytes, buf);
        buf = readHead();
        if (buf == null) {
          return; // more of the head to come, or the attempt is over
        }
      }
      body(buf);
    }

    /**
     * Parses the response head gathered so far; passes informational responses on. Returns the
     * bytes after the final response's head, when it is complete, else null.
     */
    private ByteBuf readHead() {
      ResponseHead rh = responseHead;
      while (true) {
        int length = rh.parse(headBytes);
        if (length == ResponseHead.NEED_MORE) {
          if (headBytes.readableBytes() > MAX_RESPONSE_HEAD) {
            broken("response head larger than " + MAX_RESPONSE_HEAD + " bytes");
          }
          return null;
        }
        if (length == ResponseHead.MALFORMED) {
          broken(rh.malformation());
          return null;
        }
        int code = rh.status();
        if (code < 200 && code != 101) {
          // 103 Early Hints and the like: passed on, the final answer follows
          ctx.write(clientHead(rh, headBytes, false), ctx.voidPromise());
          headBytes.skipBytes(length);
          if (!headBytes.isReadable()) {
            releaseHeadBytes();
            ctx.flush();
            return null;
          }
          continue;
        }
        if (code == 101) {
          releaseHeadBytes();
          call.fail(HttpResponseStatus.BAD_GATEWAY, "upstream switched protocols unasked");
          abort(true);
          return null;
        }
        if (call.route.retriesOn(code) && call.mayRetry(true)) {
          stale = true;
          completeRaw(code, false);
          call.retryNow();
          return null;
        }
        if (rh.transferEncoding() && !onlyChunked(rh, headBytes)) {
          // a coding the client would have to undo, unannounced: refused, as nginx does
          broken("unsupported transfer coding \"" + rh.value(rh.indexOf(TRANSFER_ENCODING))
              + "\"");
          return null;
        }
        call.responseHeadSeen = true;
        call.status = code;
        boolean bodiless = call.headOnly || code == 204 || code == 304;
        if (bodiless) {
          framing = Framing.NONE;
        } else if (rh.transferEncoding()) {
          framing = rh.chunked() ? Framing.CHUNKED : Framing.UNTIL_CLOSE;
        } else if (rh.contentLength() >= 0) {
          framing = Framing.LENGTH;
          responseLeft = rh.contentLength();
        } else {
          framing = Framing.UNTIL_CLOSE;
        }
        upstreamKeepAlive = rh.keepAlive() && framing != Framing.UNTIL_CLOSE;
        rechunk = framing == Framing.UNTIL_CLOSE;
        if (rechunk) {
          UpstreamStream s = stream;
          if (sameLoop) {
            s.endsWithClose();
          } else {
            s.eventLoop().execute(s::endsWithClose);
          }
        }
        if (framing == Framing.CHUNKED) {
          chunks.reset();
        }
        ctx.write(clientHead(rh, headBytes, true), ctx.voidPromise());
        call.responseStarted = true;
        inBody = true;
        headBytes.skipBytes(length);
        ByteBuf rest = headBytes;
        headBytes = null;
        return rest;
      }
    }

    /** Whether the response's Transfer-Encoding is chunked and nothing else. */
    private boolean onlyChunked(ResponseHead rh, ByteBuf buf) {
      if (!rh.chunked()) {
        return false;
      }
      int found = 0;
      for (int i = 0; i < rh.headerCount(); i++) {
        int ns = rh.nameStart(i);
        if (rh.nameEnd(i) - ns == TRANSFER_ENCODING.length()
            && nameIs(buf, ns, TRANSFER_ENCODING)) {
          if (++found > 1 || !"chunked".equalsIgnoreCase(rh.value(i))) {
            return false;
          }
        }
      }
      return true;
    }

    /** The response head for the client: hop-by-hop headers out, framing and Via in. */
    private ByteBuf clientHead(ResponseHead rh, ByteBuf buf, boolean finalResponse) {
      ByteBuf out = ctx.alloc().ioBuffer(rh.headLength() + 96);
      out.writeBytes(HTTP11);
      int code = rh.status();
      out.writeByte('0' + code / 100).writeByte('0' + code / 10 % 10).writeByte('0' + code % 10);
      out.writeByte(' ');
      out.writeBytes(buf, rh.reasonStart(), rh.reasonEnd() - rh.reasonStart());
      out.writeShort(CRLF);
      int count = rh.headerCount();
      for (int i = 0; i < count; i++) {
        if (rh.hopByHop(i)) {
          continue;
        }
        out.writeBytes(buf, rh.lineStart(i), rh.valueEnd(i) - rh.lineStart(i));
        out.writeShort(CRLF);
      }
      if (finalResponse) {
        if (framing == Framing.CHUNKED || rechunk) {
          out.writeBytes(CHUNKED);
        }
        if (!call.keepAlive) {
          out.writeBytes(CLOSE);
        }
      }
      out.writeBytes(via(call.state));
      out.writeShort(CRLF);
      return out;
    }

    /** Relays body bytes of the response; this method owns {@code buf}. */
    private void body(ByteBuf buf) {
      boolean done = false;
      switch (framing) {
        case NONE:
          done = true;
          break;
        case LENGTH: {
          int n = (int) Math.min(responseLeft, buf.readableBytes());
          responseLeft -= n;
          done = responseLeft == 0;
          if (n == buf.readableBytes()) {
            // the whole buffer is body: it goes as it is
            if (n > 0) {
              relay(buf);
            } else {
              buf.release();
            }
            if (done) {
              finish();
            } else {
              afterRelay();
            }
            return;
          }
          if (n > 0) {
            relay(buf.readRetainedSlice(n));
          }
          break;
        }
        case CHUNKED: {
          int end = chunks.scan(buf, buf.readerIndex(), buf.writerIndex());
          if (end == ChunkedBodyScanner.MALFORMED) {
            buf.release();
            broken("malformed chunked body: " + chunks.malformation());
            return;
          }
          int n = (end == ChunkedBodyScanner.NEED_MORE ? buf.writerIndex() : end)
              - buf.readerIndex();
          if (n > 0) {
            relay(buf.readRetainedSlice(n));
          }
          done = end != ChunkedBodyScanner.NEED_MORE;
          break;
        }
        default: {
          int n = buf.readableBytes();
          if (n > 0) {
            ByteBuf size = ctx.alloc().ioBuffer(10);
            ByteBufUtil.writeAscii(size, Integer.toHexString(n));
            size.writeShort(CRLF);
            ctx.write(size, ctx.voidPromise());
            relay(buf.readRetainedSlice(n));
            ctx.write(Unpooled.wrappedBuffer(new byte[] {'\r', '\n'}), ctx.voidPromise());
          }
        }
      }
      if (done && buf.isReadable()) {
        extra = true; // more than the response: whatever it is, the connection is not reused
      }
      buf.release();
      if (done) {
        finish();
        return;
      }
      afterRelay();
    }

    private void afterRelay() {
      ctx.flush();
      if (!ctx.channel().isWritable()) {
        setUpstreamRead(false);
      }
    }

    private void relay(ByteBuf data) {
      call.bytesOut += data.readableBytes();
      ctx.write(data, ctx.voidPromise());
    }

    /** The whole response went to the client: the exchange and the call end. */
    private void finish() {
      if (rechunk) {
        ctx.write(Unpooled.wrappedBuffer(LAST_CHUNK), ctx.voidPromise());
      }
      int code = call.status;
      completeRaw(code, upstreamKeepAlive && !extra && call.requestDone);
      if (call.keepAlive) {
        ctx.flush();
      } else {
        closed = true;
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
      call.end(code);
    }

    /** The upstream's response cannot be read: a retry when nothing went out yet, else a 502. */
    private void broken(String why) {
      releaseHeadBytes();
      call.meters.upstreamFailure();
      stale = true;
      abort(true);
      String reason = "malformed response (" + call.upstreamAuthority + "): " + why;
      if (!call.responseStarted && call.mayRetry(true)) {
        call.retryNow();
        return;
      }
      call.fail(HttpResponseStatus.BAD_GATEWAY, reason);
    }

    @Override
    public void onWritabilityChanged(boolean writable) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onWritabilityChanged(writable));
        return;
      }
      if (current() && !call.requestDone) {
        ctx.channel().config().setAutoRead(writable);
      }
    }

    @Override
    public void onFailure(UpstreamException cause) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onFailure(cause));
        return;
      }
      releaseHeadBytes();
      if (!current()) {
        return;
      }
      if (inBody && framing == Framing.UNTIL_CLOSE
          && cause.kind() == UpstreamException.Kind.CONNECTION_LOST) {
        // the upstream's close ends a body of unknown length: the exchange is over, not broken
        ctx.write(Unpooled.wrappedBuffer(LAST_CHUNK), ctx.voidPromise());
        int code = call.status;
        if (call.keepAlive) {
          ctx.flush();
        } else {
          closed = true;
          ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
        call.end(code);
        return;
      }
      call.attemptFailed(cause);
    }
  }
}
