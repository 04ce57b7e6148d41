package dev.sluice.bench;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.common.InstrumentationLibraryInfo;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * Spans as the OpenTelemetry SDK hands them to an exporter ({@link SpanData}), made
 * deterministically from a seed: what an instrumented HTTP service records, like the OTLP payload
 * of the other benchmarks. One resource with 6 attributes and one instrumentation scope; traces of
 * ten spans (a server span and nine children with parent ids); 10 attributes per span (string,
 * int, bool and double, with the keys of the HTTP, database and network conventions); a status (5%
 * errors); no events or links.
 */
final class BenchSpans {
  static final long SEED = 20240917L;

  private static final Resource RESOURCE = Resource.create(Attributes.builder()
      .put("service.name", "checkout")
      .put("service.version", "2.14.1")
      .put("service.instance.id", "checkout-7d9f8b6c5-x2k4p")
      .put("host.name", "ip-10-0-12-34.ec2.internal")
      .put("deployment.environment.name", "production")
      .put("telemetry.sdk.language", "java")
      .build());
  private static final InstrumentationScopeInfo SCOPE =
      InstrumentationScopeInfo.builder("io.opentelemetry.tomcat-10.0").setVersion("2.10.0").build();
  @SuppressWarnings("deprecation") // still abstract in SpanData
  private static final InstrumentationLibraryInfo LIBRARY =
      InstrumentationLibraryInfo.create(SCOPE.getName(), SCOPE.getVersion());

  private static final String[] ROUTES = {"/api/cart", "/api/cart/{id}", "/api/checkout",
      "/api/products/{id}", "/api/users/{id}/orders", "/health"};
  private static final String[] METHODS = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
  private static final String[] QUERIES = {"SELECT * FROM carts WHERE user_id = ?",
      "UPDATE carts SET total = ? WHERE id = ?", "SELECT id, name, price FROM products WHERE id = ?",
      "INSERT INTO orders (user_id, total) VALUES (?, ?)"};
  private static final AttributeKey<String> HTTP_METHOD = AttributeKey.stringKey("http.request.method");
  private static final AttributeKey<String> HTTP_ROUTE = AttributeKey.stringKey("http.route");
  private static final AttributeKey<Long> HTTP_STATUS = AttributeKey.longKey("http.response.status_code");
  private static final AttributeKey<String> URL_PATH = AttributeKey.stringKey("url.path");
  private static final AttributeKey<String> SERVER_ADDRESS = AttributeKey.stringKey("server.address");
  private static final AttributeKey<Long> SERVER_PORT = AttributeKey.longKey("server.port");
  private static final AttributeKey<String> DB_SYSTEM = AttributeKey.stringKey("db.system.name");
  private static final AttributeKey<String> DB_QUERY = AttributeKey.stringKey("db.query.text");
  private static final AttributeKey<Boolean> CACHED = AttributeKey.booleanKey("app.cache.hit");
  private static final AttributeKey<Double> TOTAL = AttributeKey.doubleKey("app.cart.total");
  private static final AttributeKey<String> PEER = AttributeKey.stringKey("network.peer.address");

  private BenchSpans() {}

  /** {@code count} spans (a multiple of 10 makes whole traces), the same for the same seed. */
  static List<SpanData> generate(int count, long seed) {
    Random r = new Random(seed);
    HexFormat hex = HexFormat.of();
    List<SpanData> out = new ArrayList<>(count);
    long start = 1_726_531_200_000_000_000L; // 2024-09-17T00:00:00Z, fixed
    String traceId = null;
    SpanContext root = null;
    for (int i = 0; i < count; i++) {
      boolean isRoot = i % 10 == 0;
      if (isRoot) {
        byte[] t = new byte[16];
        r.nextBytes(t);
        t[0] |= 1; // never all zero
        traceId = hex.formatHex(t);
      }
      byte[] s = new byte[8];
      r.nextBytes(s);
      s[0] |= 1;
      SpanContext context = SpanContext.create(traceId, hex.formatHex(s), TraceFlags.getSampled(),
          TraceState.getDefault());
      SpanContext parent = isRoot ? SpanContext.getInvalid() : root;
      if (isRoot) {
        root = context;
      }
      int k = r.nextInt(ROUTES.length);
      AttributesBuilder a = Attributes.builder();
      if (isRoot) {
        a.put(HTTP_METHOD, METHODS[k]).put(HTTP_ROUTE, ROUTES[k])
            .put(URL_PATH, ROUTES[k].replace("{id}", Integer.toString(r.nextInt(100_000))))
            .put(HTTP_STATUS, r.nextInt(20) == 0 ? 500L : 200L)
            .put(SERVER_ADDRESS, "checkout.internal").put(SERVER_PORT, 8080L)
            .put(PEER, "10.0." + r.nextInt(256) + "." + r.nextInt(256))
            .put(CACHED, r.nextBoolean()).put(TOTAL, Math.round(r.nextDouble() * 50_000) / 100.0)
            .put("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) bench/" + r.nextInt(10));
      } else {
        a.put(DB_SYSTEM, "postgresql").put(DB_QUERY, QUERIES[r.nextInt(QUERIES.length)])
            .put(SERVER_ADDRESS, "db-" + r.nextInt(3) + ".internal").put(SERVER_PORT, 5432L)
            .put("db.namespace", "shop").put("db.operation.name", "SELECT")
            .put(PEER, "10.1." + r.nextInt(256) + "." + r.nextInt(256))
            .put(CACHED, r.nextBoolean()).put("db.response.returned_rows", (long) r.nextInt(500))
            .put(TOTAL, Math.round(r.nextDouble() * 50_000) / 100.0);
      }
      long begin = start + i * 1_000_000L + r.nextInt(1_000_000);
      long end = begin + 50_000L + r.nextInt(20_000_000);
      StatusData status = r.nextInt(20) == 0 ? StatusData.create(StatusCode.ERROR, "deadline exceeded")
          : isRoot ? StatusData.ok() : StatusData.unset();
      out.add(new Span(isRoot ? "GET " + ROUTES[k] : "SELECT shop.carts",
          isRoot ? SpanKind.SERVER : SpanKind.CLIENT, context, parent, status, begin, end,
          a.build()));
    }
    return out;
  }

  /** An ended span's data. */
  record Span(String name, SpanKind kind, SpanContext context, SpanContext parent,
      StatusData status, long startNanos, long endNanos, Attributes attributes)
      implements SpanData {
    @Override
    public String getName() {
      return name;
    }

    @Override
    public SpanKind getKind() {
      return kind;
    }

    @Override
    public SpanContext getSpanContext() {
      return context;
    }

    @Override
    public SpanContext getParentSpanContext() {
      return parent;
    }

    @Override
    public StatusData getStatus() {
      return status;
    }

    @Override
    public long getStartEpochNanos() {
      return startNanos;
    }

    @Override
    public Attributes getAttributes() {
      return attributes;
    }

    @Override
    public List<EventData> getEvents() {
      return List.of();
    }

    @Override
    public List<LinkData> getLinks() {
      return List.of();
    }

    @Override
    public long getEndEpochNanos() {
      return endNanos;
    }

    @Override
    public boolean hasEnded() {
      return true;
    }

    @Override
    public int getTotalRecordedEvents() {
      return 0;
    }

    @Override
    public int getTotalRecordedLinks() {
      return 0;
    }

    @Override
    public int getTotalAttributeCount() {
      return attributes.size();
    }

    @Override
    @SuppressWarnings("deprecation")
    public InstrumentationLibraryInfo getInstrumentationLibraryInfo() {
      return LIBRARY;
    }

    @Override
    public InstrumentationScopeInfo getInstrumentationScopeInfo() {
      return SCOPE;
    }

    @Override
    public Resource getResource() {
      return RESOURCE;
    }
  }
}
