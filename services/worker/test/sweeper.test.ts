import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import pino from 'pino';
import { RetentionSettings, type GenerationStatus, type WebhookMessageState } from '@imagegen/shared';
import {
  AccountDeleter,
  COLLECTIONS,
  GenerationDeleter,
  JobQueues,
  MongoImageStore,
  S3ImageStore,
  ensureIndexes,
  newGeneration,
  type GenerationDocument,
  type IdempotencyKeyDocument,
  type ImageStore,
  type Logger,
  type UserDocument,
  type WebhookAttemptDocument,
  type WebhookMessageDocument,
} from '@imagegen/core';
import { deletionParts } from '../../../test/support/deletion-parts';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { WorkerMetrics } from '../src/metrics';
import { ACCOUNT_RESUME_AFTER_MS } from '../src/retention/interrupted-account-deletions';
import { SweepLock } from '../src/retention/sweep-lock';
import { Sweeper } from '../src/retention/sweeper';
import { sweepTasks } from '../src/retention/sweep-tasks';
import { SETTINGS } from './fixtures';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const INTERVAL = 60_000;
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const META = { mime_type: 'image/png' as const, size_bytes: PNG.length, width: 1, height: 1 };

describe('the retention sweep, against real Redis and a real MongoDB-wire server', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let redis: Redis;
  let queues: JobQueues;
  let images: ImageStore;
  let deleter: GenerationDeleter;
  let clock: Date;
  let logLines: Array<Record<string, unknown>>;
  let logger: Logger;
  let metrics: WorkerMetrics;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    await ensureIndexes(db);
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    images = new MongoImageStore(db);
    ({ queues, deleter } = deletionParts(db, redis, env.queuePrefix, images));
  });

  afterAll(async () => {
    await queues?.close();
    redis?.disconnect();
    await client?.close();
    await env?.cleanup();
  });

  beforeEach(async () => {
    await Promise.all(Object.values(COLLECTIONS).map((name) => db.collection(name).deleteMany({})));
    const keys = await redis.keys(`${env.queuePrefix}:sweeper:*`);
    if (keys.length) await redis.del(...keys);
    clock = new Date();
    logLines = [];
    logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    metrics = new WorkerMetrics();
  });

  /** A sweeper on this test's clock, with the retention settings given as the worker reads them. */
  function sweeper(settings: Record<string, string> = {}, imageStore: ImageStore = images): Sweeper {
    return new Sweeper(
      {
        tasks: sweepTasks(RetentionSettings.parse(settings), {
          db,
          redis,
          images: imageStore,
          queuePrefix: env.queuePrefix,
          logger,
          generations: deleter,
          accounts: new AccountDeleter(db, deleter),
        }),
        redis,
        queuePrefix: env.queuePrefix,
        logger,
        observer: metrics,
      },
      { intervalMs: INTERVAL, now: () => clock },
    );
  }

  /** A pass now, in an interval of its own: the clock moves on by one interval first. */
  async function pass(s: Sweeper) {
    clock = new Date(clock.getTime() + INTERVAL);
    const removed = await s.pass();
    expect(removed).not.toBeNull();
    return removed!;
  }

  const generations = () => db.collection<GenerationDocument>(COLLECTIONS.generations);
  const read = (id: ObjectId) => generations().findOne({ _id: id });
  const ago = (ms: number) => new Date(clock.getTime() - ms);

  /** A record in `status` that last changed (and ended, unless in flight) `ageMs` before the clock, with its image stored when completed. */
  async function record(status: GenerationStatus, ageMs: number): Promise<GenerationDocument> {
    const at = ago(ageMs);
    const ended = status !== 'pending' && status !== 'processing';
    const doc: GenerationDocument = {
      ...newGeneration(new ObjectId(), `prompt ${status}`, SETTINGS),
      status,
      image: status === 'completed' ? META : null,
      created_at: at,
      completed_at: ended ? at : null,
      updated_at: at,
    };
    await generations().insertOne(doc);
    if (status === 'completed') await images.put(doc._id, { owner: doc.user_id, bytes: PNG, meta: META });
    return doc;
  }

  async function removedTotal(kind: string): Promise<number> {
    const metric = await metrics.registry.getSingleMetric('imagegen_retention_removed_total')?.get();
    return metric?.values.find((value) => value.labels.kind === kind)?.value ?? 0;
  }

  describe('RETENTION_IMAGES_DAYS', () => {
    test('when a completed generation is older than the limit, then its image goes and its record stays, marked image_expired', async () => {
      const old = await record('completed', 31 * DAY);
      const young = await record('completed', 29 * DAY);

      const removed = await pass(sweeper({ RETENTION_IMAGES_DAYS: '30' }));

      expect(removed.images).toBe(1);
      expect(await images.has(old._id)).toBe(false);
      expect(await read(old._id)).toEqual({ ...old, image_expired: true });
      expect(await images.has(young._id)).toBe(true);
      expect(await read(young._id)).toEqual(young);
      expect(await removedTotal('images')).toBe(1);
    });

    test('when an image expired already, then a later pass leaves its record as it is', async () => {
      const old = await record('completed', 31 * DAY);
      const sweep = sweeper({ RETENTION_IMAGES_DAYS: '30' });
      await pass(sweep);
      const expired = await read(old._id);

      expect((await pass(sweep)).images).toBe(0);
      expect(await read(old._id)).toEqual(expired);
    });

    test('when more are due than a batch, then each pass expires a batch and the next one goes on', async () => {
      const due = await Promise.all([1, 2, 3].map((n) => record('completed', (30 + n) * DAY)));
      const sweep = sweeper({ RETENTION_IMAGES_DAYS: '30', SWEEP_BATCH: '2' });

      expect((await pass(sweep)).images).toBe(2);
      expect((await pass(sweep)).images).toBe(1);
      for (const doc of due) expect(await read(doc._id)).toMatchObject({ image_expired: true });
    });

    test('when a generation failed or was canceled long ago, then it is not marked: it never had an image', async () => {
      const failed = await record('failed', 400 * DAY);
      const canceled = await record('canceled', 400 * DAY);
      expect((await pass(sweeper({ RETENTION_IMAGES_DAYS: '30' }))).images).toBe(0);
      expect(await read(failed._id)).toEqual(failed);
      expect(await read(canceled._id)).toEqual(canceled);
    });
  });

  describe('RETENTION_GENERATIONS_DAYS', () => {
    test('when an ended generation has not changed for longer than the limit, then it goes whole; a younger one stays', async () => {
      const old = await Promise.all(
        (['completed', 'failed', 'canceled'] as const).map((status) => record(status, 31 * DAY)),
      );
      const young = await record('completed', 29 * DAY);

      const removed = await pass(sweeper({ RETENTION_GENERATIONS_DAYS: '30' }));

      expect(removed.generations).toBe(3);
      for (const doc of old) expect(await read(doc._id)).toBeNull();
      expect(await images.has(old[0]!._id)).toBe(false);
      expect(await read(young._id)).toEqual(young);
      expect(await images.has(young._id)).toBe(true);
    });
  });

  test('when generations in flight are far older than every limit, then nothing of theirs is touched', async () => {
    const pending = await record('pending', 1000 * DAY);
    const processing = await record('processing', 1000 * DAY);
    // The run wrote its image a long while ago and has not completed its record (yet).
    await images.put(processing._id, { owner: processing.user_id, bytes: PNG, meta: META });
    clock = new Date(clock.getTime() + 2 * HOUR);

    const removed = await pass(
      sweeper({ RETENTION_IMAGES_DAYS: '1', RETENTION_GENERATIONS_DAYS: '1', RETENTION_WEBHOOK_LOG_DAYS: '1' }),
    );

    expect(removed).toMatchObject({ images: 0, generations: 0, orphan_images: 0 });
    expect(await read(pending._id)).toEqual(pending);
    expect(await read(processing._id)).toEqual(processing);
    expect(await images.has(processing._id)).toBe(true);
  });

  describe('RETENTION_WEBHOOK_LOG_DAYS', () => {
    const messages = () => db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
    const attempts = () => db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts);

    async function message(state: WebhookMessageState, ageMs: number): Promise<string> {
      const _id = `msg_${new ObjectId().toHexString()}`;
      await messages().insertOne({
        _id,
        generation_id: new ObjectId(),
        user_id: new ObjectId(),
        type: 'generation.completed',
        url: 'https://example.com/hook',
        body: '{}',
        state,
        attempts: 1,
        next_attempt_at: null,
        created_at: ago(ageMs),
        updated_at: ago(ageMs),
      });
      return _id;
    }

    async function attempt(ageMs: number): Promise<ObjectId> {
      const _id = new ObjectId();
      await attempts().insertOne({
        _id,
        message_id: 'msg_x',
        generation_id: new ObjectId(),
        user_id: new ObjectId(),
        type: 'generation.completed',
        trigger: 'scheduled',
        url: 'https://example.com/hook',
        attempted_at: ago(ageMs),
        status_code: 200,
        error: null,
        duration_ms: 12,
        outcome: 'delivered',
        next_retry_at: null,
      });
      return _id;
    }

    test('when attempts and ended messages are older than the limit, then they go; younger ones and messages still being delivered stay', async () => {
      const oldAttempt = await attempt(8 * DAY);
      const youngAttempt = await attempt(6 * DAY);
      const ended = await Promise.all(
        (['delivered', 'failed', 'stopped'] as const).map((state) => message(state, 8 * DAY)),
      );
      const stillDelivering = await Promise.all(
        (['pending', 'retrying'] as const).map((state) => message(state, 8 * DAY)),
      );
      const young = await message('delivered', 6 * DAY);

      const removed = await pass(sweeper({ RETENTION_WEBHOOK_LOG_DAYS: '7' }));

      expect(removed).toMatchObject({ webhook_attempts: 1, webhook_messages: 3 });
      expect(await attempts().countDocuments({ _id: oldAttempt })).toBe(0);
      expect(await attempts().countDocuments({ _id: youngAttempt })).toBe(1);
      for (const id of ended) expect(await messages().countDocuments({ _id: id })).toBe(0);
      for (const id of [...stillDelivering, young]) expect(await messages().countDocuments({ _id: id })).toBe(1);
    });
  });

  test('when no limit is set, then ancient records, images and delivery logs are all kept', async () => {
    const done = await record('completed', 5000 * DAY);
    const failed = await record('failed', 5000 * DAY);
    const removed = await pass(sweeper());
    expect(removed).toEqual({ idempotency_keys: 0, claims: 0, orphan_images: 0, accounts: 0 });
    expect(await read(done._id)).toEqual(done);
    expect(await read(failed._id)).toEqual(failed);
    expect(await images.has(done._id)).toBe(true);
  });

  test('when idempotency keys are past their 24 h, then they go whatever the settings; younger ones stay', async () => {
    const keys = db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys);
    const key = (id: string, ageMs: number): IdempotencyKeyDocument => ({
      _id: id,
      user_id: new ObjectId(),
      request_hash: 'h',
      generation_id: new ObjectId(),
      created_at: ago(ageMs),
    });
    await keys.insertMany([key('old', 25 * HOUR), key('young', 23 * HOUR)]);

    expect((await pass(sweeper())).idempotency_keys).toBe(1);
    expect(
      await keys
        .find()
        .map((doc) => doc._id)
        .toArray(),
    ).toEqual(['young']);
  });

  test('when an account deletion was interrupted, then the sweep finishes it; one still in progress is left to its API', async () => {
    const users = db.collection<UserDocument>(COLLECTIONS.users);
    const user = (deletedAgoMs: number): UserDocument => ({
      _id: new ObjectId(),
      email: `deleted:${new ObjectId().toHexString()}`,
      name: 'gone',
      password_hash: 'x',
      role: 'user',
      created_at: ago(DAY),
      deleted_at: ago(deletedAgoMs),
    });
    const interrupted = user(ACCOUNT_RESUME_AFTER_MS + 60_000);
    const inProgress = user(60_000);
    await users.insertMany([interrupted, inProgress]);
    const left = await record('completed', HOUR);
    await generations().updateOne({ _id: left._id }, { $set: { user_id: interrupted._id } });

    expect((await pass(sweeper())).accounts).toBe(1);
    expect(await users.countDocuments({ _id: interrupted._id })).toBe(0);
    expect(await read(left._id)).toBeNull();
    expect(await users.countDocuments({ _id: inProgress._id })).toBe(1);
  });

  test('when a pass removes something, then it logs one line with the counts by kind; a pass that removes nothing logs none', async () => {
    await record('completed', 31 * DAY);
    const sweep = sweeper({ RETENTION_IMAGES_DAYS: '30' });

    await pass(sweep);
    await pass(sweep);

    expect(logLines.filter((line) => line.level === 30)).toEqual([
      expect.objectContaining({
        msg: 'retention sweep removed expired data',
        removed: { images: 1, idempotency_keys: 0, claims: 0, orphan_images: 0, accounts: 0 },
      }),
    ]);
    expect(await metrics.registry.getSingleMetricAsString('imagegen_retention_pass_duration_seconds')).toMatch(
      /^imagegen_retention_pass_duration_seconds_count 2$/m,
    );
  });

  test('when the image store is away, then its kinds fail with a warning and the others are still swept', async () => {
    const old = await record('completed', 31 * DAY);
    await db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys).insertOne({
      _id: 'old',
      user_id: new ObjectId(),
      request_hash: 'h',
      generation_id: new ObjectId(),
      created_at: ago(2 * DAY),
    });
    // Nothing listens on port 9: every request to this store is refused.
    const away = new S3ImageStore({ ...env.s3Settings, S3_ENDPOINT: 'http://127.0.0.1:9' });
    try {
      const removed = await pass(sweeper({ RETENTION_IMAGES_DAYS: '30' }, away));
      expect(removed).toMatchObject({ images: 0, idempotency_keys: 1 });
      expect(removed.orphan_images).toBeUndefined();
      expect(await read(old._id)).toEqual(old);
      expect(logLines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual(
        expect.arrayContaining(['could not delete an expired image', 'retention sweep of one kind failed']),
      );
    } finally {
      await away.close();
    }
  });

  test('when two workers race for passes over several intervals, then exactly one pass runs in each interval', async () => {
    const first = sweeper();
    const second = sweeper();
    // At the start of an interval, then half an interval on at each round: two rounds per interval.
    clock = new Date((Math.floor(clock.getTime() / INTERVAL) + 1) * INTERVAL);
    const rounds: Array<[boolean, boolean]> = [];
    for (let round = 0; round < 8; round++) {
      const [a, b] = await Promise.all([first.pass(), second.pass()]);
      rounds.push([a !== null, b !== null]);
      clock = new Date(clock.getTime() + INTERVAL / 2);
    }

    const ran = rounds.map(([a, b]) => Number(a) + Number(b));
    expect(ran).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    // The claim of an interval expires on its own once the interval is over.
    const claims = await redis.keys(`${env.queuePrefix}:sweeper:pass:*`);
    expect(claims).toHaveLength(4);
    for (const claim of claims) expect(await redis.pttl(claim)).toBeGreaterThan(0);
    for (const claim of claims) expect(await redis.pttl(claim)).toBeLessThanOrEqual(2 * INTERVAL);
  });

  test('when a pass still runs on one worker, then no other starts, and the interval is left for once it ends', async () => {
    const running = await new SweepLock(redis, env.queuePrefix, INTERVAL).claim(clock);
    expect(running).not.toBeNull();
    const other = sweeper();
    clock = new Date(clock.getTime() + INTERVAL);

    expect(await other.pass()).toBeNull();
    await running!();
    expect(await other.pass()).not.toBeNull();
    expect(await other.pass()).toBeNull();
  });
});
