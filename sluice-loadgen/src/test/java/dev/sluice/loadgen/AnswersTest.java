package dev.sluice.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.rpc.Status;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpServer;
import dev.sluice.otlp.Signal;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What {@link LoadGenerator} sends and how it reads answers that Sluice's receiver does not give:
 * a plain JDK HTTP server on 127.0.0.1 records the requests and answers as each test says
 * (partial success in protobuf and JSON, errors with a {@code google.rpc.Status}, Retry-After as a
 * date).
 */
class AnswersTest {
  /** One request as the server saw it. */
  record Seen(String method, String uri, Headers headers, byte[] body) {}

  /** What the server answers. */
  record Answer(int status, String contentType, byte[] body, Map<String, String> headers) {
    static Answer of(int status, String contentType, byte[] body) {
      return new Answer(status, contentType, body, Map.of());
    }
  }

  private HttpServer server;
  private final List<Seen> seen = new CopyOnWriteArrayList<>();
  private volatile java.util.function.Function<Seen, Answer> answer =
      s -> Answer.of(200, "application/x-protobuf", new byte[0]);

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
    server.createContext("/", exchange -> {
      try (InputStream in = exchange.getRequestBody()) {
        Seen s = new Seen(exchange.getRequestMethod(), exchange.getRequestURI().toString(),
            exchange.getRequestHeaders(), in.readAllBytes());
        seen.add(s);
        Answer a = answer.apply(s);
        exchange.getResponseHeaders().set("Content-Type", a.contentType());
        a.headers().forEach((k, v) -> exchange.getResponseHeaders().set(k, v));
        exchange.sendResponseHeaders(a.status(), a.body().length == 0 ? -1 : a.body().length);
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(a.body());
        }
      }
    });
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  @Test
  void theRequestHeadCarriesPathHostTypeEncodingAndTheUsersHeaders() throws Exception {
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).signal(Signal.METRICS)
        .requests(2).items(7).connections(1).encoding(Encoding.PROTOBUF)
        .compression(Compression.GZIP).header("X-Tenant: blue").header("Authorization: Bearer t0k3n")
        .userAgent("sluice-send/test").build()).run();

    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(seen).hasSize(2);
    Seen first = seen.get(0);
    assertThat(first.method()).isEqualTo("POST");
    assertThat(first.uri()).isEqualTo("/v1/metrics");
    Headers h = first.headers();
    assertThat(h.getFirst("Host")).isEqualTo("127.0.0.1:" + server.getAddress().getPort());
    assertThat(h.getFirst("Content-Type")).isEqualTo("application/x-protobuf");
    assertThat(h.getFirst("Content-Encoding")).isEqualTo("gzip");
    assertThat(h.getFirst("X-Tenant")).isEqualTo("blue");
    assertThat(h.getFirst("Authorization")).isEqualTo("Bearer t0k3n");
    assertThat(h.getFirst("User-Agent")).isEqualTo("sluice-send/test");
    assertThat(h.getFirst("Content-Length")).isEqualTo(Integer.toString(first.body().length));
    byte[] plain;
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(first.body()))) {
      plain = in.readAllBytes();
    }
    ExportMetricsServiceRequest req = ExportMetricsServiceRequest.parseFrom(plain);
    assertThat(req.getResourceMetrics(0).getScopeMetrics(0).getMetricsList()).isNotEmpty();
    assertThat(s.bytesSent()).isEqualTo(first.body().length + seen.get(1).body().length);
  }

  @Test
  void aProtobufPartialSuccessCountsRejectedItems() throws Exception {
    answer = s -> Answer.of(200, "application/x-protobuf", ExportTraceServiceResponse.newBuilder()
        .setPartialSuccess(ExportTracePartialSuccess.newBuilder().setRejectedSpans(7)
            .setErrorMessage("7 spans are too old")).build().toByteArray());

    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).requests(5).items(20)
        .build()).run();

    assertThat(s.requestsSucceeded()).isEqualTo(5);
    assertThat(s.itemsRejected()).isEqualTo(35);
    assertThat(s.itemsAccepted()).isEqualTo(65);
    assertThat(s.requestsFailed()).isZero();
    assertThat(s.firstProblem()).isEqualTo("partial success: 7 spans rejected: 7 spans are too old");
    assertThat(s.exitCode()).isEqualTo(1);
    assertThat(s.format()).contains("rejected      35 spans", "accepted      65 spans");
  }

  @Test
  void aJsonPartialSuccessCountsRejectedItems() throws Exception {
    // Written by hand, as another OTLP server would: int64 as a string, camelCase names.
    answer = s -> Answer.of(200, "application/json; charset=utf-8",
        "{\"partialSuccess\":{\"rejectedLogRecords\":\"2\",\"errorMessage\":\"body too long\"}}"
            .getBytes(StandardCharsets.UTF_8));

    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).signal(Signal.LOGS)
        .encoding(Encoding.JSON).requests(3).items(10).build()).run();

    assertThat(seen.get(0).headers().getFirst("Content-Type")).isEqualTo("application/json");
    assertThat(new String(seen.get(0).body(), StandardCharsets.UTF_8)).startsWith("{")
        .contains("\"logRecords\"");
    assertThat(s.itemsRejected()).isEqualTo(6);
    assertThat(s.itemsAccepted()).isEqualTo(24);
    assertThat(s.firstProblem()).contains("2 log records rejected", "body too long");
  }

  @Test
  void aSuccessWithAnEmptyPartialSuccessRejectsNothing() throws Exception {
    answer = s -> Answer.of(200, "application/x-protobuf", ExportLogsServiceResponse.newBuilder()
        .setPartialSuccess(ExportLogsPartialSuccess.newBuilder().setErrorMessage("just a warning"))
        .build().toByteArray());
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).signal(Signal.LOGS)
        .requests(2).items(5).build()).run();
    assertThat(s.itemsRejected()).isZero();
    assertThat(s.allAccepted()).isTrue();
  }

  @Test
  void aBadRequestIsNotRetriedAndItsMessageIsShown() throws Exception {
    answer = s -> Answer.of(400, "application/x-protobuf", Status.newBuilder().setCode(3)
        .setMessage("span #3 has no name").build().toByteArray());

    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).requests(4).items(5)
        .retries(3).build()).run();

    assertThat(seen).hasSize(4);
    assertThat(s.retried()).isZero();
    assertThat(s.failures()).isEqualTo(Map.of("HTTP 400", 4L));
    assertThat(s.firstProblem()).isEqualTo("HTTP 400: span #3 has no name");
    assertThat(s.exitCode()).isEqualTo(1);
  }

  @Test
  void aJsonErrorMessageIsShown() throws Exception {
    answer = s -> Answer.of(413, "application/json",
        "{\"code\":3,\"message\":\"the body is \\\"too\\\" large\"}".getBytes(StandardCharsets.UTF_8));
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).requests(1).items(5)
        .build()).run();
    assertThat(s.firstProblem()).isEqualTo("HTTP 413: the body is \"too\" large");
  }

  @Test
  void retryAfterAsAnHttpDateIsHonouredAndEachRetryResendsTheSameBytes() throws Exception {
    java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
    answer = s -> {
      if (calls.getAndIncrement() == 0) {
        String date = java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(
            java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(2));
        return new Answer(429, "text/plain", "slow down".getBytes(StandardCharsets.UTF_8),
            Map.of("Retry-After", date));
      }
      return Answer.of(200, "application/x-protobuf", new byte[0]);
    };
    long t0 = System.nanoTime();
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).requests(1).items(5)
        .build()).run();
    double seconds = (System.nanoTime() - t0) / 1e9;

    assertThat(s.retried()).isEqualTo(1);
    assertThat(s.allAccepted()).isTrue();
    assertThat(seen).hasSize(2);
    assertThat(seen.get(1).body()).isEqualTo(seen.get(0).body());
    // The date has a one-second resolution: the wait is more than 1 s, and not the 100 ms backoff.
    assertThat(seconds).isGreaterThan(0.9);
  }

  @Test
  void aServerThatClosesAfterEachAnswerGetsANewConnectionWithoutRetries() throws Exception {
    answer = s -> new Answer(200, "application/x-protobuf", new byte[0],
        Map.of("Connection", "close"));
    LoadSummary s = new LoadGenerator(LoadSettings.builder().endpoint(url()).requests(6).items(3)
        .connections(2).build()).run();
    assertThat(s.allAccepted()).as(s.format()).isTrue();
    assertThat(s.retried()).isZero();
    assertThat(seen).hasSize(6);
  }

  @Test
  void retryAfterValues() {
    assertThat(LoadGenerator.retryAfterNanos(null)).isEqualTo(-1);
    assertThat(LoadGenerator.retryAfterNanos("soon")).isEqualTo(-1);
    assertThat(LoadGenerator.retryAfterNanos("3")).isEqualTo(Duration.ofSeconds(3).toNanos());
    assertThat(LoadGenerator.retryAfterNanos(" 0 ")).isZero();
    assertThat(LoadGenerator.retryAfterNanos("-5")).isZero();
    assertThat(LoadGenerator.retryAfterNanos("86400"))
        .isEqualTo(Duration.ofSeconds(LoadGenerator.MAX_RETRY_AFTER_SECONDS).toNanos());
    assertThat(LoadGenerator.retryAfterNanos("Wed, 21 Oct 2015 07:28:00 GMT")).isZero();
  }
}
