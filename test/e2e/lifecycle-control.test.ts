import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import {
  QUEUES,
  generationJobId,
  type ApiFailure,
  type ApiSuccess,
  type Generation,
  type GenerationStatus,
  type GenerationSummary,
} from '@imagegen/shared';
import { COLLECTIONS, connectMongo, GenerationStore, type Mongo } from '@imagegen/core';
import { ApiClient, cancel, dataOf, retry } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { HfTap, eventually, stateAfterActive } from '../support/lifecycle';
import { spawnApi, type SpawnedService } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';

const PUBLIC_BASE_URL = 'http://imagegen.test';
const ENDED: GenerationStatus[] = ['completed', 'failed', 'canceled'];

/** `created_at + ms` as the API writes it. */
const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** The URLs a record must carry, absolute under PUBLIC_BASE_URL. */
function urlsOf(id: string) {
  const get = `${PUBLIC_BASE_URL}/api/generations/${id}`;
  return { get, cancel: `${get}/cancel`, events: `${get}/events`, image: `${get}/image`, image_expires_at: null };
}

describe('lifecycle control: cancel, deadlines, retry and record URLs', () => {
  let system: System;
  let tap: HfTap;
  let alice: ApiClient;
  let bob: ApiClient;
  let redis: Redis;
  let generationQueue: Queue;
  let deadlineQueue: Queue;
  let mongo: Mongo;

  beforeAll(async () => {
    // Every HF request passes through the tap, which sees the worker hang up on one.
    tap = await HfTap.start();
    system = await startSystem({
      apiEnv: { PUBLIC_BASE_URL },
      workerEnv: {
        PUBLIC_BASE_URL,
        HF_BASE_URL: tap.baseUrl,
        // One image at a time, so that a slow one keeps the next pending; slow answers are not timeouts.
        WORKER_CONCURRENCY: '1',
        HF_TIMEOUT_MS: '60000',
        HF_MAX_WAIT_MS: '60000',
      },
    });
    tap.forwardTo(system.emulator.baseUrl);
    alice = await newUser(system, 'alice');
    bob = await newUser(system, 'bob');
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    generationQueue = new Queue(QUEUES.generations, { connection: redis, prefix: system.env.queuePrefix });
    deadlineQueue = new Queue(QUEUES.deadlines, { connection: redis, prefix: system.env.queuePrefix });
    mongo = await connectMongo(system.env.mongoUri);
  });

  afterAll(async () => {
    await mongo?.client.close();
    await generationQueue?.close();
    await deadlineQueue?.close();
    redis?.disconnect();
    await system?.stop();
    await tap?.close();
  });

  // One worker slot: each test starts with nothing running or waiting in it.
  afterEach(async () => {
    await eventually(
      'the generation queue to drain',
      async () => {
        const counts = await generationQueue.getJobCounts('active', 'waiting', 'prioritized', 'delayed');
        return Object.values(counts).every((n) => n === 0) ? true : undefined;
      },
      45_000,
    );
  });

  /** Ids of the generations that have image bytes stored. */
  async function storedImages(): Promise<string[]> {
    const docs = await mongo.db
      .collection(COLLECTIONS.images)
      .find({}, { projection: { _id: 1 } })
      .toArray();
    return docs.map((doc) => String(doc._id));
  }

  /** The BullMQ state of a generation run's job, or null when the queue no longer has it. */
  async function jobState(generationId: string, run = 1): Promise<string | null> {
    const job = await generationQueue.getJob(generationJobId(generationId, run));
    return job ? await job.getState() : null;
  }

  /** A generation that is being processed: its request has reached (and waits at) Hugging Face. */
  async function processing(client: ApiClient, model: string, prompt: string, delayMs = 20_000): Promise<Generation> {
    system.emulator.always(model, hf.png(delayMs));
    const seen = system.emulator.requestsFor(model).length;
    const created = await client.create({ prompt, model });
    await system.emulator.waitForRequests(model, seen + 1);
    return client.waitFor(created.id, ['processing', ...ENDED]);
  }

  describe('cancel', () => {
    test('when a pending generation is canceled, then it ends canceled by its owner, its job leaves the queue, Hugging Face never sees it and no image is stored', async () => {
      const blockerModel = 'test/pending-blocker';
      const model = 'test/canceled-while-pending';
      system.emulator.script(blockerModel, hf.png(6_000));
      const blocker = await alice.create({ prompt: 'a slow blocker', model: blockerModel });
      await system.emulator.waitForRequests(blockerModel, 1);
      const pending = await alice.create({ prompt: 'a picture nobody draws', model });
      expect(pending.status).toBe('pending');
      expect(await jobState(pending.id)).toBe('waiting');

      const reply = await cancel(alice, pending.id);
      expect(reply.status).toBe(200);
      const canceled = dataOf(reply);
      expect(canceled).toMatchObject({
        id: pending.id,
        status: 'canceled',
        cancel_reason: 'user',
        error: 'Canceled by its owner',
        image: null,
        image_url: null,
        started_at: null,
        attempts: 0,
        queue_position: null,
      });
      expect(canceled.completed_at).not.toBeNull();
      expect(await jobState(pending.id)).toBeNull();

      // The slow one ends; one queued after it then runs, so the canceled one's job would have run first.
      expect(await alice.waitFor(blocker.id, ENDED)).toMatchObject({ status: 'completed' });
      const next = await alice.create({ prompt: 'queued after the cancel', model: 'test/after-pending-cancel' });
      expect(await alice.waitFor(next.id, ENDED)).toMatchObject({ status: 'completed' });

      expect(system.emulator.requestsFor(model)).toHaveLength(0);
      expect(dataOf(await alice.get(pending.id))).toMatchObject({
        status: 'canceled',
        cancel_reason: 'user',
        started_at: null,
        attempts: 0,
      });
      expect((await alice.image(pending.id)).status).toBe(404);
      const images = await storedImages();
      expect(images).toContain(blocker.id);
      expect(images).not.toContain(pending.id);
    });

    test('when a processing generation is canceled, then its Hugging Face request is aborted, no image is stored and the worker goes on with the next one', async () => {
      const model = 'test/canceled-while-processing';
      const running = await processing(alice, model, 'a picture canceled mid-way', 10_000);
      expect(running.status).toBe('processing');

      const reply = await cancel(alice, running.id);
      expect(reply.status).toBe(200);
      expect(dataOf(reply)).toMatchObject({
        id: running.id,
        status: 'canceled',
        cancel_reason: 'user',
        error: 'Canceled by its owner',
        started_at: running.started_at,
        attempts: 1,
      });

      // The worker hung up on Hugging Face rather than waiting for its answer.
      await tap.waitForClientGone(model, 1);
      expect(tap.requestsFor(model)).toEqual([{ model, clientGone: true, answered: false }]);

      const next = await alice.create({ prompt: 'the next picture', model: 'test/after-processing-cancel' });
      expect(await alice.waitFor(next.id, ENDED)).toMatchObject({ status: 'completed' });

      // Ended, not failed: BullMQ does not run it again, and Hugging Face got that one request only.
      // The canceller removes the job after telling the worker to abort: if the aborted job ended
      // first, the removal takes it away (no state); else it stays completed.
      expect(['completed', null]).toContain(await jobState(running.id));
      expect(system.emulator.requestsFor(model)).toHaveLength(1);
      expect(dataOf(await alice.get(running.id))).toMatchObject({ status: 'canceled', image: null, image_url: null });
      expect((await alice.image(running.id)).status).toBe(404);
      expect(await storedImages()).not.toContain(running.id);
    });

    test('when Hugging Face answers after the record was canceled and the worker was never told, then the late image is not kept', async () => {
      const model = 'test/late-answer';
      const prompt = 'a picture whose abort message is lost';
      const running = await processing(alice, model, prompt, 3_000);
      expect(running.status).toBe('processing');

      // As the canceller writes it (GenerationStore: a claim on the record's revision, which moves
      // it on), but without the message that would abort the worker's request.
      const canceled = await new GenerationStore(mongo.db).cancel(new ObjectId(running.id), 'user');
      expect(canceled).toMatchObject({ status: 'canceled', cancel_reason: 'user' });

      await tap.waitForAnswered(model, 1);
      await eventually('the job to end', async () => ((await jobState(running.id)) === 'completed' ? true : undefined));

      expect(await storedImages()).not.toContain(running.id);
      expect(dataOf(await alice.get(running.id))).toMatchObject({ status: 'canceled', image: null, image_url: null });
      expect((await alice.image(running.id)).status).toBe(404);
    });

    test('when an ended generation is canceled, then the answer is 409 naming its status and the record is unchanged', async () => {
      const completed = await alice.waitFor((await alice.create({ prompt: 'done', model: 'test/end-done' })).id, ENDED);
      system.emulator.always('test/end-missing', hf.notFound('test/end-missing'));
      const failed = await alice.waitFor(
        (await alice.create({ prompt: 'broken', model: 'test/end-missing' })).id,
        ENDED,
      );
      const running = await processing(alice, 'test/end-canceled', 'canceled once');
      expect(dataOf(await cancel(alice, running.id)).status).toBe('canceled');
      const canceled = dataOf(await alice.get(running.id));
      expect([completed.status, failed.status, canceled.status]).toEqual(['completed', 'failed', 'canceled']);

      for (const ended of [completed, failed, canceled]) {
        const reply = await cancel(alice, ended.id);
        expect(reply.status).toBe(409);
        expect(reply.body).toMatchObject({ success: false, message: expect.stringContaining(ended.status) });
        const now = dataOf(await alice.get(ended.id));
        expect(now).toMatchObject({ status: ended.status, error: ended.error, cancel_reason: ended.cancel_reason });
      }
      expect((await alice.image(completed.id)).status).toBe(200);
    });

    test("when another user cancels a user's generation, then the answer is 404, the same as for an unknown id, and the generation still completes", async () => {
      const model = 'test/not-yours';
      system.emulator.script(model, hf.png(3_000));
      const created = await alice.create({ prompt: "alice's picture", model });
      await system.emulator.waitForRequests(model, 1);

      const asBob = await cancel(bob, created.id);
      const unknown = await cancel(bob, '0123456789abcdef01234567');
      expect(asBob.status).toBe(404);
      expect(asBob.body).toEqual(unknown.body);

      expect(await alice.waitFor(created.id, ENDED)).toMatchObject({ status: 'completed', cancel_reason: null });
      expect((await cancel(bob, created.id)).status).toBe(404);
    });
    test('when the id to cancel is not an id, then the answer is 400', async () => {
      expect((await cancel(alice, 'not-an-id')).status).toBe(400);
    });
  });

  describe('deadlines (cancel_after)', () => {
    test('when Hugging Face does not answer by cancel_after, then the generation is canceled with reason deadline and its request aborted', async () => {
      const model = 'test/deadline-processing';
      system.emulator.always(model, hf.png(20_000));
      const created = await alice.create({ prompt: 'too slow for its deadline', model, cancel_after: '2s' });
      expect(created.deadline_at).toBe(plus(created.created_at, 2_000));

      const ended = await alice.waitFor(created.id, ENDED);
      expect(ended).toMatchObject({
        status: 'canceled',
        cancel_reason: 'deadline',
        error: 'Canceled: not done by its cancel_after deadline',
        deadline_at: created.deadline_at,
        attempts: 1,
        image: null,
      });
      // Canceled at its deadline, not before.
      expect(Date.parse(ended.completed_at!)).toBeGreaterThanOrEqual(Date.parse(created.deadline_at!));
      await tap.waitForClientGone(model, 1);
      expect(tap.requestsFor(model)).toEqual([{ model, clientGone: true, answered: false }]);
      expect((await alice.image(created.id)).status).toBe(404);
      expect(await storedImages()).not.toContain(created.id);
    });

    test('when a generation is still pending behind a slow one at its deadline, then it is canceled without ever reaching Hugging Face', async () => {
      const blocker = await processing(alice, 'test/deadline-blocker', 'a slow blocker without a deadline');
      expect(blocker).toMatchObject({ status: 'processing', deadline_at: null });
      const model = 'test/deadline-pending';
      const pending = await alice.create({ prompt: 'waits too long', model, cancel_after: '2s' });

      const ended = await alice.waitFor(pending.id, ENDED);
      expect(ended).toMatchObject({
        status: 'canceled',
        cancel_reason: 'deadline',
        deadline_at: plus(pending.created_at, 2_000),
        started_at: null,
        attempts: 0,
      });
      expect(await jobState(pending.id)).toBeNull();
      // Still held up by the blocker: the deadline did not wait for a free slot.
      expect(dataOf(await alice.get(blocker.id)).status).toBe('processing');

      expect((await cancel(alice, blocker.id)).status).toBe(200);
      const next = await alice.create({ prompt: 'after the blocker', model: 'test/after-deadline-pending' });
      expect(await alice.waitFor(next.id, ENDED)).toMatchObject({ status: 'completed' });
      expect(system.emulator.requestsFor(model)).toHaveLength(0);
      expect(dataOf(await alice.get(pending.id)).status).toBe('canceled');
    });

    test('when a generation completes before its deadline, then it stays completed once the deadline has passed', async () => {
      // Far more than the run needs, even on a busy machine, and short enough to wait out.
      const created = await alice.create({ prompt: 'quick enough', model: 'test/deadline-met', cancel_after: '5s' });
      const deadlineJob = `${created.id}_1`;
      expect(await deadlineQueue.getJob(deadlineJob)).toBeDefined();
      expect(await alice.waitFor(created.id, ENDED)).toMatchObject({ status: 'completed' });

      // The deadline job runs at deadline_at, then is removed.
      await eventually('the deadline job to run', async () =>
        (await deadlineQueue.getJob(deadlineJob)) ? undefined : true,
      );
      expect(dataOf(await alice.get(created.id))).toMatchObject({
        status: 'completed',
        cancel_reason: null,
        error: null,
        deadline_at: plus(created.created_at, 5_000),
      });
      expect((await alice.image(created.id)).status).toBe(200);
    });

    test.each([['2h'], ['abc'], ['0s'], [90], ['-5s'], ['']])(
      'when cancel_after is %p, then the answer is 400 naming cancel_after',
      async (value) => {
        const before = (await alice.list('?limit=100')).items.length;
        const reply = await alice.request<ApiFailure>('POST', '/api/generations/', {
          prompt: 'bad deadline',
          cancel_after: value,
        });
        expect(reply.status).toBe(400);
        expect(reply.body.errors?.map((e) => e.field)).toContain('cancel_after');
        expect((await alice.list('?limit=100')).items).toHaveLength(before);
      },
    );

    test('when cancel_after is 1h, the longest allowed, then the generation is accepted with its deadline an hour out', async () => {
      const created = await alice.create({
        prompt: 'an hour at most',
        model: 'test/deadline-hour',
        cancel_after: '1h',
      });
      expect(created.deadline_at).toBe(plus(created.created_at, 3_600_000));
      expect(await alice.waitFor(created.id, ENDED)).toMatchObject({ status: 'completed' });
    });

    test('when no cancel_after is given and no DEFAULT_CANCEL_AFTER is set, then the generation has no deadline', async () => {
      const created = await alice.create({ prompt: 'no deadline', model: 'test/no-deadline' });
      expect(created.deadline_at).toBeNull();
      expect(await alice.waitFor(created.id, ENDED)).toMatchObject({ status: 'completed', deadline_at: null });
    });

    describe('with DEFAULT_CANCEL_AFTER on the API', () => {
      let api: SpawnedService;
      let carol: ApiClient;

      beforeAll(async () => {
        // A second API on the same database and queues, configured with a default deadline.
        api = await spawnApi({ ...system.env.env, PUBLIC_BASE_URL, DEFAULT_CANCEL_AFTER: '2s' });
        carol = await newUser({ client: () => new ApiClient(api.url) }, 'carol');
      });

      afterAll(async () => {
        await api?.stop();
      });

      test('when a request gives no cancel_after, then DEFAULT_CANCEL_AFTER is its deadline and cancels it', async () => {
        const model = 'test/default-deadline';
        system.emulator.always(model, hf.png(20_000));
        const created = await carol.create({ prompt: 'under the default deadline', model });
        expect(created.deadline_at).toBe(plus(created.created_at, 2_000));

        expect(await carol.waitFor(created.id, ENDED)).toMatchObject({
          status: 'canceled',
          cancel_reason: 'deadline',
          deadline_at: created.deadline_at,
        });
        await tap.waitForClientGone(model, 1);
      });

      test('when a request gives its own cancel_after, then it wins over DEFAULT_CANCEL_AFTER', async () => {
        const created = await carol.create({
          prompt: 'my own deadline',
          model: 'test/own-deadline',
          cancel_after: '10m',
        });
        expect(created.deadline_at).toBe(plus(created.created_at, 600_000));
        expect(await carol.waitFor(created.id, ENDED)).toMatchObject({ status: 'completed' });
      });
    });
  });

  describe('retry', () => {
    test('when a failed generation is retried by its owner, then it runs again and completes, with the failed run in its history', async () => {
      const model = 'test/retry-after-404';
      system.emulator.always(model, hf.notFound(model));
      const failed = await alice.waitFor((await alice.create({ prompt: 'second time lucky', model })).id, ENDED);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, history: [] });
      expect(failed.error).toContain(model);

      system.emulator.always(model, hf.png());
      const reply = await retry(alice, failed.id);
      expect(reply.status).toBe(202);
      const reopened = dataOf(reply);
      const failedRun = {
        status: 'failed',
        error: failed.error,
        started_at: failed.started_at,
        ended_at: failed.completed_at,
        retried_at: expect.any(String),
      };
      expect(reopened).toMatchObject({
        id: failed.id,
        status: 'pending',
        error: null,
        started_at: null,
        completed_at: null,
        history: [failedRun],
        urls: urlsOf(failed.id),
      });

      const done = await alice.waitFor(failed.id, ENDED);
      expect(done).toMatchObject({ status: 'completed', error: null, history: [failedRun] });
      expect(done.attempts).toBeGreaterThan(failed.attempts);
      expect(Date.parse(done.history[0]!.retried_at)).toBeGreaterThanOrEqual(Date.parse(failed.completed_at!));
      expect((await alice.image(failed.id)).status).toBe(200);
      expect(system.emulator.requestsFor(model)).toHaveLength(2);
    });

    test('when a generation canceled while processing is retried, then it runs again and completes, with the canceled run in its history', async () => {
      const model = 'test/retry-after-cancel';
      const running = await processing(alice, model, 'canceled, then wanted after all');
      const canceled = dataOf(await cancel(alice, running.id));
      expect(canceled.status).toBe('canceled');

      system.emulator.always(model, hf.png());
      const reply = await retry(alice, running.id);
      expect(reply.status).toBe(202);
      expect(dataOf(reply)).toMatchObject({ status: 'pending', cancel_reason: null, error: null });

      const done = await alice.waitFor(running.id, ENDED);
      expect(done).toMatchObject({
        status: 'completed',
        cancel_reason: null,
        history: [{ status: 'canceled', error: 'Canceled by its owner', started_at: running.started_at }],
      });
      expect(done.attempts).toBeGreaterThan(canceled.attempts);
      expect((await alice.image(running.id)).status).toBe(200);
    });

    test('when a retried generation is canceled while its second run waits on Hugging Face, then that run’s request is aborted', async () => {
      const model = 'test/cancel-second-run';
      const first = await processing(alice, model, 'canceled twice');
      expect(dataOf(await cancel(alice, first.id)).status).toBe('canceled');
      await tap.waitForClientGone(model, 1);

      // The second run's job is `<id>_2`: the abort must reach it, not the first run's job id.
      expect((await retry(alice, first.id)).status).toBe(202);
      await system.emulator.waitForRequests(model, 2);
      await alice.waitFor(first.id, ['processing', ...ENDED]);
      expect(dataOf(await cancel(alice, first.id)).status).toBe('canceled');
      await tap.waitForClientGone(model, 2);
      expect(tap.requestsFor(model).map((r) => r.clientGone)).toEqual([true, true]);
      expect((await alice.image(first.id)).status).toBe(404);
    });

    test('when a generation canceled while pending is retried, then its job is queued anew and it completes', async () => {
      const blocker = await processing(alice, 'test/retry-blocker', 'holds the slot', 20_000);
      const model = 'test/retry-after-pending-cancel';
      const pending = await alice.create({ prompt: 'canceled before it started', model });
      expect(dataOf(await cancel(alice, pending.id)).status).toBe('canceled');
      expect(await jobState(pending.id)).toBeNull();

      expect((await retry(alice, pending.id)).status).toBe(202);
      // The retry is the generation's second run, with a job of its own.
      expect(await jobState(pending.id, 2)).toBe('waiting');
      expect((await cancel(alice, blocker.id)).status).toBe(200);

      expect(await alice.waitFor(pending.id, ENDED)).toMatchObject({
        status: 'completed',
        history: [{ status: 'canceled', started_at: null }],
      });
    });

    test('when a generation canceled by its deadline is retried, then the new run gets a deadline of its own', async () => {
      const model = 'test/retry-after-deadline';
      system.emulator.always(model, hf.png(20_000));
      // Each run has 4 s: the first cannot make it, the retried one easily can.
      const created = await alice.create({ prompt: 'late the first time', model, cancel_after: '4s' });
      const expired = await alice.waitFor(created.id, ENDED);
      expect(expired).toMatchObject({ status: 'canceled', cancel_reason: 'deadline' });

      system.emulator.always(model, hf.png());
      const reopened = dataOf(await retry(alice, created.id));
      expect(reopened.deadline_at).toBe(plus(reopened.history[0]!.retried_at, 4_000));
      expect(reopened.cancel_reason).toBeNull();

      expect(await alice.waitFor(created.id, ENDED)).toMatchObject({
        status: 'completed',
        history: [{ status: 'canceled', error: 'Canceled: not done by its cancel_after deadline' }],
      });
    });

    test('when a generation fails again after a retry and is retried once more, then its history holds both failed runs, oldest first', async () => {
      const model = 'test/retry-twice';
      system.emulator.always(model, hf.notFound(model));
      const first = await alice.waitFor((await alice.create({ prompt: 'third time lucky', model })).id, ENDED);
      expect(first.status).toBe('failed');
      expect((await retry(alice, first.id)).status).toBe(202);
      const second = await alice.waitFor(first.id, ENDED);
      expect(second).toMatchObject({ status: 'failed', history: [{ status: 'failed', ended_at: first.completed_at }] });

      system.emulator.always(model, hf.png());
      expect((await retry(alice, first.id)).status).toBe(202);
      const done = await alice.waitFor(first.id, ENDED);
      expect(done).toMatchObject({
        status: 'completed',
        attempts: 3,
        history: [
          { status: 'failed', started_at: first.started_at, ended_at: first.completed_at },
          { status: 'failed', started_at: second.started_at, ended_at: second.completed_at },
        ],
      });
      expect(system.emulator.requestsFor(model)).toHaveLength(3);
    });

    test('when a completed, pending or processing generation is retried, then the answer is 409 naming its status', async () => {
      const completed = await alice.waitFor(
        (await alice.create({ prompt: 'fine as it is', model: 'test/retry-done' })).id,
        ENDED,
      );
      expect(completed.status).toBe('completed');
      const running = await processing(alice, 'test/retry-running', 'still running');
      const pending = await alice.create({ prompt: 'still waiting', model: 'test/retry-waiting' });

      for (const [id, status] of [
        [completed.id, 'completed'],
        [running.id, 'processing'],
        [pending.id, 'pending'],
      ] as const) {
        const reply = await retry(alice, id);
        expect(reply.status).toBe(409);
        expect(reply.body).toMatchObject({ success: false, message: expect.stringContaining(status) });
        expect(dataOf(await alice.get(id)).history).toEqual([]);
      }

      expect((await cancel(alice, pending.id)).status).toBe(200);
      expect((await cancel(alice, running.id)).status).toBe(200);
    });

    test('when a failed generation is retried while the worker has not yet ended its failed job, then the retry still runs', async () => {
      // The worker writes `failed` to the record before it ends the job (BullMQ moves it to failed
      // after the processor throws); a client that sees `failed` and retries at once lands in between.
      // A stand-in worker holds the job there, as a worker slow to finish its last steps would.
      const blocker = await processing(alice, 'test/requeue-blocker', 'keeps the real worker busy');
      const model = 'test/requeue-race';
      const prompt = 'retried while its job is still active';
      const created = await alice.create({ prompt, model });
      const standIn = new Worker(QUEUES.generations, null, { connection: redis, prefix: system.env.queuePrefix });
      try {
        const token = 'stand-in';
        const job = await standIn.getNextJob(token);
        expect(job?.id).toBe(created.id);
        // What the processor writes: start(), then fail() on a Hugging Face 404.
        const now = new Date();
        const error = `Model ${model} does not exist`;
        await mongo.db.collection(COLLECTIONS.generations).updateOne(
          { prompt },
          {
            $set: { status: 'failed', error, started_at: now, completed_at: now, updated_at: now },
            $inc: { attempts: 1 },
          },
        );
        expect(dataOf(await alice.get(created.id))).toMatchObject({ status: 'failed', error });

        const reply = await retry(alice, created.id);
        expect(reply.status).toBe(202);
        expect(dataOf(reply)).toMatchObject({ status: 'pending', history: [{ status: 'failed', error }] });

        // The processor's UnrecoverableError ends the job.
        await job!.moveToFailed(new UnrecoverableError(error), token, false);
      } finally {
        await standIn.close();
      }
      expect((await cancel(alice, blocker.id)).status).toBe(200);

      // The retried run must happen: the record may not wait forever with no job to run it.
      const ended = await alice.waitFor(created.id, ENDED, 15_000).catch(async (err: Error) => {
        const now = dataOf(await alice.get(created.id));
        return { ...now, error: `${err.message}; job ${await jobState(created.id)}` };
      });
      expect(ended).toMatchObject({ status: 'completed', error: null });
    });

    test("when another user retries a user's failed generation, then the answer is 404 and the generation stays failed", async () => {
      const model = 'test/retry-not-yours';
      system.emulator.always(model, hf.notFound(model));
      const failed = await alice.waitFor((await alice.create({ prompt: 'not for bob', model })).id, ENDED);
      expect(failed.status).toBe('failed');

      const asBob = await retry(bob, failed.id);
      expect(asBob.status).toBe(404);
      expect(asBob.body).toEqual((await retry(bob, '0123456789abcdef01234567')).body);
      expect(dataOf(await alice.get(failed.id))).toMatchObject({ status: 'failed', history: [] });
      expect(await stateAfterActive(() => jobState(failed.id))).toBe('failed');
    });
  });

  describe('record URLs', () => {
    test('when a record is created, read, listed, canceled or retried, then it carries urls absolute under PUBLIC_BASE_URL, and urls.get serves the record', async () => {
      const model = 'test/urls';
      const running = await processing(alice, model, 'a picture with links');
      expect(running.urls).toEqual(urlsOf(running.id));

      const created = await alice.create({ prompt: 'listed with links', model: 'test/urls-listed' });
      expect(created.urls).toEqual(urlsOf(created.id));

      const page = await alice.list('?limit=100');
      expect(page.items.length).toBeGreaterThan(1);
      for (const item of page.items as GenerationSummary[]) expect(item.urls).toEqual(urlsOf(item.id));

      const canceled = await cancel(alice, running.id);
      expect(dataOf(canceled).urls).toEqual(urlsOf(running.id));
      system.emulator.always(model, hf.png());
      const retried = await retry(alice, running.id);
      expect(dataOf(retried).urls).toEqual(urlsOf(running.id));

      const done = await alice.waitFor(running.id, ENDED);
      expect(done.status).toBe('completed');
      expect(done.urls).toEqual(urlsOf(running.id));
      for (const url of [done.urls.get, done.urls.cancel, done.urls.events, done.urls.image])
        expect(url.startsWith(`${PUBLIC_BASE_URL}/api/generations/`)).toBe(true);

      // The URLs' paths are the API's routes.
      const viaUrl = await alice.request<ApiSuccess<Generation>>('GET', new URL(done.urls.get).pathname);
      expect(viaUrl.status).toBe(200);
      expect(viaUrl.body.data).toMatchObject({ id: done.id, status: 'completed', urls: done.urls });
      const image = await fetch(alice.baseUrl + new URL(done.urls.image).pathname, {
        headers: { authorization: `Bearer ${alice.token}` },
      });
      expect(image.status).toBe(200);
      expect(image.headers.get('content-type')).toBe('image/png');
      expect((await alice.request('POST', new URL(done.urls.cancel).pathname)).status).toBe(409);
      await alice.waitFor(created.id, ENDED);
    });
  });
});
