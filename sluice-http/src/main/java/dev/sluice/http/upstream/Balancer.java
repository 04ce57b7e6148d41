package dev.sluice.http.upstream;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Predicate;

/** Picks an endpoint among the available ones. Control event loop only. */
abstract class Balancer {
  final List<EndpointState> endpoints;

  Balancer(List<EndpointState> endpoints) {
    this.endpoints = endpoints;
  }

  /** The endpoint for a request with this hash key (may be null), or null when none is available. */
  abstract EndpointState pick(byte[] hashKey, Predicate<EndpointState> available);

  static Balancer of(LoadBalancing kind, List<EndpointState> endpoints) {
    switch (kind) {
      case ROUND_ROBIN:
        return new SmoothWeightedRoundRobin(endpoints);
      case LEAST_REQUESTS:
        return new LeastRequests(endpoints);
      case POWER_OF_TWO_CHOICES:
        return new PowerOfTwoChoices(endpoints);
      case CONSISTENT_HASH:
        return new Ketama(endpoints);
      default:
        throw new IllegalArgumentException(String.valueOf(kind));
    }
  }

  /**
   * nginx's smooth weighted round robin: each pick adds every available endpoint's weight to its
   * current value, takes the largest and subtracts the total weight from it.
   */
  static final class SmoothWeightedRoundRobin extends Balancer {
    private final long[] current;

    SmoothWeightedRoundRobin(List<EndpointState> endpoints) {
      super(endpoints);
      current = new long[endpoints.size()];
    }

    @Override
    EndpointState pick(byte[] hashKey, Predicate<EndpointState> available) {
      int best = -1;
      long total = 0;
      for (int i = 0; i < current.length; i++) {
        EndpointState e = endpoints.get(i);
        if (!available.test(e)) {
          continue;
        }
        current[i] += e.weight;
        total += e.weight;
        if (best < 0 || current[i] > current[best]) {
          best = i;
        }
      }
      if (best < 0) {
        return null;
      }
      current[best] -= total;
      return endpoints.get(best);
    }
  }

  /** The least outstanding requests per unit of weight; ties in rotating order. */
  static final class LeastRequests extends Balancer {
    private int start;

    LeastRequests(List<EndpointState> endpoints) {
      super(endpoints);
    }

    @Override
    EndpointState pick(byte[] hashKey, Predicate<EndpointState> available) {
      int n = endpoints.size();
      EndpointState best = null;
      int first = start;
      start = (start + 1) % n;
      for (int k = 0; k < n; k++) {
        EndpointState e = endpoints.get((first + k) % n);
        if (!available.test(e)) {
          continue;
        }
        // e.outstanding / e.weight < best.outstanding / best.weight, without division
        if (best == null
            || (long) e.outstanding * best.weight < (long) best.outstanding * e.weight) {
          best = e;
        }
      }
      return best;
    }
  }

  /**
   * Two draws at random, each endpoint with a chance in proportion to its weight among the
   * available ones; the one with the lower {@code outstanding / weight} wins.
   */
  static final class PowerOfTwoChoices extends Balancer {
    PowerOfTwoChoices(List<EndpointState> endpoints) {
      super(endpoints);
    }

    @Override
    EndpointState pick(byte[] hashKey, Predicate<EndpointState> available) {
      long total = 0;
      for (EndpointState e : endpoints) {
        if (available.test(e)) {
          total += e.weight;
        }
      }
      if (total == 0) {
        return null;
      }
      var random = java.util.concurrent.ThreadLocalRandom.current();
      EndpointState a = draw(random.nextLong(total), available);
      EndpointState b = draw(random.nextLong(total), available);
      return (long) b.outstanding * a.weight < (long) a.outstanding * b.weight ? b : a;
    }

    private EndpointState draw(long ticket, Predicate<EndpointState> available) {
      EndpointState last = null;
      for (EndpointState e : endpoints) {
        if (!available.test(e)) {
          continue;
        }
        last = e;
        ticket -= e.weight;
        if (ticket < 0) {
          return e;
        }
      }
      return last;
    }
  }

  /**
   * A ketama ring: for each endpoint, {@code 25 × weight} MD5 digests of {@code "<uri>-<i>"}, each
   * giving four 32-bit points, so 100 points per unit of weight. A key's point is the first four
   * bytes of its MD5; it belongs to the next endpoint point clockwise that is available.
   */
  static final class Ketama extends Balancer {
    private final long[] points;
    private final int[] owners;
    private final SmoothWeightedRoundRobin fallback;

    Ketama(List<EndpointState> endpoints) {
      super(endpoints);
      fallback = new SmoothWeightedRoundRobin(endpoints);
      List<long[]> ring = new ArrayList<>();
      for (int idx = 0; idx < endpoints.size(); idx++) {
        EndpointState e = endpoints.get(idx);
        for (int i = 0; i < 25 * e.weight; i++) {
          byte[] d = md5((e.endpoint.uri() + "-" + i).getBytes(StandardCharsets.UTF_8));
          for (int h = 0; h < 4; h++) {
            ring.add(new long[] {point(d, h * 4), idx});
          }
        }
      }
      ring.sort(Comparator.<long[]>comparingLong(p -> p[0]).thenComparingLong(p -> p[1]));
      points = new long[ring.size()];
      owners = new int[ring.size()];
      for (int i = 0; i < ring.size(); i++) {
        points[i] = ring.get(i)[0];
        owners[i] = (int) ring.get(i)[1];
      }
    }

    @Override
    EndpointState pick(byte[] hashKey, Predicate<EndpointState> available) {
      if (hashKey == null) {
        return fallback.pick(null, available);
      }
      boolean any = false;
      for (EndpointState e : endpoints) {
        if (available.test(e)) {
          any = true;
          break;
        }
      }
      if (!any) {
        return null;
      }
      long h = point(md5(hashKey), 0);
      int i = firstAtOrAfter(h);
      for (int k = 0; k < points.length; k++) {
        EndpointState e = endpoints.get(owners[(i + k) % points.length]);
        if (available.test(e)) {
          return e;
        }
      }
      return null;
    }

    private int firstAtOrAfter(long h) {
      int lo = 0;
      int hi = points.length;
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (points[mid] < h) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      return lo == points.length ? 0 : lo;
    }

    private static long point(byte[] d, int off) {
      return ((long) (d[off + 3] & 0xff) << 24) | ((d[off + 2] & 0xff) << 16)
          | ((d[off + 1] & 0xff) << 8) | (d[off] & 0xff);
    }

    private static byte[] md5(byte[] data) {
      try {
        return MessageDigest.getInstance("MD5").digest(data);
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("MD5 is required of every JDK", e);
      }
    }
  }
}
