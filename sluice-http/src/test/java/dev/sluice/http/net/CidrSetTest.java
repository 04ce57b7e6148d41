package dev.sluice.http.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class CidrSetTest {
  private static InetAddress ip(String literal) {
    try {
      return InetAddress.getByName(literal); // literals only: no lookup
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  private static final CidrSet SET = CidrSet.of("10.0.0.0/8", "192.168.1.7", " 172.16.0.0/12 ",
      "::1", "2001:db8::/32", "fe80::/10");

  @ParameterizedTest
  @CsvSource({
      "10.0.0.0, true", "10.255.255.255, true", "11.0.0.0, false", "9.255.255.255, false",
      "192.168.1.7, true", "192.168.1.6, false", "192.168.1.8, false",
      "172.16.0.1, true", "172.31.255.255, true", "172.32.0.0, false",
      "::1, true", "::2, false", "::, false",
      "2001:db8::, true", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff, true", "2001:db9::, false",
      "2001:db7:ffff::, false", "fe80::1, true", "febf:ffff::1, true", "fec0::, false",
      "::ffff:10.1.2.3, true", "::ffff:11.1.2.3, false"})
  void containsExactlyTheBlocks(String address, boolean expected) {
    assertThat(SET.contains(ip(address))).isEqualTo(expected);
  }

  @Test
  void socketAddressesAndNull() {
    assertThat(SET.contains(new InetSocketAddress(ip("10.9.8.7"), 80))).isTrue();
    assertThat(SET.contains(new InetSocketAddress(ip("8.8.8.8"), 80))).isFalse();
    assertThat(SET.contains((InetAddress) null)).isFalse();
    assertThat(CidrSet.EMPTY.contains(ip("10.0.0.1"))).isFalse();
    assertThat(CidrSet.EMPTY.isEmpty()).isTrue();
  }

  @Test
  void everythingAndOverlaps() {
    CidrSet all = CidrSet.of("0.0.0.0/0", "::/0");
    assertThat(all.contains(ip("255.255.255.255"))).isTrue();
    assertThat(all.contains(ip("0.0.0.0"))).isTrue();
    assertThat(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))).isTrue();
    CidrSet overlapping = CidrSet.of("10.0.0.0/16", "10.0.0.0/8", "10.1.0.0/16", "10.0.0.5");
    assertThat(overlapping.contains(ip("10.200.0.1"))).isTrue();
    assertThat(overlapping.contains(ip("11.0.0.0"))).isFalse();
    assertThat(overlapping.entries()).hasSize(4);
    assertThat(overlapping).isEqualTo(CidrSet.of("10.0.0.0/8"));
  }

  @Test
  void agreesWithAPlainScanOnRandomAddresses() {
    Random random = new Random(42);
    List<String> blocks = List.of("10.0.0.0/8", "10.128.0.0/9", "100.64.0.0/10",
        "203.0.113.0/24", "198.51.100.77/32", "1.2.3.0/31");
    CidrSet set = CidrSet.of(blocks);
    for (int i = 0; i < 20_000; i++) {
      int a = random.nextInt();
      if (i % 4 == 0) {
        a = (a & 0x00FFFFFF) | (new int[] {10, 100, 203, 1}[i / 4 % 4] << 24);
      }
      byte[] b = {(byte) (a >>> 24), (byte) (a >>> 16), (byte) (a >>> 8), (byte) a};
      boolean expected = false;
      for (String block : blocks) {
        String[] parts = block.split("/");
        byte[] net = ip(parts[0]).getAddress();
        int prefix = Integer.parseInt(parts[1]);
        int n = ((net[0] & 0xFF) << 24) | ((net[1] & 0xFF) << 16) | ((net[2] & 0xFF) << 8)
            | (net[3] & 0xFF);
        int mask = prefix == 0 ? 0 : -1 << (32 - prefix);
        expected |= (a & mask) == (n & mask);
      }
      try {
        assertThat(set.contains(InetAddress.getByAddress(b))).as("%s", (Object) b)
            .isEqualTo(expected);
      } catch (UnknownHostException e) {
        throw new AssertionError(e);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.256", "example.com",
      "10.0.0.1/8", "2001:db8::1/32", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "",
      "::ffff:10.0.0.0/8", "10.0.0.0/ 8"})
  void badEntriesAreNamed(String entry) {
    assertThatThrownBy(() -> CidrSet.of("192.168.0.0/16", entry))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"" + entry + "\"");
  }
}
