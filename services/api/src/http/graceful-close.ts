import { setTimeout as sleep } from 'node:timers/promises';
import type { Server, ServerResponse } from 'node:http';

/** Once the listener has closed, how often connections that have gone idle are closed. */
const IDLE_SWEEP_MS = 100;

/** A server's held work (`holdClose`), and whether its close has ended. */
interface HeldWork {
  running: Set<Promise<void>>;
  ended: boolean;
}

/** Each request's server's held work, by the response (set as the request comes in). */
const heldWorkOf = new WeakMap<ServerResponse, HeldWork>();

/**
 * Runs `work`, a step of handling the request `res` answers, and makes the server's close wait for
 * it, even after the request's client has gone. A client that goes away mid-request closes its
 * connection, and with it the response, but the handler runs on: a create half done (its record
 * written, its job not yet queued) must finish before the stop closes MongoDB and Redis under it.
 * Once the close has ended, `work` is not started (its clients are gone, and so are its
 * connections): undefined then.
 */
export async function holdClose<T>(res: ServerResponse, work: () => Promise<T>): Promise<T | undefined> {
  const held = heldWorkOf.get(res);
  if (!held) return work();
  if (held.ended) return undefined;
  const running = work();
  const settled = running.then(
    () => undefined,
    () => undefined,
  );
  held.running.add(settled);
  void settled.then(() => held.running.delete(settled));
  return running;
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
  const held: HeldWork = { running: new Set(), ended: false };
  let draining = false;
  server.prependListener('request', (_req, res: ServerResponse) => {
    heldWorkOf.set(res, held);
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
      // Every connection has closed; what is left is work held for clients that have gone. Work
      // may hold more as it goes (a guard starts the route's handler), so until none is running.
      while (held.running.size > 0) await Promise.all(held.running);
      held.ended = true;
    },
  };
}
