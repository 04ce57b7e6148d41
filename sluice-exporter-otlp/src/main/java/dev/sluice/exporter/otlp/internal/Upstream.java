package dev.sluice.exporter.otlp.internal;

import io.micrometer.core.instrument.MeterRegistry;

/** A sender the exporter made and closes: an upstream group, in tests perhaps something simpler. */
public interface Upstream extends Sender, AutoCloseable {
  /** Registers gauges of the endpoints' state (health, circuit, outstanding requests). */
  default void registerMetrics(MeterRegistry registry, String exporter) {}

  /** Fails what is in flight and releases the connections. */
  @Override
  void close();
}
