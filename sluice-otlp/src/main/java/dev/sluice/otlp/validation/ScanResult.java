package dev.sluice.otlp.validation;

/**
 * What a scan of an OTLP request found: how many items it holds and how many of them are invalid on
 * their own.
 *
 * @param items every item in the request (spans, metric data points or log records), valid or not
 * @param rejected the items that break a rule and must be dropped
 * @param firstProblem an English sentence naming the first broken rule, or empty when none was
 *     broken
 */
public record ScanResult(int items, int rejected, String firstProblem) {

  /** True when every item may be accepted as received. */
  public boolean allValid() {
    return rejected == 0;
  }

  /** Items that may be accepted. */
  public int accepted() {
    return items - rejected;
  }
}
