import { Redis } from 'ioredis';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import { JOBS } from '@imagegen/shared';
import { COLLECTIONS, JobQueues, createLogger, newGeneration, type GenerationDocument } from '@imagegen/core';
import { eventually } from '../../../test/support/lifecycle';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { loadWorkerConfig } from '../src/config';
import { startWorker, type RunningWorker } from '../src/worker';
import { SETTINGS } from './fixtures';

/** The worker as `main.ts` starts it, with the local renderer, on this file's own database and queues. */
describe('the worker, started on real Redis and a real MongoDB-wire server', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let redis: Redis;
  let queues: JobQueues;
  let worker: RunningWorker;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const logger = createLogger('test', 'silent');
    queues = new JobQueues({ connection: redis, prefix: env.queuePrefix }, logger);
    worker = await startWorker(loadWorkerConfig({ ...env.env, WORKER_HEALTH_PORT: '0' }), logger);
  });

  afterAll(async () => {
    await worker?.stop();
    await queues?.close();
    redis?.disconnect();
    await client?.close();
    await env?.cleanup();
  });

  const health = (path: string) => fetch(`http://127.0.0.1:${worker.healthPort}${path}`);

  test('when it has started, then its health port answers ok and serves its metrics', async () => {
    const answer = await health('/healthz');
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: 'ok', redis: 'ready', queue_redis: 'ready' });
    const metrics = await health('/metrics');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('imagegen_jobs_total');
  });

  test('when a generation is queued, then its consumer completes it', async () => {
    const doc = newGeneration(new ObjectId(), 'a lighthouse at dusk', SETTINGS);
    const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    await generations.insertOne(doc);
    await queues.enqueue(JOBS.generationCreate, { generationId: doc._id.toHexString(), run: doc.run });
    const done = await eventually('the generation completed', async () => {
      const found = await generations.findOne({ _id: doc._id });
      return found?.status === 'completed' ? found : undefined;
    });
    expect(done.error).toBeNull();
  });
});
