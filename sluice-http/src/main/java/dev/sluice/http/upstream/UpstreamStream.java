package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpObject;

/**
 * One request streamed to an endpoint over a connection (HTTP/1.1) or stream (HTTP/2) the group
 * has lent: the caller writes the request head and body as HTTP/1-style objects, whatever the
 * protocol, and reads the response through its {@link UpstreamStreamHandler}. Every call must be
 * made on {@link #eventLoop()}.
 *
 * <p>The caller ends the stream exactly once: {@link #complete} when the whole request was written
 * and the whole response read (the connection goes back to the pool when it can carry another
 * request), or {@link #abort} otherwise (the connection is closed or the stream reset). A stream
 * that the group reports failed ({@link UpstreamStreamHandler#onFailure}) is ended already.
 *
 * <p>Over HTTP/1.1 the caller may instead take the exchange's bytes raw ({@link #rawBytes}): it
 * frames the request itself, reads the response as it came off the wire, and ends the exchange
 * with {@link #completeRaw} or {@link #abort}. The connection's HTTP codec sees none of it, so a
 * connection goes on serving raw and ordinary exchanges in any order.
 */
public interface UpstreamStream {
  /** The endpoint this stream goes to. */
  Endpoint endpoint();

  /** True over HTTP/2. */
  boolean isHttp2();

  /** True when the connection served earlier requests (it was reused from the pool). */
  boolean reused();

  /** The event loop of the connection, where every call to this stream must be made. */
  EventLoop eventLoop();

  /**
   * Writes part of the request. The caller hands its reference to {@code msg} over. The head goes
   * as given: the caller has set Host, the request-target and the framing headers. A write that
   * fails breaks the connection, which {@link UpstreamStreamHandler#onFailure} reports.
   *
   * @throws IllegalStateException in raw mode (the message is released)
   */
  void write(HttpObject msg);

  void flush();

  /** Whether the connection takes more writes now without queueing them in memory. */
  boolean isWritable();

  /**
   * Turns reading of the response on or off: off while the caller cannot pass the response on as
   * fast as it comes (backpressure), on again when it can.
   */
  void setAutoRead(boolean autoRead);

  /**
   * Ends the exchange after the whole response was read: the connection goes back to the pool when
   * it can be reused (never in raw mode, which ends with {@link #completeRaw}). {@code status} is the response status, counted by the circuit breaker and
   * passive ejection (5xx are failures).
   */
  void complete(int status);

  /**
   * Ends the exchange before its end: closes the HTTP/1.1 connection or resets the HTTP/2 stream.
   * {@code failure} tells whether the endpoint is to blame (a timeout, a broken response), for
   * the circuit breaker and passive ejection; false when the client went away.
   */
  void abort(boolean failure);

  /**
   * Takes the connection out of HTTP after a {@code 101 Switching Protocols} response (HTTP/1.1
   * only): its HTTP codec is removed and the raw bytes that follow reach the handler as
   * {@code ByteBuf}s through {@link UpstreamStreamHandler#onResponse}. The connection is never
   * reused; {@link #complete} or {@link #abort} still ends it and closes it.
   *
   * @return the connection's channel, for writing raw bytes
   * @throws IllegalStateException over HTTP/2, and in raw mode
   */
  Channel upgrade();

  /**
   * Takes this exchange's bytes raw, before anything was written: the caller then writes a request
   * it framed itself as HTTP/1.1 with writeBytes, and the response reaches the handler's onResponse
   * as the ByteBufs read from the connection (after TLS, if any), unparsed, until the caller ends
   * the exchange with completeRaw or abort. Returns false, changing nothing, over HTTP/2.
   *
   * @throws IllegalStateException when something was written already
   */
  boolean rawBytes();

  /**
   * In raw mode: writes part of the request; the caller hands its reference over. Not flushed.
   *
   * @throws IllegalStateException when not in raw mode (the buffer is released)
   */
  void writeBytes(ByteBuf bytes);

  /**
   * Ends a raw exchange. reusable: the caller read the whole response, it ended exactly at the end
   * of the bytes read (nothing beyond it), the whole request was written, and both sides keep the
   * connection alive; then the connection goes back to the pool, else it is closed. status as for
   * complete() (5xx count as failures).
   *
   * @throws IllegalStateException when not in raw mode
   */
  void completeRaw(int status, boolean reusable);

  /**
   * In raw mode: the response's body ends where the connection does (no length, not chunked), so
   * the close that follows ends the exchange as a success: it still reaches the handler as {@link
   * UpstreamStreamHandler#onFailure} (the stream is over), but counts as no failure of the
   * endpoint's. Does nothing outside raw mode.
   */
  default void endsWithClose() {}
}
