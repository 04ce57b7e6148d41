package dev.sluice.http.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AbstractReferenceCounted;

/**
 * An upstream's answer, with its whole body. The receiver of the response owns it and releases it
 * exactly once.
 */
public final class UpstreamResponse extends AbstractReferenceCounted {
  private final Endpoint endpoint;
  private final int status;
  private final HttpHeaders headers;
  private final ByteBuf body;

  public UpstreamResponse(Endpoint endpoint, int status, HttpHeaders headers, ByteBuf body) {
    this.endpoint = endpoint;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** The endpoint that answered. */
  public Endpoint endpoint() {
    return endpoint;
  }

  public int status() {
    return status;
  }

  public HttpHeaders headers() {
    return headers;
  }

  public ByteBuf body() {
    return body;
  }

  @Override
  protected void deallocate() {
    body.release();
  }

  @Override
  public UpstreamResponse touch(Object hint) {
    body.touch(hint);
    return this;
  }
}
