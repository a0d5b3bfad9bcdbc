import { ObjectId } from 'mongodb';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import type { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { spawnWorker, type SpawnedService } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * A worker killed with SIGKILL in the middle of a job: it never hands the job back, so BullMQ finds
 * its lock expired (WORKER_LOCK_MS) at a stalled check (WORKER_STALLED_INTERVAL_MS) and gives the
 * job to another worker. The generation must complete exactly once: one image, one `completed`
 * webhook message.
 */
describe('a worker killed mid-job', () => {
  let system: System;
  let receiver: WebhookReceiver;
  let mongo: Mongo;
  let client: ApiClient;
  const extraWorkers: SpawnedService[] = [];
  const fastStall = { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' };

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    system = await startSystem({
      apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
      workerEnv: { ...fastStall, WEBHOOK_ALLOW_PRIVATE: 'true', HF_TIMEOUT_MS: '30000', HF_MAX_WAIT_MS: '30000' },
    });
    mongo = await connectMongo(system.env.mongoUri);
    client = await newUser(system);
  });

  // Each test starts from no worker but the ones it starts itself.
  afterEach(async () => {
    await Promise.all(extraWorkers.splice(0).map((w) => w.stop()));
  });

  afterAll(async () => {
    await system?.stop();
    await mongo?.client.close();
    await receiver?.close();
  });

  async function startWorker(): Promise<SpawnedService> {
    const worker = await spawnWorker(system.workerEnv);
    extraWorkers.push(worker);
    return worker;
  }

  async function expectCompletedOnce(id: string, hook: string): Promise<void> {
    const done = await client.waitFor(id, ['completed', 'failed', 'canceled'], 30_000);
    expect(done.status).toBe('completed');
    expect(await mongo.db.collection(COLLECTIONS.images).countDocuments({ _id: new ObjectId(id) })).toBe(1);
    // Deliveries of one message may repeat (at least once); the message itself must be one.
    const deliveries = await receiver.waitFor(hook, 1);
    const messages = new Set(deliveries.map((d) => d.headers['webhook-id']));
    expect(messages.size).toBe(1);
    expect(JSON.parse(deliveries[0]!.body)).toMatchObject({ type: 'generation.completed', data: { id } });
    const record = await mongo.db.collection(COLLECTIONS.generations).findOne({ _id: new ObjectId(id) });
    // One start by the killed worker, one by the worker that finished it.
    expect(record).toMatchObject({ status: 'completed', attempts: 2, run: 1 });
    expect(
      await mongo.db.collection(COLLECTIONS.webhookMessages).countDocuments({ generation_id: new ObjectId(id) }),
    ).toBe(1);
  }

  test('when the worker is killed while HF is answering, then a standby worker finishes the job, once', async () => {
    const model = 'test/killed-standby';
    // The first request is the killed worker's and is never read; the second, the standby's.
    system.emulator.script(model, hf.png(20_000), hf.png());
    const created = await client.create({ prompt: 'a lighthouse', model, webhook_url: receiver.url('/standby') });
    await system.emulator.waitForRequests(model, 1);
    const standby = await startWorker();

    await system.worker.stop('SIGKILL');

    await expectCompletedOnce(created.id, '/standby');
    expect(system.emulator.requestsFor(model)).toHaveLength(2);
    expect(standby.child.exitCode).toBeNull();
  });

  test('when the only worker is killed mid-job and started again, then the restarted worker finishes it, once', async () => {
    const model = 'test/killed-restarted';
    const first = await startWorker();
    system.emulator.script(model, hf.png(20_000), hf.png());
    const created = await client.create({ prompt: 'a windmill', model, webhook_url: receiver.url('/restarted') });
    await system.emulator.waitForRequests(model, 1);
    await eventually('the generation is processing', async () =>
      (await mongo.db
        .collection(COLLECTIONS.generations)
        .findOne({ _id: new ObjectId(created.id), status: 'processing' }))
        ? true
        : undefined,
    );

    await first.stop('SIGKILL');
    await startWorker();

    await expectCompletedOnce(created.id, '/restarted');
  });
});
