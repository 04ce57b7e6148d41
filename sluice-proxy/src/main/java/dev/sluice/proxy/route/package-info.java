/**
 * Routing of proxied requests: {@link dev.sluice.proxy.route.Router} picks the first matching
 * {@link dev.sluice.proxy.route.Route}, which picks the upstream and edits the request and
 * response on the way.
 */
package dev.sluice.proxy.route;
