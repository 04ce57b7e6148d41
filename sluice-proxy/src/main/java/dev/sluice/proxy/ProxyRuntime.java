package dev.sluice.proxy;

import dev.sluice.http.server.ErrorResponder;
import dev.sluice.http.server.HttpServer;
import dev.sluice.http.transport.Transport;
import dev.sluice.http.upstream.UpstreamGroup;
import dev.sluice.proxy.engine.ProxyEngine;
import dev.sluice.proxy.engine.ProxyState;
import dev.sluice.proxy.engine.UpstreamRuntime;
import dev.sluice.proxy.log.AccessLog;
import dev.sluice.proxy.metrics.ProxyMetrics;
import dev.sluice.proxy.settings.ListenerSettings;
import dev.sluice.proxy.settings.ProxySettings;
import dev.sluice.proxy.settings.UpstreamSettings;
import dev.sluice.proxy.trace.SpanReporter;
import dev.sluice.proxy.trace.SpanSink;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running parts of a {@link ReverseProxy}: one set of event loops for every listener and
 * upstream connection (so that a request and its upstream exchange stay on one thread), a server
 * per listener, and the generation of routes and upstream groups in force.
 */
final class ProxyRuntime {
  private static final Logger log = LoggerFactory.getLogger(ProxyRuntime.class);

  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final ProxyMetrics metrics;
  private final ProxyEngine engine;
  private final SpanReporter spans;
  private final Map<String, HttpServer> servers = new LinkedHashMap<>();
  private final Map<String, InetSocketAddress> addresses = new LinkedHashMap<>();
  private final Object lock = new Object();
  private final List<ProxyState> retiring = new ArrayList<>();
  private boolean closed;

  private ProxyRuntime(ProxySettings settings, MeterRegistry registry, SpanSink spanSink,
      int ioThreads) {
    Transport transport = Transport.best();
    this.boss = transport.newGroup(1, "sluice-proxy-accept");
    this.workers = transport.newGroup(ioThreads, "sluice-proxy");
    this.metrics = new ProxyMetrics(registry);
    ProxyState state;
    try {
      state = newState(settings);
    } catch (RuntimeException e) {
      boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw e;
    }
    this.spans = settings.tracing() && spanSink != null
        ? SpanReporter.start(spanSink, "sluice-proxy", registry) : null;
    this.engine = new ProxyEngine(state, new AccessLog(), spans, metrics);
  }

  static ProxyRuntime start(ProxySettings settings, MeterRegistry registry, SpanSink spanSink,
      int ioThreads) {
    ProxyRuntime r = new ProxyRuntime(settings, registry, spanSink, ioThreads);
    try {
      for (ListenerSettings l : settings.listeners()) {
        boolean tls = l.server().tls() != null;
        HttpServer server = new HttpServer(l.server(),
            http2 -> r.engine.newHandler(l.name(), http2, tls), ErrorResponder.PLAIN_TEXT,
            r.boss, r.workers)
            .rawHttp1((fallback, overTls) -> r.engine.newRawHandler(l.name(), fallback, tls))
            .rawHttp2(overTls -> r.engine.newRawHttp2Handler(l.name(), l.server(), tls))
            .start();
        r.servers.put(l.name(), server);
        r.addresses.put(l.name(), server.localAddress());
        log.info("proxy listener {} on {}:{}{}", l.name(), server.localAddress().getHostString(),
            server.localAddress().getPort(), tls ? " (TLS)" : "");
      }
    } catch (RuntimeException e) {
      r.close(Duration.ZERO);
      throw e;
    }
    return r;
  }

  private ProxyState newState(ProxySettings settings) {
    Map<String, UpstreamRuntime> upstreams = new LinkedHashMap<>();
    try {
      for (UpstreamSettings u : settings.upstreams().values()) {
        UpstreamGroup group = group(u);
        upstreams.put(u.name(), new UpstreamRuntime(u, group));
      }
      ProxyState state = new ProxyState(settings, upstreams, metrics);
      for (UpstreamRuntime u : upstreams.values()) {
        UpstreamGroup g = u.group();
        metrics.bindUpstream(u.settings().name(), g::status, g::connectionsOpened,
            g::exchangesOnReusedConnections);
      }
      return state;
    } catch (RuntimeException e) {
      for (UpstreamRuntime u : upstreams.values()) {
        u.group().close();
      }
      throw e;
    }
  }

  private UpstreamGroup group(UpstreamSettings u) {
    UpstreamGroup.Builder b = UpstreamGroup.builder()
        .name(u.name())
        .endpoints(u.endpoints())
        .loadBalancing(u.loadBalancing())
        .connectTimeout(u.connectTimeout())
        .maxConnectionsPerEndpoint(u.limits().maxConnectionsPerEndpoint())
        .maxPendingRequests(u.limits().maxPendingRequests())
        .maxActiveRequests(u.limits().maxActiveRequests())
        .tls(u.tls())
        .eventLoopGroup(workers);
    if (u.http2() != null) {
      b.http2(u.http2());
    }
    if (u.healthCheck() != null) {
      b.healthCheck(u.healthCheck());
    }
    if (u.passiveEjection() != null) {
      b.passiveEjection(u.passiveEjection());
    }
    if (u.circuitBreaker() != null) {
      b.circuitBreaker(u.circuitBreaker());
    }
    return b.build();
  }

  Map<String, InetSocketAddress> localAddresses() {
    return Map.copyOf(addresses);
  }

  ProxySettings settings() {
    return engine.state().settings();
  }

  void reload(ProxySettings next) {
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("the proxy is closed");
      }
      ProxySettings current = engine.state().settings();
      List<String> problems = new ArrayList<>();
      if (next.listeners().size() != current.listeners().size()) {
        problems.add("listeners cannot be added or removed by a reload");
      } else {
        for (int i = 0; i < next.listeners().size(); i++) {
          ListenerSettings a = current.listeners().get(i);
          ListenerSettings b = next.listeners().get(i);
          if (!a.name().equals(b.name())
              || !a.server().address().equals(b.server().address())) {
            problems.add("listener " + b.name() + ": names and addresses cannot change by a"
                + " reload");
          }
        }
      }
      if (!problems.isEmpty()) {
        throw new IllegalArgumentException(String.join("; ", problems));
      }
      ProxyState fresh = newState(next);
      try {
        for (ListenerSettings l : next.listeners()) {
          HttpServer server = servers.get(l.name());
          if (server != null && l.server().tls() != null) {
            // new certificates for new connections; bad files throw and the old ones stay
            server.reloadTls(l.server().tls());
          }
        }
      } catch (RuntimeException e) {
        for (UpstreamRuntime u : fresh.upstreams().values()) {
          u.group().close();
        }
        throw e;
      }
      ProxyState old = engine.swap(fresh);
      for (var r : current.routes()) {
        for (var t : r.targets()) {
          boolean kept = next.routes().stream().anyMatch(n -> n.name().equals(r.name())
              && n.targets().stream().anyMatch(nt -> nt.upstream().equals(t.upstream())));
          if (!kept) {
            metrics.removeRoute(r.name(), t.upstream());
          }
        }
      }
      for (String name : current.upstreams().keySet()) {
        if (!next.upstreams().containsKey(name)) {
          metrics.unbindUpstream(name); // gone: its meters would report a closed group forever
        }
      }
      retire(old, next.drainTimeout());
      log.info("proxy reloaded: {} routes, {} upstreams", next.routes().size(),
          next.upstreams().size());
    }
  }

  /**
   * Closes an old generation's groups once its last request is done, or at the deadline: requests
   * in flight finish on the connections they have.
   */
  private void retire(ProxyState old, Duration drain) {
    retiring.add(old);
    long deadline = System.nanoTime() + drain.toNanos();
    Runnable check = new Runnable() {
      @Override
      public void run() {
        if (old.inFlight() > 0 && System.nanoTime() < deadline) {
          workers.schedule(this, 50, TimeUnit.MILLISECONDS);
          return;
        }
        synchronized (lock) {
          retiring.remove(old);
        }
        closeGroups(old);
      }
    };
    workers.schedule(check, 50, TimeUnit.MILLISECONDS);
  }

  private void closeGroups(ProxyState state) {
    for (UpstreamRuntime u : state.upstreams().values()) {
      if (engine.state().upstreams().get(u.settings().name()) != u) {
        u.group().close();
      }
    }
  }

  void close(Duration drain) {
    List<ProxyState> toClose;
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      toClose = new ArrayList<>(retiring);
      retiring.clear();
    }
    // Servers first: they stop accepting and let requests in flight finish, which need the
    // groups still open.
    List<Thread> closing = new ArrayList<>();
    for (HttpServer s : servers.values()) {
      Thread t = new Thread(() -> s.close(drain), "sluice-proxy-close");
      t.start();
      closing.add(t);
    }
    for (Thread t : closing) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    toClose.add(engine.state());
    for (ProxyState s : toClose) {
      for (UpstreamRuntime u : s.upstreams().values()) {
        metrics.unbindUpstream(u.settings().name());
        u.group().close();
      }
    }
    if (spans != null) {
      spans.close();
    }
    // Bounded waits: a stop must end even if an event loop does not (the process exits anyway).
    var workersDone = workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    var bossDone = boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    if (!workersDone.awaitUninterruptibly(5, TimeUnit.SECONDS)
        || !bossDone.awaitUninterruptibly(5, TimeUnit.SECONDS)) {
      log.warn("proxy event loops did not stop within 5 s; going on");
    }
  }
}
