package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Bodies stream through in both directions, whole, and at the pace of the slower side. */
class StreamingTest {
  private static final int UPLOAD = 64 << 20;
  private static final long DOWNLOAD = 128L << 20;

  private static TestBackend backend;
  private static ReverseProxy proxy;
  private static HttpClient client;
  private static String base;

  @BeforeAll
  static void start() {
    backend = TestBackend.start("b1");
    proxy = ReverseProxy.builder(TestProxies.to(backend.url())).ioThreads(2).build().start();
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    base = "http://127.0.0.1:" + proxy.localAddress().getPort();
  }

  @AfterAll
  static void stop() {
    proxy.close();
    backend.close();
  }

  /** {@code size} bytes of a fixed pattern, made as they are read. */
  private static final class Pattern extends InputStream {
    private final long size;
    private long pos;

    Pattern(long size) {
      this.size = size;
    }

    @Override
    public int read() {
      return pos < size ? (int) (pos++ % 251) : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      if (pos >= size) {
        return -1;
      }
      int n = (int) Math.min(len, size - pos);
      for (int i = 0; i < n; i++) {
        b[off + i] = (byte) ((pos + i) % 251);
      }
      pos += n;
      return n;
    }
  }

  private static long patternCrc(long size) throws IOException {
    CRC32 crc = new CRC32();
    byte[] buf = new byte[1 << 16];
    try (InputStream in = new Pattern(size)) {
      int n;
      while ((n = in.read(buf)) > 0) {
        crc.update(buf, 0, n);
      }
    }
    return crc.getValue();
  }

  @Test
  void largeUploadsArriveWholeChunkedAndSized() throws Exception {
    long crc = patternCrc(UPLOAD);
    HttpResponse<String> chunked = client.send(HttpRequest.newBuilder(URI.create(base + "/up"))
        .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new Pattern(UPLOAD))).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(chunked.statusCode()).isEqualTo(200);
    Echoed c = Echoed.parse(chunked.body());
    assertThat(c.header("transfer-encoding")).isEqualTo("chunked");
    assertThat(c.bodyBytes()).isEqualTo(UPLOAD);
    assertThat(c.bodyCrc()).isEqualTo(crc);

    HttpResponse<String> sized = client.send(HttpRequest.newBuilder(URI.create(base + "/up"))
        .POST(HttpRequest.BodyPublishers.fromPublisher(
            HttpRequest.BodyPublishers.ofInputStream(() -> new Pattern(UPLOAD)), UPLOAD))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertThat(sized.statusCode()).isEqualTo(200);
    Echoed s = Echoed.parse(sized.body());
    assertThat(s.header("content-length")).isEqualTo(String.valueOf(UPLOAD));
    assertThat(s.bodyBytes()).isEqualTo(UPLOAD);
    assertThat(s.bodyCrc()).isEqualTo(crc);
  }

  @Test
  void largeDownloadToAStalledClientHoldsTheBackendBackAndArrivesWhole() throws Exception {
    long before = backend.streamed.get();
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      c.send("GET /bytes/" + DOWNLOAD + " HTTP/1.1\r\nHost: a\r\n\r\n");
      RawHttp.Response head = c.readHead();
      assertThat(head.status()).isEqualTo(200);
      assertThat(head.header("content-length")).isEqualTo(String.valueOf(DOWNLOAD));
      InputStream in = c.input();
      byte[] buf = new byte[1 << 16];
      long consumed = 0;
      long mismatch = -1;
      long stallAt = 16L << 20;
      boolean stalled = false;
      while (consumed < DOWNLOAD) {
        if (!stalled && consumed >= stallAt) {
          // The client stops reading: the backend must stop too, once the buffers on the way
          // (sockets, the proxy's bounded write queues) are full.
          stalled = true;
          awaitQuiet(backend.streamed, Duration.ofMillis(500));
          long ahead = backend.streamed.get() - before - consumed;
          assertThat(ahead).as("bytes the backend wrote beyond what the client read")
              .isLessThan(32L << 20);
          long used = usedDirectMemory();
          if (used >= 0) {
            assertThat(used).as("direct memory in use while the client stalls")
                .isLessThan(48L << 20);
          }
        }
        int n = in.read(buf, 0, (int) Math.min(buf.length, DOWNLOAD - consumed));
        if (n < 0) {
          break;
        }
        for (int i = 0; i < n && mismatch < 0; i++) {
          if (buf[i] != (byte) ((consumed + i) % 251)) {
            mismatch = consumed + i;
          }
        }
        consumed += n;
      }
      assertThat(consumed).isEqualTo(DOWNLOAD);
      assertThat(mismatch).as("first corrupted byte").isEqualTo(-1);
      // the connection carries on after a streamed body
      c.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
      assertThat(Echoed.parse(c.read().text()).uri()).isEqualTo("/after");
    }
  }

  private static long usedDirectMemory() {
    ByteBufAllocator a = ByteBufAllocator.DEFAULT;
    return a instanceof ByteBufAllocatorMetricProvider
        ? ((ByteBufAllocatorMetricProvider) a).metric().usedDirectMemory() : -1;
  }

  /** Waits until {@code counter} has not moved for {@code quiet}. */
  private static void awaitQuiet(AtomicLong counter, Duration quiet) {
    long[] last = {counter.get(), System.nanoTime()};
    Await.until("the counter to stop moving", Duration.ofSeconds(30), () -> {
      long v = counter.get();
      long now = System.nanoTime();
      if (v != last[0]) {
        last[0] = v;
        last[1] = now;
        return false;
      }
      return now - last[1] >= quiet.toNanos();
    });
  }

  @Test
  void pipelinedRequestsAreAnsweredInOrder() throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      c.send("GET /delay/300 HTTP/1.1\r\nHost: a\r\n\r\n"
          + "POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
          + "GET /third HTTP/1.1\r\nHost: a\r\n\r\n"
          + "GET /status/404 HTTP/1.1\r\nHost: a\r\n\r\n"
          + "GET /fifth HTTP/1.1\r\nHost: a\r\n\r\n");
      RawHttp.Response first = c.read();
      assertThat(Echoed.parse(first.text()).uri()).isEqualTo("/delay/300");
      Echoed second = Echoed.parse(c.read().text());
      assertThat(second.uri()).isEqualTo("/second");
      assertThat(second.bodyBytes()).isEqualTo(5);
      assertThat(Echoed.parse(c.read().text()).uri()).isEqualTo("/third");
      RawHttp.Response fourth = c.read();
      assertThat(fourth.status()).isEqualTo(404);
      assertThat(Echoed.parse(fourth.text()).uri()).isEqualTo("/status/404");
      assertThat(Echoed.parse(c.read().text()).uri()).isEqualTo("/fifth");
    }
  }
}
