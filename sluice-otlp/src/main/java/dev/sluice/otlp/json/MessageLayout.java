package dev.sluice.otlp.json;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The JSON view of one message type: its fields in declaration order and a lookup by JSON key. */
final class MessageLayout {
  // Descriptors compare by identity and OTLP has a few dozen types, so the cache stays small.
  private static final ConcurrentHashMap<Descriptor, MessageLayout> CACHE = new ConcurrentHashMap<>();

  final FieldLayout[] fields;
  private final Map<String, FieldLayout> byKey;

  private MessageLayout(Descriptor descriptor) {
    List<FieldDescriptor> descriptors = descriptor.getFields();
    fields = new FieldLayout[descriptors.size()];
    byKey = new HashMap<>(descriptors.size() * 4);
    for (int i = 0; i < fields.length; i++) {
      FieldLayout field = new FieldLayout(descriptors.get(i));
      fields[i] = field;
      // Parsers must accept the original proto name as well as the lowerCamelCase json_name.
      byKey.put(field.descriptor.getJsonName(), field);
      byKey.putIfAbsent(field.descriptor.getName(), field);
    }
  }

  static MessageLayout of(Descriptor descriptor) {
    // get() first: it never locks, and after warm-up every call is a hit.
    MessageLayout layout = CACHE.get(descriptor);
    return layout != null ? layout : CACHE.computeIfAbsent(descriptor, MessageLayout::new);
  }

  /** Returns the field for a JSON key (json_name or proto name), or null for a key this type lacks. */
  FieldLayout field(String key) {
    return byKey.get(key);
  }
}
