import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express from 'express';
import { z } from 'zod';
import { queueActionRoutes, type QueueActionOverrides } from '../src/admin/bull-board.adapter';
import { gracefulClose, holdClose, type GracefulClose } from '../src/http/graceful-close';
import { RouteTable } from '../src/http/route';

/** A step the test lets finish: `started` once it runs, `finish()` to end it. */
function gate() {
  let finish!: () => void;
  let began!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  const started = new Promise<void>((resolve) => (began = resolve));
  return { started, finish, run: async () => (began(), await ended) };
}

/** A server with its graceful close, answering through `app`. */
async function serve(app: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer();
  const closer = gracefulClose(server);
  server.on('request', app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, closer, port: (server.address() as AddressInfo).port };
}

/** Sends `head` and `body` on a raw connection, then resets it: the client is gone. */
async function sendAndLeave(port: number, head: string, body: Buffer, leaveWhen: Promise<void>): Promise<void> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  socket.write(Buffer.concat([Buffer.from(head), body]));
  await leaveWhen;
  socket.resetAndDestroy();
}

/** Closes: still not done 200 ms in, while `step` runs; done once `step` is let finish. */
async function expectCloseHeldBy(closer: GracefulClose, step: { finish: () => void }): Promise<void> {
  let stopped = false;
  const done = closer.close(0).then(() => (stopped = true));
  await sleep(200);
  expect(stopped).toBe(false);
  step.finish();
  await done;
}

describe('holding the close for work whose client has gone', () => {
  let server: Server | undefined;

  afterEach(async () => {
    if (server?.listening) await new Promise((resolve) => server!.close(resolve));
    server = undefined;
  });

  test('when a dashboard action is under way and its client leaves, then the close waits for the action', async () => {
    const action = gate();
    const overrides = Object.fromEntries(
      ['retryAll', 'retryJob', 'cleanAll', 'cleanJob', 'empty', 'addJob', 'updateJobData'].map((name) => [
        name,
        name === 'retryJob' ? action.run : () => undefined,
      ]),
    ) as unknown as QueueActionOverrides;
    const app = express();
    app.use('/board', queueActionRoutes('generations', overrides));
    const served = await serve(app);
    server = served.server;

    await sendAndLeave(
      served.port,
      'PUT /board/api/queues/generations/1/retry HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      Buffer.alloc(0),
      action.started,
    );
    await expectCloseHeldBy(served.closer, action);
  });

  test('when a route’s handler starts only after its client has gone (a gzip body inflated late), then the close waits for it', async () => {
    const handler = gate();
    const table = RouteTable.open(new OpenAPIRegistry(), '/things', 'Things');
    table.post('/', {
      summary: 'Make a thing',
      body: z.object({ name: z.string() }),
      responses: { 202: { description: 'Made' } },
      handler: async ({ res }) => {
        await handler.run();
        res.status(202).end();
      },
    });
    const app = express();
    app.use(express.json());
    app.use('/things', table.router);
    const served = await serve(app);
    server = served.server;
    const closed = new Promise<void>((resolve) =>
      served.server.once('request', (_req, res: ServerResponse) => res.once('close', resolve)),
    );

    const body = gzipSync(JSON.stringify({ name: 'late' }));
    const head = `POST /things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n`;
    await sendAndLeave(served.port, head, body, Promise.resolve());
    await closed;
    await handler.started;
    await expectCloseHeldBy(served.closer, handler);
  });

  test('when the close has ended, then work for a request it outlived is not started', async () => {
    let kept: ServerResponse | undefined;
    const served = await serve((_req, res) => (kept = res));
    server = served.server;
    const arrived = new Promise<void>((resolve) => served.server.once('request', () => resolve()));
    await sendAndLeave(served.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', Buffer.alloc(0), arrived);
    await served.closer.close(0);

    let ran = false;
    expect(await holdClose(kept!, async () => (ran = true))).toBeUndefined();
    expect(ran).toBe(false);
  });
});
