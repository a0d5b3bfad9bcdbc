import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Agent } from 'undici';
import type { ResolvedAddress, TargetPolicy } from '@imagegen/core';
import { safeAgent } from '../src/webhooks/safe-agent';
import { WebhookSender, type OutgoingWebhook } from '../src/webhooks/webhook-sender';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on a loopback address that counts TCP connections and records each request. */
class Receiver {
  connections = 0;
  readonly received: Received[] = [];
  /** One promise per accepted connection, settled when that socket closes. */
  readonly socketsClosed: Promise<void>[] = [];

  private constructor(
    readonly server: Server,
    readonly host: string,
  ) {
    server.on('connection', (socket: Socket) => {
      this.connections += 1;
      this.socketsClosed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    });
  }

  static async start(handler: Handler, host = '127.0.0.1'): Promise<Receiver> {
    const server = createServer();
    const receiver = new Receiver(server, host);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.received.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        handler(req, res);
      });
    });
    server.listen(0, host);
    await once(server, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    if (this.server.listening) {
      this.server.close();
      await once(this.server, 'close');
    }
  }
}

const answer =
  (status: number, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, headers);
    res.end('ok');
  };

/** Never answers: the request stays open until the client gives up. */
const silent: Handler = () => undefined;

const BODY = JSON.stringify({ type: 'generation.completed', data: { id: '65f0c0ffee0000000000beef' } });

function webhook(url: string): OutgoingWebhook {
  return {
    url,
    headers: {
      'content-type': 'application/json',
      'webhook-id': 'msg_test',
      'webhook-timestamp': '1700000000',
      'webhook-signature': 'v1,c2lnbmF0dXJl',
    },
    body: BODY,
  };
}

/** A resolver that answers from a fixed table and records every name it was asked for. */
function stubResolver(table: Record<string, ResolvedAddress[]>) {
  return jest.fn(async (hostname: string): Promise<ResolvedAddress[]> => {
    const answers = table[hostname];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers;
  });
}

describe('WebhookSender over safeAgent against real receivers', () => {
  const agents: Agent[] = [];
  const receivers: Receiver[] = [];

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function receiver(handler: Handler, host = '127.0.0.1'): Promise<Receiver> {
    const started = await Receiver.start(handler, host);
    receivers.push(started);
    return started;
  }

  /** A sender whose agent follows `policy`; loopback receivers need allowPrivate. */
  function sender(policy: TargetPolicy = { allowPrivate: true }, timeoutMs = 5_000, connections = 16): WebhookSender {
    const agent = safeAgent(policy, timeoutMs, connections);
    agents.push(agent);
    return new WebhookSender(agent, timeoutMs);
  }

  const jobSignal = () => new AbortController().signal;

  test('when more deliveries than 16 go to one receiver at once, then it gets them all at once: a connection each, as many as the worker delivers at once', async () => {
    const deliveries = 24;
    const held: ServerResponse[] = [];
    // Answers nobody until every delivery has arrived: with fewer connections than deliveries, it never answers.
    const target = await receiver((_req, res) => {
      held.push(res);
      if (held.length === deliveries) for (const waiting of held) waiting.writeHead(204).end();
    });
    const send = sender({ allowPrivate: true }, 5_000, deliveries);
    const results = await Promise.all(
      Array.from({ length: deliveries }, () => send.send(webhook(target.url('/hook')), jobSignal())),
    );
    expect(results.map((result) => result.statusCode)).toEqual(Array<number>(deliveries).fill(204));
    expect(target.connections).toBe(deliveries);
  });

  test('when the receiver answers 204, then the status is reported with no error, and it got the POST as sent', async () => {
    const target = await receiver(answer(204));
    const result = await sender().send(webhook(target.url('/hook?x=1')), jobSignal());
    expect(result).toMatchObject({ statusCode: 204, error: null, forbidden: false, retryAfterMs: undefined });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(target.received).toHaveLength(1);
    expect(target.received[0]).toMatchObject({
      method: 'POST',
      url: '/hook?x=1',
      body: BODY,
      headers: expect.objectContaining({
        'content-type': 'application/json',
        'webhook-id': 'msg_test',
        'webhook-timestamp': '1700000000',
        'webhook-signature': 'v1,c2lnbmF0dXJl',
      }),
    });
  });

  test('when the receiver answers 500, then the error names the status', async () => {
    const target = await receiver(answer(500));
    const result = await sender().send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: 500, error: 'the receiver answered 500', forbidden: false });
  });

  test('when the receiver answers 410, then the status is reported as a failed attempt', async () => {
    const target = await receiver(answer(410));
    const result = await sender().send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: 410, error: 'the receiver answered 410', forbidden: false });
  });

  test('when the receiver answers 503 with Retry-After: 7, then retryAfterMs is 7000', async () => {
    const target = await receiver(answer(503, { 'retry-after': '7' }));
    const result = await sender().send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: 503, error: 'the receiver answered 503', retryAfterMs: 7_000 });
  });

  test('when the receiver answers 307, then the redirect is not followed and 307 is reported', async () => {
    const elsewhere = await receiver(answer(200));
    const target = await receiver(answer(307, { location: elsewhere.url('/stolen') }));
    const result = await sender().send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: 307, error: 'the receiver answered 307' });
    expect(target.received).toHaveLength(1);
    expect(elsewhere.connections).toBe(0);
    expect(elsewhere.received).toHaveLength(0);
  });

  test('when the receiver never answers, then the attempt is cut at the timeout and the connection is closed', async () => {
    const target = await receiver(silent);
    const result = await sender({ allowPrivate: true }, 300).send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: null, error: 'no complete answer within 300 ms', forbidden: false });
    expect(target.received).toHaveLength(1);
    await target.socketsClosed[0];
  });

  test('when the receiver destroys the socket, then the error carries a code', async () => {
    const target = await receiver((req) => req.socket.destroy());
    const result = await sender().send(webhook(target.url()), jobSignal());
    expect(result.statusCode).toBeNull();
    expect(result.forbidden).toBe(false);
    expect(result.error).toMatch(/^[A-Z][A-Z_]+: /);
  });

  test('when nothing listens on the port, then the error is ECONNREFUSED', async () => {
    const gone = await Receiver.start(silent);
    const url = gone.url();
    await gone.close();
    const result = await sender().send(webhook(url), jobSignal());
    expect(result).toMatchObject({ statusCode: null, forbidden: false });
    expect(result.error).toMatch(/^ECONNREFUSED: /);
  });

  test('when the receiver streams an endless body, then send returns the status and drops the connection', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const target = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // Writes as fast as the client reads, until it goes away.
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          // backpressure decides: write returns false once the socket buffer is full
        }
      };
      res.on('drain', pump);
      pump();
    });
    // A timeout longer than the test's: if reading the body hung, the test times out instead of passing.
    const result = await sender({ allowPrivate: true }, 120_000).send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: 200, error: null });
    await target.socketsClosed[0];
  }, 20_000);

  test('when allowPrivate is false and the URL is http://127.0.0.1, then it is forbidden and the receiver sees no connection', async () => {
    const target = await receiver(answer(200));
    const result = await sender({ allowPrivate: false }).send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: null, forbidden: true });
    expect(result.error).toBe('not a public address');
    expect(result.detail).toContain('127.0.0.1 is a loopback address');
    expect(target.connections).toBe(0);
  });

  test('when allowPrivate is false and the URL is http://[::1], then it is forbidden and the receiver sees no connection', async () => {
    const target = await receiver(answer(200), '::1');
    const result = await sender({ allowPrivate: false }).send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: null, forbidden: true });
    expect(result.error).toBe('not a public address');
    expect(result.detail).toContain('::1 is a loopback address');
    expect(target.connections).toBe(0);
  });

  test('when allowPrivate is true and the URL is http://[::1], then the IPv6 receiver gets the request', async () => {
    const target = await receiver(answer(200), '::1');
    const result = await sender({ allowPrivate: true }).send(webhook(target.url()), jobSignal());
    expect(result).toMatchObject({ statusCode: 200, error: null });
    expect(target.connections).toBe(1);
  });

  test('when a name resolves through the policy resolver, then we connect to that address once per connection and keep the name as Host', async () => {
    const target = await receiver(answer(200));
    const resolve = stubResolver({ 'receiver.test': [{ address: '127.0.0.1', family: 4 }] });
    const result = await sender({ allowPrivate: true, resolve }).send(
      webhook(`http://receiver.test:${target.port}/hook`),
      jobSignal(),
    );
    expect(result).toMatchObject({ statusCode: 200, error: null });
    expect(target.received).toHaveLength(1);
    expect(target.received[0]!.headers.host).toBe(`receiver.test:${target.port}`);
    expect(target.connections).toBe(1);
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(resolve).toHaveBeenCalledWith('receiver.test');
  });

  test('when a name resolves to a public address and 127.0.0.1 with allowPrivate false, then it is forbidden and no connection is made', async () => {
    const target = await receiver(answer(200));
    const resolve = stubResolver({
      'receiver.test': [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
    const result = await sender({ allowPrivate: false, resolve }).send(
      webhook(`http://receiver.test:${target.port}/hook`),
      jobSignal(),
    );
    expect(result).toMatchObject({ statusCode: null, forbidden: true });
    // The attempt log is the user's to read: it must not tell what the name resolved to.
    expect(result.error).toBe('not a public address');
    expect(result.detail).toContain('receiver.test resolves to 127.0.0.1, a loopback address');
    expect(target.connections).toBe(0);
  });

  test('when the name does not resolve, then the attempt fails as not forbidden, the DNS error in the detail only', async () => {
    const resolve = stubResolver({});
    const result = await sender({ allowPrivate: false, resolve }).send(
      webhook('http://nowhere.test/hook'),
      jobSignal(),
    );
    expect(result).toMatchObject({ statusCode: null, forbidden: false });
    expect(result.error).toBe('not a public address');
    expect(result.detail).toContain('nowhere.test could not be resolved (ENOTFOUND)');
    expect(resolve).toHaveBeenCalledWith('nowhere.test');
  });

  test('when the job signal is already aborted, then send rejects with its reason and nothing is sent', async () => {
    const target = await receiver(answer(200));
    const controller = new AbortController();
    const reason = new Error('job cancelled');
    controller.abort(reason);
    await expect(sender().send(webhook(target.url()), controller.signal)).rejects.toBe(reason);
    expect(target.received).toHaveLength(0);
  });

  test('when the job signal aborts while the receiver is answering, then send rejects with its reason and the connection is closed', async () => {
    const target = await receiver(silent);
    const controller = new AbortController();
    const reason = new Error('worker shutting down');
    const arrived = once(target.server, 'request');
    const sending = sender().send(webhook(target.url()), controller.signal);
    await arrived;
    controller.abort(reason);
    await expect(sending).rejects.toBe(reason);
    await target.socketsClosed[0];
  });
});
