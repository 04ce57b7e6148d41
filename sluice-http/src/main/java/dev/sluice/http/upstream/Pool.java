package dev.sluice.http.upstream;

import io.netty.channel.ChannelFuture;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The connections to one endpoint and the requests waiting for one. HTTP/1.1 connections carry one
 * exchange at a time and return to {@link #idle} (most recently used first) after a complete,
 * keep-alive response; HTTP/2 connections carry up to their {@code maxStreams} exchanges at once.
 *
 * <p>Requests that find no free connection wait in {@link #pending}, in order; a new connection is
 * opened for them while the limits allow (one per waiting request over HTTP/1.1, one at a time
 * over HTTP/2 and while ALPN has not yet told which protocol the endpoint speaks). When a
 * connection attempt fails and no other connection is open or being opened, every waiting request
 * fails with CONNECT_FAILED: nothing else could serve them.
 *
 * <p>Control event loop only: every method runs there, and connections report to it by posting.
 */
final class Pool {
  final UpstreamGroup group;
  final EndpointState ep;
  /** The health checks' pool: one connection, no pending limit, nothing counted. */
  final boolean health;
  private final int maxHttp1;
  private final int maxHttp2;

  private final ArrayDeque<Exchange> pending = new ArrayDeque<>();
  private final ArrayDeque<Conn> idle = new ArrayDeque<>();
  private final List<Conn> http2 = new ArrayList<>();
  private final Set<Conn> all = new LinkedHashSet<>();
  private int connecting;
  private int ready;
  private int http1Ready;
  /** What the last connection made spoke, once one was made: ALPN's answer. */
  private Boolean knownHttp2;

  Pool(UpstreamGroup group, EndpointState ep, boolean health) {
    this.group = group;
    this.ep = ep;
    this.health = health;
    this.maxHttp1 = health ? 1 : group.maxConnectionsPerEndpoint;
    this.maxHttp2 = health ? 1 : group.http2ConnectionsPerEndpoint;
  }

  int pendingCount() {
    return pending.size();
  }

  int openConnections() {
    return ready;
  }

  /** Whether {@link #submit} would take a request now rather than refuse it as overload. */
  boolean hasRoom() {
    return health || (pending.isEmpty() && (!idle.isEmpty() || http2Free() != null))
        || group.pendingTotal < group.maxPendingRequests;
  }

  /** Starts the exchange on a free connection, or queues it and opens connections as allowed. */
  void submit(Exchange ex) {
    if (pending.isEmpty()) {
      Conn c = free(ex.preferredLoop);
      if (c != null) {
        c.start(ex);
        return;
      }
    }
    enqueue(ex, false);
    maybeConnect();
  }

  /**
   * A free connection for an exchange that prefers {@code loop}: one on that loop if any; else,
   * while the limit allows a new connection, none (so that one opens on that loop: the pool grows a
   * connection per event loop and exchanges stay on their caller's thread); else any.
   */
  private Conn free(io.netty.channel.EventLoop loop) {
    if (loop == null) {
      return free();
    }
    for (Conn c : http2) {
      if (c.active < c.maxStreams && c.channel.eventLoop() == loop) {
        return c;
      }
    }
    var it = idle.descendingIterator();
    while (it.hasNext()) {
      Conn c = it.next();
      if (c.channel.eventLoop() == loop) {
        it.remove();
        return c;
      }
    }
    // HTTP/2 connections multiplex: any free one will do.
    return !expectHttp2() && http1Ready + connecting < maxHttp1 ? null : free();
  }

  /**
   * Sends again an exchange whose write provably reached nothing (a stale connection), ahead of
   * the others. The idle connections, likely as stale, are closed first, so that it gets a fresh
   * connection or one that has just proved alive by completing a response.
   */
  void retry(Exchange ex) {
    for (Conn c : new ArrayList<>(idle)) {
      close(c);
    }
    enqueue(ex, true);
    drain();
  }

  private void enqueue(Exchange ex, boolean first) {
    if (first) {
      pending.addFirst(ex);
    } else {
      pending.addLast(ex);
    }
    ex.queuedIn = this;
    if (!health) {
      group.pendingTotal++;
    }
  }

  private void dequeued(Exchange ex) {
    ex.queuedIn = null;
    if (!health) {
      group.pendingTotal--;
    }
  }

  /** Takes a finished exchange out of the queue. */
  void remove(Exchange ex) {
    if (pending.remove(ex)) {
      dequeued(ex);
    }
  }

  /** Hands waiting exchanges to free connections, then opens more if they are still waiting. */
  void drain() {
    while (!pending.isEmpty()) {
      Conn c = free(pending.peekFirst().preferredLoop);
      if (c == null) {
        break;
      }
      Exchange ex = pending.pollFirst();
      dequeued(ex);
      c.start(ex);
    }
    maybeConnect();
  }

  private Conn free() {
    Conn c = http2Free();
    return c != null ? c : idle.pollLast();
  }

  private Conn http2Free() {
    for (Conn c : http2) {
      if (c.active < c.maxStreams) {
        return c;
      }
    }
    return null;
  }

  private void maybeConnect() {
    if (pending.isEmpty() || group.isShutdown()) {
      return;
    }
    if (expectHttp2()) {
      // One connection takes many streams: another only when all are full.
      if (connecting == 0 && http2.size() < maxHttp2 && http2Free() == null) {
        connect();
      }
      return;
    }
    int skip = connecting;
    for (Exchange ex : pending) {
      if (http1Ready + connecting >= maxHttp1) {
        break;
      }
      if (skip > 0) {
        skip--; // served by a connection being opened already
        continue;
      }
      connect(ex.preferredLoop);
    }
  }

  private boolean expectHttp2() {
    return group.priorKnowledge(ep)
        || (group.offersHttp2(ep) && !Boolean.FALSE.equals(knownHttp2));
  }

  private void connect() {
    connect(pending.isEmpty() ? null : pending.peekFirst().preferredLoop);
  }

  private void connect(io.netty.channel.EventLoop loop) {
    Conn c = new Conn(this);
    all.add(c);
    connecting++;
    if (!health) {
      group.connectionOpened();
    }
    c.connect(loop);
  }

  // ---- reports from connections, posted to the control loop ----

  void connected(Conn c, boolean isHttp2, int maxStreams) {
    if (c.state != Conn.State.CONNECTING) {
      return; // closed meanwhile
    }
    connecting--;
    if (group.isShutdown()) {
      c.state = Conn.State.CLOSED;
      all.remove(c);
      c.channel.close();
      return;
    }
    c.state = Conn.State.READY;
    c.http2 = isHttp2;
    c.lastUsed = System.nanoTime();
    knownHttp2 = isHttp2;
    ready++;
    if (isHttp2) {
      c.maxStreams = Math.max(1, Math.min(maxStreams, group.maxConcurrentStreams));
      http2.add(c);
    } else {
      http1Ready++;
      idle.addLast(c);
    }
    drain();
  }

  void connectFailed(Conn c, Throwable cause) {
    if (c.state != Conn.State.CONNECTING) {
      return;
    }
    c.state = Conn.State.CLOSED;
    connecting--;
    all.remove(c);
    c.channel.close();
    if (connecting == 0 && ready == 0) {
      failPending(UpstreamException.Kind.CONNECT_FAILED,
          "cannot connect to " + ep.endpoint.authority() + ": " + describe(cause), cause);
    }
  }

  /** The connection's channel closed. */
  void closed(Conn c, Throwable cause) {
    if (c.state == Conn.State.CONNECTING) {
      connectFailed(c, cause != null ? cause
          : new java.nio.channels.ClosedChannelException());
      return;
    }
    if (c.state == Conn.State.READY) {
      forget(c);
      drain();
    }
  }

  void maxStreams(Conn c, int maxStreams) {
    c.maxStreams = Math.max(1, Math.min(maxStreams, group.maxConcurrentStreams));
    drain();
  }

  /** An HTTP/2 GOAWAY: no new streams on this connection; it closes when its last one ends. */
  void goAway(Conn c) {
    if (c.state != Conn.State.READY || c.draining) {
      return;
    }
    c.draining = true;
    http2.remove(c);
    if (c.active == 0) {
      close(c);
    }
    drain();
  }

  void http1Responded(Conn c, Exchange ex, UpstreamResponse response, boolean reusable) {
    http1Done(c, ex, reusable);
    group.succeed(ex, response);
  }

  /** An HTTP/1.1 connection's exchange is over: the connection goes back idle, or is closed. */
  private void http1Done(Conn c, Exchange ex, boolean reusable) {
    if (c.current == ex) {
      c.current = null;
      if (reusable && c.state == Conn.State.READY && !group.isShutdown()) {
        c.lastUsed = System.nanoTime();
        idle.addLast(c);
      } else {
        close(c);
      }
    } else {
      close(c);
    }
    drain();
  }

  void http1Failed(Conn c, Exchange ex, UpstreamException.Kind kind, String message,
      Throwable cause, boolean reached, boolean retryable) {
    if (c.current == ex) {
      c.current = null;
    }
    close(c);
    afterFailure(ex, kind, message, cause, reached, retryable);
  }

  /** A streamed exchange on an HTTP/1.1 connection ended; the connection may be reused. */
  void http1StreamEnded(Conn c, Exchange ex, boolean reusable, boolean counted, boolean failure) {
    http1Done(c, ex, reusable);
    group.streamEnded(ex, counted, failure);
  }

  /** A streamed exchange on an HTTP/2 stream ended. */
  void http2StreamEnded(Conn c, Exchange ex, boolean counted, boolean failure) {
    streamEnded(c);
    drain();
    group.streamEnded(ex, counted, failure);
  }

  void streamResponded(Conn c, Exchange ex, UpstreamResponse response) {
    streamEnded(c);
    drain();
    group.succeed(ex, response);
  }

  void streamFailed(Conn c, Exchange ex, UpstreamException.Kind kind, String message,
      Throwable cause, boolean reached, boolean retryable) {
    streamEnded(c);
    afterFailure(ex, kind, message, cause, reached, retryable);
  }

  private void streamEnded(Conn c) {
    c.active--;
    c.lastUsed = System.nanoTime();
    if (c.draining && c.active == 0) {
      close(c);
    }
  }

  private void afterFailure(Exchange ex, UpstreamException.Kind kind, String message,
      Throwable cause, boolean reached, boolean retryable) {
    if (retryable && !ex.retried && !ex.done && !group.isShutdown()) {
      ex.retried = true;
      retry(ex);
      return;
    }
    drain();
    group.fail(ex, kind, message, cause, reached);
  }

  // ---- housekeeping ----

  /** Closes a connection and forgets it; its exchange, if any, is the caller's business. */
  void close(Conn c) {
    if (c.state == Conn.State.CLOSED) {
      return;
    }
    if (c.state == Conn.State.CONNECTING) {
      connecting--;
      c.state = Conn.State.CLOSED;
      all.remove(c);
    } else {
      forget(c);
    }
    c.channel.close();
  }

  private void forget(Conn c) {
    c.state = Conn.State.CLOSED;
    all.remove(c);
    ready--;
    if (c.http2) {
      http2.remove(c);
    } else {
      http1Ready--;
      idle.remove(c);
    }
  }

  private void failPending(UpstreamException.Kind kind, String message, Throwable cause) {
    while (!pending.isEmpty()) {
      Exchange ex = pending.pollFirst();
      dequeued(ex);
      group.fail(ex, kind, message, cause, false);
    }
  }

  /** Closes connections that carried nothing for {@code idleNanos}. */
  void sweep(long now, long idleNanos) {
    for (Conn c : new ArrayList<>(idle)) {
      if (now - c.lastUsed > idleNanos) {
        close(c);
      }
    }
    for (Conn c : new ArrayList<>(http2)) {
      if (c.active == 0 && now - c.lastUsed > idleNanos) {
        close(c);
      }
    }
  }

  /** Fails the waiting exchanges with CLOSED and closes every connection. */
  void shutdown(List<ChannelFuture> closing) {
    failPending(UpstreamException.Kind.CLOSED, "the upstream group is closed", null);
    for (Conn c : new ArrayList<>(all)) {
      close(c);
      closing.add(c.channel.closeFuture());
    }
  }

  static String describe(Throwable t) {
    if (t == null) {
      return "closed";
    }
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c
        && (c.getMessage() == null || c instanceof io.netty.handler.codec.DecoderException)) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.getClass().getSimpleName()
        : c.getClass().getSimpleName() + ": " + c.getMessage();
  }
}
