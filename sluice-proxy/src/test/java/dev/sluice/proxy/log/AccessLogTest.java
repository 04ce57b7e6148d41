package dev.sluice.proxy.log;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class AccessLogTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private final Logger logger = (Logger) LoggerFactory.getLogger(AccessLog.LOGGER_NAME);
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final AccessLog log = new AccessLog();

  @BeforeEach
  void capture() {
    appender.start();
    logger.addAppender(appender);
    logger.setLevel(Level.INFO);
    logger.setAdditive(false);
  }

  @AfterEach
  void release() {
    logger.detachAppender(appender);
    logger.setLevel(null);
    logger.setAdditive(true);
  }

  @Test
  void writesEveryFieldAsOneJsonLineAtInfo() throws Exception {
    log.log(new AccessRecord(1_718_000_000_123L, "public", "api", "GET", "example.com",
        "/v1/items?page=2", "HTTP/2", 200, 17, 5120, 1834, "10.0.0.7:8080", 201, 2,
        "203.0.113.9", "198.51.100.1, 10.0.0.1", "curl/8.5.0",
        "4bf92f3577b34da6a3ce929d0e0e4736", "first attempt reset"));

    assertThat(appender.list).hasSize(1);
    ILoggingEvent event = appender.list.get(0);
    assertThat(event.getLevel()).isEqualTo(Level.INFO);
    assertThat(event.getLoggerName()).isEqualTo("sluice.access");
    JsonNode json = MAPPER.readTree(event.getFormattedMessage());
    assertThat(json.get("time").asLong()).isEqualTo(1_718_000_000_123L);
    assertThat(json.get("listener").asText()).isEqualTo("public");
    assertThat(json.get("route").asText()).isEqualTo("api");
    assertThat(json.get("method").asText()).isEqualTo("GET");
    assertThat(json.get("host").asText()).isEqualTo("example.com");
    assertThat(json.get("path").asText()).isEqualTo("/v1/items?page=2");
    assertThat(json.get("protocol").asText()).isEqualTo("HTTP/2");
    assertThat(json.get("status").asInt()).isEqualTo(200);
    assertThat(json.get("bytesIn").asLong()).isEqualTo(17);
    assertThat(json.get("bytesOut").asLong()).isEqualTo(5120);
    assertThat(json.get("durationMicros").asLong()).isEqualTo(1834);
    assertThat(json.get("upstream").asText()).isEqualTo("10.0.0.7:8080");
    assertThat(json.get("upstreamStatus").asInt()).isEqualTo(201);
    assertThat(json.get("attempts").asInt()).isEqualTo(2);
    assertThat(json.get("client").asText()).isEqualTo("203.0.113.9");
    assertThat(json.get("forwardedFor").asText()).isEqualTo("198.51.100.1, 10.0.0.1");
    assertThat(json.get("userAgent").asText()).isEqualTo("curl/8.5.0");
    assertThat(json.get("traceId").asText()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
    assertThat(json.get("error").asText()).isEqualTo("first attempt reset");
    assertThat(json.size()).isEqualTo(19);
  }

  @Test
  void leavesOutNullsAndAMissingUpstreamStatus() throws Exception {
    log.log(new AccessRecord(1, "l", null, "GET", null, "/", "HTTP/1.1", 404, 0, 9, 5, null, 0,
        0, "127.0.0.1", null, null, null, null));

    JsonNode json = MAPPER.readTree(appender.list.get(0).getFormattedMessage());
    List<String> names = new ArrayList<>();
    json.fieldNames().forEachRemaining(names::add);
    assertThat(names).containsExactly("time", "listener", "method", "path", "protocol", "status",
        "bytesIn", "bytesOut", "durationMicros", "attempts", "client");
  }

  @Test
  void hostileValuesCannotBreakTheLineOrForgeFields() throws Exception {
    String path = "/a\r\n{\"time\":0,\"status\":200}\n";
    String agent = "evil\"agent\\\"\u0000\u001b[31m\u007f";
    String host = "h\u2028ost\u00e9\ud83d\ude00";
    String forwarded = "1.2.3.4\",\"route\":\"admin";
    log.log(new AccessRecord(1, "l", "r", "GET", host, path, "HTTP/1.1", 200, 0, 0, 0, null, 0,
        1, "c", forwarded, agent, null, "line1\rline2"));

    String line = appender.list.get(0).getFormattedMessage();
    assertThat(line).doesNotContain("\r", "\n", "\u2028", "\u0000", "\u001b", "\u007f");
    assertThat(line.chars()).allMatch(c -> c >= 0x20 && c <= 0x7e);
    JsonNode json = MAPPER.readTree(line);
    assertThat(json.get("path").asText()).isEqualTo(path);
    assertThat(json.get("userAgent").asText()).isEqualTo(agent);
    assertThat(json.get("host").asText()).isEqualTo(host);
    assertThat(json.get("forwardedFor").asText()).isEqualTo(forwarded);
    assertThat(json.get("route").asText()).isEqualTo("r");
    assertThat(json.get("status").asInt()).isEqualTo(200);
    assertThat(json.get("time").asLong()).isEqualTo(1);
    assertThat(json.get("error").asText()).isEqualTo("line1\rline2");
  }

  @Test
  void cutsOverlongValues() throws Exception {
    String agent = "x".repeat(100_000);
    log.log(new AccessRecord(1, "l", "r", "GET", "h", "/", "HTTP/1.1", 200, 0, 0, 0, null, 0, 1,
        "c", null, agent, null, null));
    log.log(new AccessRecord(2, "l", "r", "GET", "h", "/next", "HTTP/1.1", 200, 0, 0, 0, null, 0,
        1, "c", null, "short", null, null));

    JsonNode first = MAPPER.readTree(appender.list.get(0).getFormattedMessage());
    assertThat(first.get("userAgent").asText()).hasSize(AccessLog.MAX_VALUE_CHARS);
    JsonNode second = MAPPER.readTree(appender.list.get(1).getFormattedMessage());
    assertThat(second.get("path").asText()).isEqualTo("/next");
    assertThat(second.get("userAgent").asText()).isEqualTo("short");
  }

  @Test
  void writesNothingWhenTheLoggerIsOff() {
    logger.setLevel(Level.WARN);

    assertThat(log.enabled()).isFalse();
    log.log(new AccessRecord(1, "l", "r", "GET", "h", "/", "HTTP/1.1", 200, 0, 0, 0, null, 0, 1,
        "c", null, null, null, null));

    assertThat(appender.list).isEmpty();
    logger.setLevel(Level.INFO);
    assertThat(log.enabled()).isTrue();
  }

  @Test
  void linesFromManyThreadsStayWhole() throws Exception {
    int threads = 4;
    int perThread = 500;
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> loops = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int thread = t;
      Thread loop = new Thread(() -> {
        try {
          for (int i = 0; i < perThread; i++) {
            log.log(new AccessRecord(i, "l" + thread, "r", "GET", "h",
                "/t" + thread + "/" + i + "/" + "p".repeat(i % 50), "HTTP/1.1", 200, i, i, i,
                null, 0, 1, "c", null, null, null, null));
          }
        } catch (Throwable e) {
          failure.set(e);
        }
      });
      loops.add(loop);
      loop.start();
    }
    for (Thread loop : loops) {
      loop.join();
    }

    assertThat(failure.get()).isNull();
    List<ILoggingEvent> events = List.copyOf(appender.list);
    assertThat(events).hasSize(threads * perThread);
    Set<String> paths = new HashSet<>();
    for (ILoggingEvent e : events) {
      JsonNode json = MAPPER.readTree(e.getFormattedMessage());
      String path = json.get("path").asText();
      assertThat(path).startsWith("/t" + json.get("listener").asText().substring(1) + "/");
      paths.add(path);
    }
    assertThat(paths).hasSize(threads * perThread);
  }
}
