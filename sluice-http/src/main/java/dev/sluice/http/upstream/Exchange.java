package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.CompletableFuture;

/**
 * One request's journey through a group. Every field but {@link #done} and {@link #stream} belongs
 * to the group's control event loop; those two are also read by the connection's event loop.
 */
final class Exchange {
  final UpstreamRequest request;
  final CompletableFuture<UpstreamResponse> future = new CompletableFuture<>();
  /** A health check: not balanced, not counted in breaker, ejection or totals. */
  final boolean healthCheck;
  final long deadlineNanos;

  /** The caller of a streamed exchange ({@link UpstreamGroup#open}), or null. */
  UpstreamStreamHandler streamHandler;
  byte[] hashKey;
  io.netty.channel.EventLoop preferredLoop;
  java.util.Set<Endpoint> exclude = java.util.Set.of();
  /** A streamed exchange handed to its caller: from then on, the caller ends it. */
  boolean opened;

  /** The group's reference to the request body; null once released. */
  ByteBuf body;
  EndpointState endpoint;
  ScheduledFuture<?> timeout;
  /** The pool whose pending queue holds it, or null. */
  Pool queuedIn;
  /** The connection it was handed to (last attempt), or null. */
  Conn conn;
  /** Handed to a connection at least once: bytes may have reached the upstream. */
  boolean sent;
  /** Already retried once after a write that provably reached nothing. */
  boolean retried;
  /** The circuit breaker generation it was admitted in, or -1. */
  int breakerGeneration = -1;

  volatile boolean done;
  /** The HTTP/2 stream carrying it, set by the connection's event loop. */
  volatile Channel stream;

  /** Neighbours in the group's list of exchanges in progress; control loop only. */
  private Exchange prev;
  private Exchange next;

  /** The head of a list of exchanges: links to itself when empty. */
  static Exchange listHead() {
    Exchange head = new Exchange(null, false, 0);
    head.prev = head;
    head.next = head;
    return head;
  }

  /** On a list head: adds {@code ex}, unless listed already. */
  void link(Exchange ex) {
    if (ex.next != null) {
      return;
    }
    ex.prev = prev;
    ex.next = this;
    prev.next = ex;
    prev = ex;
  }

  /** On a list head: removes {@code ex}, if listed. */
  void unlink(Exchange ex) {
    if (ex.next == null) {
      return;
    }
    ex.prev.next = ex.next;
    ex.next.prev = ex.prev;
    ex.prev = null;
    ex.next = null;
  }

  /** On a list head: the exchanges listed now, in a copy safe to change the list while read. */
  java.util.List<Exchange> listed() {
    java.util.List<Exchange> all = new java.util.ArrayList<>();
    for (Exchange ex = next; ex != this; ex = ex.next) {
      all.add(ex);
    }
    return all;
  }

  Exchange(UpstreamRequest request, boolean healthCheck, long deadlineNanos) {
    this.request = request;
    this.body = request == null ? null : request.body();
    this.hashKey = request == null ? null : request.hashKey();
    this.healthCheck = healthCheck;
    this.deadlineNanos = deadlineNanos;
  }

  void releaseBody() {
    ByteBuf b = body;
    if (b != null) {
      body = null;
      b.release();
    }
  }
}
