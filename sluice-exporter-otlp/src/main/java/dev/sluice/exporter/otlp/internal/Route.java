package dev.sluice.exporter.otlp.internal;

import dev.sluice.otlp.Signal;
import java.util.Objects;

/**
 * Where one signal's requests go: the sender (an upstream group), the path to post to (appended to
 * the chosen endpoint's base path), and a description of the target for logs.
 */
public record Route(Signal signal, Sender sender, String path, String target) {
  public Route {
    Objects.requireNonNull(signal, "signal");
    Objects.requireNonNull(sender, "sender");
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(target, "target");
  }
}
