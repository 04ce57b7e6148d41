package dev.sluice.http.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.testing.Await;
import dev.sluice.testing.LeakDetection;
import dev.sluice.testing.LeakDetectionExtension;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.slf4j.LoggerFactory;

/**
 * Property: whatever bytes a client sends as a request head, random or a valid request mutated,
 * the server answers with well-formed HTTP responses and closes the connection within its
 * deadlines, logs no warning or error, leaks no buffer and keeps no connection.
 */
class RequestHeadFuzzTest {
  /** Every connection ends within the short deadlines below; this is far beyond them. */
  private static final Duration DEADLINE = Duration.ofSeconds(10);
  private static final Pattern STATUS_LINE = Pattern.compile("HTTP/1\\.1 (\\d{3}) [ -~]*");

  private static TestServers servers;
  private static HttpServer server;
  private static ListAppender<ILoggingEvent> logs;

  @BeforeContainer
  static void start() {
    new LeakDetectionExtension().beforeAll(null);
    logs = new ListAppender<>();
    logs.start();
    ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).addAppender(logs);
    servers = new TestServers();
    server = servers.start(TestServers.settings()
        .headerTimeout(Duration.ofMillis(200))
        .bodyTimeout(Duration.ofMillis(200))
        .idleTimeout(Duration.ofMillis(200))
        .maxHeaderSize(4096)
        .maxInitialLineLength(1024), new EchoHandlerFactory());
  }

  @AfterContainer
  static void stop() {
    try {
      Await.until("every fuzzed connection to be closed", DEADLINE,
          () -> server.openConnections() == 0);
    } finally {
      servers.close();
      ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).detachAppender(logs);
    }
    List<String> warnings = new ArrayList<>();
    for (ILoggingEvent e : logs.list) {
      if (e.getLevel().isGreaterOrEqual(Level.WARN)) {
        warnings.add(e.getFormattedMessage());
      }
    }
    assertThat(warnings).as("warnings and errors logged while fuzzing").isEmpty();
    assertThat(leaks()).as("buffer leaks").isEmpty();
  }

  /** Collects garbage and allocates tracked buffers, so that Netty reports any leak it finds. */
  private static List<String> leaks() {
    for (int round = 0; round < 3; round++) {
      System.gc();
      for (int i = 0; i < 64; i++) {
        ByteBuf b = PooledByteBufAllocator.DEFAULT.buffer(8);
        b.release();
      }
    }
    return LeakDetection.drain();
  }

  @Property(tries = 200, shrinking = ShrinkingMode.BOUNDED)
  void anyRequestHeadIsAnsweredOrClosedInTime(@ForAll("requests") byte[] request)
      throws Exception {
    try (Socket s = new Socket()) {
      s.connect(server.localAddress(), 5_000);
      s.setSoTimeout(1_000);
      try {
        s.getOutputStream().write(request);
        s.getOutputStream().flush();
      } catch (SocketException e) {
        // The server may refuse and close before it has read everything: that is an ending too.
      }
      byte[] answer = readUntilClosed(s.getInputStream());
      if (startsWith(request, PREFACE)) {
        // HTTP/2 with prior knowledge: the answer begins with the server's SETTINGS frame.
        assertThat(answer.length).isGreaterThanOrEqualTo(9);
        assertThat(answer[3]).as("SETTINGS frame").isEqualTo((byte) 4);
      } else {
        assertWellFormed(answer);
      }
    }
  }

  private static final byte[] PREFACE =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);

  private static boolean startsWith(byte[] bytes, byte[] prefix) {
    return bytes.length >= prefix.length
        && java.util.Arrays.equals(bytes, 0, prefix.length, prefix, 0, prefix.length);
  }

  private static byte[] readUntilClosed(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long end = System.nanoTime() + DEADLINE.toNanos();
    byte[] buf = new byte[4096];
    while (true) {
      int n;
      try {
        n = in.read(buf);
      } catch (SocketTimeoutException e) {
        if (System.nanoTime() > end) {
          throw new AssertionError("connection still open after " + DEADLINE + "; read \""
              + out.toString(StandardCharsets.ISO_8859_1) + "\"");
        }
        continue;
      } catch (SocketException e) {
        return out.toByteArray(); // reset after an answer: closed all the same
      }
      if (n < 0) {
        return out.toByteArray();
      }
      out.write(buf, 0, n);
    }
  }

  /** The bytes are a sequence of complete responses, none of them a server error. */
  private static void assertWellFormed(byte[] answer) {
    String text = new String(answer, StandardCharsets.ISO_8859_1);
    int at = 0;
    while (at < text.length()) {
      int headEnd = text.indexOf("\r\n\r\n", at);
      assertThat(headEnd).as("a complete response head in \"%s\"", text).isGreaterThan(at);
      String[] lines = text.substring(at, headEnd).split("\r\n");
      Matcher status = STATUS_LINE.matcher(lines[0]);
      assertThat(status.matches()).as("status line \"%s\"", lines[0]).isTrue();
      int code = Integer.parseInt(status.group(1));
      assertThat(code).as("status in \"%s\"", text).isBetween(100, 599).isNotEqualTo(500);
      int length = 0;
      for (int i = 1; i < lines.length; i++) {
        int colon = lines[i].indexOf(':');
        assertThat(colon).as("header line \"%s\"", lines[i]).isPositive();
        if (lines[i].substring(0, colon).toLowerCase(Locale.ROOT).equals("content-length")) {
          length = Integer.parseInt(lines[i].substring(colon + 1).trim());
        }
      }
      at = headEnd + 4 + (code < 200 ? 0 : length);
      assertThat(at).as("a complete body in \"%s\"", text).isLessThanOrEqualTo(text.length());
    }
  }

  private static final String[] VALID = {
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=v\r\nhello\r\n0\r\n"
        + "T: 1\r\n\r\n",
    "GET http://x/d HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /f HTTP/1.0\r\n\r\n",
    "POST /g HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  };

  private static final String[] PIECES = {
    "GET ", "POST ", "/", "/p?q=1", "*", "http://x/", " HTTP/1.1", " HTTP/1.0", " HTTP/2.0",
    "\r\n", "\n", "\r", "\r\n\r\n", ":", " ", "\t", "Host: x", "Content-Length: ",
    "Transfer-Encoding: ", "chunked", "gzip, chunked", "0", "5", "-1", "99999999999999999999",
    "ffffffff", ";ext=\"", "Connection: close", "Expect: 100-continue", "\u0000", "\u007f",
    "\u00ff", ",", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "Upgrade: h2c",
  };

  private enum Op { INSERT, DELETE, REPLACE, DUPLICATE_LINE, FOLD, TRUNCATE }

  @Provide
  Arbitrary<byte[]> requests() {
    return Arbitraries.oneOf(mutated(), assembled(), Arbitraries.bytes().array(byte[].class)
        .ofMinSize(1).ofMaxSize(200));
  }

  private static Arbitrary<Byte> interestingBytes() {
    return Arbitraries.oneOf(
        Arbitraries.of((byte) '\r', (byte) '\n', (byte) ' ', (byte) '\t', (byte) ':', (byte) 0,
            (byte) 0x7f, (byte) 0xff, (byte) ',', (byte) ';', (byte) '"', (byte) '0',
            (byte) 0x0b, (byte) '@', (byte) '/'),
        Arbitraries.bytes());
  }

  private static Arbitrary<byte[]> mutated() {
    Arbitrary<Object[]> mutation = Combinators.combine(Arbitraries.of(Op.values()),
        Arbitraries.doubles().between(0, 1), interestingBytes())
        .as((op, where, b) -> new Object[] {op, where, b});
    return Combinators.combine(Arbitraries.of(VALID), mutation.list().ofMinSize(1).ofMaxSize(4))
        .as(RequestHeadFuzzTest::mutate);
  }

  private static Arbitrary<byte[]> assembled() {
    return Arbitraries.of(PIECES).list().ofMinSize(1).ofMaxSize(25)
        .map(p -> String.join("", p).getBytes(StandardCharsets.ISO_8859_1));
  }

  private static byte[] mutate(String valid, List<Object[]> mutations) {
    StringBuilder s = new StringBuilder(valid);
    for (Object[] m : mutations) {
      Op op = (Op) m[0];
      int at = (int) ((double) m[1] * s.length());
      char c = (char) ((byte) m[2] & 0xff);
      switch (op) {
        case INSERT:
          s.insert(at, c);
          break;
        case DELETE:
          if (at < s.length()) {
            s.deleteCharAt(at);
          }
          break;
        case REPLACE:
          if (at < s.length()) {
            s.setCharAt(at, c);
          }
          break;
        case DUPLICATE_LINE: {
          int start = s.lastIndexOf("\n", Math.max(0, at - 1)) + 1;
          int end = s.indexOf("\n", at);
          if (end > start) {
            s.insert(start, s.substring(start, end + 1));
          }
          break;
        }
        case FOLD: {
          int nl = s.indexOf("\r\n", at);
          if (nl >= 0) {
            s.insert(nl + 2, c == '\t' ? '\t' : ' ');
          }
          break;
        }
        case TRUNCATE:
          s.setLength(Math.max(1, at));
          break;
        default:
          throw new AssertionError(op);
      }
    }
    return s.toString().getBytes(StandardCharsets.ISO_8859_1);
  }
}
