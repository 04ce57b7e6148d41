package dev.sluice.kafka.bridge;

import java.util.regex.Pattern;

/** Kafka's rules for topic names. */
final class Topics {
  private static final Pattern LEGAL = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

  private Topics() {}

  /** True for a name Kafka accepts as a topic: 1 to 249 of a-z A-Z 0-9 . _ -, not . or .. */
  static boolean valid(String topic) {
    return topic != null && LEGAL.matcher(topic).matches() && !topic.equals(".")
        && !topic.equals("..");
  }
}
