package dev.sluice.app.config;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** Checks an IP address or CIDR block ({@code 10.0.0.0/8}, {@code 2001:db8::/32}) as written. */
final class Cidr {
  private Cidr() {}

  /** Null when {@code s} is an address or a block, otherwise what is wrong with it. */
  static String problem(String s) {
    int slash = s.indexOf('/');
    String address = slash < 0 ? s : s.substring(0, slash);
    int bits;
    if (address.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
      for (String octet : address.split("\\.")) {
        if (Integer.parseInt(octet) > 255) {
          return "\"" + s + "\" is not an IPv4 address or CIDR block";
        }
      }
      bits = 32;
    } else if (address.indexOf(':') >= 0 && address.matches("[0-9A-Fa-f:.]+")) {
      try {
        // Brackets make it a literal: it is parsed, never looked up in DNS.
        InetAddress.getByName("[" + address + "]");
      } catch (UnknownHostException e) {
        return "\"" + s + "\" is not an IPv6 address or CIDR block";
      }
      bits = 128;
    } else {
      return "\"" + s + "\" is not an IP address or CIDR block such as 10.0.0.0/8 (host names"
          + " are not allowed)";
    }
    if (slash >= 0) {
      String len = s.substring(slash + 1);
      if (!len.matches("\\d{1,3}") || Integer.parseInt(len) > bits) {
        return "\"" + s + "\" has a prefix length that is not a number from 0 to " + bits;
      }
    }
    return null;
  }
}
