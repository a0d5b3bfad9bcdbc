import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { QUEUES } from '@imagegen/shared';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import { ApiClient } from '../support/api-client';
import { HfEmulator, hf } from '../support/hf-emulator';
import { isolation, type Isolation } from '../support/isolation';
import { eventually } from '../support/lifecycle';
import type { SpawnedService } from '../support/services';
import { answered, spawnFaultServices } from '../support/faults';
import { newUser } from '../support/system';
import { TcpProxy } from '../support/tcp-proxy';

/** The same database, reached through `proxy`. */
function throughProxy(uri: string, proxy: TcpProxy): string {
  const url = new URL(uri);
  url.host = `127.0.0.1:${proxy.port}`;
  url.searchParams.set('directConnection', 'true');
  return url.toString();
}

/**
 * MongoDB taken off the network under the running services (a TCP proxy between them and the
 * server drops every connection and refuses new ones), then brought back. The test's own view of
 * the database goes around the proxy.
 */
describe('MongoDB unreachable', () => {
  let env: Isolation;
  let proxy: TcpProxy;
  let emulator: HfEmulator;
  let api: SpawnedService;
  let worker: SpawnedService;
  let mongo: Mongo;
  let redis: Redis;
  let queue: Queue;
  let client: ApiClient;

  beforeAll(async () => {
    env = isolation();
    const direct = new URL(env.mongoUri);
    proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 27017) });
    const services = { ...env.env, MONGODB_URI: throughProxy(env.mongoUri, proxy) };
    emulator = await HfEmulator.start();
    [api, worker] = await spawnFaultServices(services, emulator, {
      WORKER_DB_RETRY_MS: '2000',
      WORKER_DB_OUTAGE_DELAY_MS: '1000',
    });
    mongo = await connectMongo(env.mongoUri);
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.generations, { connection: redis, prefix: env.queuePrefix });
    client = await newUser({ client: () => new ApiClient(api.url) });
  });

  afterAll(async () => {
    await proxy?.restore();
    await Promise.all([api?.stop(), worker?.stop()]);
    await queue?.close();
    redis?.disconnect();
    await emulator?.close();
    await mongo?.client.close();
    await proxy?.close();
    await env?.cleanup();
  });

  afterEach(async () => {
    await proxy.restore();
  });

  test('when MongoDB is unreachable, then the API answers 503 (readyz too) without crashing, and recovers by itself', async () => {
    emulator.always('test/api-outage', hf.png());
    const created = await client.create({ prompt: 'a lantern', model: 'test/api-outage' });
    const pid = api.child.pid;

    await proxy.cut();

    const poll = await answered('a poll', client.get(created.id));
    expect(poll).toMatchObject({ status: 503, body: { success: false } });
    expect(poll.headers.get('retry-after')).toBeTruthy();
    const create = await answered('a create', client.request('POST', '/api/generations', { prompt: 'a storm' }));
    expect(create.status).toBe(503);
    const login = await answered(
      'a login',
      new ApiClient(api.url).request('POST', '/api/auth/login', {
        email: 'someone@example.com',
        password: 'password123',
      }),
    );
    expect(login.status).toBe(503);
    const ready = await answered('readyz', client.request('GET', '/readyz'));
    expect(ready).toMatchObject({ status: 503, body: { data: { mongodb: 'unreachable', redis: 'ok' } } });
    expect((await client.request('GET', '/healthz')).status).toBe(200);

    await proxy.restore();

    await eventually('the API serves again', async () =>
      (await client.get(created.id)).status === 200 ? true : undefined,
    );
    expect(api.child.pid).toBe(pid);
    expect(api.child.exitCode).toBeNull();
    expect((await client.request('GET', '/readyz')).status).toBe(200);
  });

  test('when MongoDB goes away while HF renders and while jobs wait, then the worker waits it out and fails nothing', async () => {
    const model = 'test/worker-outage';
    emulator.always(model, hf.png(2_000));
    // With one job at a time: the first is rendering when MongoDB goes, the second starts during the outage.
    const rendering = await client.create({ prompt: 'a glacier', model });
    const waiting = await client.create({ prompt: 'a desert', model });
    await emulator.waitForRequests(model, 1);

    await proxy.cut();
    // Long enough for HF to answer, the completing write to give up, and the job to come back more than once.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const during = await mongo.db
      .collection(COLLECTIONS.generations)
      .find({ _id: { $in: [new ObjectId(rendering.id), new ObjectId(waiting.id)] } })
      .toArray();
    expect(during.map((doc) => doc.status)).not.toContain('failed');
    await proxy.restore();

    for (const { id } of [rendering, waiting]) {
      const done = await client.waitFor(id, ['completed', 'failed', 'canceled'], 60_000);
      expect(done).toMatchObject({ status: 'completed', error: null });
      // The outage spent none of the job's attempts: the one attempt made is the one that completed,
      // and no failed attempt left a stack trace.
      // The record is completed a moment before BullMQ moves the job to completed and counts the attempt.
      const job = await eventually('the job to be finished', async () => {
        const finished = await queue.getJob(id);
        return finished?.finishedOn ? finished : undefined;
      });
      expect(job.attemptsMade).toBe(1);
      expect(job.stacktrace).toEqual([]);
    }
    expect(worker.child.exitCode).toBeNull();
  });
});
