import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { QUEUES, generationJobId, type Generation } from '@imagegen/shared';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import type { ApiClient } from '../support/api-client';
import { hf, makeImage, type Step } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { Scrape } from '../support/prometheus';
import { logRecords, spawnWorker, type SpawnedService } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver } from '../support/webhook-receiver';

/** Every gate not yet opened: a test that fails half-way leaves its own for afterEach to open. */
const gates: (() => void)[] = [];

/** A promise the test settles when it chooses: here, when Hugging Face answers one delivery. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  gates.push(open);
  return { opened, open };
}

/**
 * One generation job run by two workers at once. BullMQ gives an active job to another worker when
 * a stalled check finds its lock gone: what a worker whose Redis connection paused past
 * WORKER_LOCK_MS looks like. Deleting the lock makes that happen on cue, while the first worker
 * still waits for Hugging Face; each worker runs one job at a time, so the second delivery
 * (`attemptsStarted` 2) goes to the other worker. Both deliveries then wait on Hugging Face
 * together, and whichever answer comes first, the generation ends completed once: one image, the
 * answer of the delivery that holds the record (the later one), one webhook message, one delivery.
 */
describe('a generation job delivered to two workers at once', () => {
  let system: System;
  let workers: SpawnedService[];
  let receiver: WebhookReceiver;
  let mongo: Mongo;
  let redis: Redis;
  let generationQueue: Queue;
  let webhookQueue: Queue;
  let client: ApiClient;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    system = await startSystem({
      apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
      workerEnv: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WORKER_CONCURRENCY: '1',
        // The lock outlives the test's waits; only the deleted one expires. Stalled checks come often.
        WORKER_LOCK_MS: '10000',
        WORKER_STALLED_INTERVAL_MS: '1000',
        HF_TIMEOUT_MS: '30000',
        HF_MAX_WAIT_MS: '30000',
        // `generation done` (info) tells which worker ran which delivery.
        LOG_LEVEL: 'info',
      },
    });
    workers = [system.worker, await spawnWorker(system.workerEnv)];
    mongo = await connectMongo(system.env.mongoUri);
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    const queueOptions = { connection: redis, prefix: system.env.queuePrefix };
    generationQueue = new Queue(QUEUES.generations, queueOptions);
    webhookQueue = new Queue(QUEUES.webhooks, queueOptions);
    client = await newUser(system);
  });

  // A test that failed half-way must not leave a worker waiting on Hugging Face for the next one.
  afterEach(async () => {
    gates.splice(0).forEach((open) => open());
    await eventually('no job runs', async () => ((await generationQueue.getActiveCount()) === 0 ? true : undefined));
  });

  afterAll(async () => {
    await workers?.[1]?.stop();
    await generationQueue?.close();
    await webhookQueue?.close();
    redis?.disconnect();
    await mongo?.client.close();
    await system?.stop();
    await receiver?.close();
  });

  const record = (id: string) => mongo.db.collection(COLLECTIONS.generations).findOne({ _id: new ObjectId(id) });

  /** Runs both workers have ended with `outcome`, from their metrics. */
  async function runsEnded(outcome: string): Promise<number> {
    const scrapes = await Promise.all(workers.map((w) => Scrape.of(`${w.url}/metrics`)));
    return scrapes.reduce((sum, s) => sum + (s.value('imagegen_jobs_total', { outcome }) ?? 0), 0);
  }

  /** Each worker's `generation done` records for the generation, by worker. */
  const doneBy = (id: string) =>
    workers.map((w) => logRecords(w.output()).filter((r) => r.msg === 'generation done' && r.generationId === id));

  /**
   * Resolves once the stale delivery's run has returned. BullMQ does not stop a processor whose lock
   * was taken (it only logs the failed lock renewal): the run goes on to its end, and BullMQ then
   * refuses to move the job for it ("Lock mismatch" while the other delivery holds the job,
   * "Missing lock" once it completed it), which the worker logs.
   */
  const refusedFinish = (jobId: string) =>
    eventually('BullMQ refuses to finish the stale delivery', async () =>
      workers
        .flatMap((w) => logRecords(w.output()))
        .find(
          (r) =>
            r.msg === 'worker error' && String(r.err).includes(`job ${jobId}.`) && /moveToFinished/.test(String(r.err)),
        ),
    );

  /**
   * Creates a generation whose Hugging Face answers wait for the test: the first request (the first
   * delivery's) gets a JPEG, the second a PNG, so the stored bytes tell whose answer was kept. Returns
   * once the job runs on both workers at once.
   */
  async function deliverTwice(model: string, hook: string) {
    const first = gate();
    const second = gate();
    const jpegWhen = (until: Promise<unknown>): Step => ({ kind: 'image', format: 'jpeg', until });
    system.emulator.script(model, jpegWhen(first.opened), hf.pngWhen(second.opened));
    const created = await client.create({
      prompt: 'a lighthouse in fog',
      model,
      webhook_url: receiver.url(hook),
      webhook_events: ['completed'],
    });
    const jobId = generationJobId(created.id, 1);
    await system.emulator.waitForRequests(model, 1);
    expect(await record(created.id)).toMatchObject({ status: 'processing', delivery: 1, attempts: 1 });

    // The first worker's lock, gone as if its Redis connection had paused past WORKER_LOCK_MS.
    const lockKey = `${system.env.queuePrefix}:${QUEUES.generations}:${jobId}:lock`;
    expect(await redis.del(lockKey)).toBe(1);

    await eventually('the second delivery asks Hugging Face', async () =>
      system.emulator.requestsFor(model).length >= 2 ? true : undefined,
    );
    // The first delivery's request is held until its gate opens: both deliveries run now, on one record.
    expect(system.emulator.requestsFor(model)).toHaveLength(2);
    expect(await record(created.id)).toMatchObject({ status: 'processing', delivery: 2, attempts: 2 });
    const job = await Job.fromId(generationQueue, jobId);
    expect(job).toMatchObject({ attemptsStarted: 2, stalledCounter: 1 });
    return { id: created.id, jobId, first, second };
  }

  /** The image the second delivery's Hugging Face answer carried. */
  function secondAnswer(model: string): Buffer {
    const { parameters } = system.emulator.requestsFor(model)[1]!.body;
    return makeImage('png', Number(parameters.width ?? 512), Number(parameters.height ?? 512));
  }

  /** Completed once, by the second delivery, once every run and every webhook delivery has ended. */
  async function expectCompletedOnce(id: string, jobId: string, hook: string, image: Buffer, completedBefore: number) {
    // The second delivery's processor has returned, so every webhook it queued is queued; then they are sent.
    await eventually('the job completes', async () =>
      (await generationQueue.getJobState(jobId)) === 'completed' ? true : undefined,
    );
    await eventually('the webhook queue is idle', async () => {
      const counts = await webhookQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0) ? true : undefined;
    });

    const done = await client.waitFor(id, ['completed', 'failed', 'canceled']);
    expect(done.status).toBe('completed');
    expect(await record(id)).toMatchObject({ status: 'completed', run: 1, delivery: 2, attempts: 2, history: [] });
    expect(await runsEnded('completed')).toBe(completedBefore + 1);
    // Each worker ran one delivery; only the second delivery's run completed the record.
    const runs = doneBy(id);
    expect(runs.map((r) => r.length)).toEqual([1, 1]);
    expect(
      runs
        .flat()
        .map((r) => [r.completed, r.mime])
        .sort(),
    ).toEqual([
      [false, 'image/jpeg'],
      [true, 'image/png'],
    ]);

    const served = await client.image(id);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.bytes.equals(image)).toBe(true);
    expect(await mongo.db.collection(COLLECTIONS.images).countDocuments({ _id: new ObjectId(id) })).toBe(1);

    expect(
      await mongo.db.collection(COLLECTIONS.webhookMessages).countDocuments({ generation_id: new ObjectId(id) }),
    ).toBe(1);
    const deliveries = receiver.deliveriesTo(hook);
    expect(deliveries).toHaveLength(1);
    const event = JSON.parse(deliveries[0]!.body) as { type: string; data: Generation };
    expect(event.type).toBe('generation.completed');
    // The message is of the completion the record shows, not of another one.
    const { image_url: _eventImage, ...eventRest } = event.data;
    const { image_url: _image, queue_position: _p, estimated_start_seconds: _e, ...recordRest } = done;
    expect(eventRest).toEqual(recordRest);
  }

  test('when the stale delivery is answered first, then it completes nothing, and the later delivery completes the generation once with its own image', async () => {
    const model = 'test/double-delivery-stale-first';
    const completedBefore = await runsEnded('completed');
    const { id, jobId, first, second } = await deliverTwice(model, '/stale-first');
    const images = mongo.db.collection(COLLECTIONS.images);

    first.open();
    await refusedFinish(jobId);
    // The stale delivery's run is over: it left the record to the later one. Its image went under
    // the generation's key, which was free: the MongoDB store adds a new image without reading the
    // record first (GenerationRepository.complete), since it replaces nothing. It is not served
    // (the record is not completed), and the later delivery's image replaces it.
    expect(await record(id)).toMatchObject({ status: 'processing', delivery: 2 });
    expect(await images.findOne({ _id: new ObjectId(id) })).toMatchObject({ mime_type: 'image/jpeg' });
    expect(receiver.deliveriesTo('/stale-first')).toHaveLength(0);

    second.open();
    await expectCompletedOnce(id, jobId, '/stale-first', secondAnswer(model), completedBefore);
    expect(await images.countDocuments({ _id: new ObjectId(id) })).toBe(1);
  });

  test('when the later delivery is answered first, then the stale one answered after it changes nothing', async () => {
    const model = 'test/double-delivery-later-first';
    const completedBefore = await runsEnded('completed');
    const { id, jobId, first, second } = await deliverTwice(model, '/later-first');

    second.open();
    await client.waitFor(id, ['completed', 'failed', 'canceled']);
    await receiver.waitFor('/later-first', 1);
    first.open();
    await refusedFinish(jobId);

    await expectCompletedOnce(id, jobId, '/later-first', secondAnswer(model), completedBefore);
  });
});
