import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import { JOBS, QUEUES, generationJobId, type GenerationStatus } from '@imagegen/shared';
import {
  COLLECTIONS,
  GenerationCanceller,
  GenerationEvents,
  GenerationLifecycle,
  GenerationStore,
  InFlightGenerations,
  JobQueues,
  MongoImageStore,
  PendingRuns,
  WebhookNotifier,
  createLogger,
  newGeneration,
  type GenerationDocument,
  type WebhookMessageDocument,
} from '@imagegen/core';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { INTERNAL_ERROR } from '../src/final-failure';
import { GenerationRepository } from '../src/generations/generation.repository';
import { LostWebhooks } from '../src/reconcile/lost-webhooks';
import { Reconciler } from '../src/reconcile/reconciler';
import { WebhookRepository } from '../src/webhooks/webhook.repository';
import { SETTINGS } from './fixtures';

const STALE_AFTER_MS = 60_000;

describe('the reconciler, against real Redis and a real MongoDB-wire server', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let redis: Redis;
  let queues: JobQueues;
  let runs: Queue;
  let deadlines: Queue;
  let deliveries: Queue;
  let reconciler: Reconciler;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const logger = createLogger('test', 'silent');
    queues = new JobQueues({ connection: redis, prefix: env.queuePrefix }, logger);
    runs = queues.queue(QUEUES.generations);
    deadlines = queues.queue(QUEUES.deadlines);
    deliveries = queues.queue(QUEUES.webhooks);
    const base = 'http://localhost:8000';
    const lifecycle = new GenerationLifecycle(
      new GenerationEvents(redis, env.queuePrefix),
      new WebhookNotifier(db, queues, base),
      new InFlightGenerations(redis, env.queuePrefix),
      base,
    );
    const store = new GenerationStore(db);
    reconciler = new Reconciler(
      {
        generations: new GenerationRepository(db, store, new MongoImageStore(db)),
        store,
        pending: new PendingRuns(lifecycle, queues),
        runs,
        lifecycle,
        canceller: new GenerationCanceller(store, redis, env.queuePrefix, runs, lifecycle),
        webhooks: new LostWebhooks({ messages: new WebhookRepository(db), deliveries, jobs: queues, logger }),
        redis,
        queuePrefix: env.queuePrefix,
        logger,
      },
      // A long interval: each test runs its pass itself, after clearing the lock.
      { intervalMs: 600_000, staleAfterMs: STALE_AFTER_MS, batch: 100 },
    );
  });

  afterAll(async () => {
    await queues?.close();
    redis?.disconnect();
    await client?.close();
    await env?.cleanup();
  });

  const generations = () => db.collection<GenerationDocument>(COLLECTIONS.generations);
  const messages = () => db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
  const read = (id: ObjectId) => generations().findOne({ _id: id });

  /** A record as if written `ageMs` ago, in `status`, optionally with a deadline. */
  async function record(status: GenerationStatus, ageMs: number, cancelAfterMs?: number): Promise<GenerationDocument> {
    const doc = newGeneration(new ObjectId(), `prompt ${status}`, SETTINGS, { cancelAfterMs: cancelAfterMs ?? null });
    const then = new Date(Date.now() - ageMs);
    const deadline_at = cancelAfterMs ? new Date(then.getTime() + cancelAfterMs) : null;
    const aged = { ...doc, status, deadline_at, created_at: then, updated_at: then };
    await generations().insertOne(aged);
    return aged;
  }

  async function addJob(doc: GenerationDocument): Promise<void> {
    await queues.enqueue(JOBS.generationCreate, { generationId: doc._id.toHexString(), run: doc.run });
  }

  /** Runs the queue's one job to the end through a real BullMQ worker: it returns, or fails for good. */
  async function finishJob(outcome: 'completed' | 'failed'): Promise<void> {
    const connection = redis.duplicate();
    const worker = new Worker(
      QUEUES.generations,
      async () => {
        if (outcome === 'failed') throw new UnrecoverableError('boom');
      },
      { connection, prefix: env.queuePrefix },
    );
    await new Promise((resolve) => worker.once(outcome, resolve));
    await worker.close();
    connection.disconnect();
  }

  async function pass() {
    await redis.del(`${env.queuePrefix}:reconciler`);
    return reconciler.pass();
  }

  const jobState = async (doc: GenerationDocument) =>
    (await runs.getJob(generationJobId(doc._id.toHexString(), doc.run)))?.getState() ?? 'missing';

  beforeEach(async () => {
    await generations().deleteMany({});
    await messages().deleteMany({});
    await runs.obliterate({ force: true });
    await deliveries.obliterate({ force: true });
  });

  test('when a pending record has no job (the API stopped between the two writes), then its job is queued', async () => {
    const orphan = await record('pending', STALE_AFTER_MS * 2);
    expect(await pass()).toMatchObject({ requeued: 1, failed: 0 });
    expect(await jobState(orphan)).toBe('waiting');
    expect(await read(orphan._id)).toMatchObject({ status: 'pending', run: 1 });
  });

  test('when a processing record lost its job (Redis lost its data), then it goes back to pending with a new job', async () => {
    const lost = await record('processing', STALE_AFTER_MS * 2);
    expect(await pass()).toMatchObject({ requeued: 1 });
    expect(await read(lost._id)).toMatchObject({ status: 'pending' });
    expect(await jobState(lost)).toBe('waiting');
  });

  test('when a lost generation has a deadline, then its deadline job is queued again with its run', async () => {
    const lost = await record('pending', STALE_AFTER_MS * 2, 3_600_000);
    await pass();
    const deadline = await deadlines.getJob(`${lost._id.toHexString()}_1`);
    expect(await deadline?.getState()).toBe('delayed');
  });

  test('when a lost generation is past its deadline, then it is canceled for it, not run', async () => {
    const late = await record('pending', STALE_AFTER_MS * 2, 1_000);
    const alsoLate = await record('processing', STALE_AFTER_MS * 2, 1_000);
    await addJob(alsoLate);
    expect(await pass()).toMatchObject({ canceled: 2, requeued: 0 });
    expect(await read(late._id)).toMatchObject({ status: 'canceled', cancel_reason: 'deadline' });
    expect(await jobState(late)).toBe('missing');
    // Its waiting job is removed, so no worker starts it.
    expect(await jobState(alsoLate)).toBe('missing');
  });

  test('when one record cannot be put right, then the others still are', async () => {
    const broken = await record('pending', STALE_AFTER_MS * 3);
    // A deadline that is no date makes this record's reconciliation throw.
    await generations().updateOne({ _id: broken._id }, { $set: { deadline_at: 'soon' as unknown as Date } });
    const orphan = await record('pending', STALE_AFTER_MS * 2);
    expect(await pass()).toMatchObject({ requeued: 1, error: 1 });
    expect(await jobState(orphan)).toBe('waiting');
  });

  test('when a record is recent, or its job is waiting, then it is left alone', async () => {
    const recent = await record('pending', 1_000);
    const queued = await record('pending', STALE_AFTER_MS * 2);
    await addJob(queued);
    expect(await pass()).toMatchObject({ requeued: 0, failed: 0, running: 1 });
    expect(await jobState(recent)).toBe('missing');
    expect(await read(queued._id)).toMatchObject({ status: 'pending', updated_at: queued.updated_at });
  });

  test('when the job failed for good but the record never heard (MongoDB was away), then the record is failed', async () => {
    const stuck = await record('processing', STALE_AFTER_MS * 2);
    await addJob(stuck);
    await finishJob('failed');
    expect(await jobState(stuck)).toBe('failed');

    expect(await pass()).toMatchObject({ failed: 1, requeued: 0 });
    expect(await read(stuck._id)).toMatchObject({ status: 'failed', error: INTERNAL_ERROR });
  });

  test('when the job completed but its record did not follow, then the run is queued again', async () => {
    const stuck = await record('processing', STALE_AFTER_MS * 2);
    await addJob(stuck);
    await finishJob('completed');
    expect(await jobState(stuck)).toBe('completed');

    expect(await pass()).toMatchObject({ requeued: 1 });
    expect(await jobState(stuck)).toBe('waiting');
    expect(await read(stuck._id)).toMatchObject({ status: 'pending' });
  });

  test('when ended generations are old, then they are not touched', async () => {
    const done = await record('completed', STALE_AFTER_MS * 2);
    const canceled = await record('canceled', STALE_AFTER_MS * 2);
    expect(await pass()).toEqual({
      requeued: 0,
      failed: 0,
      canceled: 0,
      running: 0,
      moved: 0,
      error: 0,
      webhooks: { requeued: 0, failed: 0, running: 0 },
    });
    expect(await jobState(done)).toBe('missing');
    expect(await read(canceled._id)).toMatchObject({ status: 'canceled' });
  });

  test('when the record changed after the pass read it, then the pass does not requeue it', async () => {
    const raced = await record('processing', STALE_AFTER_MS * 2);
    // The run fails between the pass's read and its write.
    const store = new GenerationStore(db);
    await store.fail(raced._id, raced.run, 'failed meanwhile');
    expect(await store.requeue(raced)).toBeNull();
    expect(await read(raced._id)).toMatchObject({ status: 'failed' });
  });

  test('when another worker ran a pass within the interval, then this one does nothing', async () => {
    await record('pending', STALE_AFTER_MS * 2);
    expect(await pass()).toMatchObject({ requeued: 1 });
    await record('pending', STALE_AFTER_MS * 2);
    expect(await reconciler.pass()).toBeNull();
  });

  describe('webhook messages whose delivery job was lost', () => {
    /** A message still to be sent, its attempt due `overdueMs` ago (negative: still to come). */
    async function message(state: 'pending' | 'retrying', overdueMs: number): Promise<WebhookMessageDocument> {
      const due = new Date(Date.now() - overdueMs);
      const doc: WebhookMessageDocument = {
        _id: `msg_${new ObjectId().toHexString()}.generation.completed`,
        generation_id: new ObjectId(),
        user_id: new ObjectId(),
        type: 'generation.completed',
        url: 'https://example.com/hook',
        body: '{}',
        state,
        attempts: state === 'retrying' ? 1 : 0,
        next_attempt_at: due,
        created_at: due,
        updated_at: due,
      };
      await messages().insertOne(doc);
      return doc;
    }

    const deliveryState = async (doc: WebhookMessageDocument) =>
      (await deliveries.getJob(doc._id))?.getState() ?? 'missing';

    test('when a message overdue for its attempt has no job (Redis lost it), then its job is queued again under its id', async () => {
      const lost = await message('pending', STALE_AFTER_MS * 2);
      const lostRetry = await message('retrying', STALE_AFTER_MS * 2);
      expect((await pass())?.webhooks).toEqual({ requeued: 2, failed: 0, running: 0 });
      expect(await deliveryState(lost)).toBe('waiting');
      expect((await deliveries.getJob(lostRetry._id))?.data).toEqual({
        messageId: lostRetry._id,
        trigger: 'scheduled',
      });
    });

    test('when a message is not overdue yet, or its job is still there, then it is left alone', async () => {
      const soon = await message('retrying', -3_600_000);
      const recent = await message('pending', 1_000);
      const queued = await message('retrying', STALE_AFTER_MS * 2);
      await queues.enqueue(JOBS.webhookDeliver, { messageId: queued._id, trigger: 'scheduled' });
      expect((await pass())?.webhooks).toEqual({ requeued: 0, failed: 0, running: 1 });
      expect(await deliveryState(soon)).toBe('missing');
      expect(await deliveryState(recent)).toBe('missing');
    });

    test('when its job failed for good but the message never heard, then the message is marked failed', async () => {
      const stuck = await message('retrying', STALE_AFTER_MS * 2);
      await queues.enqueue(JOBS.webhookDeliver, { messageId: stuck._id, trigger: 'scheduled' });
      const connection = redis.duplicate();
      const worker = new Worker(
        QUEUES.webhooks,
        async () => {
          throw new UnrecoverableError('boom');
        },
        { connection, prefix: env.queuePrefix },
      );
      await new Promise((resolve) => worker.once('failed', resolve));
      await worker.close();
      connection.disconnect();

      expect((await pass())?.webhooks).toMatchObject({ failed: 1, requeued: 0 });
      expect(await messages().findOne({ _id: stuck._id })).toMatchObject({ state: 'failed', next_attempt_at: null });
    });
  });
});
