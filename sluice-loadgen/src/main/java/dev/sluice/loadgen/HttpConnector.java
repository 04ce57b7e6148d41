package dev.sluice.loadgen;

import dev.sluice.http.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import javax.net.ssl.SSLException;

/**
 * Opens {@link HttpConnection}s to one server: plain TCP or TLS, {@code TCP_NODELAY}, on the event
 * loops of a group made by {@link Transport#newGroup} (epoll or NIO).
 *
 * <pre>{@code
 * EventLoopGroup group = Transport.best().newGroup(2, "client");
 * HttpConnector connector = new HttpConnector(group, "127.0.0.1", 4318, null, Duration.ofSeconds(5));
 * HttpConnection c = connector.connect().get(5, TimeUnit.SECONDS);
 * }</pre>
 *
 * <p>The host name is resolved once, here. Thread-safe.
 */
public final class HttpConnector {
  private final Bootstrap bootstrap;
  private final String host;
  private final int port;
  private final SslContext ssl;

  /**
   * @param ssl TLS client context ({@link #clientTls}), or null for plain HTTP
   * @throws IllegalArgumentException when {@code host} does not resolve
   */
  public HttpConnector(EventLoopGroup group, String host, int port, SslContext ssl,
      Duration connectTimeout) {
    this.host = Objects.requireNonNull(host, "host");
    this.port = port;
    this.ssl = ssl;
    InetSocketAddress address = new InetSocketAddress(host, port);
    if (address.isUnresolved()) {
      throw new IllegalArgumentException("cannot resolve host " + host);
    }
    bootstrap = new Bootstrap()
        .group(group)
        .channel(Transport.of(group).clientChannel())
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS,
            (int) Math.min(Integer.MAX_VALUE, Math.max(1, connectTimeout.toMillis())))
        .remoteAddress(address)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (ssl != null) {
              ch.pipeline().addLast(ssl.newHandler(ch.alloc(), host, port));
            }
            ch.pipeline().addLast(new HttpResponseDecoder());
            ch.pipeline().addLast(new HttpConnection.Handler());
          }
        });
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public boolean tls() {
    return ssl != null;
  }

  /** Connects on the next event loop of the group; completes after the TLS handshake, if any. */
  public CompletableFuture<HttpConnection> connect() {
    return connected(bootstrap.connect());
  }

  /** Connects on {@code loop}, which must belong to the group, so that the caller stays on it. */
  public CompletableFuture<HttpConnection> connect(EventLoop loop) {
    return connected(bootstrap.clone(loop).connect());
  }

  private static CompletableFuture<HttpConnection> connected(ChannelFuture f) {
    CompletableFuture<HttpConnection> done = new CompletableFuture<>();
    f.addListener((ChannelFuture cf) -> {
      if (!cf.isSuccess()) {
        done.completeExceptionally(cf.cause());
        return;
      }
      Channel ch = cf.channel();
      HttpConnection c = new HttpConnection(ch, ch.pipeline().get(HttpConnection.Handler.class));
      SslHandler tls = ch.pipeline().get(SslHandler.class);
      if (tls == null) {
        done.complete(c);
        return;
      }
      tls.handshakeFuture().addListener(hf -> {
        if (hf.isSuccess()) {
          done.complete(c);
        } else {
          ch.close();
          done.completeExceptionally(hf.cause());
        }
      });
    });
    return done;
  }

  /**
   * A TLS client context for HTTP/1.1: trusts the JDK's CAs, or only those in {@code caFile}
   * (PEM), and checks the server's name; {@code insecure} trusts any certificate and name.
   *
   * @throws IllegalArgumentException when the CA file cannot be read
   */
  public static SslContext clientTls(boolean insecure, Path caFile) {
    try {
      SslContextBuilder b = SslContextBuilder.forClient().protocols("TLSv1.3", "TLSv1.2");
      if (insecure) {
        b.trustManager(InsecureTrustManagerFactory.INSTANCE).endpointIdentificationAlgorithm(null);
      } else {
        if (caFile != null) {
          if (!Files.isReadable(caFile)) {
            throw new IllegalArgumentException("cannot read the CA file " + caFile);
          }
          b.trustManager(caFile.toFile());
        }
        b.endpointIdentificationAlgorithm("HTTPS");
      }
      return b.build();
    } catch (SSLException e) {
      throw new IllegalArgumentException("cannot set up TLS"
          + (caFile == null ? "" : " with the CA file " + caFile) + ": " + e.getMessage(), e);
    } catch (UncheckedIOException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }
}
