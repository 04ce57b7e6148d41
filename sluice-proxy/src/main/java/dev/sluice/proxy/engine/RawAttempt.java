package dev.sluice.proxy.engine;

import dev.sluice.http.upstream.UpstreamException;
import dev.sluice.http.upstream.UpstreamStream;
import dev.sluice.http.upstream.UpstreamStreamHandler;
import dev.sluice.http.wire.ChunkedBodyScanner;
import dev.sluice.http.wire.ResponseHead;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;

/**
 * One try of a raw call ({@link RawCall}) on one upstream HTTP/1.1 connection taken raw: the
 * upstream layer's handler for it. What both fast paths share is here: the request head, a
 * replayed body and the body chunks go out; the response head is parsed in place and checked
 * (informational responses, retries by status, transfer codings, framing); the body is measured
 * out by its framing. How a head and the body bytes reach the client is the protocol's: HTTP/1.1
 * bytes ({@link RawHttp1Proxy}) or HTTP/2 frames ({@link RawHttp2Proxy}).
 *
 * <p>Touched on the client's event loop only; the upstream layer's callbacks from another loop
 * are moved to it, and calls on the upstream stream go to the stream's loop.
 */
abstract class RawAttempt<C extends RawCall> implements UpstreamStreamHandler {
  /** How a response's body ends. */
  enum Framing { NONE, LENGTH, CHUNKED, UNTIL_CLOSE }

  private static final AsciiString TRANSFER_ENCODING = AsciiString.cached("transfer-encoding");

  final C call;
  /** The client's connection. */
  final ChannelHandlerContext ctx;
  /** The client connection's response head parser, shared by its attempts one at a time. */
  private final ResponseHead responseHead;
  private final int maxResponseHead;

  UpstreamStream stream;
  /** The stream's loop is the client's: calls go straight, not as tasks. */
  boolean sameLoop;
  /** Superseded (timed out, retried): whatever it still hears is dropped. */
  boolean stale;
  /** The upstream stream was completed or aborted: its connection is not ours to touch. */
  boolean released;
  boolean unflushed;
  /** Response bytes gathered until the head is complete. */
  private ByteBuf headBytes;
  boolean inBody;
  Framing framing;
  long responseLeft;
  boolean upstreamKeepAlive;
  /** Bytes came past the end of the response: the connection cannot be trusted again. */
  boolean extra;
  /** Made for the first chunked response of the attempt. */
  private ChunkedBodyScanner chunks;

  RawAttempt(C call, ChannelHandlerContext ctx, ResponseHead responseHead, int maxResponseHead) {
    this.call = call;
    this.ctx = ctx;
    this.responseHead = responseHead;
    this.maxResponseHead = maxResponseHead;
  }

  // ---- what the protocol does ----

  /** Whether the client's connection is closed (for the whole connection, not one stream). */
  abstract boolean clientClosed();

  /** The authority of the endpoint, for logs and errors (a cache of the client connection's). */
  abstract String authority(dev.sluice.http.upstream.Endpoint endpoint);

  /** After a body chunk was written upstream; {@code s} told whether it takes more. */
  abstract void bodyWritten(UpstreamStream s);

  /** After the request ended, with the first-byte timer armed. */
  abstract void requestEnded();

  /** After the attempt got its connection and wrote what it had. */
  abstract void opened(UpstreamStream s);

  /** Passes an informational (1xx) response on to the client, and flushes it. */
  abstract void informational(ResponseHead rh, ByteBuf bytes);

  /**
   * Writes the final response head to the client (not flushed); {@link #framing} and
   * {@link #upstreamKeepAlive} are set. With {@code endsNow}, the response has no body.
   */
  abstract void responseHead(ResponseHead rh, ByteBuf bytes, boolean endsNow);

  /** Writes body bytes to the client, owning {@code data}; {@code last} ends the body. */
  abstract void relay(ByteBuf data, boolean last);

  /**
   * Writes the body bytes of a chunked response in {@code buf} up to {@code to}, which the
   * scanner found well formed, as chunks or as their data; {@code done} ends the body. The
   * caller keeps {@code buf} and moves its reader index past {@code to}.
   */
  abstract void relayChunked(ByteBuf buf, int to, boolean done);

  /** Writes body bytes of a response that ends with its connection, owning {@code data}. */
  abstract void relayUntilClose(ByteBuf data);

  /** Whether the client takes more bytes now: the upstream is read only while it does. */
  abstract boolean clientWritable();

  /** The whole response went to the client: the attempt and the call end. */
  abstract void finish();

  /** The upstream's close ended a body of unknown length: the call ends. */
  abstract void endedByClose();

  /** The upstream stream's writability changed, on the client's loop. */
  abstract void upstreamWritabilityChanged(boolean writable);

  // ---- the upstream stream, on its loop ----

  final boolean current() {
    return !stale && call.attempt == this && !call.ended;
  }

  final void abort(boolean failure) {
    released = true;
    UpstreamStream s = stream;
    if (sameLoop) {
      s.abort(failure);
    } else {
      s.eventLoop().execute(() -> s.abort(failure));
    }
    releaseHeadBytes();
  }

  final void completeRaw(int code, boolean reusable) {
    released = true;
    UpstreamStream s = stream;
    if (sameLoop) {
      s.completeRaw(code, reusable);
    } else {
      s.eventLoop().execute(() -> s.completeRaw(code, reusable));
    }
    releaseHeadBytes();
  }

  final void setUpstreamRead(boolean read) {
    if (released) {
      return; // the connection may serve another exchange already
    }
    UpstreamStream s = stream;
    if (sameLoop) {
      s.setAutoRead(read);
    } else {
      s.eventLoop().execute(() -> s.setAutoRead(read));
    }
  }

  final void flushIfNeeded() {
    if (stream != null && unflushed) {
      unflushed = false;
      UpstreamStream s = stream;
      if (sameLoop) {
        s.flush();
      } else {
        s.eventLoop().execute(s::flush);
      }
    }
  }

  private void releaseHeadBytes() {
    if (headBytes != null) {
      headBytes.release();
      headBytes = null;
    }
  }

  // ---- the request ----

  @Override
  public final void onOpen(UpstreamStream s) {
    if (!ctx.executor().inEventLoop()) {
      ctx.executor().execute(() -> onOpen(s));
      return;
    }
    sameLoop = s.eventLoop() == ctx.channel().eventLoop();
    if (!current() || clientClosed()) {
      s.eventLoop().execute(() -> s.abort(false));
      return;
    }
    stream = s;
    call.upstreamAuthority = authority(s.endpoint());
    call.tried(s.endpoint());
    ByteBuf[] again = call.replayCopies();
    ByteBuf headCopy = call.upstreamHead.retainedDuplicate();
    if (sameLoop) {
      startOn(s, headCopy, again);
    } else {
      s.eventLoop().execute(() -> startOn(s, headCopy, again));
    }
    unflushed = true;
    ByteBuf c;
    while ((c = call.nextPending()) != null) {
      writeBody(c);
    }
    if (call.requestDone) {
      requestSent();
    } else {
      call.lastActivity = System.nanoTime();
      call.armTimer(call.timeouts.write().toNanos());
      flushIfNeeded();
    }
    opened(s);
  }

  /** On the stream's loop: the head (and a replayed body) go first. */
  private void startOn(UpstreamStream s, ByteBuf headCopy, ByteBuf[] replayed) {
    if (!s.rawBytes()) {
      // not expected: groups that may speak HTTP/2 are left to the standard handlers
      headCopy.release();
      if (replayed != null) {
        for (ByteBuf b : replayed) {
          b.release();
        }
      }
      s.abort(false);
      ctx.executor().execute(() -> {
        if (current()) {
          call.fail(HttpResponseStatus.BAD_GATEWAY, "upstream " + s.endpoint().authority()
              + " answered in HTTP/2 where HTTP/1.1 was expected");
        }
      });
      return;
    }
    s.writeBytes(headCopy);
    if (replayed != null) {
      for (ByteBuf b : replayed) {
        s.writeBytes(b);
      }
    }
  }

  /** Writes a body chunk of the client's, keeping a copy for a retry; takes {@code data}. */
  final void writeBody(ByteBuf data) {
    call.keepForReplay(data);
    UpstreamStream s = stream;
    if (sameLoop) {
      s.writeBytes(data);
    } else {
      s.eventLoop().execute(() -> s.writeBytes(data));
    }
    unflushed = true;
    bodyWritten(s);
  }

  /** The whole request went out: now the response head is awaited. */
  final void requestSent() {
    flushIfNeeded();
    call.armTimer(call.firstByteTimeout().toNanos());
    requestEnded();
  }

  @Override
  public final void onOpenFailed(UpstreamException cause) {
    if (!ctx.executor().inEventLoop()) {
      ctx.executor().execute(() -> onOpenFailed(cause));
      return;
    }
    if (current()) {
      call.openFailed(cause);
    }
  }

  // ---- the response ----

  @Override
  public final void onResponse(Object msg) {
    if (!ctx.executor().inEventLoop()) {
      ctx.executor().execute(() -> onResponse(msg));
      return;
    }
    if (!(msg instanceof ByteBuf) || !current() || clientClosed()) {
      ReferenceCountUtil.release(msg);
      return;
    }
    call.lastActivity = System.nanoTime();
    ByteBuf buf = (ByteBuf) msg;
    if (!inBody) {
      headBytes = headBytes == null ? buf
          : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), headBytes, buf);
      buf = readHead();
      if (buf == null) {
        return; // more of the head to come, or the response went whole, or the attempt is over
      }
    }
    body(buf);
  }

  /**
   * Parses the response head gathered so far; passes informational responses on. Returns the
   * bytes after the final response's head when its body follows, else null.
   */
  private ByteBuf readHead() {
    ResponseHead rh = responseHead;
    while (true) {
      int length = rh.parse(headBytes);
      if (length == ResponseHead.NEED_MORE) {
        if (headBytes.readableBytes() > maxResponseHead) {
          broken("response head larger than " + maxResponseHead + " bytes");
        }
        return null;
      }
      if (length == ResponseHead.MALFORMED) {
        broken(rh.malformation());
        return null;
      }
      int code = rh.status();
      if (code < 200 && code != 101) {
        // 103 Early Hints and the like: passed on, the final answer follows
        informational(rh, headBytes);
        headBytes.skipBytes(length);
        if (!headBytes.isReadable()) {
          releaseHeadBytes();
          return null;
        }
        continue;
      }
      if (code == 101) {
        releaseHeadBytes();
        call.fail(HttpResponseStatus.BAD_GATEWAY, "upstream switched protocols unasked");
        abort(true);
        return null;
      }
      if (call.route.retriesOn(code) && call.mayRetry(true)) {
        stale = true;
        completeRaw(code, false);
        call.retryNow();
        return null;
      }
      if (rh.transferEncoding() && !onlyChunked(rh, headBytes)) {
        // a coding the client would have to undo, unannounced: refused, as nginx does
        broken("unsupported transfer coding \"" + rh.value(rh.indexOf(TRANSFER_ENCODING))
            + "\"");
        return null;
      }
      call.responseHeadSeen = true;
      call.status = code;
      if (call.headOnly || code == 204 || code == 304) {
        framing = Framing.NONE;
      } else if (rh.transferEncoding()) {
        framing = Framing.CHUNKED;
      } else if (rh.contentLength() >= 0) {
        framing = Framing.LENGTH;
        responseLeft = rh.contentLength();
      } else {
        framing = Framing.UNTIL_CLOSE;
      }
      upstreamKeepAlive = rh.keepAlive() && framing != Framing.UNTIL_CLOSE;
      if (framing == Framing.UNTIL_CLOSE) {
        UpstreamStream s = stream;
        if (sameLoop) {
          s.endsWithClose();
        } else {
          s.eventLoop().execute(s::endsWithClose);
        }
      } else if (framing == Framing.CHUNKED) {
        if (chunks == null) {
          chunks = new ChunkedBodyScanner();
        } else {
          chunks.reset();
        }
      }
      boolean endsNow = framing == Framing.NONE
          || (framing == Framing.LENGTH && responseLeft == 0);
      responseHead(rh, headBytes, endsNow);
      call.responseStarted = true;
      inBody = true;
      headBytes.skipBytes(length);
      ByteBuf rest = headBytes;
      headBytes = null;
      if (endsNow) {
        extra = rest.isReadable(); // more than the response: the connection is not reused
        rest.release();
        finish();
        return null;
      }
      return rest;
    }
  }

  /** Whether the response's Transfer-Encoding is chunked and nothing else. */
  private static boolean onlyChunked(ResponseHead rh, ByteBuf buf) {
    if (!rh.chunked()) {
      return false;
    }
    int found = 0;
    for (int i = 0; i < rh.headerCount(); i++) {
      int ns = rh.nameStart(i);
      if (rh.nameEnd(i) - ns == TRANSFER_ENCODING.length()
          && nameIs(buf, ns, TRANSFER_ENCODING)) {
        if (++found > 1 || !"chunked".equalsIgnoreCase(rh.value(i))) {
          return false;
        }
      }
    }
    return true;
  }

  /** Whether the header name at {@code at} equals {@code lower} (of the same length), any case. */
  static boolean nameIs(ByteBuf buf, int at, AsciiString lower) {
    for (int i = 0; i < lower.length(); i++) {
      int b = buf.getByte(at + i);
      if (b >= 'A' && b <= 'Z') {
        b += 'a' - 'A';
      }
      if (b != lower.byteAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** Relays body bytes of the response by its framing; this method owns {@code buf}. */
  private void body(ByteBuf buf) {
    boolean done = false;
    switch (framing) {
      case LENGTH: {
        int n = (int) Math.min(responseLeft, buf.readableBytes());
        responseLeft -= n;
        done = responseLeft == 0;
        if (n == buf.readableBytes()) {
          // the whole buffer is body: it goes as it is
          if (n > 0) {
            relay(buf, done);
          } else {
            buf.release();
          }
          if (done) {
            finish();
          } else {
            afterRelay();
          }
          return;
        }
        relay(buf.readRetainedSlice(n), done);
        break;
      }
      case CHUNKED: {
        int end = chunks.scan(buf, buf.readerIndex(), buf.writerIndex());
        if (end == ChunkedBodyScanner.MALFORMED) {
          buf.release();
          broken("malformed chunked body: " + chunks.malformation());
          return;
        }
        int to = end == ChunkedBodyScanner.NEED_MORE ? buf.writerIndex() : end;
        done = end != ChunkedBodyScanner.NEED_MORE;
        relayChunked(buf, to, done);
        buf.readerIndex(to);
        break;
      }
      default: {
        int n = buf.readableBytes();
        if (n > 0) {
          relayUntilClose(buf.readRetainedSlice(n));
        }
      }
    }
    if (done && buf.isReadable()) {
      extra = true; // more than the response: whatever it is, the connection is not reused
    }
    buf.release();
    if (done) {
      finish();
      return;
    }
    afterRelay();
  }

  private void afterRelay() {
    ctx.flush();
    if (!clientWritable()) {
      setUpstreamRead(false);
    }
  }

  /** The upstream's response cannot be read: a retry when nothing went out yet, else a 502. */
  final void broken(String why) {
    releaseHeadBytes();
    call.meters.upstreamFailure();
    stale = true;
    abort(true);
    String reason = "malformed response (" + call.upstreamAuthority + "): " + why;
    if (!call.responseStarted && call.mayRetry(true)) {
      call.retryNow();
      return;
    }
    call.fail(HttpResponseStatus.BAD_GATEWAY, reason);
  }

  @Override
  public final void onWritabilityChanged(boolean writable) {
    if (!ctx.executor().inEventLoop()) {
      ctx.executor().execute(() -> onWritabilityChanged(writable));
      return;
    }
    if (current()) {
      upstreamWritabilityChanged(writable);
    }
  }

  @Override
  public final void onFailure(UpstreamException cause) {
    if (!ctx.executor().inEventLoop()) {
      ctx.executor().execute(() -> onFailure(cause));
      return;
    }
    releaseHeadBytes();
    if (!current()) {
      return;
    }
    if (inBody && framing == Framing.UNTIL_CLOSE
        && cause.kind() == UpstreamException.Kind.CONNECTION_LOST) {
      // the upstream's close ends a body of unknown length: the exchange is over, not broken
      released = true;
      endedByClose();
      return;
    }
    call.attemptFailed(cause);
  }
}
