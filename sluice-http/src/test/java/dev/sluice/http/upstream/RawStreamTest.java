package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.http.server.ErrorResponder;
import dev.sluice.http.server.HttpServer;
import dev.sluice.http.server.HttpServerSettings;
import dev.sluice.http.tls.TlsSettings;
import dev.sluice.testing.Await;
import dev.sluice.testing.TestCertificates;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.FullHttpRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streamed exchanges in raw mode ({@link UpstreamStream#rawBytes()}): requests framed by hand,
 * responses read as bytes, on pooled HTTP/1.1 connections shared with ordinary exchanges.
 */
class RawStreamTest {
  @TempDir static Path dir;
  private static TestCertificates certs;

  private final List<JdkBackend> backends = new ArrayList<>();
  private final List<HttpServer> servers = new ArrayList<>();
  private final List<UpstreamGroup> groups = new ArrayList<>();
  private final RecordingApp app = new RecordingApp();

  @BeforeAll
  static void makeCertificates() {
    certs = TestCertificates.create(dir.resolve("pki"));
  }

  @AfterEach
  void tearDown() {
    groups.forEach(UpstreamGroup::close);
    backends.forEach(JdkBackend::close);
    servers.forEach(s -> s.close(Duration.ofMillis(200)));
  }

  private JdkBackend backend() throws IOException {
    JdkBackend b = new JdkBackend("b" + backends.size());
    backends.add(b);
    return b;
  }

  private HttpServer server(TlsSettings tls, boolean http2) {
    HttpServer s = new HttpServer(HttpServerSettings.builder()
        .address(new InetSocketAddress("127.0.0.1", 0)).ioThreads(1).tls(tls).http2(http2)
        .build(), app, ErrorResponder.PLAIN_TEXT);
    servers.add(s);
    return s.start();
  }

  private static Endpoint endpoint(String scheme, HttpServer s) {
    return new Endpoint(URI.create(scheme + "://127.0.0.1:" + s.localAddress().getPort()), 1);
  }

  private UpstreamGroup group(String name, UpstreamGroup.Builder b, Endpoint... endpoints) {
    UpstreamGroup g = b.name(name).endpoints(List.of(endpoints))
        .connectTimeout(Duration.ofSeconds(3)).build();
    groups.add(g);
    return g;
  }

  private static UpstreamTls trusting() {
    return UpstreamTls.builder().caFile(certs.caCert()).build();
  }

  private static <T extends UpstreamStreamHandler> T open(UpstreamGroup g, T call) {
    g.open(StreamOptions.defaults(), call);
    return call;
  }

  @Test
  void rawExchangesInSequenceReuseOneConnectionAndRoundTripTheBytes() throws Exception {
    JdkBackend b = backend();
    b.responseBytes = 100_000; // many reads per response
    UpstreamGroup g = group("raw-seq", UpstreamGroup.builder(), b.endpoint());
    byte[] expected = new byte[100_000];
    Arrays.fill(expected, (byte) 'x');
    for (int i = 0; i < 30; i++) {
      String body = "payload-" + i + "-" + "y".repeat(i * 100);
      RawCall.Result r = open(g, new RawCall(RawCall.post("/raw/" + i + "?q=1", body))).await();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.head()).startsWith("HTTP/1.1 200 ").containsIgnoringCase("content-length");
      assertThat(r.body()).isEqualTo(expected);
      assertThat(r.reused()).isEqualTo(i > 0);
      JdkBackend.Seen seen = b.seen.get(i);
      assertThat(seen.method()).isEqualTo("POST");
      assertThat(seen.uri()).isEqualTo("/raw/" + i + "?q=1");
      assertThat(seen.header("Host")).isEqualTo("raw.example");
      assertThat(seen.header("Content-Type")).isEqualTo("text/plain");
      assertThat(seen.body()).isEqualTo(body);
    }
    assertThat(g.connectionsOpened()).isEqualTo(1);
    assertThat(g.exchangesOnReusedConnections()).isEqualTo(29);
    assertThat(b.connections).hasSize(1);
    assertThat(Calls.status(g, b.endpoint()).openConnections()).isEqualTo(1);
    assertThat(Calls.status(g, b.endpoint()).outstandingRequests()).isZero();
  }

  @Test
  void rawAndOrdinaryExchangesTakeTurnsOnOneConnection() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group("raw-mixed", UpstreamGroup.builder(), b.endpoint());
    for (int round = 0; round < 3; round++) {
      RawCall.Result raw = open(g, new RawCall(RawCall.get("/raw"))).await();
      assertThat(raw.status()).isEqualTo(200);
      assertThat(raw.bodyText()).isEqualTo("b0");
      ObjectCall.Result objects = open(g, new ObjectCall("/objects", "hello", false)).await();
      assertThat(objects.status()).isEqualTo(200);
      assertThat(objects.body()).isEqualTo("b0");
      assertThat(objects.reused()).isTrue();
      Calls.Answer aggregated = Calls.send(g, Calls.post("/aggregated", "body"));
      assertThat(aggregated.status()).isEqualTo(200);
      assertThat(aggregated.body()).isEqualTo("b0");
    }
    RawCall.Result last = open(g, new RawCall(RawCall.get("/raw-last"))).await();
    assertThat(last.status()).isEqualTo(200);
    assertThat(last.reused()).isTrue();
    assertThat(b.seen).extracting(JdkBackend.Seen::uri).containsExactly(
        "/raw", "/objects", "/aggregated", "/raw", "/objects", "/aggregated",
        "/raw", "/objects", "/aggregated", "/raw-last");
    assertThat(b.seen.get(1).body()).isEqualTo("hello");
    assertThat(b.seen.get(2).body()).isEqualTo("body");
    assertThat(g.connectionsOpened()).isEqualTo(1);
    assertThat(b.connections).hasSize(1);
  }

  @Test
  void aRawExchangeEndedNotReusableClosesItsConnection() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group("raw-close", UpstreamGroup.builder(), b.endpoint());
    RawCall first = new RawCall(RawCall.get("/first"));
    first.keepAlive = false;
    assertThat(open(g, first).await().status()).isEqualTo(200);
    Await.until("the connection closed", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).openConnections() == 0);
    RawCall.Result second = open(g, new RawCall(RawCall.get("/second"))).await();
    assertThat(second.status()).isEqualTo(200);
    assertThat(second.reused()).isFalse();
    assertThat(g.connectionsOpened()).isEqualTo(2);
    assertThat(b.connections).hasSize(2);

    // A server that asks for the close gets it too.
    b.closeAfterResponse = true;
    assertThat(open(g, new RawCall(RawCall.get("/third"))).await().reused()).isTrue();
    Await.until("the connection closed", Duration.ofSeconds(5),
        () -> Calls.status(g, b.endpoint()).openConnections() == 0);
    b.closeAfterResponse = false;
    assertThat(open(g, new RawCall(RawCall.get("/fourth"))).await().reused()).isFalse();
    assertThat(g.connectionsOpened()).isEqualTo(3);
  }

  @Test
  void aServerClosingMidResponseFailsTheRawExchangeAsReached() throws Exception {
    try (RawBackend b = new RawBackend(s -> {
      RawBackend.write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
      s.close();
    })) {
      UpstreamGroup g = group("raw-cut", UpstreamGroup.builder(), b.endpoint());
      RawCall call = open(g, new RawCall(RawCall.get("/cut")));
      Throwable failure = call.awaitFailure();
      assertThat(failure).isInstanceOf(UpstreamException.class);
      UpstreamException e = (UpstreamException) failure;
      assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CONNECTION_LOST);
      assertThat(e.reachedUpstream()).isTrue();
      assertThat(call.received.toString()).endsWith("only ten..");
      assertThat(b.requests.get()).isEqualTo(1);
      Await.until("the connection forgotten", Duration.ofSeconds(5),
          () -> Calls.status(g, b.endpoint()).openConnections() == 0
              && Calls.status(g, b.endpoint()).outstandingRequests() == 0);
    }
  }

  @Test
  void aRefusedConnectFailsTheOpenAndSendsNothing() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Endpoint dead = new Endpoint(URI.create("http://127.0.0.1:" + port), 1);
    UpstreamGroup g = group("raw-refused", UpstreamGroup.builder(), dead);
    RawCall call = open(g, new RawCall(RawCall.get("/nowhere")));
    Throwable failure = call.awaitFailure();
    assertThat(failure).isInstanceOf(UpstreamException.class);
    assertThat(((UpstreamException) failure).kind())
        .isEqualTo(UpstreamException.Kind.CONNECT_FAILED);
    assertThat(((UpstreamException) failure).reachedUpstream()).isFalse();
    assertThat(call.stream).as("never opened").isNull();
  }

  @Test
  void overHttp2RawModeIsRefusedAndTheOrdinaryPathWorks() throws Exception {
    HttpServer s = server(null, true);
    UpstreamGroup g = group("raw-h2c", UpstreamGroup.builder().http2(true), endpoint("http", s));
    assertThat(g.mayUseHttp2()).isTrue();
    List<Throwable> thrown = new java.util.concurrent.CopyOnWriteArrayList<>();
    ByteBuf[] refused = new ByteBuf[1];
    ObjectCall call = open(g, new ObjectCall("/h2", "twelve bytes", true) {
      @Override
      public void onOpen(UpstreamStream stream) {
        refused[0] = RawCall.bytes("not raw");
        try {
          stream.writeBytes(refused[0]);
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
        try {
          stream.completeRaw(200, true);
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
        super.onOpen(stream);
      }
    });
    ObjectCall.Result r = call.await();
    assertThat(r.rawRefused()).isTrue();
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("h2=true host=objects.example bytes=12");
    assertThat(thrown).hasSize(2).allMatch(t -> t instanceof IllegalStateException);
    assertThat(refused[0].refCnt()).as("released").isZero();
    assertThat(app.seen).hasSize(1).allMatch(RecordingApp.Seen::http2);
  }

  @Test
  void mayUseHttp2FollowsTheConfiguration() {
    Endpoint plain = Endpoint.of("http://127.0.0.1:1");
    Endpoint secure = Endpoint.of("https://127.0.0.1:2");
    assertThat(group("h1", UpstreamGroup.builder(), plain).mayUseHttp2()).isFalse();
    assertThat(group("h2c", UpstreamGroup.builder().http2(true), plain).mayUseHttp2()).isTrue();
    assertThat(group("h1-off", UpstreamGroup.builder().http2(false), plain).mayUseHttp2())
        .isFalse();
    assertThat(group("alpn", UpstreamGroup.builder(), secure).mayUseHttp2()).isTrue();
    assertThat(group("tls-h1", UpstreamGroup.builder().http2(false), secure).mayUseHttp2())
        .isFalse();
    assertThat(group("mixed", UpstreamGroup.builder(), plain, secure).mayUseHttp2()).isTrue();
  }

  @Test
  void rawModeWorksOverTls() throws Exception {
    HttpServer s = server(TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2"),
        true);
    UpstreamGroup g = group("raw-tls", UpstreamGroup.builder().tls(trusting()).http2(false),
        endpoint("https", s));
    assertThat(g.mayUseHttp2()).isFalse();
    for (int i = 0; i < 5; i++) {
      String body = "z".repeat(1000 * i);
      RawCall.Result r = open(g, new RawCall(RawCall.post("/tls", body))).await();
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.bodyText()).isEqualTo("h2=false host=raw.example bytes=" + body.length());
    }
    assertThat(g.connectionsOpened()).isEqualTo(1);
    assertThat(s.openConnections()).isEqualTo(1);

    // HTTP/1.1 chosen by ALPN, from a server that offers no h2: raw mode too.
    HttpServer h1 = server(TlsSettings.of(certs.serverCert(), certs.serverKey(), null, "1.2"),
        false);
    UpstreamGroup alpn = group("raw-alpn", UpstreamGroup.builder().tls(trusting()),
        endpoint("https", h1));
    assertThat(alpn.mayUseHttp2()).isTrue();
    for (int i = 0; i < 3; i++) {
      RawCall call = open(alpn, new RawCall(RawCall.get("/alpn")));
      assertThat(call.await().bodyText()).isEqualTo("h2=false host=raw.example bytes=0");
      assertThat(call.wasRaw).isTrue();
    }
    assertThat(alpn.connectionsOpened()).isEqualTo(1);
  }

  @Test
  void misuseIsRefusedAndReleasesWhatItWasGiven() throws Exception {
    JdkBackend b = backend();
    UpstreamGroup g = group("raw-misuse", UpstreamGroup.builder(), b.endpoint());

    // Bytes before raw mode: refused, released, and the exchange can still go raw.
    ByteBuf[] early = new ByteBuf[1];
    RawCall bytesFirst = open(g, new RawCall(RawCall.get("/bytes-first")) {
      @Override
      public void onOpen(UpstreamStream stream) {
        early[0] = RawCall.bytes("GET");
        try {
          stream.writeBytes(early[0]);
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
        try {
          stream.completeRaw(200, true);
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
        super.onOpen(stream);
      }
    });
    assertThat(bytesFirst.await().status()).isEqualTo(200);
    assertThat(bytesFirst.thrown).hasSize(2).allMatch(t -> t instanceof IllegalStateException);
    assertThat(early[0].refCnt()).isZero();

    // Raw mode after a write: refused, nothing changes, the ordinary exchange goes on.
    List<Throwable> late = new java.util.concurrent.CopyOnWriteArrayList<>();
    ObjectCall objectsFirst = open(g, new ObjectCall("/objects-first", "abc", false) {
      @Override
      public void onOpen(UpstreamStream stream) {
        super.onOpen(stream);
        try {
          stream.rawBytes();
        } catch (IllegalStateException e) {
          late.add(e);
        }
      }
    });
    assertThat(objectsFirst.await().status()).isEqualTo(200);
    assertThat(late).hasSize(1).allMatch(t -> t instanceof IllegalStateException);

    // In raw mode: no HttpObjects, no upgrade; the raw request still goes.
    FullHttpRequest[] objects = new FullHttpRequest[1];
    RawCall rawThenObjects = open(g, new RawCall(RawCall.get("/raw-then-objects")) {
      @Override
      void writeRequest(UpstreamStream stream) {
        objects[0] = ObjectCall.request(RawCall.bytes("abc"), "/never");
        try {
          stream.write(objects[0]);
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
        try {
          stream.upgrade();
        } catch (IllegalStateException e) {
          thrown.add(e);
        }
        assertThat(stream.rawBytes()).as("raw mode, asked again").isTrue();
        super.writeRequest(stream);
      }
    });
    assertThat(rawThenObjects.await().status()).isEqualTo(200);
    assertThat(rawThenObjects.thrown).hasSize(2)
        .allMatch(t -> t instanceof IllegalStateException);
    assertThat(objects[0].refCnt()).isZero();

    assertThat(b.seen).extracting(JdkBackend.Seen::uri)
        .containsExactly("/bytes-first", "/objects-first", "/raw-then-objects");
    assertThat(g.connectionsOpened()).isEqualTo(1);
  }

  @Test
  void rawRequestsAndResponsesFollowBackpressure() throws Exception {
    JdkBackend b = backend();
    b.responseBytes = 1 << 20;
    UpstreamGroup g = group("raw-backpressure", UpstreamGroup.builder(), b.endpoint());
    int size = 2 << 20;
    AtomicInteger writableAgain = new AtomicInteger();
    AtomicInteger pausedReads = new AtomicInteger();
    RawCall call = open(g, new RawCall(RawCall.post("/big", "")) {
      private int sent;

      @Override
      void writeRequest(UpstreamStream stream) {
        stream.writeBytes(RawCall.bytes("POST /big HTTP/1.1\r\nHost: raw.example\r\n"
            + "Content-Length: " + size + "\r\n\r\n"));
        pump();
      }

      private void pump() {
        while (sent < size && stream.isWritable()) {
          int n = Math.min(16 * 1024, size - sent);
          stream.writeBytes(RawCall.bytes("q".repeat(n)));
          sent += n;
        }
        stream.flush();
      }

      @Override
      public void onWritabilityChanged(boolean writable) {
        if (writable) {
          writableAgain.incrementAndGet();
          pump();
        }
      }

      @Override
      public void onResponse(Object msg) {
        super.onResponse(msg);
        if (!result.isDone() && pausedReads.getAndIncrement() == 0) {
          // Stop reading for a moment: the rest must come once reading is on again.
          stream.setAutoRead(false);
          stream.eventLoop().schedule(() -> stream.setAutoRead(true), 20, TimeUnit.MILLISECONDS);
        }
      }
    });
    RawCall.Result r = call.await();
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).hasSize(1 << 20);
    assertThat(writableAgain.get()).as("the request waited for the socket").isPositive();
    assertThat(b.seen.get(0).body()).hasSize(size);
    // The connection serves the next exchange, reading on.
    assertThat(open(g, new RawCall(RawCall.get("/after"))).await().reused()).isTrue();
    assertThat(g.connectionsOpened()).isEqualTo(1);
  }
}
