package dev.sluice.proxy.settings;

/** Checks of the names given to listeners, routes and upstreams. */
final class Names {
  private Names() {}

  static void check(String name, String what) {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException(what + " name must not be empty");
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!(Character.isLetterOrDigit(c) || c == '-' || c == '_' || c == '.')) {
        throw new IllegalArgumentException(what + " name '" + name
            + "' may hold only letters, digits, '-', '_' and '.'");
      }
    }
  }
}
