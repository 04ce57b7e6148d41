package dev.sluice.http.server;

import dev.sluice.http.tls.TlsSettings;
import dev.sluice.http.transport.Http2FrameCodecs;
import dev.sluice.http.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpServerUpgradeHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http2.CleartextHttp2ServerUpgradeHandler;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ServerUpgradeCodec;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.AsciiString;
import io.netty.util.Mapping;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An HTTP server on Netty that speaks HTTP/1.1 with keep-alive, HTTP/2 in cleartext (prior
 * knowledge and the h2c upgrade) and HTTP/2 or HTTP/1.1 over TLS by ALPN, and hands each request to
 * the application's handler as HTTP/1-style objects whatever the protocol.
 *
 * <p>Connection pipeline, cleartext: {@code connection-limit -> [proxy-protocol | acl] -> idle
 * -> raw-bytes -> head-scan -> [h2c] -> HttpServerCodec -> validate -> [h2c upgrade] ->
 * keep-alive -> guard -> application}; {@link RequestValidator} refuses requests open to
 * smuggling. On TLS, {@code (ssl | sni) -> alpn} picks the HTTP/1.1 tail above or {@code
 * Http2FrameCodec -> Http2MultiplexHandler}, whose streams each run {@code
 * Http2StreamFrameToHttpObjectCodec -> guard -> application}. Certificates can be replaced while
 * the server runs ({@link #reloadTls()}). With a raw HTTP/1.1 handler ({@link #rawHttp1}), the
 * HTTP/1.1 tail is that handler alone until it hands the connection over; with a raw HTTP/2
 * handler ({@link #rawHttp2}), it sits between {@code Http2FrameCodec} and {@code
 * Http2MultiplexHandler} and serves the streams it takes without a stream channel.
 */
public final class HttpServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
  /** Largest body of an h2c upgrade request; larger ones are served over HTTP/1.1. */
  private static final int MAX_UPGRADE_BODY = 1 << 20;
  /** The name of a raw HTTP/1.1 handler in a connection's pipeline. */
  private static final String RAW_HTTP1 = "raw-http1";
  /** Largest TLS ClientHello the SNI handler reads before it gives up. */
  private static final int MAX_CLIENT_HELLO = 16 * 1024;

  private final HttpServerSettings settings;
  private final RequestHandlerFactory handlers;
  private final ErrorResponder errors;
  /** Certificates by server name for new connections; null in cleartext. Swapped on reload. */
  private volatile Mapping<String, SslContext> tlsContexts;
  private volatile TlsSettings tls;
  private final ConnectionLimiter limiter;
  private final ConnectionAcl acl;
  private final Transport transport;
  private final boolean ownsGroups;
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private Channel serverChannel;
  private volatile RawHttp1HandlerFactory rawHttp1;
  private volatile RawHttp2HandlerFactory rawHttp2;
  private final AtomicBoolean closed = new AtomicBoolean();

  /**
   * A server with event loops of its own.
   *
   * @throws IllegalArgumentException when the TLS material cannot be loaded
   */
  public HttpServer(HttpServerSettings settings, RequestHandlerFactory handlers,
      ErrorResponder errors) {
    this(settings, handlers, errors, null, null);
  }

  /**
   * A server on the given event loops, which the caller shuts down; its channels are of the kind
   * the loops run ({@link Transport#of}).
   *
   * @throws IllegalArgumentException when the TLS material cannot be loaded, or only one group is
   *     given, or the groups are of different or unsupported kinds
   */
  public HttpServer(HttpServerSettings settings, RequestHandlerFactory handlers,
      ErrorResponder errors, EventLoopGroup boss, EventLoopGroup workers) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.handlers = Objects.requireNonNull(handlers, "handlers");
    this.errors = Objects.requireNonNull(errors, "errors");
    this.tls = settings.tls();
    this.tlsContexts = tls == null ? null : tls.serverContexts(settings.http2());
    this.limiter = new ConnectionLimiter(settings.maxConnections());
    this.acl = new ConnectionAcl(settings.allow(), settings.deny());
    if ((boss == null) != (workers == null)) {
      throw new IllegalArgumentException("give both event loop groups or neither");
    }
    this.ownsGroups = boss == null;
    if (ownsGroups) {
      this.transport = Transport.best();
    } else {
      // The channels must be of the kind the caller's event loops run.
      this.transport = Transport.of(workers);
      if (Transport.of(boss) != transport) {
        throw new IllegalArgumentException("the accept and I/O event loops are of different"
            + " kinds: " + Transport.of(boss) + " and " + transport);
      }
    }
    this.boss = boss != null ? boss : transport.newGroup(1, "sluice-accept");
    this.workers = workers != null ? workers : transport.newGroup(settings.ioThreads(), "sluice-io");
  }

  /**
   * Binds the listening socket.
   *
   * @throws java.io.UncheckedIOException when the address cannot be bound; the message names it
   */
  public HttpServer start() {
    ServerBootstrap b =
        new ServerBootstrap()
            .group(boss, workers)
            .channel(transport.serverChannel())
            .option(ChannelOption.SO_BACKLOG, 1024)
            .option(ChannelOption.SO_REUSEADDR, true)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.SO_KEEPALIVE, true)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    initConnection(ch);
                  }
                });
    try {
      serverChannel = b.bind(settings.address()).syncUninterruptibly().channel();
    } catch (Exception e) {
      if (ownsGroups) {
        boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
        workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      }
      throw new java.io.UncheckedIOException(
          "cannot listen on " + settings.address().getHostString() + ":"
              + settings.address().getPort() + ": " + e.getMessage(),
          e instanceof java.io.IOException ? (java.io.IOException) e : new java.io.IOException(e));
    }
    return this;
  }

  /**
   * Has HTTP/1.1 connections read by the given raw handler first, which hands a connection to the
   * server's own handlers when it meets a request it does not take; for connections accepted from
   * now on.
   */
  public HttpServer rawHttp1(RawHttp1HandlerFactory factory) {
    this.rawHttp1 = Objects.requireNonNull(factory, "factory");
    return this;
  }

  /**
   * Has the frames and stream events of HTTP/2 connections seen by the given handler first, between
   * the HTTP/2 codec and the per-stream channels, so that it may serve streams itself; for
   * connections accepted from now on.
   */
  public HttpServer rawHttp2(RawHttp2HandlerFactory factory) {
    this.rawHttp2 = Objects.requireNonNull(factory, "factory");
    return this;
  }

  /** The bound address (with the real port when 0 was asked for). */
  public InetSocketAddress localAddress() {
    return (InetSocketAddress) serverChannel.localAddress();
  }

  public Transport transport() {
    return transport;
  }

  public HttpServerSettings settings() {
    return settings;
  }

  /**
   * Reads the certificate and key files of the TLS settings again, for new connections;
   * connections open now keep the certificates they started with.
   *
   * @throws IllegalStateException when the server does not use TLS
   * @throws IllegalArgumentException when a file is missing or does not hold what it should (the
   *     message names the file); the certificates in use are kept
   */
  public void reloadTls() {
    reloadTls(tls);
  }

  /**
   * Takes new TLS settings, such as other SNI certificates, for new connections; connections
   * open now keep the certificates they started with.
   *
   * @throws IllegalStateException when the server does not use TLS
   * @throws IllegalArgumentException when a file is missing or does not hold what it should (the
   *     message names the file); the settings and certificates in use are kept
   */
  public synchronized void reloadTls(TlsSettings newTls) {
    if (tlsContexts == null) {
      throw new IllegalStateException("this server listens in cleartext: there is no TLS to"
          + " reload");
    }
    Objects.requireNonNull(newTls, "tls");
    Mapping<String, SslContext> contexts = newTls.serverContexts(settings.http2());
    tls = newTls;
    tlsContexts = contexts;
  }

  /** The TLS settings in use (those of the last reload), or null in cleartext. */
  public TlsSettings tls() {
    return tls;
  }

  /** Connections open now. */
  public int openConnections() {
    return limiter.open();
  }

  /** Connections closed at once because the cap was reached, since start. */
  public int refusedConnections() {
    return limiter.refused();
  }

  /** Connections closed at once because the client address is not allowed, since start. */
  public int deniedConnections() {
    return acl.denied();
  }

  private void initConnection(SocketChannel ch) {
    connections.add(ch);
    ChannelPipeline p = ch.pipeline();
    p.addLast("connection-limit", limiter);
    if (!settings.proxyProtocolSources().isEmpty()) {
      p.addLast("proxy-protocol", new ProxyProtocolHandler(settings.proxyProtocolSources(), acl));
    } else if (acl.active()) {
      p.addLast("acl", acl);
    }
    // Reader idleness only: watching writes would cost a promise and a listener per write, and a
    // connection with a response in progress is never closed as idle anyway.
    p.addLast("idle", new IdleStateHandler(settings.idleTimeout().toMillis(), 0, 0,
        TimeUnit.MILLISECONDS));
    Mapping<String, SslContext> contexts = tlsContexts;
    if (contexts != null) {
      long handshakeTimeout = settings.headerTimeout().toMillis();
      if (tls.sniCertificates().isEmpty()) {
        SslHandler ssl = contexts.map(null).newHandler(ch.alloc());
        ssl.setHandshakeTimeoutMillis(handshakeTimeout);
        p.addLast("ssl", ssl);
      } else {
        // Reads the server name from the ClientHello, then puts the SslHandler of its
        // certificate in its own place.
        p.addLast("sni", new SniHandler(contexts, MAX_CLIENT_HELLO, handshakeTimeout));
      }
      p.addLast("alpn", new ApplicationProtocolNegotiationHandler(ApplicationProtocolNames.HTTP_1_1) {
        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
          if (ApplicationProtocolNames.HTTP_2.equals(protocol) && settings.http2()) {
            addHttp2(ctx.pipeline(), true);
          } else {
            addHttp1(ctx.pipeline(), false, true);
          }
        }

        @Override
        protected void handshakeFailure(ChannelHandlerContext ctx, Throwable cause) {
          log.debug("TLS handshake with {} failed: {}", ctx.channel().remoteAddress(),
              cause.toString());
          ctx.close();
        }
      });
    } else {
      addHttp1(p, settings.http2(), false);
    }
  }

  private void addHttp1(ChannelPipeline p, boolean h2c, boolean overTls) {
    RawHttp1HandlerFactory raw = rawHttp1;
    if (raw != null) {
      p.addLast(RAW_HTTP1, raw.newHandler(
          new Http1Fallback(settings, errors, pipeline -> addHttp1(pipeline, h2c)), overTls));
      return;
    }
    addHttp1(p, h2c);
  }

  private void addHttp1(ChannelPipeline p, boolean h2c) {
    RequestGuard guard = new RequestGuard(settings, errors, false);
    RequestValidator validator = new RequestValidator();
    p.addLast("raw-bytes", guard.rawBytesWatcher());
    p.addLast("head-scan", validator.rawSide());
    HttpServerCodec codec = new HttpServerCodec(RequestValidator.decoderConfig(settings));
    if (h2c) {
      HttpServerUpgradeHandler.UpgradeCodecFactory upgrades =
          protocol ->
              AsciiString.contentEquals(Http2CodecUtil.HTTP_UPGRADE_PROTOCOL_NAME, protocol)
                  ? new Http2ServerUpgradeCodec(http2FrameCodec(), http2Tail(false))
                  : null;
      // The upgrade request is held whole by the upgrade handler until the switch. One with a
      // larger or unknown body (the JDK client adds the upgrade to whatever its first request
      // is) is served as the HTTP/1.1 request it also is, rather than refused with a 413.
      HttpServerUpgradeHandler upgrade =
          new HttpServerUpgradeHandler(codec, upgrades, MAX_UPGRADE_BODY) {
            @Override
            protected boolean shouldHandleUpgradeRequest(HttpRequest req) {
              if (req.decoderResult().isFailure() || !super.shouldHandleUpgradeRequest(req)
                  || HttpUtil.isTransferEncodingChunked(req)) {
                return false;
              }
              try {
                return HttpUtil.getContentLength(req, 0L) <= MAX_UPGRADE_BODY;
              } catch (NumberFormatException e) {
                return false; // the HTTP/1.1 path answers it
              }
            }
          };
      p.addLast("h2c", new CleartextHttp2ServerUpgradeHandler(codec, upgrade,
          new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              addHttp2(ch.pipeline(), false);
            }
          }));
      // The h2c handler has put the codec and the upgrade handler behind itself.
      p.addAfter(p.context(codec).name(), "validate", validator);
    } else {
      p.addLast("codec", codec);
      p.addLast("validate", validator);
    }
    p.addLast("keep-alive", new HttpServerKeepAliveHandler());
    p.addLast("guard", guard);
    p.addLast("upgrade-watch", new UpgradeWatcher());
    p.addLast("app", handlers.newHandler(false));
  }

  private void addHttp2(ChannelPipeline p, boolean overTls) {
    p.addLast(http2FrameCodec());
    p.addLast(http2Tail(overTls));
    p.addLast("h2-idle", new Http2IdleCloser());
  }

  /** What follows the HTTP/2 codec: the raw stream handler, if any, and the multiplexer. */
  private ChannelHandler[] http2Tail(boolean overTls) {
    RawHttp2HandlerFactory raw = rawHttp2;
    return raw == null ? new ChannelHandler[] {http2Multiplexer()}
        : new ChannelHandler[] {raw.newHandler(overTls), http2Multiplexer()};
  }

  private Http2FrameCodec http2FrameCodec() {
    return Http2FrameCodecs.forServer()
        .initialSettings(
            Http2Settings.defaultSettings()
                .maxConcurrentStreams(settings.maxConcurrentStreams())
                .maxHeaderListSize(settings.maxHeaderSize()))
        .validateHeaders(true)
        .build();
  }

  private Http2MultiplexHandler http2Multiplexer() {
    return new Http2MultiplexHandler(
        new ChannelInitializer<Http2StreamChannel>() {
          @Override
          protected void initChannel(Http2StreamChannel ch) {
            ch.pipeline().addLast("h2-to-http", new Http2StreamFrameToHttpObjectCodec(true));
            ch.pipeline().addLast("guard", new RequestGuard(settings, errors, true));
            ch.pipeline().addLast("app", handlers.newHandler(true));
          }
        });
  }

  /**
   * After a switch to HTTP/2 on a cleartext connection, removes the HTTP/1.1 handlers that are
   * left behind the HTTP/2 codec, since every request now arrives on a stream of its own.
   */
  private static final class UpgradeWatcher extends io.netty.channel.ChannelInboundHandlerAdapter {
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof HttpServerUpgradeHandler.UpgradeEvent
          || evt instanceof CleartextHttp2ServerUpgradeHandler.PriorKnowledgeUpgradeEvent) {
        ChannelPipeline p = ctx.pipeline();
        for (String name :
            new String[] {"keep-alive", "guard", "raw-bytes", "head-scan", "validate", "app"}) {
          if (p.get(name) != null) {
            p.remove(name);
          }
        }
        if (p.get(Http2IdleCloser.class) == null) {
          p.addLast("h2-idle", new Http2IdleCloser());
        }
        p.remove(this);
      }
      ctx.fireUserEventTriggered(evt);
    }
  }

  /**
   * Closes an HTTP/2 connection that went idle with no stream open; the last handler of the
   * connection's pipeline, it also ends the connection on errors the HTTP/2 codec passes on (a
   * protocol error by the client, a reset), which would otherwise be logged as unhandled.
   */
  private static final class Http2IdleCloser extends io.netty.channel.ChannelInboundHandlerAdapter {
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      log.debug("HTTP/2 connection {} failed: {}", ctx.channel().remoteAddress(),
          cause.toString());
      ctx.close();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof IdleStateEvent) {
        Http2FrameCodec codec = ctx.pipeline().get(Http2FrameCodec.class);
        if (codec == null || codec.connection().numActiveStreams() == 0) {
          ctx.close();
        }
        return;
      }
      ctx.fireUserEventTriggered(evt);
    }
  }

  /**
   * Stops accepting, lets requests in progress finish for up to {@code drain}, then closes every
   * connection. Idle connections are closed at once; an HTTP/2 connection with streams open is
   * sent a GOAWAY and closed when its last stream ends. Idempotent.
   */
  public void close(Duration drain) {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    if (serverChannel != null) {
      serverChannel.close().syncUninterruptibly();
    }
    long deadline = System.nanoTime() + drain.toNanos();
    // Idle keep-alive connections are closed now; busy ones get until the deadline. Each check
    // runs on the connection's event loop, which owns the state it reads.
    while (!connections.isEmpty() && System.nanoTime() < deadline) {
      for (Channel c : connections) {
        try {
          c.eventLoop().execute(() -> closeIfIdle(c));
        } catch (RejectedExecutionException e) {
          c.close(); // an event loop of the caller's that is shutting down already
        }
      }
      long leftMillis = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      connections.newCloseFuture().awaitUninterruptibly(Math.max(1, Math.min(50, leftMillis)));
    }
    connections.close().awaitUninterruptibly();
    if (ownsGroups) {
      boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
      workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  /** On the connection's event loop: closes it unless a request is in progress on it. */
  private static void closeIfIdle(Channel c) {
    if (!c.isActive()) {
      c.close();
      return;
    }
    ChannelPipeline p = c.pipeline();
    if (p.get(RAW_HTTP1) instanceof DrainAware) {
      if (((DrainAware) p.get(RAW_HTTP1)).idle()) {
        c.close();
      }
      return;
    }
    RequestGuard guard = p.get(RequestGuard.class);
    if (guard != null) {
      if (guard.idle()) {
        c.close();
      }
      return;
    }
    Http2FrameCodec h2 = p.get(Http2FrameCodec.class);
    if (h2 != null) {
      if (h2.connection().numActiveStreams() == 0) {
        c.close();
      } else if (!h2.connection().goAwaySent()) {
        // No new streams, please; the ones open may finish.
        c.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
      }
      return;
    }
    c.close(); // TLS handshake not finished, or nothing read yet
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(5));
  }
}
