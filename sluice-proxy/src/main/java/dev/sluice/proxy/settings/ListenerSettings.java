package dev.sluice.proxy.settings;

import dev.sluice.http.server.HttpServerSettings;
import java.util.Objects;

/**
 * One address the proxy listens on, with its server settings: TLS (with SNI), HTTP/2, limits,
 * deadlines, access lists and PROXY protocol sources.
 */
public record ListenerSettings(String name, HttpServerSettings server) {
  public ListenerSettings {
    Names.check(name, "listener");
    Objects.requireNonNull(server, "server");
  }
}
