package dev.sluice.bench;

import com.google.protobuf.ByteString;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.util.Random;

/**
 * The trace payload every benchmark sends or decodes: one {@code ExportTraceServiceRequest} of
 * {@value #SPANS} spans with {@value #ATTRIBUTES} attributes each, built from a seeded {@link
 * Random} so that every run, and every benchmark in a run, sees the same bytes.
 *
 * <p>It looks like what an instrumented HTTP service exports: one resource with the usual service
 * and host attributes, one instrumentation scope, spans in traces of ten (a server span and its
 * children, with parent ids), random but valid trace and span ids, nanosecond timestamps, a status,
 * and per span a mix of string, int, bool and double attributes with realistic keys and values.
 * Every span passes Sluice's item rules, so the receiver forwards the request as received.
 */
public final class Payloads {
  /** Spans in the request. */
  public static final int SPANS = 100;
  /** Attributes on each span. */
  public static final int ATTRIBUTES = 10;
  /** The seed of {@link #traceRequest()}. */
  public static final long SEED = 20240917L;

  private static final int SPANS_PER_TRACE = 10;
  /** 2024-09-17T12:00:00Z in nanoseconds: a fixed clock keeps the bytes the same run to run. */
  private static final long BASE_NANOS = 1_726_574_400_000_000_000L;

  private static final String[] ROUTES = {
    "/api/v1/orders/{id}", "/api/v1/orders", "/api/v1/cart", "/api/v1/products/{sku}",
    "/api/v1/users/{id}/profile", "/healthz", "/api/v1/checkout", "/api/v1/search"
  };
  private static final String[] METHODS = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
  private static final String[] DB_STATEMENTS = {
    "SELECT id, status, total FROM orders WHERE id = $1",
    "SELECT sku, name, price FROM products WHERE sku = ANY($1)",
    "UPDATE carts SET updated_at = now() WHERE user_id = $1",
    "INSERT INTO order_items (order_id, sku, qty) VALUES ($1, $2, $3)"
  };
  private static final String[] PEERS = {
    "inventory.internal", "payments.internal", "users.internal", "search.internal"
  };

  private Payloads() {}

  /** The request with {@value #SPANS} spans of {@value #ATTRIBUTES} attributes, seed {@link #SEED}. */
  public static ExportTraceServiceRequest traceRequest() {
    return traceRequest(SEED, SPANS);
  }

  /** {@link #traceRequest()} in the protobuf wire format. */
  public static byte[] traceRequestProtobuf() {
    return traceRequest().toByteArray();
  }

  /** {@link #traceRequest()} as OTLP/JSON (hex ids), as an OTLP/HTTP JSON client sends it. */
  public static byte[] traceRequestJson() {
    return OtlpJsonCodec.toJsonBytes(traceRequest());
  }

  /** A request of {@code spans} spans of {@value #ATTRIBUTES} attributes each, from {@code seed}. */
  public static ExportTraceServiceRequest traceRequest(long seed, int spans) {
    Random r = new Random(seed);
    Resource resource = Resource.newBuilder()
        .addAttributes(str("service.name", "checkout"))
        .addAttributes(str("service.namespace", "shop"))
        .addAttributes(str("service.version", "2.14.3"))
        .addAttributes(str("deployment.environment.name", "production"))
        .addAttributes(str("host.name", "checkout-7d9f8b6c5-x2k4q"))
        .addAttributes(str("telemetry.sdk.language", "java"))
        .build();
    ScopeSpans.Builder scope = ScopeSpans.newBuilder()
        .setScope(InstrumentationScope.newBuilder()
            .setName("io.opentelemetry.tomcat-10.0").setVersion("2.8.0-alpha"))
        .setSchemaUrl("https://opentelemetry.io/schemas/1.26.0");
    byte[] traceId = new byte[16];
    byte[] rootId = new byte[8];
    long start = BASE_NANOS;
    for (int i = 0; i < spans; i++) {
      boolean root = i % SPANS_PER_TRACE == 0;
      if (root) {
        r.nextBytes(traceId);
        r.nextBytes(rootId);
        start += 1_000_000L + r.nextInt(50_000_000);
      }
      byte[] spanId = root ? rootId.clone() : new byte[8];
      if (!root) {
        r.nextBytes(spanId);
      }
      spanId[0] |= 1; // never all zeros
      traceId[0] |= 1;
      long spanStart = root ? start : start + 100_000L + r.nextInt(5_000_000);
      long duration = root ? 20_000_000L + r.nextInt(80_000_000) : 200_000L + r.nextInt(15_000_000);
      Span.Builder span = Span.newBuilder()
          .setTraceId(ByteString.copyFrom(traceId))
          .setSpanId(ByteString.copyFrom(spanId))
          .setStartTimeUnixNano(spanStart)
          .setEndTimeUnixNano(spanStart + duration);
      if (!root) {
        byte[] parent = rootId.clone();
        parent[0] |= 1;
        span.setParentSpanId(ByteString.copyFrom(parent));
      }
      boolean error = r.nextInt(20) == 0;
      if (root) {
        serverSpan(span, r, error);
      } else if (i % 2 == 0) {
        dbSpan(span, r);
      } else {
        clientSpan(span, r, error);
      }
      span.setStatus(error
          ? Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_ERROR)
              .setMessage("upstream returned 503").build()
          : Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_UNSET).build());
      if (span.getAttributesCount() != ATTRIBUTES) {
        throw new AssertionError("span " + i + " has " + span.getAttributesCount() + " attributes");
      }
      scope.addSpans(span);
    }
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(resource)
            .addScopeSpans(scope)
            .setSchemaUrl("https://opentelemetry.io/schemas/1.26.0"))
        .build();
  }

  private static void serverSpan(Span.Builder span, Random r, boolean error) {
    String method = METHODS[r.nextInt(METHODS.length)];
    String route = ROUTES[r.nextInt(ROUTES.length)];
    span.setName(method + " " + route).setKind(Span.SpanKind.SPAN_KIND_SERVER)
        .addAttributes(str("http.request.method", method))                        // string
        .addAttributes(str("http.route", route))                                  // string
        .addAttributes(str("url.path", route.replace("{id}", Integer.toString(r.nextInt(1_000_000)))
            .replace("{sku}", "SKU-" + r.nextInt(100_000))))                       // string
        .addAttributes(str("url.scheme", "https"))                                // string
        .addAttributes(integer("http.response.status_code", error ? 503 : 200))   // int
        .addAttributes(str("client.address", "10.12." + r.nextInt(256) + "." + r.nextInt(256)))
        .addAttributes(integer("server.port", 8080))                              // int
        .addAttributes(str("user_agent.original",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0"))
        .addAttributes(bool("http.request.resent", false))                        // bool
        .addAttributes(dbl("app.cart.total", Math.round(r.nextDouble() * 50_000) / 100.0)); // double
  }

  private static void dbSpan(Span.Builder span, Random r) {
    String statement = DB_STATEMENTS[r.nextInt(DB_STATEMENTS.length)];
    span.setName(statement.substring(0, statement.indexOf(' ')) + " shop")
        .setKind(Span.SpanKind.SPAN_KIND_CLIENT)
        .addAttributes(str("db.system", "postgresql"))
        .addAttributes(str("db.namespace", "shop"))
        .addAttributes(str("db.query.text", statement))
        .addAttributes(str("db.operation.name", statement.substring(0, statement.indexOf(' '))))
        .addAttributes(str("server.address", "pg-primary.internal"))
        .addAttributes(integer("server.port", 5432))
        .addAttributes(integer("db.response.returned_rows", r.nextInt(200)))
        .addAttributes(bool("db.statement.prepared", r.nextBoolean()))
        .addAttributes(dbl("db.client.connection.wait_ms", r.nextInt(5000) / 1000.0))
        .addAttributes(str("thread.name", "http-nio-8080-exec-" + (1 + r.nextInt(200))));
  }

  private static void clientSpan(Span.Builder span, Random r, boolean error) {
    String peer = PEERS[r.nextInt(PEERS.length)];
    span.setName("POST").setKind(Span.SpanKind.SPAN_KIND_CLIENT)
        .addAttributes(str("http.request.method", "POST"))
        .addAttributes(str("url.full", "http://" + peer + "/v2/reserve?items=" + r.nextInt(20)))
        .addAttributes(str("server.address", peer))
        .addAttributes(integer("server.port", 80))
        .addAttributes(integer("http.response.status_code", error ? 503 : 200))
        .addAttributes(integer("http.request.body.size", 200 + r.nextInt(4000)))
        .addAttributes(str("network.protocol.version", "1.1"))
        .addAttributes(bool("app.retry", r.nextInt(10) == 0))
        .addAttributes(dbl("app.retry.backoff_s", r.nextInt(100) / 10.0))
        .addAttributes(str("thread.name", "http-nio-8080-exec-" + (1 + r.nextInt(200))));
  }

  private static KeyValue str(String key, String value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setStringValue(value)).build();
  }

  private static KeyValue integer(String key, long value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setIntValue(value)).build();
  }

  private static KeyValue bool(String key, boolean value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setBoolValue(value)).build();
  }

  private static KeyValue dbl(String key, double value) {
    return KeyValue.newBuilder().setKey(key)
        .setValue(AnyValue.newBuilder().setDoubleValue(value)).build();
  }
}
