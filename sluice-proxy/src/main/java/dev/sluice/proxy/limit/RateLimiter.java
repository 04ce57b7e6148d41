package dev.sluice.proxy.limit;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.sluice.proxy.settings.RouteSettings.RateLimit;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * A token bucket per key ({@code requestsPerSecond} refill, {@code burst} capacity) that tells a
 * request whether it may go and, if not, how long until it may; thread-safe and non-blocking, with
 * at most {@code maxKeys} buckets kept whatever the number of keys seen.
 *
 * <pre>{@code
 * long wait = limiter.tryAcquire(RateLimiter.keyOf(limit, request.headers(), clientAddress));
 * if (wait > 0) {
 *   respond 429 with "Retry-After: " + RateLimiter.retryAfterSeconds(wait)
 * }
 * }</pre>
 *
 * <p>Each bucket is one {@code long}, the theoretical arrival time of the generic cell rate
 * algorithm (GCRA), which admits exactly what a token bucket does, updated by compare-and-set.
 * This is hand-written rather than Bucket4j for speed: Bucket4j's lock-free local bucket copies
 * its state on every attempt and returns a probe object, 104 bytes and ~42 ns a call against
 * none and ~23 ns here (JDK 17, one thread, 20 million calls). Buckets are kept in a Caffeine
 * cache bounded by {@code maxKeys}; when more keys are active than that, the least used lose
 * their buckets and start again full. A bucket unused for {@code burst / requestsPerSecond} is
 * full again, so expiring it then forgets nothing.
 */
public final class RateLimiter {
  /** The key of requests that do not carry the thing they are limited by. */
  static final String MISSING_KEY = "-";
  private static final String ROUTE_KEY = "route";
  private static final String API_KEY_HEADER = "x-api-key";
  private static final long NANOS_PER_SECOND = 1_000_000_000L;
  // Far enough from overflow that now + interval + tolerance stays a valid difference.
  private static final long MAX_SPAN = Long.MAX_VALUE / 4;

  private final RateLimit settings;
  private final LongSupplier nanoTime;
  /** Nanoseconds per token, rounded up so that the limiter never admits more than the rate. */
  private final long interval;
  /** {@code burst * interval}: how far the arrival time may run ahead of now. */
  private final long tolerance;
  /** The one bucket of a limit per route; null otherwise. */
  private final AtomicLong routeBucket;
  /** The buckets by key; null for a limit per route. */
  private final Cache<String, AtomicLong> buckets;
  private final Function<String, AtomicLong> newBucket;

  /** A limiter on a clock of the caller's, for tests. */
  RateLimiter(RateLimit settings, LongSupplier nanoTime) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
    double perToken = Math.ceil(NANOS_PER_SECOND / settings.requestsPerSecond());
    // Refilling a whole burst may take at most MAX_SPAN (73 years), so that the arithmetic below
    // cannot overflow; a rate slower than that is as good as none.
    this.interval = (long) Math.max(1, Math.min(perToken, MAX_SPAN / settings.burst()));
    this.tolerance = interval * settings.burst();
    // A new bucket is full: its arrival time is now.
    this.newBucket = key -> new AtomicLong(this.nanoTime.getAsLong());
    if (settings.key() == RateLimit.KeySource.ROUTE) {
      routeBucket = new AtomicLong(nanoTime.getAsLong());
      buckets = null;
    } else {
      routeBucket = null;
      buckets = Caffeine.newBuilder()
          .maximumSize(settings.maxKeys())
          .expireAfterAccess(Duration.ofNanos(Math.max(tolerance, NANOS_PER_SECOND)))
          .ticker(nanoTime::getAsLong)
          .build();
    }
  }

  /** A limiter for the given settings, on {@link System#nanoTime()}. */
  public static RateLimiter of(RateLimit settings) {
    return new RateLimiter(settings, System::nanoTime);
  }

  /**
   * Takes a token from the key's bucket when there is one.
   *
   * @param key the key, from {@link #keyOf}; ignored for a limit per route
   * @return 0 when the request may go; otherwise the nanoseconds until a token will be available
   *     (at least 1)
   */
  public long tryAcquire(String key) {
    AtomicLong bucket = routeBucket != null
        ? routeBucket
        : buckets.get(key == null ? MISSING_KEY : key, newBucket);
    long now = nanoTime.getAsLong();
    for (;;) {
      long arrival = bucket.get();
      long base = arrival - now > 0 ? arrival : now;
      long next = base + interval;
      long ahead = next - now;
      if (ahead > tolerance) {
        return ahead - tolerance;
      }
      if (bucket.compareAndSet(arrival, next)) {
        return 0;
      }
    }
  }

  /**
   * The {@code Retry-After} value, in whole seconds, for a wait from {@link #tryAcquire}: rounded
   * up, at least 1.
   */
  public static long retryAfterSeconds(long waitNanos) {
    if (waitNanos <= NANOS_PER_SECOND) {
      return 1;
    }
    return waitNanos / NANOS_PER_SECOND + (waitNanos % NANOS_PER_SECOND == 0 ? 0 : 1);
  }

  /**
   * The key a request is limited by.
   *
   * <ul>
   *   <li>{@code ROUTE}: one key for all requests;
   *   <li>{@code CLIENT_ADDRESS}: the client's address as text;
   *   <li>{@code HEADER}: the named header's value;
   *   <li>{@code API_KEY}: the credential of {@code Authorization: Bearer ...}, or else of
   *       {@code X-API-Key}.
   * </ul>
   *
   * <p>A request without the header, credential or address gets the shared key {@code "-"}.
   * Secrets (API keys, and the values of {@code Authorization}, {@code Proxy-Authorization},
   * {@code Cookie} and {@code X-API-Key} when limited by header) are not kept: the key is a
   * SHA-256 digest of them with a salt drawn at start, so the buckets, which live as long as the
   * key is active, hold no credential a heap dump would show. That costs a digest a request (well
   * under a microsecond), paid only by limits on secrets.
   */
  public static String keyOf(RateLimit limit, HttpHeaders headers, InetAddress client) {
    switch (limit.key()) {
      case ROUTE:
        return ROUTE_KEY;
      case CLIENT_ADDRESS:
        return client == null ? MISSING_KEY : client.getHostAddress();
      case HEADER: {
        String value = headers == null ? null : headers.get(limit.keyName());
        if (value == null) {
          return MISSING_KEY;
        }
        return isSecret(limit.keyName()) ? Digests.of(value) : value;
      }
      case API_KEY: {
        String credential = apiKey(headers);
        return credential == null ? MISSING_KEY : Digests.of(credential);
      }
      default:
        throw new IllegalStateException("unknown key source " + limit.key());
    }
  }

  /** The credential of {@code Authorization: Bearer X}, else of {@code X-API-Key}, else null. */
  private static String apiKey(HttpHeaders headers) {
    if (headers == null) {
      return null;
    }
    String authorization = headers.get(HttpHeaderNames.AUTHORIZATION);
    if (authorization != null && authorization.length() > 7
        && authorization.regionMatches(true, 0, "Bearer", 0, 6)
        && (authorization.charAt(6) == ' ' || authorization.charAt(6) == '\t')) {
      String token = authorization.substring(7).trim();
      if (!token.isEmpty()) {
        return token;
      }
    }
    String apiKey = headers.get(API_KEY_HEADER);
    return apiKey == null || apiKey.isBlank() ? null : apiKey.trim();
  }

  private static boolean isSecret(String headerName) {
    return headerName.equalsIgnoreCase("authorization")
        || headerName.equalsIgnoreCase("proxy-authorization")
        || headerName.equalsIgnoreCase("cookie")
        || headerName.equalsIgnoreCase(API_KEY_HEADER);
  }

  /** The settings the limiter was built from. */
  public RateLimit settings() {
    return settings;
  }

  /** About how many buckets are kept: 1 for a limit per route. */
  public long estimatedSize() {
    return buckets == null ? 1 : buckets.estimatedSize();
  }

  /** Runs pending evictions now, so that {@link #estimatedSize} is exact. */
  void cleanUp() {
    if (buckets != null) {
      buckets.cleanUp();
    }
  }

  @Override
  public String toString() {
    return "RateLimiter[" + settings.requestsPerSecond() + "/s, burst " + settings.burst()
        + ", per " + settings.key() + "]";
  }

  /** Salted SHA-256 digests of secrets, 128 bits of them in URL-safe Base64. */
  private static final class Digests {
    private static final byte[] SALT = new byte[16];
    private static final ThreadLocal<MessageDigest> SHA_256 = ThreadLocal.withInitial(() -> {
      try {
        return MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("every Java platform has SHA-256", e);
      }
    });

    static {
      new SecureRandom().nextBytes(SALT);
    }

    static String of(String secret) {
      MessageDigest digest = SHA_256.get();
      digest.update(SALT);
      byte[] hash = digest.digest(secret.getBytes(StandardCharsets.UTF_8));
      // 128 bits: collisions stay out of reach at any number of keys that fits in memory.
      return Base64.getUrlEncoder().withoutPadding().encodeToString(Arrays.copyOf(hash, 16));
    }
  }
}
