package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Connections that break: a raw socket server on 127.0.0.1 that drops the first connections as
 * soon as a request arrives, unanswered, and answers 200 on the others.
 */
class ConnectionErrorsTest {
  private ServerSocket server;
  private Thread acceptor;
  private final AtomicInteger connections = new AtomicInteger();
  private final AtomicInteger answered = new AtomicInteger();
  private volatile int dropFirst;

  @BeforeEach
  void start() throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    acceptor = new Thread(this::accept, "raw-server");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
    acceptor.join(5000);
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        int n = connections.incrementAndGet();
        Thread t = new Thread(() -> serve(s, n <= dropFirst), "raw-connection-" + n);
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  /** Reads requests (head, then Content-Length bytes) and answers 200, or drops the connection. */
  private void serve(Socket s, boolean drop) {
    try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
      while (true) {
        String head = readHead(in);
        if (head == null) {
          return;
        }
        if (drop) {
          return; // closes with the request unanswered
        }
        int length = 0;
        for (String line : head.split("\r\n")) {
          if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
            length = Integer.parseInt(line.substring(15).trim());
          }
        }
        in.readNBytes(length);
        answered.incrementAndGet();
        out.write("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
            .getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
    } catch (IOException e) {
      // the client went away
    }
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    int b;
    while ((b = in.read()) >= 0) {
      head.write(b);
      matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
      if (matched == 4) {
        return head.toString(StandardCharsets.US_ASCII);
      }
    }
    return null;
  }

  private LoadSettings.Builder settings() {
    return LoadSettings.builder().endpoint("http://127.0.0.1:" + server.getLocalPort())
        .items(5).connections(1);
  }

  @Test
  void aDroppedConnectionIsRetriedOnANewOne() throws Exception {
    dropFirst = 2; // the first connection (the one made before the load) and the next one
    LoadSummary s = new LoadGenerator(settings().requests(5).retries(3).build()).run();

    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(s.retried()).isEqualTo(2);
    assertThat(s.attempts()).isEqualTo(7);
    assertThat(answered.get()).isEqualTo(5);
    assertThat(connections.get()).isEqualTo(3);
  }

  @Test
  void withoutRetriesADroppedConnectionFailsTheRequest() throws Exception {
    dropFirst = 1;
    LoadSummary s = new LoadGenerator(settings().requests(3).retries(0).build()).run();

    assertThat(s.failures()).isEqualTo(java.util.Map.of("connection error", 1L));
    assertThat(s.firstProblem()).startsWith("connection error: ")
        .contains("closed the connection before answering");
    assertThat(s.requestsSucceeded()).isEqualTo(2);
    assertThat(answered.get()).isEqualTo(2);
    assertThat(s.exitCode()).isEqualTo(1);
  }
}
