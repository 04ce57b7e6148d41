package dev.sluice.http.upstream;

import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.Set;

/**
 * How {@link UpstreamGroup#open} finds a connection for a streamed exchange.
 *
 * @param hashKey the key for consistent hashing (a header, a cookie, a client address), or null
 * @param eventLoop the event loop the caller runs on, or null: a connection on it is preferred,
 *     and new connections are opened on it, so that the exchange stays on one thread
 * @param exclude endpoints not to use unless no other is available (a retry's earlier tries)
 * @param acquireTimeout the longest wait for a connection, or null for the group's connect timeout
 */
public record StreamOptions(byte[] hashKey, EventLoop eventLoop, Set<Endpoint> exclude,
    Duration acquireTimeout) {
  public StreamOptions {
    exclude = exclude == null ? Set.of() : exclude;
    if (acquireTimeout != null && (acquireTimeout.isNegative() || acquireTimeout.isZero())) {
      throw new IllegalArgumentException("acquire timeout must be positive: " + acquireTimeout);
    }
  }

  public static StreamOptions defaults() {
    return new StreamOptions(null, null, Set.of(), null);
  }
}
