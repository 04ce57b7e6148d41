/** Per-route rate limits: token buckets per key, in bounded memory. */
package dev.sluice.proxy.limit;
