import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort, waitFor } from '@imagegen/devstack';
import { COLLECTIONS } from '@imagegen/core';
import { ApiClient } from '../../../test/support/api-client';
import { startHarness, startTestApi, type Harness } from './api-harness';

describe('health endpoints with MongoDB and Redis up', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when /healthz is asked, then it answers 200 ok', async () => {
    const reply = await h.anonymous.request('GET', '/healthz');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ success: true, message: 'ok', data: { status: 'ok' } });
  });

  test('when /readyz is asked and both dependencies answer, then it is 200 with both ok', async () => {
    const reply = await h.anonymous.request('GET', '/readyz');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ success: true, data: { mongodb: 'ok', redis: 'ok' } });
  });
});

describe('an API whose Redis is unreachable', () => {
  let h: Harness;
  let client: ApiClient;
  let stopBroken: () => Promise<void>;

  beforeAll(async () => {
    // The harness gives the database and a working API for logging in; the API under test shares
    // that database but points at a port where nothing listens.
    h = await startHarness();
    const closedPort = await freePort();
    const broken = await startTestApi(h.iso, { REDIS_URL: `redis://127.0.0.1:${closedPort}` });
    stopBroken = () => broken.api.stop();
    const user = await h.user('redis-down@example.com');
    client = new ApiClient(broken.baseUrl, user.token);
  });

  afterAll(async () => {
    await stopBroken?.();
    await h?.stop();
  });

  test('when /readyz is asked, then it is 503 with redis unreachable and mongodb ok', async () => {
    const reply = await client.request('GET', '/readyz');
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ success: false, data: { mongodb: 'ok', redis: 'unreachable' } });
  });

  test('when a generation is posted, then it answers 503 and leaves no record behind', async () => {
    const before = await h.generationCount();
    const reply = await client.request('POST', '/api/generations', { prompt: 'a lighthouse in a storm' });
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ success: false });
    expect(reply.headers.get('retry-after')).toBe('5');
    expect(await h.generationCount()).toBe(before);
    expect(await h.db.collection(COLLECTIONS.generations).countDocuments({ prompt: 'a lighthouse in a storm' })).toBe(
      0,
    );
    expect(await h.jobCount()).toBe(0);
  });
});

/** A TCP proxy to Redis that the test can cut and restore, to take Redis away from a running API. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly port: number,
    private readonly upstream: URL,
  ) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection(Number(this.upstream.port || 6379), this.upstream.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
  }

  /** Stops listening and drops every open connection, as a Redis that died would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('an API that loses Redis while running', () => {
  let h: Harness;
  let proxy: CuttableProxy;
  let client: ApiClient;
  let stopApi: () => Promise<void>;

  beforeAll(async () => {
    h = await startHarness();
    proxy = new CuttableProxy(await freePort(), new URL(h.iso.redisUrl));
    await proxy.open();
    const api = await startTestApi(h.iso, { REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    stopApi = () => api.api.stop();
    const user = await h.user('redis-lost@example.com');
    client = new ApiClient(api.baseUrl, user.token);
  });

  afterAll(async () => {
    await stopApi?.();
    await proxy?.cut();
    await h?.stop();
  });

  test('when Redis goes away and comes back, then creates answer 503 without leftovers meanwhile and 202 again after', async () => {
    const ready = await client.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect((await client.request('POST', '/api/generations', { prompt: 'before the outage' })).status).toBe(202);
    const countBefore = await h.generationCount();
    const jobsBefore = await h.jobCount();

    await proxy.cut();
    const notReady = await client.request('GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatchObject({ data: { mongodb: 'ok', redis: 'unreachable' } });

    const refused = await client.request('POST', '/api/generations', { prompt: 'during the outage' });
    expect(refused.status).toBe(503);
    expect(await h.generationCount()).toBe(countBefore);
    expect(await h.db.collection(COLLECTIONS.generations).countDocuments({ prompt: 'during the outage' })).toBe(0);
    expect(await h.jobCount()).toBe(jobsBefore);

    await proxy.open();
    await waitFor(
      'the API to reconnect to Redis',
      async () => {
        const reply = await client.request('GET', '/readyz');
        if (reply.status !== 200) throw new Error(`/readyz answered ${reply.status}`);
      },
      30_000,
    );
    const after = await client.request<{ data: { id: string } }>('POST', '/api/generations', {
      prompt: 'after the outage',
    });
    expect(after.status).toBe(202);
    expect(await h.queue.getJob(after.body.data.id)).toBeDefined();
  });
});
