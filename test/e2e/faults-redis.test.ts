import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { startRedisServer, type ProvidedService } from '@imagegen/devstack';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import { ApiClient } from '../support/api-client';
import { HfEmulator, hf } from '../support/hf-emulator';
import { isolation, type Isolation } from '../support/isolation';
import { eventually } from '../support/lifecycle';
import type { SpawnedService } from '../support/services';
import { answered, spawnFaultServices } from '../support/faults';
import { newUser } from '../support/system';

/**
 * Redis restarted under the running services. Our Redis keeps nothing on disk, so the restart also
 * loses every job: the harshest case. The API must refuse work at once while Redis is away, the
 * same worker process must consume again afterwards, and the reconciler must queue again the runs
 * whose jobs were lost, so that no accepted generation is lost.
 */
describe('Redis restarted while jobs wait and run', () => {
  let workDir: string;
  let redis: ProvidedService;
  let port: number;
  let env: Isolation;
  let emulator: HfEmulator;
  let api: SpawnedService;
  let worker: SpawnedService;
  let mongo: Mongo;
  let client: ApiClient;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'imagegen-redis-fault-'));
    redis = await startRedisServer(workDir);
    port = Number(new URL(redis.url).port);
    env = isolation();
    const services = { ...env.env, REDIS_URL: redis.url };
    emulator = await HfEmulator.start();
    [api, worker] = await spawnFaultServices(services, emulator, {
      WORKER_LOCK_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      RECONCILE_INTERVAL_MS: '1000',
      RECONCILE_AFTER_MS: '3000',
    });
    mongo = await connectMongo(env.mongoUri);
    client = await newUser({ client: () => new ApiClient(api.url) });
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await emulator?.close();
    await mongo?.client.close();
    await env?.cleanup().catch(() => undefined);
    await redis?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  test('when Redis restarts empty, then the API refuses at once while it is down, and afterwards the same worker completes every accepted generation', async () => {
    const model = 'test/redis-restart';
    emulator.always(model, hf.png(1_500));
    const accepted = [];
    for (let i = 0; i < 4; i++) accepted.push(await client.create({ prompt: `a harbour at dawn ${i}`, model }));
    // One runs, three wait.
    await emulator.waitForRequests(model, 1);
    const workerPid = worker.child.pid;

    await redis.stop();

    const refused = await answered(
      'a create while Redis is down',
      client.request('POST', '/api/generations', { prompt: 'a storm', model }),
    );
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ success: false });
    expect(refused.headers.get('retry-after')).toBeTruthy();
    const ready = await answered('readyz while Redis is down', client.request('GET', '/readyz'));
    expect(ready).toMatchObject({ status: 503, body: { data: { redis: 'unreachable' } } });
    const poll = await answered('a poll while Redis is down', client.get(accepted[1]!.id));
    expect([200, 503]).toContain(poll.status);
    await eventually('the worker reports Redis down', async () =>
      (await fetch(worker.url)).status === 503 ? true : undefined,
    );

    redis = await startRedisServer(workDir, port);

    // The same process consumes again: a generation made after the restart completes.
    const after = await eventually('the API accepts again', async () => {
      const reply = await client.request<{ data: { id: string } }>('POST', '/api/generations', {
        prompt: 'a calm sea',
        model,
      });
      return reply.status === 202 ? reply.body.data.id : undefined;
    });
    expect((await client.waitFor(after, undefined, 30_000)).status).toBe('completed');

    // The jobs Redis lost are queued again by the reconciler, and each generation completes once.
    for (const created of accepted) {
      expect((await client.waitFor(created.id, undefined, 60_000)).status).toBe('completed');
    }
    const ids = [...accepted.map((g) => g.id), after].map((id) => new ObjectId(id));
    expect(await mongo.db.collection(COLLECTIONS.images).countDocuments({ _id: { $in: ids } })).toBe(ids.length);
    // The refused create left nothing behind.
    expect(await mongo.db.collection(COLLECTIONS.generations).countDocuments()).toBe(ids.length);
    expect(worker.child.pid).toBe(workerPid);
    expect(worker.child.exitCode).toBeNull();
    expect((await fetch(worker.url)).status).toBe(200);
  });
});
