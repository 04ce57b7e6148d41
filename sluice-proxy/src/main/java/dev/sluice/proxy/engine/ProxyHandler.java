package dev.sluice.proxy.engine;

import dev.sluice.http.server.ClientAddress;
import dev.sluice.http.server.ProtocolSwitch;
import dev.sluice.http.upstream.Endpoint;
import dev.sluice.http.upstream.StreamOptions;
import dev.sluice.http.upstream.UpstreamException;
import dev.sluice.http.upstream.UpstreamStream;
import dev.sluice.http.upstream.UpstreamStreamHandler;
import dev.sluice.proxy.limit.RateLimiter;
import dev.sluice.proxy.log.AccessRecord;
import dev.sluice.proxy.metrics.RouteMeters;
import dev.sluice.proxy.route.Route;
import dev.sluice.proxy.settings.RouteSettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.proxy.trace.ProxySpan;
import dev.sluice.proxy.trace.TraceContext;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.AsciiString;
import io.netty.util.CharsetUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proxies the requests of one HTTP/1.1 connection, or the one request of an HTTP/2 stream: routes
 * each, lends a connection from the route's upstream group, and streams the request there and the
 * response back, reading from each side only as fast as the other takes it.
 *
 * <p>Pipeline (the server's): {@code ... -> HttpServerCodec -> keep-alive -> guard -> proxy}, or
 * {@code Http2StreamFrameToHttpObjectCodec -> guard -> proxy} on an HTTP/2 stream. After a
 * WebSocket handshake the HTTP handlers go and raw bytes flow both ways.
 *
 * <p>Threading: everything runs on the channel's event loop. Callbacks from the upstream layer
 * come on the upstream connection's loop, which is this one unless the pool had to lend a
 * connection of another loop; then they hop here, and calls to the stream hop there.
 */
final class ProxyHandler extends ChannelDuplexHandler {
  private static final Logger log = LoggerFactory.getLogger(ProxyHandler.class);
  /** Request body kept for a retry, at most; a larger body ends the chance of one. */
  private static final int MAX_REPLAY_BYTES = 64 * 1024;
  private static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
  private static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
  private static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");
  private static final AsciiString TRACEPARENT = AsciiString.cached("traceparent");

  private final ProxyEngine engine;
  private final String listener;
  private final boolean http2;
  private final boolean tls;
  private ChannelHandlerContext ctx;
  /** The request being proxied, or null. */
  private Call call;
  /** Pipelined requests read while the one before was still being answered (HTTP/1.1). */
  private final ArrayDeque<Object> backlog = new ArrayDeque<>();
  /** After a WebSocket handshake: the upstream's raw connection. */
  private Channel tunnel;
  private boolean closed;
  /** The client's address and its text, found once per connection. */
  private InetSocketAddress clientAddress;
  private String clientText;
  /**
   * The one timer of the connection: requests set their deadline, and the timer, when it fires,
   * acts on the deadline of the request then in progress or waits for it. Keep-alive traffic
   * thus schedules a timer now and then, not one per request.
   */
  private ScheduledFuture<?> tick;
  private long tickAt;

  ProxyHandler(ProxyEngine engine, String listener, boolean http2, boolean tls) {
    this.engine = engine;
    this.listener = listener;
    this.http2 = http2;
    this.tls = tls;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  // ---- the client's side ----

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (tunnel != null) {
      relayToUpstream(msg);
      return;
    }
    if (call != null && (call.requestDone || !backlog.isEmpty())) {
      // The next request of a pipelined HTTP/1.1 connection: it waits for this one's answer.
      backlog.add(msg);
      ctx.channel().config().setAutoRead(false);
      return;
    }
    dispatch(msg);
  }

  private void dispatch(Object msg) {
    if (msg instanceof HttpRequest) {
      begin((HttpRequest) msg);
      if (msg instanceof FullHttpRequest) {
        FullHttpRequest full = (FullHttpRequest) msg;
        if (call != null && call.attempt != null) {
          // the body alone goes on: the head was rebuilt
          call.body(new DefaultLastHttpContent(full.content(), full.trailingHeaders()));
        } else {
          full.release();
        }
      }
      return;
    }
    if (msg instanceof HttpContent) {
      if (call != null && !call.requestDone) {
        call.body((HttpContent) msg);
      } else {
        ReferenceCountUtil.release(msg); // the body of a request answered early
      }
      return;
    }
    ReferenceCountUtil.release(msg);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    if (call != null) {
      call.flushUpstream();
    }
    ctx.fireChannelReadComplete();
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    boolean writable = ctx.channel().isWritable();
    if (tunnel != null) {
      tunnel.config().setAutoRead(writable);
    } else if (call != null) {
      call.clientWritable(writable);
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closed = true;
    if (tick != null) {
      tick.cancel(false);
      tick = null;
    }
    if (call != null) {
      call.clientGone();
    }
    if (tunnel != null) {
      tunnel.close();
    }
    releaseBacklog();
    ctx.fireChannelInactive();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof IdleStateEvent && tunnel != null) {
      ctx.close(); // a WebSocket silent for the idle timeout
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.debug("client connection {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
    ctx.close();
  }

  /** The connection's timer fired: acts on the deadline of the request in progress, if due. */
  private void ticked() {
    tick = null;
    Call c = call;
    if (c == null || c.ended || c.deadline == Long.MAX_VALUE) {
      return;
    }
    long now = System.nanoTime();
    if (c.deadline - now <= 0) {
      c.timerFired();
    } else {
      tickAt = c.deadline;
      tick = ctx.executor().schedule(this::ticked, c.deadline - now, TimeUnit.NANOSECONDS);
    }
  }

  private void releaseBacklog() {
    Object m;
    while ((m = backlog.poll()) != null) {
      ReferenceCountUtil.release(m);
    }
  }

  /** After a request is answered: the pipelined ones read meanwhile, then reading again. */
  private void next() {
    call = null;
    // The body of a request taken from the backlog may be in the backlog too: it goes on with
    // its request, up to the request's end; the requests after it wait for its answer.
    while ((call == null || !call.requestDone) && !backlog.isEmpty() && !closed) {
      dispatch(backlog.poll());
    }
    if (!closed && (call == null || (!call.requestDone && call.pendingBytes <= MAX_REPLAY_BYTES
        && (call.attempt == null || call.attempt.stream == null
            || call.attempt.stream.isWritable())))) {
      // nothing waits, or the rest of the request's body is still to come
      ctx.channel().config().setAutoRead(true);
    }
  }

  // ---- a request ----

  private void begin(HttpRequest req) {
    ProxyState state = engine.state();
    long start = System.nanoTime();
    if (clientAddress == null) {
      clientAddress = ClientAddress.of(ctx.channel());
      clientText = clientAddress == null || clientAddress.getAddress() == null ? "unknown"
          : clientAddress.getAddress().getHostAddress();
    }
    InetAddress client = clientAddress == null ? null : clientAddress.getAddress();
    HttpHeaders h = req.headers();
    String uri = req.uri();
    String host = h.get(HttpHeaderNames.HOST);
    String path;
    if (uri.startsWith("/")) {
      int q = uri.indexOf('?');
      path = q < 0 ? uri : uri.substring(0, q);
    } else if (uri.regionMatches(true, 0, "http://", 0, 7)
        || uri.regionMatches(true, 0, "https://", 0, 8)) {
      // absolute-form: the target names the host, which wins over the Host header (RFC 9112 3.2.2)
      java.net.URI parsed;
      try {
        parsed = java.net.URI.create(uri);
      } catch (IllegalArgumentException e) {
        refuse(req, HttpResponseStatus.BAD_REQUEST, "request target is not a valid URI", true);
        return;
      }
      host = parsed.getRawAuthority();
      path = parsed.getRawPath() == null || parsed.getRawPath().isEmpty() ? "/"
          : parsed.getRawPath();
      uri = parsed.getRawQuery() == null ? path : path + "?" + parsed.getRawQuery();
      if (host != null) {
        h.set(HttpHeaderNames.HOST, host);
      }
    } else {
      refuse(req, HttpResponseStatus.BAD_REQUEST, "request target must be a path", true);
      return;
    }
    if (host == null && !http2 && req.protocolVersion().equals(HttpVersion.HTTP_1_1)) {
      refuse(req, HttpResponseStatus.BAD_REQUEST, "HTTP/1.1 request without a Host header", true);
      return;
    }
    Route route = state.router.select(listener, req.method().name(), host, path, h);
    if (route == null) {
      refuse(req, HttpResponseStatus.NOT_FOUND, "no route for " + (host == null ? "" : host)
          + path, false);
      return;
    }
    if (client != null && !state.admits(route, client)) {
      String upstream = route.settings().targets().get(0).upstream();
      state.meters(route, upstream).denied();
      refuse(req, HttpResponseStatus.FORBIDDEN, "access denied", false);
      return;
    }
    RateLimiter limiter = route.rateLimiter();
    if (limiter != null) {
      long wait = limiter.tryAcquire(RateLimiter.keyOf(route.settings().rateLimit(), h, client));
      if (wait > 0) {
        String upstream = route.settings().targets().get(0).upstream();
        state.meters(route, upstream).rateLimited();
        long seconds = Math.max(1, (wait + 999_999_999L) / 1_000_000_000L);
        FullHttpResponse r = error(HttpResponseStatus.TOO_MANY_REQUESTS, "rate limit exceeded");
        r.headers().set(HttpHeaderNames.RETRY_AFTER, seconds);
        answer(req, r, false);
        return;
      }
    }
    String upstreamName = route.pickUpstream();
    UpstreamRuntime upstream = state.upstreams.get(upstreamName);

    boolean chunked = HttpUtil.isTransferEncodingChunked(req);
    boolean upgrade = !http2 && HopHeaders.isWebSocketUpgrade(h);
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    String clientHost = h.get(HttpHeaderNames.HOST);
    HopHeaders.strip(h, upgrade);
    if (http2) {
      h.remove(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text());
      h.remove(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text());
      h.remove(HttpConversionUtil.ExtensionHeaderNames.STREAM_DEPENDENCY_ID.text());
      h.remove(HttpConversionUtil.ExtensionHeaderNames.STREAM_WEIGHT.text());
    }
    forwarded(h, state, client, clientHost);
    h.add(HttpHeaderNames.VIA, http2 ? state.via2 : req.protocolVersion().minorVersion() == 0
        ? state.via10 : state.via11);
    RouteSettings rs = route.settings();
    if (rs.hostRewrite() != null) {
      h.set(HttpHeaderNames.HOST, rs.hostRewrite());
    }
    route.editRequestHeaders(h);
    TraceContext trace = null;
    if (state.settings.tracing()) {
      TraceContext parent = TraceContext.parse(h.get(TRACEPARENT));
      trace = parent != null ? parent.child() : TraceContext.newRoot(true);
      h.set(TRACEPARENT, trace.traceparent());
    }
    // Framing towards the upstream, which is spoken to in HTTP/1.1 (or HTTP/2, whose codec drops
    // it): a body of known length keeps its Content-Length, one of unknown length is chunked.
    boolean full = req instanceof FullHttpRequest;
    if (full) {
      int length = ((FullHttpRequest) req).content().readableBytes();
      if (length > 0 || HttpUtil.isContentLengthSet(req)) {
        HttpUtil.setContentLength(req, length);
      }
    } else if (chunked || (http2 && !HttpUtil.isContentLengthSet(req))) {
      h.remove(HttpHeaderNames.CONTENT_LENGTH);
      h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    }
    HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, req.method(),
        route.rewriteUri(uri), h);
    call = new Call(state, route, upstream, head, start, clientAddress, keepAlive, upgrade, trace,
        uri, host);
    call.http10 = !http2 && req.protocolVersion().minorVersion() == 0;
    call.startAttempt();
  }

  /** {@code X-Forwarded-For}, {@code -Proto} and {@code -Host}: believed only from trusted proxies. */
  private void forwarded(HttpHeaders h, ProxyState state, InetAddress client, String clientHost) {
    boolean trusted = client != null && !state.trustedProxies.isEmpty()
        && state.trustedProxies.contains(client);
    String address = clientText;
    if (trusted) {
      List<String> prior = h.getAll(X_FORWARDED_FOR);
      if (prior.isEmpty()) {
        h.set(X_FORWARDED_FOR, address);
      } else {
        h.set(X_FORWARDED_FOR, String.join(", ", prior) + ", " + address);
      }
      if (!h.contains(X_FORWARDED_PROTO)) {
        h.set(X_FORWARDED_PROTO, tls ? "https" : "http");
      }
      if (!h.contains(X_FORWARDED_HOST) && clientHost != null) {
        h.set(X_FORWARDED_HOST, clientHost);
      }
    } else {
      h.set(X_FORWARDED_FOR, address);
      h.set(X_FORWARDED_PROTO, tls ? "https" : "http");
      if (clientHost != null) {
        h.set(X_FORWARDED_HOST, clientHost);
      } else {
        h.remove(X_FORWARDED_HOST);
      }
    }
  }

  /** Answers a request the proxy does not forward; its body, if any, is read and dropped. */
  private void refuse(HttpRequest req, HttpResponseStatus status, String reason, boolean close) {
    answer(req, error(status, reason), close);
  }

  private void answer(HttpRequest req, FullHttpResponse r, boolean close) {
    boolean keepAlive = !close && HttpUtil.isKeepAlive(req);
    if (!http2) {
      HttpUtil.setKeepAlive(r, keepAlive);
    }
    ctx.writeAndFlush(r).addListener(keepAlive || http2 ? ChannelFutureListener.CLOSE_ON_FAILURE
        : ChannelFutureListener.CLOSE);
    engine.accessLog(listener, null, req.method().name(), req.headers().get(HttpHeaderNames.HOST),
        req.uri(), http2, r.status().code(), 0, 0, 0, null, 0, ClientAddress.of(ctx.channel()),
        req.headers(), null, null);
  }

  private FullHttpResponse error(HttpResponseStatus status, String reason) {
    byte[] body = (status.code() + " " + status.reasonPhrase() + ": " + reason + "\n")
        .getBytes(StandardCharsets.UTF_8);
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
        Unpooled.wrappedBuffer(body));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN)
        .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    return r;
  }

  private void relayToUpstream(Object msg) {
    if (!(msg instanceof ByteBuf)) {
      ReferenceCountUtil.release(msg);
      return;
    }
    tunnel.writeAndFlush(msg).addListener(f -> {
      if (!f.isSuccess()) {
        ctx.close();
      } else if (!tunnel.isWritable()) {
        ctx.channel().config().setAutoRead(false);
      }
    });
    if (!tunnel.isWritable()) {
      ctx.channel().config().setAutoRead(false);
    }
  }

  private static boolean idempotent(HttpMethod m) {
    return m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD) || m.equals(HttpMethod.OPTIONS)
        || m.equals(HttpMethod.PUT) || m.equals(HttpMethod.DELETE) || m.equals(HttpMethod.TRACE);
  }

  /**
   * One request through the proxy, over one or more attempts. Owns the body chunks it holds:
   * {@link #pending} (read, not yet written anywhere) and {@link #replay} (written, kept for a
   * retry); both are released when the call ends.
   */
  private final class Call {
    final ProxyState state;
    final Route route;
    final UpstreamRuntime upstream;
    final RouteMeters meters;
    final HttpRequest head;
    final HttpMethod method;
    final long start;
    final InetSocketAddress client;
    /** Whether the client connection stays open after this response. */
    boolean keepAlive;
    /** An HTTP/1.0 client, which knows no chunked encoding. */
    boolean http10;
    final boolean upgrade;
    final TraceContext trace;
    final String uri;
    final String host;
    final HttpHeaders requestHeaders;
    final RouteSettings.Timeouts timeouts;
    final RouteSettings.Retry retry;

    final ArrayDeque<HttpContent> pending = new ArrayDeque<>(4);
    final List<ByteBuf> replay = new ArrayList<>(2);
    int replayBytes;
    long pendingBytes;
    boolean replayable = true;
    boolean requestDone;
    long bytesIn;
    long bytesOut;

    Attempt attempt;
    int attempts;
    final Set<Endpoint> tried = new HashSet<>(4);
    boolean retrying;
    boolean responseStarted;
    boolean responseHead;
    int status;
    boolean ended;
    String error;
    String upstreamAuthority;
    /** When the timer acts on this call ({@link Long#MAX_VALUE}: never). */
    long deadline = Long.MAX_VALUE;
    long lastActivity;
    boolean headOnly;

    Call(ProxyState state, Route route, UpstreamRuntime upstream, HttpRequest head,
        long start, InetSocketAddress client, boolean keepAlive,
        boolean upgrade, TraceContext trace, String uri, String host) {
      this.state = state;
      this.route = route;
      this.upstream = upstream;
      this.meters = state.meters(route, upstream.settings.name());
      this.head = head;
      this.method = head.method();
      this.start = start;
      this.client = client;
      this.keepAlive = keepAlive;
      this.upgrade = upgrade;
      this.trace = trace;
      this.uri = uri;
      this.host = host;
      this.requestHeaders = head.headers();
      this.timeouts = route.settings().timeouts();
      this.retry = route.settings().retry();
      this.headOnly = method.equals(HttpMethod.HEAD);
      state.inFlight.incrementAndGet();
      upstream.active.incrementAndGet();
    }

    void startAttempt() {
      attempts++;
      Attempt a = new Attempt(this);
      attempt = a;
      byte[] hashKey = upstream.settings.loadBalancing()
          == dev.sluice.http.upstream.LoadBalancing.CONSISTENT_HASH ? hashKey() : null;
      upstream.group.open(new StreamOptions(hashKey, ctx.channel().eventLoop(),
          tried.isEmpty() ? Set.of() : Set.copyOf(tried), timeouts.connect()), a);
    }

    private byte[] hashKey() {
      UpstreamSettings.HashKey by = upstream.settings.hashBy();
      String key;
      if (by == null || by.source() == UpstreamSettings.HashKey.Source.CLIENT_ADDRESS) {
        key = client == null ? null : client.getAddress().getHostAddress();
      } else if (by.source() == UpstreamSettings.HashKey.Source.HEADER) {
        key = requestHeaders.get(by.name());
      } else {
        key = cookie(requestHeaders, by.name());
      }
      return key == null ? null : key.getBytes(StandardCharsets.UTF_8);
    }

    /** A body chunk from the client. */
    void body(HttpContent content) {
      if (ended) {
        content.release();
        return;
      }
      if (content instanceof LastHttpContent) {
        requestDone = true;
      }
      int n = content.content().readableBytes();
      bytesIn += n;
      lastActivity = System.nanoTime();
      Attempt a = attempt;
      if (a != null && a.stream != null) {
        a.writeBody(content);
        if (requestDone) {
          a.requestSent();
        }
      } else {
        pending.add(content);
        pendingBytes += n;
        if (pendingBytes > MAX_REPLAY_BYTES) {
          // no connection yet: the body waits here, and no more of it is read meanwhile
          ctx.channel().config().setAutoRead(false);
        }
      }
    }

    void flushUpstream() {
      Attempt a = attempt;
      if (a != null && a.stream != null && a.unflushed) {
        a.unflushed = false;
        a.onStream(() -> a.stream.flush());
      }
    }

    void clientWritable(boolean writable) {
      Attempt a = attempt;
      if (a != null && a.stream != null) {
        a.onStream(() -> a.stream.setAutoRead(writable));
      }
    }

    void clientGone() {
      if (ended) {
        return;
      }
      Attempt a = attempt;
      if (a != null && a.stream != null) {
        UpstreamStream s = a.stream;
        a.onStream(() -> s.abort(false));
      }
      error = "client closed the connection";
      end(499);
    }

    /** Whether another attempt may be made after one failed; takes a retry slot if so. */
    boolean mayRetry(boolean reached) {
      if (ended || responseStarted || upgrade || attempts >= retry.attempts() || !replayable) {
        return false;
      }
      if (reached && !idempotent(method)) {
        return false;
      }
      if (retrying) {
        return true; // holds its slot already
      }
      if (!upstream.tryStartRetry(retry.budgetPercent(), retry.minRetries())) {
        return false;
      }
      retrying = true;
      return true;
    }

    void retryNow() {
      meters.retried();
      cancelTimer();
      startAttempt();
    }

    /** Answers the client with an error of the proxy's own, when no response was started. */
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
      FullHttpResponse r = error(status, reason);
      boolean close = !requestDone && !http2; // the rest of the body would be taken for a request
      if (!http2) {
        HttpUtil.setKeepAlive(r, keepAlive && !close);
      }
      boolean closing = close || (!keepAlive && !http2);
      ctx.writeAndFlush(r).addListener(closing
          ? ChannelFutureListener.CLOSE : ChannelFutureListener.CLOSE_ON_FAILURE);
      if (closing) {
        closed = true;
      }
      status(status.code());
      end(status.code());
    }

    private void status(int code) {
      status = code;
    }

    void armTimer(long nanos) {
      deadline = System.nanoTime() + nanos;
      if (tick == null || tickAt - deadline > 0) {
        if (tick != null) {
          tick.cancel(false);
        }
        tickAt = deadline;
        tick = ctx.executor().schedule(ProxyHandler.this::ticked, nanos, TimeUnit.NANOSECONDS);
      }
    }

    void cancelTimer() {
      deadline = Long.MAX_VALUE;
    }

    void timerFired() {
      deadline = Long.MAX_VALUE;
      if (ended) {
        return;
      }
      Attempt a = attempt;
      long now = System.nanoTime();
      if (!requestDone) {
        // the client's body is still coming: it must keep coming
        long idle = now - lastActivity;
        long limit = timeouts.write().toNanos();
        if (idle < limit) {
          armTimer(limit - idle);
          return;
        }
        if (a != null && a.stream != null) {
          UpstreamStream s = a.stream;
          a.stale = true;
          a.onStream(() -> s.abort(false));
        }
        fail(HttpResponseStatus.REQUEST_TIMEOUT, "request body stalled for "
            + millis(timeouts.write()));
        return;
      }
      if (!responseHead) {
        // no response head within the first-byte (or per-try) deadline
        if (a != null && a.stream != null) {
          UpstreamStream s = a.stream;
          a.stale = true;
          a.onStream(() -> s.abort(true));
        }
        if (mayRetry(true)) {
          retryNow();
          return;
        }
        fail(HttpResponseStatus.GATEWAY_TIMEOUT, "upstream " + (upstreamAuthority == null
            ? upstream.settings.name() : upstreamAuthority) + " sent no response within "
            + millis(firstByteTimeout()));
        return;
      }
      long idle = now - lastActivity;
      long limit = timeouts.read().toNanos();
      if (idle >= limit) {
        if (a != null && a.stream != null) {
          UpstreamStream s = a.stream;
          a.stale = true;
          a.onStream(() -> s.abort(true));
        }
        error = "upstream response stalled for " + millis(timeouts.read());
        end(status);
        ctx.close();
        return;
      }
      armTimer(limit - idle);
    }

    java.time.Duration firstByteTimeout() {
      return retry.perTryTimeout() != null ? retry.perTryTimeout() : timeouts.firstByte();
    }

    void end(int finalStatus) {
      if (ended) {
        return;
      }
      ended = true;
      cancelTimer();
      HttpContent c;
      while ((c = pending.poll()) != null) {
        c.release();
      }
      for (ByteBuf b : replay) {
        b.release();
      }
      replay.clear();
      if (retrying) {
        upstream.retryEnded();
      }
      upstream.active.decrementAndGet();
      state.inFlight.decrementAndGet();
      long duration = System.nanoTime() - start;
      meters.request(finalStatus >= 100 && finalStatus < 600 ? finalStatus : 0, duration);
      engine.accessLog(listener, route.name(), method.name(), host, uri, http2, finalStatus,
          bytesIn, bytesOut, duration, upstreamAuthority, attempts, client, requestHeaders,
          trace, error);
      if (trace != null) {
        engine.span(trace, start, duration, method.name(), host, uri, route.name(),
            upstreamAuthority, finalStatus, client, http2, error);
      }
      if (call == this) {
        if (tunnel == null) {
          next();
        }
      }
    }
  }

  /** One try of a call on one upstream connection; the upstream layer's handler for it. */
  private final class Attempt implements UpstreamStreamHandler {
    final Call call;
    UpstreamStream stream;
    /** Superseded (timed out, retried): whatever it still hears is dropped. */
    boolean stale;
    boolean unflushed;
    boolean reached;

    Attempt(Call call) {
      this.call = call;
    }

    private boolean current() {
      return !stale && call.attempt == this && !call.ended;
    }

    /** Runs on the stream's loop (this one, nearly always). */
    void onStream(Runnable r) {
      if (stream.eventLoop().inEventLoop()) {
        r.run();
      } else {
        stream.eventLoop().execute(r);
      }
    }

    @Override
    public void onOpen(UpstreamStream s) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onOpen(s));
        return;
      }
      if (!current()) {
        s.eventLoop().execute(() -> s.abort(false));
        return;
      }
      stream = s;
      call.upstreamAuthority = s.endpoint().authority();
      call.tried.add(s.endpoint());
      // The body kept from an earlier attempt is taken now: on a connection of another loop the
      // task below runs later, when the chunks written next have joined call.replay too.
      HttpContent[] again = new HttpContent[call.replay.size()];
      for (int i = 0; i < again.length; i++) {
        again[i] = new DefaultHttpContent(call.replay.get(i).retainedDuplicate());
      }
      HttpRequest head = call.head;
      onStream(() -> {
        s.write(head);
        for (HttpContent c : again) {
          s.write(c);
        }
      });
      HttpContent c;
      while ((c = call.pending.poll()) != null) {
        writeBody(c);
      }
      call.pendingBytes = 0;
      if (call.requestDone) {
        if (!hasLast()) {
          // the replayed body ended with the LastHttpContent: send an end for this attempt
          onStream(() -> s.write(LastHttpContent.EMPTY_LAST_CONTENT));
        }
        requestSent();
      } else {
        call.lastActivity = System.nanoTime();
        call.armTimer(call.timeouts.write().toNanos());
      }
      unflushed = false;
      onStream(s::flush);
      updateClientRead();
    }

    private boolean lastWritten;

    private boolean hasLast() {
      return lastWritten;
    }

    /** Writes a body chunk of the client's, keeping a copy for a retry while small enough. */
    void writeBody(HttpContent content) {
      ByteBuf data = content.content();
      if (call.replayable) {
        if (call.replayBytes + data.readableBytes() <= MAX_REPLAY_BYTES) {
          if (data.isReadable()) {
            call.replay.add(data.retainedDuplicate());
            call.replayBytes += data.readableBytes();
          }
        } else {
          call.replayable = false;
          for (ByteBuf b : call.replay) {
            b.release();
          }
          call.replay.clear();
        }
      }
      if (content instanceof LastHttpContent) {
        lastWritten = true;
      }
      UpstreamStream s = stream;
      onStream(() -> s.write(content));
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

    private void updateClientRead() {
      // After the request, reading goes on: a close is noticed, a pipelined request waits aside.
      boolean read = call.requestDone || stream.isWritable();
      if (read != ctx.channel().config().isAutoRead()) {
        ctx.channel().config().setAutoRead(read);
      }
    }

    @Override
    public void onOpenFailed(UpstreamException cause) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onOpenFailed(cause));
        return;
      }
      if (!current()) {
        return;
      }
      if (cause.endpoint() != null) {
        call.tried.add(cause.endpoint());
      }
      boolean neverSent = cause.kind() == UpstreamException.Kind.CONNECT_FAILED
          || cause.kind() == UpstreamException.Kind.TIMEOUT;
      if (neverSent && call.mayRetry(false)) {
        call.retryNow();
        return;
      }
      call.meters.upstreamFailure();
      switch (cause.kind()) {
        case CONNECT_FAILED:
          call.fail(HttpResponseStatus.BAD_GATEWAY, cause.getMessage());
          return;
        case TIMEOUT:
          call.fail(HttpResponseStatus.GATEWAY_TIMEOUT, cause.getMessage());
          return;
        default:
          call.fail(HttpResponseStatus.SERVICE_UNAVAILABLE, cause.getMessage());
      }
    }

    @Override
    public void onResponse(Object msg) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onResponse(msg));
        return;
      }
      if (switched) {
        // The call ended with the 101: what follows is the tunnel's, raw bytes relayed for as
        // long as the client is there (the HTTP end of the 101 response is dropped).
        if (!(msg instanceof ByteBuf) || closed) {
          ReferenceCountUtil.release(msg);
          return;
        }
        ctx.writeAndFlush(msg);
        if (!ctx.channel().isWritable()) {
          UpstreamStream s = stream;
          onStream(() -> s.setAutoRead(false));
        }
        return;
      }
      if (!current() || closed) {
        ReferenceCountUtil.release(msg);
        return;
      }
      call.lastActivity = System.nanoTime();
      if (skipLast && msg instanceof LastHttpContent) {
        skipLast = false; // the end of an informational response, already passed on whole
        ReferenceCountUtil.release(msg);
        return;
      }
      if (msg instanceof HttpResponse) {
        HttpResponse r = (HttpResponse) msg;
        int code = r.status().code();
        if (code < 200 && code != 101) {
          informational(r);
          return;
        }
        if (call.route.retriesOn(code) && call.mayRetry(true)) {
          ReferenceCountUtil.release(msg);
          stale = true;
          UpstreamStream s = stream;
          onStream(() -> s.complete(code));
          call.retryNow();
          return;
        }
        call.responseHead = true;
        call.status(code);
        if (code == 101) {
          if (!call.upgrade) {
            ReferenceCountUtil.release(msg);
            call.fail(HttpResponseStatus.BAD_GATEWAY, "upstream switched protocols unasked");
            UpstreamStream s = stream;
            onStream(() -> s.abort(true));
            return;
          }
          switchProtocols(r);
          return;
        }
        responseHead(r);
        if (msg instanceof HttpContent) {
          content((HttpContent) msg);
        }
        return;
      }
      if (msg instanceof HttpContent) {
        content((HttpContent) msg);
        return;
      }
      ReferenceCountUtil.release(msg);
    }

    private boolean skipLast;
    private boolean switched;

    private void informational(HttpResponse r) {
      // 100 Continue and the like: passed on whole, the final answer follows
      HopHeaders.strip(r.headers(), false);
      if (!(r instanceof LastHttpContent)) {
        skipLast = true;
      }
      ReferenceCountUtil.release(r);
      ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, r.status(),
          Unpooled.EMPTY_BUFFER, r.headers(),
          io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE));
    }

    private void responseHead(HttpResponse r) {
      HttpHeaders h = r.headers();
      boolean chunked = HttpUtil.isTransferEncodingChunked(r);
      HopHeaders.strip(h, false);
      if (stream.isHttp2()) {
        h.remove(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text());
        h.remove(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text());
      }
      if (!http2) {
        int code = r.status().code();
        boolean bodiless = call.headOnly || code == 204 || code == 304;
        if (!bodiless && !HttpUtil.isContentLengthSet(r)) {
          if (r instanceof LastHttpContent) {
            HttpUtil.setContentLength(r, ((LastHttpContent) r).content().readableBytes());
          } else if (call.http10) {
            // HTTP/1.0 knows no chunked encoding: the body ends where the connection does
            call.keepAlive = false;
          } else {
            // a body of unknown length: chunked, so the connection can carry the next request
            h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
          }
        }
        HttpUtil.setKeepAlive(r, call.keepAlive);
      }
      h.add(HttpHeaderNames.VIA, stream.isHttp2() ? call.state.via2 : call.state.via11);
      call.route.editResponseHeaders(h);
      call.responseStarted = true;
      if (r instanceof HttpContent) {
        // head and body in one object (an HTTP/2 response without a body): written below
        return;
      }
      ctx.write(r, ctx.voidPromise());
    }

    private void content(HttpContent c) {
      call.bytesOut += c.content().readableBytes();
      boolean last = c instanceof LastHttpContent;
      if (last) {
        if (http2 || call.keepAlive) {
          ctx.writeAndFlush(c, ctx.voidPromise()); // a failure closes the connection
        } else {
          ctx.writeAndFlush(c).addListener(ChannelFutureListener.CLOSE);
        }
        int code = call.status;
        UpstreamStream s = stream;
        onStream(() -> s.complete(code));
        call.end(code);
        return;
      }
      ctx.writeAndFlush(c, ctx.voidPromise());
      if (!ctx.channel().isWritable()) {
        UpstreamStream s = stream;
        onStream(() -> s.setAutoRead(false));
      }
    }

    /**
     * A WebSocket handshake answered: the 101 goes to the client, then both connections leave
     * HTTP and bytes are relayed as they are, until either side closes.
     */
    private void switchProtocols(HttpResponse r) {
      if (!stream.eventLoop().inEventLoop()) {
        // A tunnel splices two channels of one loop; a connection of another loop cannot be.
        ReferenceCountUtil.release(r);
        UpstreamStream s = stream;
        onStream(() -> s.abort(false));
        call.fail(HttpResponseStatus.BAD_GATEWAY, "cannot switch protocols across event loops");
        return;
      }
      HopHeaders.strip(r.headers(), true);
      ReferenceCountUtil.release(r);
      switched = true;
      call.responseStarted = true;
      // Written whole, so that the codec is back between messages when it is taken away.
      ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, r.status(),
          Unpooled.EMPTY_BUFFER, r.headers(),
          io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE))
          .addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
      ProtocolSwitch.toRawBytes(ctx.pipeline(), call.timeouts.idle());
      UpstreamStream s = stream;
      Channel upstreamChannel = s.upgrade();
      tunnel = upstreamChannel;
      upstreamChannel.closeFuture().addListener(x -> ctx.close());
      ctx.channel().closeFuture().addListener(x -> onStream(() -> s.complete(101)));
      ctx.channel().config().setAutoRead(true);
      call.end(101);
    }

    @Override
    public void onWritabilityChanged(boolean writable) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onWritabilityChanged(writable));
        return;
      }
      if (current() && !call.requestDone) {
        ctx.channel().config().setAutoRead(writable);
      } else if (tunnel != null) {
        ctx.channel().config().setAutoRead(writable);
      }
    }

    @Override
    public void onFailure(UpstreamException cause) {
      if (!ctx.executor().inEventLoop()) {
        ctx.executor().execute(() -> onFailure(cause));
        return;
      }
      if (tunnel != null && call.attempt == this) {
        ctx.close();
        return;
      }
      if (!current()) {
        return;
      }
      call.meters.upstreamFailure();
      if (!call.responseStarted && call.mayRetry(cause.reachedUpstream())) {
        call.retryNow();
        return;
      }
      call.fail(cause.kind() == UpstreamException.Kind.TIMEOUT
          ? HttpResponseStatus.GATEWAY_TIMEOUT : HttpResponseStatus.BAD_GATEWAY,
          cause.getMessage());
    }
  }

  static String cookie(HttpHeaders h, String name) {
    for (String header : h.getAll(HttpHeaderNames.COOKIE)) {
      for (io.netty.handler.codec.http.cookie.Cookie c
          : io.netty.handler.codec.http.cookie.ServerCookieDecoder.LAX.decode(header)) {
        if (c.name().equals(name)) {
          return c.value();
        }
      }
    }
    return null;
  }

  private static String millis(java.time.Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toMillis() / 1000 + " s" : d.toMillis() + " ms";
  }
}
