/**
 * Raw HTTP/1.1 head parsing for the proxy's fast path: {@link dev.sluice.http.wire.RequestHead}
 * and {@link dev.sluice.http.wire.ResponseHead} read a message head where it lies in a {@code
 * ByteBuf} and keep only offsets into it, and {@link dev.sluice.http.wire.ChunkedBodyScanner} finds
 * where a chunked body ends without copying it.
 *
 * <p>These are hand-written instead of Netty's {@code HttpObjectDecoder} because that decoder's
 * costs show in measured proxy throughput: it builds a header map and strings for every message,
 * validates header characters one call per character and allocates several objects per message.
 * Here a parse allocates nothing (only accessors that return strings do), scans with absolute
 * indexes and reuses its offset arrays. The request side accepts a strict subset of HTTP/1.1 and
 * declines the rest, which the fully validating standard path then reads; the response side is as
 * lenient as Netty's client decoder.
 *
 * <p>Instances are not thread-safe: one per connection, used on its event loop.
 */
package dev.sluice.http.wire;
