package dev.sluice.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reported a leaked buffer while it ran. Registered for every test
 * class through JUnit's extension auto-detection (see {@code META-INF/services}).
 *
 * <p>Netty reports leaks only when a leaked buffer has been garbage collected and a later
 * allocation notices it, so after the class the extension collects garbage and allocates a few
 * tracked buffers before it looks.
 */
public final class LeakDetectionExtension implements BeforeAllCallback, AfterAllCallback {

  @Override
  public void beforeAll(ExtensionContext context) {
    LeakDetection.install();
    LeakDetection.drain(); // leaks of earlier classes were already reported against them
  }

  @Override
  public void afterAll(ExtensionContext context) {
    for (int round = 0; round < 3; round++) {
      System.gc();
      System.runFinalization();
      for (int i = 0; i < 64; i++) {
        ByteBuf a = PooledByteBufAllocator.DEFAULT.buffer(8);
        a.release();
        ByteBuf b = UnpooledByteBufAllocator.DEFAULT.heapBuffer(8);
        b.release();
      }
    }
    List<String> leaks = LeakDetection.drain();
    if (!leaks.isEmpty()) {
      throw new AssertionError(
          leaks.size() + " Netty buffer leak(s) in " + context.getDisplayName() + ":\n"
              + String.join("\n\n", leaks));
    }
  }
}
