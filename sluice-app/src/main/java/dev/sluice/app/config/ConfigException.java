package dev.sluice.app.config;

import java.util.List;

/** A configuration that cannot be used, with every problem found, each naming its key path. */
public final class ConfigException extends RuntimeException {
  private final List<String> problems;

  public ConfigException(List<String> problems) {
    super(problems.size() + (problems.size() == 1 ? " problem" : " problems")
        + " in the configuration:\n  " + String.join("\n  ", problems), null, false, false);
    this.problems = List.copyOf(problems);
  }

  public List<String> problems() {
    return problems;
  }
}
