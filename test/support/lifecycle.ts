import { EventEmitter, once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the worker sent to Hugging Face, as the tap saw it. */
export interface TappedRequest {
  model: string;
  /** The worker closed the request before the answer was fully sent (an abort). */
  clientGone: boolean;
  /** The answer reached the worker in full. */
  answered: boolean;
}

/**
 * A pass-through in front of the HF emulator, used as the worker's HF_BASE_URL, that sees what the
 * emulator cannot tell a test: whether the worker hung up on a request before its answer came.
 * Every request is forwarded to the emulator as it is; when the worker goes away, the tap drops
 * its own request to the emulator too, so the emulator's delay ends as it would have.
 */
export class HfTap {
  readonly requests: TappedRequest[] = [];
  private target: URL | undefined;
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => this.forward(req, res));
  }

  static async start(): Promise<HfTap> {
    const tap = new HfTap(createServer());
    tap.server.listen(0, '127.0.0.1');
    await once(tap.server, 'listening');
    return tap;
  }

  /** The worker's HF_BASE_URL, with the emulator's path. */
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hf-inference/models`;
  }

  /** Where requests go: the emulator's base URL (only its origin is used; paths pass unchanged). */
  forwardTo(baseUrl: string): void {
    this.target = new URL(baseUrl);
  }

  requestsFor(model: string): TappedRequest[] {
    return this.requests.filter((r) => r.model === model);
  }

  /** Resolves once the worker has hung up on `n` requests (1-based) for `model`. */
  async waitForClientGone(model: string, n = 1): Promise<void> {
    while (this.requestsFor(model).filter((r) => r.clientGone).length < n) await once(this.events, 'change');
  }

  /** Resolves once `n` requests for `model` have been answered in full. */
  async waitForAnswered(model: string, n = 1): Promise<void> {
    while (this.requestsFor(model).filter((r) => r.answered).length < n) await once(this.events, 'change');
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const model = decodeURIComponent(/^\/hf-inference\/models\/([^/]+\/[^/]+)$/.exec(req.url ?? '')?.[1] ?? '');
    const entry: TappedRequest = { model, clientGone: false, answered: false };
    this.requests.push(entry);
    this.events.emit('change');
    if (!this.target) {
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"tap has no target"}');
      return;
    }
    const upstream = request({
      host: this.target.hostname,
      port: this.target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    upstream.on('response', (answer) => {
      if (res.destroyed) {
        answer.resume();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    // The emulator drops a connection on purpose in some scripts: pass that on as it is.
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (res.writableFinished) entry.answered = true;
      else {
        entry.clientGone = true;
        upstream.destroy();
      }
      this.events.emit('change');
    });
    req.pipe(upstream);
  }
}

/** Polls `probe` every 50 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A BullMQ job's state once it has left `active`: a processor's last write (a record's end, an
 * attempt's log) comes a moment before BullMQ moves its job on.
 */
export function stateAfterActive(read: () => Promise<string | null>): Promise<string | null> {
  return eventually('the job to leave active', async () => {
    const state = await read();
    return state === 'active' ? undefined : state;
  });
}
