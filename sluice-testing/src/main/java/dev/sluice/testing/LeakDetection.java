package dev.sluice.testing;

import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.ArrayList;
import java.util.List;

/**
 * Records every leak that Netty's resource leak detector reports, so that a test run can fail on
 * it instead of only logging it. Installed once per JVM by {@link LeakDetectionExtension}.
 */
public final class LeakDetection {
  private static final List<String> LEAKS = new ArrayList<>();
  private static boolean installed;

  private LeakDetection() {}

  static synchronized void install() {
    if (installed) {
      return;
    }
    installed = true;
    ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
  }

  /** Leaks reported since the last call, emptied by the call. */
  public static synchronized List<String> drain() {
    List<String> out = new ArrayList<>(LEAKS);
    LEAKS.clear();
    return out;
  }

  private static synchronized void record(String leak) {
    LEAKS.add(leak);
  }

  private static final class RecordingFactory extends ResourceLeakDetectorFactory {
    @Override
    @SuppressWarnings("deprecation")
    public <T> ResourceLeakDetector<T> newResourceLeakDetector(
        Class<T> resource, int samplingInterval, long maxActive) {
      return new RecordingDetector<>(resource, samplingInterval);
    }
  }

  private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {
    RecordingDetector(Class<T> resource, int samplingInterval) {
      super(resource, samplingInterval);
    }

    @Override
    protected boolean needReport() {
      return true;
    }

    @Override
    protected void reportTracedLeak(String resourceType, String records) {
      record("LEAK of " + resourceType + ":" + records);
      super.reportTracedLeak(resourceType, records);
    }

    @Override
    protected void reportUntracedLeak(String resourceType) {
      record("LEAK of " + resourceType + " (untraced)");
      super.reportUntracedLeak(resourceType);
    }
  }
}
