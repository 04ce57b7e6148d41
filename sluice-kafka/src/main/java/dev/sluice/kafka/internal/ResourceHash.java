package dev.sluice.kafka.internal;

import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The message key of metrics and logs: a 16-byte hash of a resource's attributes that does not
 * depend on their order, so every batch from one resource lands in one partition.
 *
 * <p>The attributes are sorted by key (stably; nested key-value lists too) and written in a
 * canonical, type-tagged, length-prefixed form, which is hashed with SHA-256 and cut to its first
 * 16 bytes. Like the Collector's {@code pdatautil.MapHash} it covers the attributes only, not
 * {@code dropped_attributes_count} nor entity references; unlike it, it is not xxHash, so the keys
 * differ from the Collector's (partitioning is consistent within Sluice, not across the two).
 */
public final class ResourceHash {
  private static final Comparator<KeyValue> BY_KEY = Comparator.comparing(KeyValue::getKey);

  private ResourceHash() {}

  public static byte[] of(Resource resource) {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
    Canonical out = new Canonical(digest);
    out.keyValues(resource.getAttributesList());
    return Arrays.copyOf(digest.digest(), 16);
  }

  private static final class Canonical {
    private final MessageDigest digest;
    private final byte[] scratch = new byte[8];

    Canonical(MessageDigest digest) {
      this.digest = digest;
    }

    void keyValues(List<KeyValue> kvs) {
      List<KeyValue> sorted = new ArrayList<>(kvs);
      sorted.sort(BY_KEY);
      u64(sorted.size());
      for (KeyValue kv : sorted) {
        bytes(kv.getKey().getBytes(StandardCharsets.UTF_8));
        value(kv.getValue());
      }
    }

    void value(AnyValue v) {
      switch (v.getValueCase()) {
        case STRING_VALUE -> {
          tag(1);
          bytes(v.getStringValue().getBytes(StandardCharsets.UTF_8));
        }
        case BOOL_VALUE -> {
          tag(2);
          tag(v.getBoolValue() ? 1 : 0);
        }
        case INT_VALUE -> {
          tag(3);
          u64(v.getIntValue());
        }
        case DOUBLE_VALUE -> {
          tag(4);
          u64(Double.doubleToLongBits(v.getDoubleValue()));
        }
        case ARRAY_VALUE -> {
          tag(5);
          u64(v.getArrayValue().getValuesCount());
          for (AnyValue e : v.getArrayValue().getValuesList()) {
            value(e);
          }
        }
        case KVLIST_VALUE -> {
          tag(6);
          keyValues(v.getKvlistValue().getValuesList());
        }
        case BYTES_VALUE -> {
          tag(7);
          bytes(v.getBytesValue().toByteArray());
        }
        default -> tag(0); // no value, or a kind this version does not know
      }
    }

    private void tag(int t) {
      digest.update((byte) t);
    }

    private void bytes(byte[] b) {
      u64(b.length);
      digest.update(b);
    }

    private void u64(long v) {
      for (int i = 0; i < 8; i++) {
        scratch[i] = (byte) (v >>> (56 - 8 * i));
      }
      digest.update(scratch);
    }
  }
}
