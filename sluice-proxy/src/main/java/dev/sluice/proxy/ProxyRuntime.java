package dev.sluice.proxy;

import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.trace.SpanSink;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;

/** The running parts of a {@link ReverseProxy}. */
final class ProxyRuntime {
  static ProxyRuntime start(ProxySettings settings, MeterRegistry registry, SpanSink spanSink,
      int ioThreads) {
    throw new UnsupportedOperationException("the proxy engine is under construction");
  }

  Map<String, InetSocketAddress> localAddresses() {
    throw new UnsupportedOperationException();
  }

  void reload(ProxySettings next) {
    throw new UnsupportedOperationException();
  }

  ProxySettings settings() {
    throw new UnsupportedOperationException();
  }

  void close(Duration drain) {}
}
