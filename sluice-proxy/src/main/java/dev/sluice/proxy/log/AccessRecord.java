package dev.sluice.proxy.log;

/**
 * What the access log writes about one request; null fields are left out of the line.
 *
 * @param time when the request arrived, milliseconds since the epoch
 * @param listener the listener's name
 * @param route the matched route's name; null when none matched
 * @param method the request method
 * @param host the {@code Host} or {@code :authority}
 * @param path the request target: path with query
 * @param protocol {@code HTTP/1.1} or {@code HTTP/2}
 * @param status the status sent to the client; 0 when none was sent
 * @param bytesIn request body bytes received
 * @param bytesOut response body bytes sent
 * @param durationMicros from the request's arrival to the response's end
 * @param upstream the last endpoint tried ({@code host:port}); null when none was
 * @param upstreamStatus the status the endpoint answered; 0 when it did not
 * @param attempts how many endpoints were tried
 * @param client the client's IP address
 * @param forwardedFor the {@code X-Forwarded-For} the request came with
 * @param userAgent the {@code User-Agent}
 * @param traceId the trace id as 32 hex digits
 * @param error what went wrong; null when nothing did
 */
public record AccessRecord(long time, String listener, String route, String method, String host,
    String path, String protocol, int status, long bytesIn, long bytesOut, long durationMicros,
    String upstream, int upstreamStatus, int attempts, String client, String forwardedFor,
    String userAgent, String traceId, String error) {}
