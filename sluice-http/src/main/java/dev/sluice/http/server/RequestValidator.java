package dev.sluice.http.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ByteProcessor;
import java.util.List;

/**
 * Refuses HTTP/1.x requests that two servers could frame or route differently (request
 * smuggling), on top of what Netty's decoder refuses when configured by {@link
 * #decoderConfig}: bare LF line ends, both Content-Length and Transfer-Encoding, several or
 * malformed Content-Length values, Transfer-Encoding on HTTP/1.0, a final coding other than
 * chunked, invalid chunk sizes and extensions, header names that are not tokens (whitespace before
 * the colon included) and control characters in header values.
 *
 * <p>This handler adds the checks Netty leaves out: line folding (obs-fold, which Netty silently
 * joins and so can only be seen in the raw bytes), Content-Length given twice in HTTP/1.0 (Netty
 * keeps the first), transfer codings other than a lone {@code chunked}, a missing, repeated or
 * malformed Host, request targets of the wrong form for the method, absolute-form targets whose
 * authority differs from Host, and protocol versions other than HTTP/1.0 and HTTP/1.1. A refused
 * request gets a failed {@link DecoderResult} carrying an {@link InvalidRequestException}, so that
 * {@link RequestGuard} answers it, in order, like any decoding error, and closes the connection.
 *
 * <p>Pipeline: {@code raw-bytes -> head-scan (rawSide) -> HttpServerCodec -> validate (this) ->
 * [h2c upgrade] -> keep-alive -> guard -> application}. To see where each request head begins
 * in the raw bytes, the raw side hands the codec one head at a time, then the body by its
 * declared length, or a chunked body up to each blank line, and learns from this side when the
 * message has ended. All state is touched on the channel's event loop only.
 */
final class RequestValidator extends ChannelInboundHandlerAdapter {
  private static final HttpHeadersFactory HEADERS = new CountingHeadersFactory();

  /** Line folding seen in the head being handed to the codec. */
  private boolean foldInHead;
  /** Between a decoded request head and the last content of its body. */
  private boolean inMessage;
  /** Body bytes still to hand over for a fixed-length body; -1 for a chunked one. */
  private long bodyRemaining;
  /** The decoder failed or a request was refused: the connection is closing, bytes just pass. */
  private boolean broken;

  /**
   * The decoder settings that go with this validation: strict line ends, no duplicate
   * Content-Length, the RFC 9112 Transfer-Encoding rules and header validation, whatever the
   * process-wide defaults say.
   */
  static HttpDecoderConfig decoderConfig(HttpServerSettings settings) {
    return new HttpDecoderConfig()
        .setMaxInitialLineLength(settings.maxInitialLineLength())
        .setMaxHeaderSize(settings.maxHeaderSize())
        .setMaxChunkSize(64 * 1024)
        .setStrictLineParsing(true)
        .setAllowDuplicateContentLengths(false)
        .setUseRfc9112TransferEncoding(true)
        .setHeadersFactory(HEADERS);
  }

  /** The handler that goes before the codec, on the raw bytes. */
  ChannelInboundHandlerAdapter rawSide() {
    return new RawSide();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest) {
      HttpRequest req = (HttpRequest) msg;
      boolean fold = foldInHead;
      foldInHead = false;
      // Folding explains whatever else the decoder made of the folded line, so it comes first.
      InvalidRequestException problem = fold
          ? new InvalidRequestException("obsolete line folding: a header line begins with"
              + " whitespace")
          : req.decoderResult().isSuccess() ? check(req) : null;
      if (problem != null) {
        req.setDecoderResult(DecoderResult.failure(problem));
      }
      if (req.decoderResult().isFailure()) {
        broken = true;
      } else {
        inMessage = true;
        bodyRemaining = HttpUtil.isTransferEncodingChunked(req)
            ? -1 : HttpUtil.getContentLength(req, 0L);
      }
    }
    if (msg instanceof HttpContent && ((HttpContent) msg).decoderResult().isFailure()) {
      broken = true;
    }
    if (msg instanceof LastHttpContent) {
      inMessage = false;
    }
    ctx.fireChannelRead(msg);
  }

  /** The first problem with a decoded request head, or null. */
  static InvalidRequestException check(HttpRequest req) {
    HttpVersion version = req.protocolVersion();
    if (version != HttpVersion.HTTP_1_1 && version != HttpVersion.HTTP_1_0) {
      return new InvalidRequestException(HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED,
          "protocol version " + version.text() + " is not supported; use HTTP/1.1 or HTTP/1.0");
    }
    HttpHeaders headers = req.headers();
    if (headers instanceof CountingHeaders && ((CountingHeaders) headers).contentLengths > 1) {
      return new InvalidRequestException("more than one Content-Length header");
    }
    List<String> codings = headers.getAll(HttpHeaderNames.TRANSFER_ENCODING);
    if (!codings.isEmpty()) {
      // Netty made sure chunked is there once and last; anything beside it is a coding we would
      // pass on undecoded, which a server behind us might frame differently.
      if (codings.size() > 1 || !codings.get(0).trim().equalsIgnoreCase("chunked")) {
        return new InvalidRequestException("unsupported transfer coding \""
            + String.join(", ", codings) + "\"; only chunked is accepted");
      }
    }
    List<String> hosts = headers.getAll(HttpHeaderNames.HOST);
    if (hosts.size() > 1) {
      return new InvalidRequestException("more than one Host header");
    }
    String host = hosts.isEmpty() ? null : hosts.get(0);
    if (host == null && version == HttpVersion.HTTP_1_1) {
      return new InvalidRequestException("missing Host header");
    }
    if (host != null && !isAuthority(host, 0, host.length())) {
      return new InvalidRequestException("invalid Host header");
    }
    return checkTarget(req.method(), req.uri(), host);
  }

  /** RFC 9112 section 3.2: the request-target's form must suit the method. */
  private static InvalidRequestException checkTarget(HttpMethod method, String target,
      String host) {
    for (int i = 0; i < target.length(); i++) {
      char c = target.charAt(i);
      if (c <= ' ' || c >= 0x7F) {
        return new InvalidRequestException("invalid character 0x" + Integer.toHexString(c)
            + " in the request target");
      }
    }
    if (target.startsWith("/")) {
      return method == HttpMethod.CONNECT
          ? new InvalidRequestException("CONNECT needs an authority-form request target")
          : null;
    }
    if (target.equals("*")) {
      return method == HttpMethod.OPTIONS
          ? null
          : new InvalidRequestException("the request target * is only allowed with OPTIONS");
    }
    if (method == HttpMethod.CONNECT) {
      return isAuthority(target, 0, target.length()) && target.indexOf(':') > 0
          ? null
          : new InvalidRequestException("CONNECT needs an authority-form request target");
    }
    int authorityStart = schemeEnd(target);
    if (authorityStart < 0) {
      return new InvalidRequestException("request target must begin with / or http(s)://");
    }
    int authorityEnd = authorityStart;
    while (authorityEnd < target.length() && "/?#".indexOf(target.charAt(authorityEnd)) < 0) {
      authorityEnd++;
    }
    if (authorityEnd == authorityStart || !isAuthority(target, authorityStart, authorityEnd)) {
      return new InvalidRequestException("invalid authority in the absolute-form request target");
    }
    // The target's authority wins over Host (RFC 9112 3.2.2); a server behind us that routes
    // by Host would disagree, so they must be the same.
    if (host == null || !host.trim().regionMatches(true, 0, target, authorityStart,
        authorityEnd - authorityStart) || host.trim().length() != authorityEnd - authorityStart) {
      return new InvalidRequestException(
          "Host header does not match the authority of the absolute-form request target");
    }
    return null;
  }

  /** Where the authority begins after "http://" or "https://", or -1. */
  private static int schemeEnd(String target) {
    if (target.regionMatches(true, 0, "http://", 0, 7)) {
      return 7;
    }
    if (target.regionMatches(true, 0, "https://", 0, 8)) {
      return 8;
    }
    return -1;
  }

  /**
   * A host with an optional port, of the characters RFC 3986 allows there (no user info, no
   * path); empty is allowed.
   */
  private static boolean isAuthority(String s, int from, int to) {
    while (from < to && (s.charAt(from) == ' ' || s.charAt(from) == '\t')) {
      from++;
    }
    while (to > from && (s.charAt(to - 1) == ' ' || s.charAt(to - 1) == '\t')) {
      to--;
    }
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
          || "-._~%!$&'()*+,;=:[]".indexOf(c) >= 0;
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  /** Before the codec: finds the request heads in the raw bytes and hands them over one by one. */
  private final class RawSide extends ChannelInboundHandlerAdapter {
    private final HeadScanner head = new HeadScanner();
    private final BlankLineFinder blankLine = new BlankLineFinder();

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (broken || !(msg instanceof ByteBuf)) {
        ctx.fireChannelRead(msg);
        return;
      }
      // This handler owns buf; each piece handed on is a retained slice the codec releases.
      ByteBuf buf = (ByteBuf) msg;
      try {
        while (buf.isReadable() && !broken && !ctx.isRemoved()) {
          int start = buf.readerIndex();
          int end;
          if (!inMessage) {
            int last = buf.forEachByte(head);
            end = last < 0 ? buf.writerIndex() : last + 1;
            if (last >= 0) {
              head.reset();
            }
          } else if (bodyRemaining >= 0) {
            int n = (int) Math.min(bodyRemaining, buf.readableBytes());
            bodyRemaining -= n;
            end = start + n;
          } else {
            // A chunked body ends with a blank line, so no piece ending at the first blank line
            // runs past the end of the message.
            int last = buf.forEachByte(blankLine);
            end = last < 0 ? buf.writerIndex() : last + 1;
          }
          if (end == start) {
            break; // a zero-length body whose end the codec has not told yet: pass the rest
          }
          ctx.fireChannelRead(buf.readRetainedSlice(end - start));
        }
        if (buf.isReadable()) {
          ctx.fireChannelRead(buf.readRetainedSlice(buf.readableBytes()));
        }
      } finally {
        buf.release();
      }
    }
  }

  /**
   * Reads a request head up to its blank line (leading blank lines are skipped, as the decoder
   * does) and notes a line that begins with whitespace after the request line: folding.
   */
  private final class HeadScanner implements ByteProcessor {
    private int lineLength;
    private boolean lastWasCr;
    private boolean sawLine;

    @Override
    public boolean process(byte b) {
      if (b == '\n') {
        int length = lastWasCr ? lineLength - 1 : lineLength;
        lineLength = 0;
        lastWasCr = false;
        if (length == 0) {
          return !sawLine; // the blank line that ends the head stops the scan
        }
        sawLine = true;
        return true;
      }
      if (lineLength == 0 && sawLine && (b == ' ' || b == '\t')) {
        foldInHead = true; // set before the codec sees the line, cleared at the decoded head
      }
      if (lineLength < Integer.MAX_VALUE) {
        lineLength++;
      }
      lastWasCr = b == '\r';
      return true;
    }

    void reset() {
      lineLength = 0;
      lastWasCr = false;
      sawLine = false;
    }
  }

  /** Stops after CR LF CR LF. */
  private static final class BlankLineFinder implements ByteProcessor {
    private int matched;

    @Override
    public boolean process(byte b) {
      if (b == ((matched & 1) == 0 ? '\r' : '\n')) {
        if (++matched == 4) {
          matched = 0;
          return false;
        }
      } else {
        matched = b == '\r' ? 1 : 0;
      }
      return true;
    }
  }

  /** Request headers that count their Content-Length lines as the decoder adds them. */
  private static final class CountingHeaders extends DefaultHttpHeaders {
    int contentLengths;

    CountingHeaders() {
      super(DefaultHttpHeadersFactory.headersFactory().getNameValidator(),
          DefaultHttpHeadersFactory.headersFactory().getValueValidator());
    }

    @Override
    public HttpHeaders add(CharSequence name, Object value) {
      if (HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(name)) {
        contentLengths++;
      }
      return super.add(name, value);
    }

    @Override
    public HttpHeaders add(String name, Object value) {
      return add((CharSequence) name, value);
    }
  }

  private static final class CountingHeadersFactory implements HttpHeadersFactory {
    @Override
    public HttpHeaders newHeaders() {
      return new CountingHeaders();
    }

    @Override
    public HttpHeaders newEmptyHeaders() {
      return DefaultHttpHeadersFactory.headersFactory().newEmptyHeaders();
    }
  }
}
