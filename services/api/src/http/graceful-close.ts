import { setTimeout as sleep } from 'node:timers/promises';
import type { Server, ServerResponse } from 'node:http';

/** Once the listener has closed, how often connections that have gone idle are closed. */
const IDLE_SWEEP_MS = 100;

/** Work of each request that its connection's close does not end: see `holdClose`. */
const held = new WeakMap<ServerResponse, Set<Promise<void>>>();

/**
 * Makes the server's close wait for `work`, a request's handling, even after the request's client
 * has gone. A client that goes away mid-request closes its connection, and with it the response;
 * the handler runs on regardless, and a create half done (its record written, its job not yet
 * queued) must finish before the stop closes the MongoDB and Redis clients under it.
 */
export function holdClose(res: ServerResponse, work: Promise<unknown>): void {
  const works = held.get(res) ?? new Set<Promise<void>>();
  held.set(res, works);
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  works.add(settled);
  void settled.then(() => works.delete(settled));
}

export interface GracefulClose {
  /** True from the start of close(). */
  readonly draining: boolean;
  /**
   * Serves on for `graceMs`, every answer saying `Connection: close` so that no client sends
   * another request on a connection about to close; then stops listening, closes the connections
   * left idle, and resolves once the rest have finished their requests and closed, and the work
   * held for requests whose clients went away (`holdClose`) has ended.
   *
   * Why serve on rather than stop at once (Node's `server.close()`): a request the client sent just
   * before the signal may sit in the kernel, on a connection not yet accepted or not yet read. A
   * closing listener resets the former, and `close()` closes the latter as idle: the client gets a
   * reset for a request it did send. The grace is also when a load balancer stops routing here.
   */
  close(graceMs: number): Promise<void>;
}

/** Call before the server takes its first request: it follows every answer from then on. */
export function gracefulClose(server: Server): GracefulClose {
  const unanswered = new Set<ServerResponse>();
  // Requests until their response has closed and their held work has ended.
  const handling = new Set<ServerResponse>();
  let whenHandled: (() => void) | undefined;
  let draining = false;
  const forget = (res: ServerResponse) => {
    const works = held.get(res);
    // A guard's work ends by starting the route's, which is held before the guard's settles.
    if (works?.size) return void Promise.all(works).then(() => forget(res));
    handling.delete(res);
    if (handling.size === 0) whenHandled?.();
  };
  server.prependListener('request', (_req, res: ServerResponse) => {
    handling.add(res);
    res.once('close', () => forget(res));
    if (draining) {
      res.shouldKeepAlive = false;
      return;
    }
    unanswered.add(res);
    res.once('close', () => unanswered.delete(res));
  });

  return {
    get draining() {
      return draining;
    },
    async close(graceMs) {
      draining = true;
      for (const res of unanswered) if (!res.headersSent) res.shouldKeepAlive = false;
      unanswered.clear();
      await sleep(graceMs);
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      // close() closed the connections idle now; those still answering go idle later (an answer
      // whose headers left before the drain kept its keep-alive).
      const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
      try {
        await closed;
      } finally {
        clearInterval(sweep);
      }
      // Every connection has closed, and every response with it; what is left is work held.
      if (handling.size > 0) await new Promise<void>((resolve) => (whenHandled = resolve));
    },
  };
}
