package dev.sluice.http.net;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/** A set of address blocks (CIDR), for access lists and trusted sources. */
public final class CidrSet {
  private static final CidrSet EMPTY = new CidrSet(List.of());
  private final List<byte[][]> blocks;

  private CidrSet(List<byte[][]> blocks) {
    this.blocks = blocks;
  }

  public static CidrSet of(List<String> entries) {
    if (entries.isEmpty()) {
      return EMPTY;
    }
    List<byte[][]> out = new ArrayList<>();
    for (String e : entries) {
      int slash = e.indexOf('/');
      String addr = slash < 0 ? e : e.substring(0, slash);
      byte[] a;
      try {
        a = InetAddress.getByName(addr).getAddress();
      } catch (UnknownHostException ex) {
        throw new IllegalArgumentException("not an address: " + e);
      }
      int bits = slash < 0 ? a.length * 8 : Integer.parseInt(e.substring(slash + 1));
      byte[] mask = new byte[a.length];
      for (int i = 0; i < bits; i++) {
        mask[i / 8] |= (byte) (0x80 >>> (i % 8));
      }
      out.add(new byte[][] {a, mask});
    }
    return new CidrSet(out);
  }

  public boolean isEmpty() {
    return blocks.isEmpty();
  }

  public boolean contains(InetAddress address) {
    byte[] a = address.getAddress();
    for (byte[][] b : blocks) {
      if (b[0].length != a.length) {
        continue;
      }
      boolean match = true;
      for (int i = 0; i < a.length && match; i++) {
        match = (a[i] & b[1][i]) == (b[0][i] & b[1][i]);
      }
      if (match) {
        return true;
      }
    }
    return false;
  }
}
