package dev.sluice.otlp.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A plain Map/List view of JSON, built independently of the codec so tests can inspect its output. */
final class JsonTree {
  private static final JsonFactory FACTORY = new JsonFactory();

  private JsonTree() {}

  /** Objects become LinkedHashMap, arrays ArrayList, integers Long (or BigInteger), other numbers Double. */
  static Object parse(byte[] json) {
    try (JsonParser p = FACTORY.createParser(json)) {
      Object value = read(p, p.nextToken());
      if (p.nextToken() != null) {
        throw new IllegalArgumentException("trailing content");
      }
      return value;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> object(Object node, String... path) {
    return (Map<String, Object>) at(node, path);
  }

  @SuppressWarnings("unchecked")
  static List<Object> array(Object node, String... path) {
    return (List<Object>) at(node, path);
  }

  /** Follows keys, and list indexes written as decimal strings. */
  static Object at(Object node, String... path) {
    Object current = node;
    for (String step : path) {
      if (current instanceof List<?> list) {
        current = list.get(Integer.parseInt(step));
      } else {
        current = ((Map<?, ?>) current).get(step);
      }
    }
    return current;
  }

  private static Object read(JsonParser p, JsonToken t) throws IOException {
    switch (t) {
      case START_OBJECT: {
        Map<String, Object> map = new LinkedHashMap<>();
        for (String key = p.nextFieldName(); key != null; key = p.nextFieldName()) {
          map.put(key, read(p, p.nextToken()));
        }
        return map;
      }
      case START_ARRAY: {
        List<Object> list = new ArrayList<>();
        for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
          list.add(read(p, e));
        }
        return list;
      }
      case VALUE_STRING:
        return p.getText();
      case VALUE_NUMBER_INT:
        return p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? p.getBigIntegerValue() : p.getLongValue();
      case VALUE_NUMBER_FLOAT:
        return p.getDoubleValue();
      case VALUE_TRUE:
        return Boolean.TRUE;
      case VALUE_FALSE:
        return Boolean.FALSE;
      case VALUE_NULL:
        return null;
      default:
        throw new IllegalArgumentException("unexpected " + t);
    }
  }
}
