import { setTimeout as sleep } from 'node:timers/promises';
import type { Server, ServerResponse } from 'node:http';

/** Once the listener has closed, how often connections that have gone idle are closed. */
const IDLE_SWEEP_MS = 100;

export interface GracefulClose {
  /** True from the start of close(). */
  readonly draining: boolean;
  /**
   * Serves on for `graceMs`, every answer saying `Connection: close` so that no client sends
   * another request on a connection about to close; then stops listening, closes the connections
   * left idle, and resolves once the rest have finished their requests and closed.
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
  let draining = false;
  server.prependListener('request', (_req, res: ServerResponse) => {
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
    },
  };
}
