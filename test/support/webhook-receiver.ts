import { once, EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One scripted answer of the receiver. */
export type Answer =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  /** Read the request and never answer (until the client gives up or the receiver closes). */
  | { kind: 'hang' };

export const answer = {
  ok: (): Answer => ({ kind: 'status', status: 200 }),
  status: (status: number, headers?: Record<string, string>): Answer => ({
    kind: 'status',
    status,
    ...(headers && { headers }),
  }),
  redirect: (location: string): Answer => ({ kind: 'status', status: 307, headers: { location } }),
  hang: (): Answer => ({ kind: 'hang' }),
};

export interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent: signatures are over these bytes. */
  body: string;
  receivedAt: number;
}

/**
 * A real webhook receiver on 127.0.0.1. It records every request and answers from a script per
 * path, in order; once the script runs out it answers 200. It also counts TCP connections, so a test can
 * show that a refused target was never connected to.
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  connections = 0;
  private readonly scripts = new Map<string, Answer[]>();
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.deliveries.push({
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          receivedAt: Date.now(),
        });
        this.events.emit('delivery');
        const step = this.scripts.get(req.url ?? '')?.shift() ?? answer.ok();
        if (step.kind === 'status') res.writeHead(step.status, step.headers).end('ok');
      });
    });
  }

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new WebhookReceiver(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers for requests to `path`, used in order. */
  script(path: string, ...steps: Answer[]): void {
    this.scripts.set(path, [...(this.scripts.get(path) ?? []), ...steps]);
  }

  deliveriesTo(path: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === path);
  }

  /** Resolves with the deliveries to `path` once there are `n` of them; rejects after `timeoutMs`. */
  async waitFor(path: string, n: number, timeoutMs = 20_000): Promise<Delivery[]> {
    const deadline = AbortSignal.timeout(timeoutMs);
    while (this.deliveriesTo(path).length < n) {
      try {
        await once(this.events, 'delivery', { signal: deadline });
      } catch {
        throw new Error(
          `${n} deliveries to ${path} expected within ${timeoutMs} ms, got ${this.deliveriesTo(path).length}`,
        );
      }
    }
    return this.deliveriesTo(path);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
