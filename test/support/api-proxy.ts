import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a client sent through the proxy. */
export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

/** What the proxy does to a request a rule matched, instead of passing it on untouched. */
export type Fault =
  /** Pass it on, let the API act on it, then close the client's connection without its answer. */
  | 'lose-answer'
  /** Answer for the API: a proxy's own error page, the API never sees the request. */
  | { status: number; contentType: string; body: string; headers?: Record<string, string> }
  /** Pass it on, and close the client's connection once the first SSE event has gone through. */
  | 'cut-after-first-event';

interface Rule {
  matches: (req: ProxiedRequest) => boolean;
  fault: Fault;
  /** How many more requests it applies to. */
  times: number;
}

/**
 * An HTTP proxy in front of the API, as a load balancer or a flaky network would be, that can lose
 * an answer, answer in the API's place, or cut an event stream: the faults a client has to survive.
 */
export class ApiProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly rules: Rule[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => this.handle(req, res));
  }

  static async start(target: string): Promise<ApiProxy> {
    const proxy = new ApiProxy(createServer(), new URL(target));
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Applies `fault` to the next `times` requests that `matches` picks (every one for Infinity). */
  fault(matches: (req: ProxiedRequest) => boolean, fault: Fault, times = 1): void {
    this.rules.push({ matches, fault, times });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const seen = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    this.requests.push(seen);
    const rule = this.rules.find((r) => r.times > 0 && r.matches(seen));
    if (rule) rule.times--;
    const fault = rule?.fault;
    if (typeof fault === 'object') {
      res.writeHead(fault.status, { 'Content-Type': fault.contentType, ...fault.headers }).end(fault.body);
      return;
    }
    const upstream = request(
      new URL(seen.path, this.target),
      { method: seen.method, headers: req.headers },
      (answer) => {
        if (fault === 'lose-answer') {
          // The API has acted on it by now: only its answer is lost.
          answer.resume();
          answer.once('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => {
          const cut = fault === 'cut-after-first-event' && chunk.toString().includes('event:');
          // Cut once the event has been flushed to the client, as a connection lost after it would be.
          res.write(chunk, () => {
            if (!cut) return;
            answer.destroy();
            req.socket.destroy();
          });
        });
        answer.on('end', () => res.end());
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  }
}
