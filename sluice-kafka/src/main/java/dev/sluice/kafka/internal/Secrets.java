package dev.sluice.kafka.internal;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Hides the values of Kafka client properties that may hold credentials, for logs and toString. */
public final class Secrets {
  public static final String MASK = "****";
  private static final String[] SECRET_WORDS = {"password", "secret", "token", "jaas",
      "credential", "user.info", "ssl.keystore.key", "private"};

  private Secrets() {}

  /** True when a property of this name may hold a credential. */
  public static boolean isSecret(String key) {
    String k = key.toLowerCase(Locale.ROOT);
    for (String w : SECRET_WORDS) {
      if (k.contains(w)) {
        return true;
      }
    }
    return false;
  }

  /** The properties sorted by name, secrets' values replaced by {@link #MASK}. */
  public static Map<String, String> masked(Map<String, ?> properties) {
    Map<String, String> out = new TreeMap<>();
    properties.forEach((k, v) -> out.put(k, isSecret(k) ? MASK : String.valueOf(v)));
    return out;
  }
}
