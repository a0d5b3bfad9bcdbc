import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { QUEUES } from '@imagegen/shared';
import { COLLECTIONS } from '@imagegen/core';
import { ApiClient } from '../../../test/support/api-client';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { bsonString, throughProxy } from '../../../test/support/mongo-cut';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { startTestApi } from './api-harness';

const DRAIN_MS = 1_500;

/** A raw connection, to send a request's bytes exactly when the test says. */
async function connect(port: number): Promise<{ socket: Socket; received: () => string; ended: Promise<unknown> }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  // 'close' also comes after a reset; the error is what the test looks at.
  const ended = new Promise((resolve) => socket.on('close', () => resolve(text)));
  socket.on('error', (err: NodeJS.ErrnoException) => (text += `\n<${err.code}>`));
  return { socket, received: () => text, ended };
}

const get = (path: string, connection = 'keep-alive') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ${connection}\r\n\r\n`;

/** Resolves once the first answer's head and whole body (by its Content-Length) have arrived. */
async function answered(conn: { socket: Socket; received: () => string }): Promise<void> {
  for (;;) {
    const raw = conn.received();
    const at = raw.indexOf('\r\n\r\n');
    if (at >= 0 && raw.length - at - 4 >= Number(head(raw).headers['content-length'] ?? 0)) return;
    await once(conn.socket, 'data');
  }
}

/** The status line and headers of the first answer in `raw`. */
function head(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [top = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...lines] = top.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => {
      const at = line.indexOf(':');
      return [line.slice(0, at).toLowerCase(), line.slice(at + 1).trim()];
    }),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('the API draining on shutdown', () => {
  let iso: Isolation;

  beforeAll(() => {
    iso = isolation();
  });

  afterAll(async () => {
    await iso.cleanup();
  });

  test('when a connection made before the stop sends its request after it, then the request is answered whole, with Connection: close, and the stop waits for it', async () => {
    const { api } = await startTestApi(iso, { SHUTDOWN_DRAIN_MS: String(DRAIN_MS) });
    const late = await connect(api.port);
    let stopped = false;
    const stopping = api.stop().then(() => (stopped = true));
    // The request Node's own server.close() would have reset: its connection was idle at the stop.
    await sleep(200);
    late.socket.write(get('/healthz'));
    await late.ended;

    const answer = head(late.received());
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe('close');
    expect(JSON.parse(answer.body)).toEqual({ success: true, message: 'ok', data: { status: 'ok' } });
    expect(late.received()).not.toContain('<ECONNRESET>');
    expect(stopped).toBe(false);
    await stopping;
  });

  test('when the stop begins, then /readyz answers 503 "shutting down" while other requests are still served, a keep-alive connection left idle is closed after the drain, and no new connection is taken after it', async () => {
    const { api } = await startTestApi(iso, { SHUTDOWN_DRAIN_MS: String(DRAIN_MS) });
    const idle = await connect(api.port);
    idle.socket.write(get('/healthz'));
    await answered(idle);
    expect(head(idle.received())).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });

    const stopAt = Date.now();
    const stopping = api.stop();
    const ready = await fetch(`http://127.0.0.1:${api.port}/readyz`, { headers: { connection: 'close' } });
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ success: false, message: 'shutting down', data: { stopping: true } });
    const health = await fetch(`http://127.0.0.1:${api.port}/healthz`, { headers: { connection: 'close' } });
    expect(health.status).toBe(200);

    // Kept open during the drain, for a request that might still be on its way, then closed.
    await idle.ended;
    // Less a few ms: the drain's timer and the wall clock round differently.
    expect(Date.now() - stopAt).toBeGreaterThanOrEqual(DRAIN_MS - 5);
    expect(idle.received()).not.toContain('<ECONNRESET>');
    await stopping;
    await expect(fetch(`http://127.0.0.1:${api.port}/healthz`)).rejects.toThrow();
  });

  test('when a client goes away while its create is being handled, then the stop waits for the handler, and the generation is written whole: its record and its job', async () => {
    const direct = new URL(iso.mongoUri);
    const proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 27017) });
    const mongo = await MongoClient.connect(iso.mongoUri);
    const redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUES.generations, { connection: redis, prefix: iso.queuePrefix });
    try {
      const { api, baseUrl } = await startTestApi(iso, {
        MONGODB_URI: throughProxy(iso.mongoUri, proxy),
        SHUTDOWN_DRAIN_MS: '50',
      });
      const client = new ApiClient(baseUrl);
      await client.login('gone@example.com');
      // The record's insert is done and its answer held: the handler waits there, before the job.
      const holding = proxy.holdAnswerTo([bsonString('insert', COLLECTIONS.generations)]);
      const body = JSON.stringify({ prompt: 'a picture whose client leaves' });
      const leaving = await connect(api.port);
      leaving.socket.write(
        `POST /api/generations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${client.token!}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      const release = await holding;
      leaving.socket.destroy();
      await leaving.ended;
      expect(leaving.received()).toBe('');

      let stopped = false;
      const stopping = api.stop().then(() => (stopped = true));
      // Long past the drain: the connection is closed, and only the handler holds the stop.
      await sleep(500);
      expect(stopped).toBe(false);
      release();
      await stopping;

      const records = await mongo.db().collection(COLLECTIONS.generations).find().toArray();
      expect(records.map((record) => record.status)).toEqual(['pending']);
      const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
      expect(jobs.map((job) => (job.data as { generationId: string }).generationId)).toEqual([
        records[0]!._id.toHexString(),
      ]);
    } finally {
      await queue.close();
      redis.disconnect();
      await mongo.close();
      await proxy.close();
    }
  });
});
