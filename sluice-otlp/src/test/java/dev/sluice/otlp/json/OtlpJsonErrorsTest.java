package dev.sluice.otlp.json;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import com.google.protobuf.Message;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every defect in the input surfaces as an OtlpJsonException naming the problem and where it is. */
class OtlpJsonErrorsTest {
  private static final String SPANS_PATH = "resourceSpans[0].scopeSpans[0].spans[0]";

  static AbstractThrowableAssert<?, ? extends Throwable> assertRejected(String json) {
    byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
    return assertThatThrownBy(
            () -> OtlpJsonCodec.parse(bytes, 0, bytes.length, ExportTraceServiceRequest.getDefaultInstance()))
        .isInstanceOf(OtlpJsonException.class);
  }

  static AbstractThrowableAssert<?, ? extends Throwable> assertSpanRejected(String spanJson) {
    return assertRejected("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" + spanJson + "]}]}]}");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      // The offending span JSON | problem | path below the span | detail
      "{\"traceId\":\"zz8efff798038103d269b633813fc60c\"} | invalid hex | .traceId | \"zz8efff798038103d269b633813fc60c\"",
      "{\"spanId\":\"abc\"}                      | invalid hex      | .spanId           | \"abc\"",
      "{\"parentSpanId\":\"0g\"}                 | invalid hex      | .parentSpanId     | \"0g\"",
      "{\"links\":[{},{\"traceId\":\"x\"}]}      | invalid hex      | .links[1].traceId | \"x\"",
      "{\"traceId\":\"ab cd\"}                   | invalid hex      | .traceId          | \"ab cd\"",
      "{\"traceId\":\"\u0660\u0661\"}            | invalid hex      | .traceId          | ''",
      "{\"traceId\":12}                          | expected a hex string but found a number | .traceId | ''",
      "{\"name\":{}}                             | expected a string but found an object | .name | ''",
      "{\"name\":5}                              | expected a string but found a number | .name | ''",
      "{\"name\":[\"a\"]}                        | expected a string but found an array | .name | ''",
      "{\"attributes\":{}}                       | expected an array but found an object | .attributes | ''",
      "{\"attributes\":[null]}                   | expected an object but found null | .attributes[0] | ''",
      "{\"attributes\":[\"a\"]}                  | expected an object but found a string | .attributes[0] | ''",
      "{\"status\":[]}                           | expected an object but found an array | .status | ''",
      "{\"kind\":true}                           | expected an enum number or name but found a boolean | .kind | ''",
      "{\"kind\":2147483648}                     | number out of range for int32 | .kind | 2147483648",
      "{\"kind\":1.5}                            | expected an integer | .kind | 1.5",
      "{\"droppedAttributesCount\":-1}           | number out of range for uint32 | .droppedAttributesCount | -1",
      "{\"droppedAttributesCount\":4294967296}   | number out of range for uint32 | .droppedAttributesCount | 4294967296",
      "{\"droppedAttributesCount\":\"x1\"}       | invalid integer | .droppedAttributesCount | \"x1\"",
      "{\"startTimeUnixNano\":\"-1\"}            | number out of range for uint64 | .startTimeUnixNano | -1",
      "{\"startTimeUnixNano\":\"18446744073709551616\"} | number out of range for uint64 | .startTimeUnixNano | 18446744073709551616",
      "{\"startTimeUnixNano\":1e300}             | number out of range | .startTimeUnixNano | ''",
      "{\"startTimeUnixNano\":\"1.5\"}           | expected an integer | .startTimeUnixNano | 1.5",
      "{\"startTimeUnixNano\":\" 1\"}            | invalid integer | .startTimeUnixNano | \" 1\"",
      "{\"startTimeUnixNano\":\"0x10\"}          | invalid integer | .startTimeUnixNano | \"0x10\"",
      "{\"startTimeUnixNano\":\"\"}              | invalid integer | .startTimeUnixNano | ''",
      "{\"startTimeUnixNano\":true}              | expected an integer but found a boolean | .startTimeUnixNano | ''",
      "{\"attributes\":[{\"value\":{\"intValue\":\"9223372036854775808\"}}]} | number out of range for int64 | .attributes[0].value.intValue | ''",
      "{\"attributes\":[{\"value\":{\"doubleValue\":1e400}}]}     | number out of range for double | .attributes[0].value.doubleValue | ''",
      "{\"attributes\":[{\"value\":{\"doubleValue\":\"nan\"}}]}   | invalid number | .attributes[0].value.doubleValue | \"nan\"",
      "{\"attributes\":[{\"value\":{\"doubleValue\":\"1d\"}}]}    | invalid number | .attributes[0].value.doubleValue | \"1d\"",
      "{\"attributes\":[{\"value\":{\"doubleValue\":{}}}]}        | expected a number but found an object | .attributes[0].value.doubleValue | ''",
      "{\"attributes\":[{\"value\":{\"boolValue\":1}}]}           | expected a boolean but found a number | .attributes[0].value.boolValue | ''",
      "{\"attributes\":[{\"value\":{\"boolValue\":\"yes\"}}]}     | invalid boolean | .attributes[0].value.boolValue | ''",
      "{\"attributes\":[{\"value\":{\"bytesValue\":\"a\"}}]}      | invalid base64 | .attributes[0].value.bytesValue | \"a\"",
      "{\"attributes\":[{\"value\":{\"bytesValue\":\"ab$d\"}}]}   | invalid base64 | .attributes[0].value.bytesValue | \"ab$d\"",
      "{\"attributes\":[{\"value\":{\"bytesValue\":\"YWJj=\"}}]}  | invalid base64 | .attributes[0].value.bytesValue | ''",
      "{\"attributes\":[{\"value\":{\"bytesValue\":7}}]}          | expected a base64 string but found a number | .attributes[0].value.bytesValue | ''",
      "{\"attributes\":[{\"key\":\"k\",\"value\":{\"arrayValue\":{\"values\":[{},{\"intValue\":[]}]}}}]} | expected an integer but found an array | .attributes[0].value.arrayValue.values[1].intValue | ''",
  })
  void valueErrorsNameTheProblemAndThePath(String spanJson, String problem, String path, String detail) {
    var thrown = assertSpanRejected(spanJson.strip())
        .hasMessageStartingWith(problem)
        .hasMessageContaining(" in " + SPANS_PATH + path);
    thrown.extracting(e -> ((OtlpJsonException) e).path()).isEqualTo(SPANS_PATH + path);
    if (!detail.isEmpty()) {
      thrown.hasMessageEndingWith(SPANS_PATH + path + ": " + detail);
    }
  }

  @Test
  void theExampleMessageShape() {
    String spans = "{},{},{},{\"traceId\":\"zz8efff798038103d269b633813fc60c\"}";
    assertRejected("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" + spans + "]}]}]}")
        .hasMessage("invalid hex in resourceSpans[0].scopeSpans[0].spans[3].traceId: "
            + "\"zz8efff798038103d269b633813fc60c\"");
  }

  @Test
  void snakeCaseKeysAppearInThePathAsSent() {
    assertRejected("{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{\"trace_id\":\"q\"}]}]}]}")
        .hasMessageStartingWith("invalid hex in resource_spans[0].scope_spans[0].spans[0].trace_id");
  }

  @Test
  void malformedJson() {
    assertRejected("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\" \"x\"}]}]}]}")
        .hasMessageStartingWith("malformed JSON in resourceSpans[0].scopeSpans[0].spans[0].name: ")
        .hasMessageContaining("line 1, column");
    assertRejected("{\"resourceSpans\":[}").hasMessageStartingWith("malformed JSON in resourceSpans");
    assertRejected("{\"resourceSpans\":[{,]}").hasMessageStartingWith("malformed JSON in resourceSpans[0]");
    assertRejected("{'resourceSpans':[]}").hasMessageStartingWith("malformed JSON in $");
    assertRejected("{\"resourceSpans\":[],}").hasMessageStartingWith("malformed JSON in");
    assertRejected("{\"a\":tru}").hasMessageStartingWith("malformed JSON in a");
    assertRejected("{\"a\":01}").hasMessageStartingWith("malformed JSON in a");
    assertRejected("{\"a\":NaN}").hasMessageStartingWith("malformed JSON in a");
    assertRejected("{\"a\":\"\u0001\"}").hasMessageStartingWith("malformed JSON in a");
    assertRejected("{} {}").hasMessage("unexpected content after the top-level object in $");
    assertRejected("{}x").hasMessageStartingWith("malformed JSON in $");
  }

  @Test
  void truncatedJson() {
    String whole = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"abc\",\"kind\":2}]}]}]}";
    for (int length = 1; length < whole.length(); length++) {
      String cut = whole.substring(0, length);
      assertRejected(cut).as(cut).hasMessageContaining(" in ");
    }
    assertRejected("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"ab")
        .hasMessageStartingWith("malformed JSON in resourceSpans[0].scopeSpans[0].spans[0].name");
  }

  @Test
  void topLevelMustBeAnObject() {
    assertRejected("").hasMessage("empty input in $: expected a JSON object");
    assertRejected("  \n ").hasMessage("empty input in $: expected a JSON object");
    assertRejected("[]").hasMessage("expected an object but found an array in $");
    assertRejected("null").hasMessage("expected an object but found null in $");
    assertRejected("\"x\"").hasMessage("expected an object but found a string in $");
    assertThatThrownBy(() -> OtlpJsonCodec.parse(new ByteArrayInputStream(new byte[0]),
            ExportTraceServiceRequest.getDefaultInstance()))
        .isInstanceOf(OtlpJsonException.class)
        .hasMessageStartingWith("empty input in $");
  }

  @Test
  void nestingDeeperThanTheLimit() {
    // Legitimately nested AnyValues: each level is value -> arrayValue -> values[] -> element.
    String deepValue = "{\"stringValue\":\"leaf\"}";
    for (int i = 0; i < 40; i++) {
      deepValue = "{\"arrayValue\":{\"values\":[" + deepValue + "]}}";
    }
    assertSpanRejected("{\"attributes\":[{\"key\":\"k\",\"value\":" + deepValue + "}]}")
        .hasMessageStartingWith("input exceeds a limit in " + SPANS_PATH + ".attributes[0].value.arrayValue.values[0]")
        .hasMessageContaining("nesting depth");
    String deepUnknown = "1";
    for (int i = 0; i < 100; i++) {
      deepUnknown = (i % 2 == 0 ? "[" + deepUnknown + "]" : "{\"x\":" + deepUnknown + "}");
    }
    assertSpanRejected("{\"future\":" + deepUnknown + "}")
        .hasMessageStartingWith("input exceeds a limit in " + SPANS_PATH + ".future");
    assertRejected("{\"a\":" + "[".repeat(100_000)).hasMessageStartingWith("input exceeds a limit in a[0][0]");
  }

  @Test
  void nestingUpToTheLimitIsAccepted() {
    // Ten levels of nested AnyValue take about 40 levels of JSON, within the limit of 64.
    String deepValue = "{\"stringValue\":\"leaf\"}";
    for (int i = 0; i < 10; i++) {
      deepValue = "{\"arrayValue\":{\"values\":[" + deepValue + "]}}";
    }
    byte[] json = ("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":"
        + deepValue + "}]}]}]}]}").getBytes(StandardCharsets.UTF_8);
    var request = OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance());
    var value = request.getResourceSpans(0).getScopeSpans(0).getSpans(0).getAttributes(0).getValue();
    for (int i = 0; i < 10; i++) {
      value = value.getArrayValue().getValues(0);
    }
    assertThat(value.getStringValue()).isEqualTo("leaf");
    assertThat(OtlpJsonCodec.parse(OtlpJsonCodec.toJsonBytes(request), 0,
        OtlpJsonCodec.toJsonBytes(request).length, ExportTraceServiceRequest.getDefaultInstance())).isEqualTo(request);
  }

  @Test
  void invalidUtf8IsMalformed() {
    byte[] json = {'{', '"', 'a', '"', ':', '"', (byte) 0xc3, '"', '}'};
    assertThatThrownBy(() -> OtlpJsonCodec.parse(json, 0, json.length, ExportTraceServiceRequest.getDefaultInstance()))
        .isInstanceOf(OtlpJsonException.class)
        .hasMessageStartingWith("malformed JSON in a");
  }

  @Test
  void aFailingStreamIsReportedWithItsCause() {
    IOException broken = new IOException("connection reset");
    InputStream in = new InputStream() {
      private int served;

      @Override
      public int read() throws IOException {
        if (served < 10) {
          return "{\"resourceSpans\":[".charAt(served++);
        }
        throw broken;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
          return 0;
        }
        int c = read();
        b[off] = (byte) c;
        return 1;
      }
    };
    assertThatThrownBy(() -> OtlpJsonCodec.parse(in, ExportTraceServiceRequest.getDefaultInstance()))
        .isInstanceOf(OtlpJsonException.class)
        .hasMessageContaining("connection reset")
        .hasCause(broken);
  }

  @Test
  void randomBytesOnlyEverFailAsOtlpJsonException() {
    Random random = new Random(20240611L);
    List<Message> prototypes = List.of(ExportTraceServiceRequest.getDefaultInstance(),
        ExportMetricsServiceRequest.getDefaultInstance(), ExportLogsServiceRequest.getDefaultInstance(),
        ExportTraceServiceResponse.getDefaultInstance());
    byte[] alphabet = "{}[]\":,0123456789-+.eE \ttrue false null\\u\"traceId\"\"spans\"\"kind\"AZaz"
        .getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i < 600; i++) {
      byte[] input = new byte[random.nextInt(64)];
      if (i % 3 == 0) {
        random.nextBytes(input);
      } else {
        // Mostly JSON punctuation, which reaches deeper into the reader than uniform noise.
        for (int j = 0; j < input.length; j++) {
          input[j] = alphabet[random.nextInt(alphabet.length)];
        }
        if (input.length > 0) {
          input[0] = '{';
        }
      }
      parseExpectingOnlyOtlpJsonException(input, prototypes.get(i % prototypes.size()));
    }
  }

  @Test
  void mutatedExamplesOnlyEverFailAsOtlpJsonException() {
    Random random = new Random(7L);
    String[] names = {"trace.json", "metrics.json", "logs.json"};
    Message[] prototypes = {ExportTraceServiceRequest.getDefaultInstance(),
        ExportMetricsServiceRequest.getDefaultInstance(), ExportLogsServiceRequest.getDefaultInstance()};
    byte[] replacements = "{}[]\":,0-9.eE xAF\\".getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i < 600; i++) {
      int which = i % 3;
      byte[] input = OtlpJsonExamplesTest.example(names[which]).clone();
      for (int flips = 1 + random.nextInt(3); flips > 0; flips--) {
        int at = random.nextInt(input.length);
        input[at] = random.nextInt(4) == 0 ? (byte) random.nextInt(256)
            : replacements[random.nextInt(replacements.length)];
      }
      parseExpectingOnlyOtlpJsonException(input, prototypes[which]);
    }
  }

  private static void parseExpectingOnlyOtlpJsonException(byte[] input, Message prototype) {
    try {
      OtlpJsonCodec.parse(input, 0, input.length, prototype);
    } catch (OtlpJsonException e) {
      assertThat(e.getMessage()).contains(" in ");
      assertThat(e.path()).isNotEmpty();
      // That prefix marks the codec's safety net catching a RuntimeException: a bug, even if contained.
      assertThat(e.getMessage()).as(new String(input, StandardCharsets.ISO_8859_1)).doesNotStartWith("cannot decode");
      if (System.getenv("OTLP_JSON_SHOW_ERRORS") != null) {
        System.out.println(e.getMessage());
      }
    } catch (Throwable t) {
      fail("unexpected " + t + " for input " + new String(input, StandardCharsets.ISO_8859_1), t);
    }
    try {
      OtlpJsonCodec.parse(new ByteArrayInputStream(input), prototype);
    } catch (OtlpJsonException e) {
      assertThat(e.path()).isNotEmpty();
    } catch (Throwable t) {
      fail("unexpected " + t + " from a stream for input " + new String(input, StandardCharsets.ISO_8859_1), t);
    }
  }
}
