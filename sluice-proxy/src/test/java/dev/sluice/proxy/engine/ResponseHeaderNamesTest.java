package dev.sluice.proxy.engine;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.netty.handler.codec.http.HttpHeaderNames;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ResponseHeaderNamesTest {

  private static byte[] framed(String name) {
    return ("xx" + name + ": v").getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void commonNamesAreNettysConstantsWhereverTheyLie() {
    for (var name : new io.netty.util.AsciiString[] {HttpHeaderNames.DATE,
        HttpHeaderNames.SERVER, HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.CONTENT_LENGTH,
        HttpHeaderNames.ETAG, HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN}) {
      byte[] bytes = framed(name.toString());
      assertSame(name, ResponseHeaderNames.common(bytes, 2, name.length()), name.toString());
    }
  }

  @Test
  void otherNamesAndNearMissesAreNotTaken() {
    for (String name : new String[] {"x-request-id", "datf", "dat", "content-lengtH", "server2",
        "a-name-longer-than-any-of-the-common-names-kept"}) {
      byte[] bytes = framed(name);
      assertNull(ResponseHeaderNames.common(bytes, 2, name.length()), name);
    }
  }
}
