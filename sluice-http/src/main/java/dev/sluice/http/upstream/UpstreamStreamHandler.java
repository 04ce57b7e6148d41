package dev.sluice.http.upstream;

/**
 * The caller's side of a streamed exchange ({@link UpstreamGroup#open}). Every method is called
 * on the connection's event loop ({@link UpstreamStream#eventLoop()}), except {@link #onOpenFailed},
 * which may be called on any thread.
 */
public interface UpstreamStreamHandler {
  /** A connection or stream is ready: write the request through {@code stream}. */
  void onOpen(UpstreamStream stream);

  /**
   * No connection could be had (no endpoint available, circuit open, overload, connect failure, the
   * group closed or the wait too long). Nothing was sent anywhere.
   */
  void onOpenFailed(UpstreamException cause);

  /**
   * Part of the response, in order: an {@code HttpResponse} (informational ones first, if any),
   * {@code HttpContent}s and a {@code LastHttpContent}; after {@link UpstreamStream#upgrade()},
   * and throughout an exchange in raw mode ({@link UpstreamStream#rawBytes()}), the
   * {@code ByteBuf}s read. The handler owns {@code msg} and releases it.
   */
  void onResponse(Object msg);

  /** The connection became writable again, or not; for the request body's backpressure. */
  default void onWritabilityChanged(boolean writable) {}

  /**
   * The connection or stream broke before the caller ended the exchange: the stream is ended, and
   * nothing more comes. {@link UpstreamException#reachedUpstream()} tells whether any of the request
   * may have reached the endpoint.
   */
  void onFailure(UpstreamException cause);
}
