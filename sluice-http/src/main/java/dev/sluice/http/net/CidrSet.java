package dev.sluice.http.net;

import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * An immutable set of IPv4 and IPv6 address blocks, such as {@code 10.0.0.0/8}, {@code
 * 192.168.1.7}, {@code ::1} or {@code 2001:db8::/32}, that answers {@link #contains} by binary
 * search over merged ranges, without allocating for IPv4 addresses.
 *
 * <pre>{@code
 * CidrSet internal = CidrSet.of("10.0.0.0/8", "192.168.0.0/16", "::1");
 * internal.contains(InetAddress.getByName("10.1.2.3")); // true
 * }</pre>
 *
 * <p>An IPv4-mapped IPv6 address ({@code ::ffff:10.1.2.3}) is looked up as the IPv4 address it
 * carries.
 */
public final class CidrSet {
  /** The set that contains nothing. */
  public static final CidrSet EMPTY = new CidrSet(List.of(), new long[0], new long[0]);

  private final List<String> entries;
  /** Merged IPv4 ranges, sorted: start and end (inclusive) of each as unsigned 32-bit values. */
  private final long[] v4;
  /** Merged IPv6 ranges, sorted: start high, start low, end high, end low (inclusive). */
  private final long[] v6;

  private CidrSet(List<String> entries, long[] v4, long[] v6) {
    this.entries = entries;
    this.v4 = v4;
    this.v6 = v6;
  }

  /**
   * Parses address blocks in CIDR notation, or single addresses.
   *
   * @throws IllegalArgumentException naming the first entry that is not an IP address or block,
   *     has a prefix length out of range, or has address bits set beyond its prefix
   */
  public static CidrSet of(String... entries) {
    return of(Arrays.asList(entries));
  }

  /** Like {@link #of(String...)}. */
  public static CidrSet of(Collection<String> entries) {
    Objects.requireNonNull(entries, "entries");
    List<String> names = new ArrayList<>(entries.size());
    List<long[]> ranges4 = new ArrayList<>();
    List<long[]> ranges6 = new ArrayList<>();
    for (String entry : entries) {
      if (entry == null) {
        throw new IllegalArgumentException("invalid address block: null");
      }
      String e = entry.trim();
      int slash = e.indexOf('/');
      String ip = slash < 0 ? e : e.substring(0, slash);
      byte[] bytes = ip.isEmpty() ? null : NetUtil.createByteArrayFromIpAddressString(ip);
      if (bytes == null) {
        throw new IllegalArgumentException("invalid address block \"" + entry
            + "\": not an IPv4 or IPv6 address");
      }
      int bits = bytes.length * 8;
      int prefix = bits;
      if (slash >= 0) {
        String p = e.substring(slash + 1);
        if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
          throw new IllegalArgumentException("invalid address block \"" + entry
              + "\": the prefix length must be a number from 0 to " + bits);
        }
        prefix = Integer.parseInt(p);
        if (prefix > bits) {
          throw new IllegalArgumentException("invalid address block \"" + entry
              + "\": the prefix length must be a number from 0 to " + bits);
        }
      }
      if (bytes.length == 16 && isMappedV4(bytes)) {
        // ::ffff:a.b.c.d/n is the IPv4 block a.b.c.d/(n-96), the way lookups see it.
        if (prefix < 96) {
          throw new IllegalArgumentException("invalid address block \"" + entry
              + "\": an IPv4-mapped block needs a prefix length of at least 96");
        }
        bytes = Arrays.copyOfRange(bytes, 12, 16);
        prefix -= 96;
      }
      if (bytes.length == 4) {
        long start = toLong(bytes, 0, 4);
        long hostMask = prefix == 0 ? 0xFFFFFFFFL : (1L << (32 - prefix)) - 1;
        if ((start & hostMask) != 0) {
          throw new IllegalArgumentException("invalid address block \"" + entry
              + "\": address bits are set beyond the /" + prefix + " prefix");
        }
        ranges4.add(new long[] {start, start | hostMask});
      } else {
        long hi = toLong(bytes, 0, 8);
        long lo = toLong(bytes, 8, 8);
        long hiMask = prefix >= 64 ? 0 : prefix == 0 ? -1L : -1L >>> prefix;
        long loMask = prefix >= 128 ? 0 : prefix <= 64 ? -1L : -1L >>> (prefix - 64);
        if ((hi & hiMask) != 0 || (lo & loMask) != 0) {
          throw new IllegalArgumentException("invalid address block \"" + entry
              + "\": address bits are set beyond the /" + prefix + " prefix");
        }
        ranges6.add(new long[] {hi, lo, hi | hiMask, lo | loMask});
      }
      names.add(e);
    }
    return new CidrSet(List.copyOf(names), merge4(ranges4), merge6(ranges6));
  }

  private static boolean isMappedV4(byte[] b) {
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return b[10] == (byte) 0xFF && b[11] == (byte) 0xFF;
  }

  private static long toLong(byte[] b, int from, int n) {
    long v = 0;
    for (int i = from; i < from + n; i++) {
      v = (v << 8) | (b[i] & 0xFF);
    }
    return v;
  }

  private static long[] merge4(List<long[]> ranges) {
    ranges.sort(Comparator.comparingLong(r -> r[0]));
    long[] out = new long[ranges.size() * 2];
    int n = 0;
    for (long[] r : ranges) {
      if (n > 0 && r[0] <= out[n - 1] + 1) {
        out[n - 1] = Math.max(out[n - 1], r[1]);
      } else {
        out[n++] = r[0];
        out[n++] = r[1];
      }
    }
    return Arrays.copyOf(out, n);
  }

  private static long[] merge6(List<long[]> ranges) {
    ranges.sort((a, b) -> compare(a[0], a[1], b[0], b[1]));
    long[] out = new long[ranges.size() * 4];
    int n = 0;
    for (long[] r : ranges) {
      if (n > 0 && adjacentOrOverlapping(out[n - 2], out[n - 1], r[0], r[1])) {
        if (compare(r[2], r[3], out[n - 2], out[n - 1]) > 0) {
          out[n - 2] = r[2];
          out[n - 1] = r[3];
        }
      } else {
        out[n++] = r[0];
        out[n++] = r[1];
        out[n++] = r[2];
        out[n++] = r[3];
      }
    }
    return Arrays.copyOf(out, n);
  }

  /** Whether the range starting at (hi, lo) begins at or before one past (endHi, endLo). */
  private static boolean adjacentOrOverlapping(long endHi, long endLo, long hi, long lo) {
    if (compare(hi, lo, endHi, endLo) <= 0) {
      return true;
    }
    long nextLo = endLo + 1;
    long nextHi = nextLo == 0 ? endHi + 1 : endHi;
    return !(endHi == -1L && endLo == -1L) && hi == nextHi && lo == nextLo;
  }

  private static int compare(long hiA, long loA, long hiB, long loB) {
    int c = Long.compareUnsigned(hiA, hiB);
    return c != 0 ? c : Long.compareUnsigned(loA, loB);
  }

  /** Whether the address is in one of the blocks; false for null. */
  public boolean contains(InetAddress address) {
    if (address instanceof Inet4Address) {
      // Inet4Address's hash code is its address, which spares the copy getAddress() makes.
      return contains4(address.hashCode() & 0xFFFFFFFFL);
    }
    if (address instanceof Inet6Address) {
      if (v6.length == 0 && v4.length == 0) {
        return false;
      }
      byte[] b = address.getAddress();
      if (isMappedV4(b)) {
        return contains4(toLong(b, 12, 4));
      }
      return contains6(toLong(b, 0, 8), toLong(b, 8, 8));
    }
    return false;
  }

  /** Whether the socket address is an IP address in one of the blocks. */
  public boolean contains(SocketAddress address) {
    return address instanceof InetSocketAddress
        && contains(((InetSocketAddress) address).getAddress());
  }

  private boolean contains4(long a) {
    int low = 0;
    int high = v4.length / 2 - 1;
    while (low <= high) {
      int mid = (low + high) >>> 1;
      if (a < v4[mid * 2]) {
        high = mid - 1;
      } else if (a > v4[mid * 2 + 1]) {
        low = mid + 1;
      } else {
        return true;
      }
    }
    return false;
  }

  private boolean contains6(long hi, long lo) {
    int low = 0;
    int high = v6.length / 4 - 1;
    while (low <= high) {
      int mid = (low + high) >>> 1;
      int i = mid * 4;
      if (compare(hi, lo, v6[i], v6[i + 1]) < 0) {
        high = mid - 1;
      } else if (compare(hi, lo, v6[i + 2], v6[i + 3]) > 0) {
        low = mid + 1;
      } else {
        return true;
      }
    }
    return false;
  }

  public boolean isEmpty() {
    return entries.isEmpty();
  }

  /** The entries as given, trimmed. */
  public List<String> entries() {
    return entries;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CidrSet && Arrays.equals(v4, ((CidrSet) o).v4)
        && Arrays.equals(v6, ((CidrSet) o).v6);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(v4) + Arrays.hashCode(v6);
  }

  @Override
  public String toString() {
    return entries.toString();
  }
}
