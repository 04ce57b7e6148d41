package dev.sluice.proxy.engine;

import dev.sluice.http.server.ClientAddress;
import dev.sluice.http.server.DrainAware;
import dev.sluice.http.server.Http1Fallback;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.LoadBalancing;
import dev.sluice.http.upstream.StreamOptions;
import dev.sluice.http.upstream.UpstreamStream;
import dev.sluice.http.wire.RequestHead;
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
 * routes whose header rules name {@code traceparent} or {@code Expect} (which it reads itself),
 * or upstream groups that may speak HTTP/2, are left out too. A route's other header rules are
 * made as the heads are copied ({@link dev.sluice.proxy.route.HeaderEdits}). At the
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
  private static final AsciiString VIA = AsciiString.cached("via");
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
    if ((route.editsHeaders() && !route.editsFitRawPath()) || upstream.group.mayUseHttp2()) {
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
        : rewritten.length() * 3) + route.requestEdits().lineBytes());
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
    // the route's edits come last, as on the standard path: they may drop what is added here
    HeaderEdits edits = route.requestEdits().isEmpty() ? null : route.requestEdits();
    int count = head.headerCount();
    for (int i = 0; i < count; i++) {
      if (head.hopByHop(i)) {
        continue;
      }
      int ns = head.nameStart(i);
      int nl = head.nameEnd(i) - ns;
      if (edits != null && edits.drops(buf, ns, nl)) {
        continue;
      }
      if (nl == 15 && RawAttempt.nameIs(buf, ns, X_FORWARDED_FOR)) {
        if (trusted) {
          String v = head.value(i);
          priorForwardedFor = priorForwardedFor == null ? v : priorForwardedFor + ", " + v;
        }
        continue;
      }
      if (nl == 17 && RawAttempt.nameIs(buf, ns, X_FORWARDED_PROTO)) {
        if (!trusted) {
          continue;
        }
        protoGiven = true;
      } else if (nl == 16 && RawAttempt.nameIs(buf, ns, X_FORWARDED_HOST)) {
        if (!trusted) {
          continue;
        }
        hostGiven = true;
      } else if (nl == 11 && trace != null && RawAttempt.nameIs(buf, ns, TRACEPARENT)) {
        continue;
      } else if (nl == 4 && rs.hostRewrite() != null && RawAttempt.nameIs(buf, ns, HOST)) {
        continue;
      }
      out.writeBytes(buf, head.lineStart(i), head.valueEnd(i) - head.lineStart(i));
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
    if (!hostGiven && host != null && (edits == null || !edits.drops(X_FORWARDED_HOST))) {
      out.writeBytes(XFH);
      out.writeCharSequence(host, StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    if (edits == null || !edits.drops(VIA)) {
      out.writeBytes(via(state));
    }
    if (rs.hostRewrite() != null && (edits == null || !edits.drops(HOST))) {
      out.writeBytes(HOST_COLON);
      out.writeCharSequence(rs.hostRewrite(), StandardCharsets.ISO_8859_1);
      out.writeShort(CRLF);
    }
    if (trace != null) {
      out.writeBytes(TRACEPARENT_COLON);
      out.writeCharSequence(trace.traceparent(), StandardCharsets.US_ASCII);
      out.writeShort(CRLF);
    }
    if (edits != null) {
      edits.writeLines(out);
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
      RawAttempt<?> a = attempt;
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
      RawAttempt<?> a = attempt;
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

  /** One try of a call on one upstream connection; the response goes out as HTTP/1.1 bytes. */
  private final class Attempt extends RawAttempt<Call> {
    /** The client gets the body chunked because the upstream's ends with its connection. */
    private boolean rechunk;

    Attempt(Call call) {
      super(call, RawHttp1Proxy.this.ctx, RawHttp1Proxy.this.responseHead, MAX_RESPONSE_HEAD);
    }

    @Override
    boolean clientClosed() {
      return closed;
    }

    @Override
    String authority(Endpoint endpoint) {
      return RawHttp1Proxy.this.authority(endpoint);
    }

    @Override
    void bodyWritten(UpstreamStream s) {
      if (!s.isWritable()) {
        ctx.channel().config().setAutoRead(false);
      }
    }

    @Override
    void requestEnded() {
      if (!ctx.channel().config().isAutoRead()) {
        ctx.channel().config().setAutoRead(true);
      }
    }

    @Override
    void opened(UpstreamStream s) {
      call.pendingBytes = 0;
      if (!call.requestDone && !s.isWritable()) {
        ctx.channel().config().setAutoRead(false);
      } else if (!ctx.channel().config().isAutoRead()
          && (call.requestDone || s.isWritable())) {
        ctx.channel().config().setAutoRead(true);
      }
    }

    @Override
    void informational(ResponseHead rh, ByteBuf bytes) {
      ctx.writeAndFlush(clientHead(rh, bytes, false), ctx.voidPromise());
    }

    @Override
    void responseHead(ResponseHead rh, ByteBuf bytes, boolean endsNow) {
      rechunk = framing == Framing.UNTIL_CLOSE;
      ctx.write(clientHead(rh, bytes, true), ctx.voidPromise());
    }

    /** The response head for the client: hop-by-hop headers out, framing and Via in. */
    private ByteBuf clientHead(ResponseHead rh, ByteBuf buf, boolean finalResponse) {
      ByteBuf out = ctx.alloc().ioBuffer(rh.headLength() + 96
          + (finalResponse ? call.route.responseEdits().lineBytes() : 0));
      out.writeBytes(HTTP11);
      int code = rh.status();
      out.writeByte('0' + code / 100).writeByte('0' + code / 10 % 10).writeByte('0' + code % 10);
      out.writeByte(' ');
      out.writeBytes(buf, rh.reasonStart(), rh.reasonEnd() - rh.reasonStart());
      out.writeShort(CRLF);
      HeaderEdits edits = !finalResponse || call.route.responseEdits().isEmpty() ? null
          : call.route.responseEdits();
      int count = rh.headerCount();
      for (int i = 0; i < count; i++) {
        if (rh.hopByHop(i) || (edits != null
            && edits.drops(buf, rh.nameStart(i), rh.nameEnd(i) - rh.nameStart(i)))) {
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
      if (edits == null || !edits.drops(VIA)) {
        out.writeBytes(via(call.state));
      }
      if (edits != null) {
        edits.writeLines(out);
      }
      out.writeShort(CRLF);
      return out;
    }

    @Override
    void relay(ByteBuf data, boolean last) {
      call.bytesOut += data.readableBytes();
      ctx.write(data, ctx.voidPromise());
    }

    @Override
    void relayChunked(ByteBuf buf, int to, boolean done) {
      int n = to - buf.readerIndex();
      if (n > 0) {
        relay(buf.retainedSlice(buf.readerIndex(), n), done); // the chunks go as they came
      }
    }

    @Override
    void relayUntilClose(ByteBuf data) {
      ByteBuf size = ctx.alloc().ioBuffer(10);
      ByteBufUtil.writeAscii(size, Integer.toHexString(data.readableBytes()));
      size.writeShort(CRLF);
      ctx.write(size, ctx.voidPromise());
      relay(data, false);
      ctx.write(Unpooled.wrappedBuffer(new byte[] {'\r', '\n'}), ctx.voidPromise());
    }

    @Override
    boolean clientWritable() {
      return ctx.channel().isWritable();
    }

    @Override
    void finish() {
      if (rechunk) {
        ctx.write(Unpooled.wrappedBuffer(LAST_CHUNK), ctx.voidPromise());
      }
      completeRaw(call.status, upstreamKeepAlive && !extra && call.requestDone);
      endResponse();
    }

    @Override
    void endedByClose() {
      ctx.write(Unpooled.wrappedBuffer(LAST_CHUNK), ctx.voidPromise());
      endResponse();
    }

    private void endResponse() {
      int code = call.status;
      if (call.keepAlive) {
        ctx.flush();
      } else {
        closed = true;
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
      call.end(code);
    }

    @Override
    void upstreamWritabilityChanged(boolean writable) {
      if (!call.requestDone) {
        ctx.channel().config().setAutoRead(writable);
      }
    }
  }
}
