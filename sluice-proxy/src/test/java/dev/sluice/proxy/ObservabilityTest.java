package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.testing.Await;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Tracing and access logging of proxied requests. */
class ObservabilityTest {
  private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String PARENT_ID = "00f067aa0ba902b7";

  private static TestBackend backend;
  private static ReverseProxy proxy;
  private static final List<Span> spans = new CopyOnWriteArrayList<>();
  private static final Logger accessLogger = (Logger) LoggerFactory.getLogger("sluice.access");
  private static final ListAppender<ILoggingEvent> appender = new ListAppender<>();

  @BeforeAll
  static void start() {
    appender.start();
    accessLogger.addAppender(appender);
    accessLogger.setLevel(Level.INFO);
    backend = TestBackend.start("b1");
    proxy = ReverseProxy.builder(TestProxies.proxy()
        .upstream(TestProxies.upstream("backend").urls(backend.url()).build())
        .route(TestProxies.route("traced", "backend").build())
        .tracing(true).accessLog(true).build())
        .spanSink(bytes -> {
          try {
            ExportTraceServiceRequest.parseFrom(bytes).getResourceSpansList()
                .forEach(rs -> rs.getScopeSpansList()
                    .forEach(ss -> spans.addAll(ss.getSpansList())));
          } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
          }
        })
        .ioThreads(1).build().start();
  }

  @AfterAll
  static void stop() {
    proxy.close();
    backend.close();
    accessLogger.detachAppender(appender);
    accessLogger.setLevel(null);
  }

  private static Span spanOfTrace(String traceIdHex) {
    return Await.value("the span of trace " + traceIdHex, Duration.ofSeconds(15),
        () -> spans.stream()
            .filter(s -> HexFormat.of().formatHex(s.getTraceId().toByteArray())
                .equals(traceIdHex))
            .findFirst().orElse(null));
  }

  @Test
  void anIncomingTraceIsContinuedAndItsSpanReported() throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      RawHttp.Response r = c.send("GET /traced?x=1 HTTP/1.1\r\nHost: a\r\n"
          + "traceparent: 00-" + TRACE_ID + "-" + PARENT_ID + "-01\r\n\r\n").read();
      assertThat(r.status()).isEqualTo(200);
      String sent = Echoed.parse(r.text()).header("traceparent");
      assertThat(sent).matches("00-" + TRACE_ID + "-[0-9a-f]{16}-01");
      String spanId = sent.substring(36, 52);
      assertThat(spanId).isNotEqualTo(PARENT_ID).isNotEqualTo("0000000000000000");

      Span span = spanOfTrace(TRACE_ID);
      assertThat(HexFormat.of().formatHex(span.getSpanId().toByteArray())).isEqualTo(spanId);
      assertThat(HexFormat.of().formatHex(span.getParentSpanId().toByteArray()))
          .isEqualTo(PARENT_ID);
      assertThat(span.getEndTimeUnixNano()).isGreaterThan(span.getStartTimeUnixNano());
    }
  }

  @Test
  void aRequestWithoutTraceGetsANewRoot() throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      RawHttp.Response r = c.send("GET /untraced HTTP/1.1\r\nHost: a\r\n"
          + "traceparent: not-a-trace\r\n\r\n").read();
      String sent = Echoed.parse(r.text()).header("traceparent");
      assertThat(sent).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]");
      Span span = spanOfTrace(sent.substring(3, 35));
      assertThat(span.getParentSpanId().isEmpty()).isTrue();
    }
  }

  @Test
  void eachRequestIsOneAccessLogLine() throws Exception {
    try (RawHttp c = new RawHttp(proxy.localAddress())) {
      c.send("POST /logged?q=2 HTTP/1.1\r\nHost: logged.example\r\nUser-Agent: probe/1\r\n"
          + "Content-Length: 5\r\n\r\nhello").read();
    }
    ILoggingEvent event = Await.value("the access log line", Duration.ofSeconds(10),
        () -> appender.list.stream()
            .filter(e -> e.getFormattedMessage().contains("/logged")).findFirst().orElse(null));
    JsonNode json = new ObjectMapper().readTree(event.getFormattedMessage());
    assertThat(json.get("method").asText()).isEqualTo("POST");
    assertThat(json.get("path").asText()).isEqualTo("/logged?q=2");
    assertThat(json.get("host").asText()).isEqualTo("logged.example");
    assertThat(json.get("route").asText()).isEqualTo("traced");
    assertThat(json.get("status").asInt()).isEqualTo(200);
    assertThat(json.get("upstream").asText()).isEqualTo("127.0.0.1:" + backend.port());
    assertThat(json.toString()).contains("probe/1");
    assertThat(json.toString()).contains("127.0.0.1");
  }
}
