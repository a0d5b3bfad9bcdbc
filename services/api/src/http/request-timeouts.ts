import type { ServerOptions } from 'node:http';

/** How often Node looks for connections past their timeouts unless told otherwise. */
const NODE_CHECK_INTERVAL_MS = 30_000;

/**
 * Server options that bound how long a client may take to send its request (headers, then the
 * whole of it); past either, Node answers 408 and closes the connection. Node enforces them only
 * when it next checks its connections, every 30 s by default, which would let a 10 s headers
 * timeout hold a connection for 40 s: the check runs at a quarter of the headers timeout instead.
 */
export function requestTimeouts(requestMs: number, headersMs: number): ServerOptions {
  return {
    requestTimeout: requestMs,
    headersTimeout: headersMs,
    connectionsCheckingInterval: Math.min(NODE_CHECK_INTERVAL_MS, Math.max(50, Math.floor(headersMs / 4))),
  };
}
