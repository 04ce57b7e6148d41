package dev.sluice.app;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.sluice.otlp.json.OtlpJsonCodec;
import io.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads what the file exporter wrote under {@code <export dir>/<signal>/<signal>.jsonl}: each
 * complete line parsed with {@link OtlpJsonCodec}, a line still being written ignored.
 */
final class ExportFiles {
  private ExportFiles() {}

  static List<ExportTraceServiceRequest> traces(Path exportDir) {
    return read(exportDir.resolve("traces").resolve("traces.jsonl"),
        ExportTraceServiceRequest.getDefaultInstance());
  }

  static List<ExportMetricsServiceRequest> metrics(Path exportDir) {
    return read(exportDir.resolve("metrics").resolve("metrics.jsonl"),
        ExportMetricsServiceRequest.getDefaultInstance());
  }

  static List<ExportLogsServiceRequest> logs(Path exportDir) {
    return read(exportDir.resolve("logs").resolve("logs.jsonl"),
        ExportLogsServiceRequest.getDefaultInstance());
  }

  /** The lines of a file: every one that ends in a newline. */
  static <T extends Message> List<T> read(Path file, T prototype) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return List.of();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<T> out = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == '\n') {
        if (i > start) {
          out.add(OtlpJsonCodec.parse(bytes, start, i - start, prototype));
        }
        start = i + 1;
      }
    }
    return out;
  }

  static String hex(ByteString id) {
    return HexFormat.of().formatHex(id.toByteArray());
  }

  /**
   * Attributes as plain Java values, the way the OpenTelemetry API holds them: String, Boolean,
   * Long, Double, and Lists of those.
   */
  static Map<String, Object> attributes(List<KeyValue> kvs) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (KeyValue kv : kvs) {
      out.put(kv.getKey(), value(kv.getValue()));
    }
    return out;
  }

  static Object value(AnyValue v) {
    switch (v.getValueCase()) {
      case STRING_VALUE:
        return v.getStringValue();
      case BOOL_VALUE:
        return v.getBoolValue();
      case INT_VALUE:
        return v.getIntValue();
      case DOUBLE_VALUE:
        return v.getDoubleValue();
      case ARRAY_VALUE:
        {
          List<Object> list = new ArrayList<>();
          v.getArrayValue().getValuesList().forEach(e -> list.add(value(e)));
          return list;
        }
      case KVLIST_VALUE:
        return attributes(v.getKvlistValue().getValuesList());
      case BYTES_VALUE:
        return v.getBytesValue();
      default:
        return null;
    }
  }

  static String attribute(List<KeyValue> kvs, String key) {
    for (KeyValue kv : kvs) {
      if (kv.getKey().equals(key)) {
        return kv.getValue().getStringValue();
      }
    }
    return null;
  }
}
