import { Redis } from 'ioredis';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import pino from 'pino';
import { RetentionSettings, type GenerationStatus } from '@imagegen/shared';
import {
  AccountDeleter,
  COLLECTIONS,
  GenerationDeleter,
  GenerationStore,
  JobQueues,
  MongoImageStore,
  S3ImageStore,
  newGeneration,
  type GenerationDocument,
  type ImageStore,
} from '@imagegen/core';
import { deletionParts } from '../../../test/support/deletion-parts';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { WorkerMetrics } from '../src/metrics';
import { ORPHAN_GRACE_MS } from '../src/retention/orphan-images';
import { Sweeper } from '../src/retention/sweeper';
import { sweepTasks } from '../src/retention/sweep-tasks';
import { SETTINGS } from './fixtures';

const INTERVAL = 60_000;
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 4, 5, 6]);
const META = { mime_type: 'image/png' as const, size_bytes: PNG.length, width: 1, height: 1 };

const stores: Array<[string, (db: Db, env: Isolation) => ImageStore]> = [
  ['MongoDB', (db) => new MongoImageStore(db)],
  ['S3 (versitygw)', (_db, env) => new S3ImageStore(env.s3Settings)],
];

describe.each(stores)('the orphan image sweep, on the %s image store', (_name, makeStore) => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let redis: Redis;
  let images: ImageStore;
  let store: GenerationStore;
  let queues: JobQueues;
  let deleter: GenerationDeleter;
  let clock: Date;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    images = makeStore(db, env);
    ({ queues, store, deleter } = deletionParts(db, redis, env.queuePrefix, images));
  });

  afterAll(async () => {
    await images?.close();
    await queues?.close();
    redis?.disconnect();
    await client?.close();
    await env?.cleanup();
  });

  beforeEach(async () => {
    await generations().deleteMany({});
    for (let page = await images.list(null, 100); page.length > 0; page = await images.list(null, 100)) {
      await Promise.all(page.map((image) => images.delete(image.id)));
    }
    const keys = await redis.keys(`${env.queuePrefix}:sweeper:*`);
    if (keys.length) await redis.del(...keys);
    clock = new Date();
  });

  /** A sweeper on this test's clock, with no retention limit: orphans are swept whatever the settings. */
  function sweeper(batch = 500): Sweeper {
    const logger = pino({ level: 'silent' });
    return new Sweeper(
      {
        tasks: sweepTasks(RetentionSettings.parse({ SWEEP_BATCH: String(batch) }), {
          db,
          redis,
          images,
          queuePrefix: env.queuePrefix,
          logger,
          generations: deleter,
          accounts: new AccountDeleter(db, deleter),
        }),
        redis,
        queuePrefix: env.queuePrefix,
        logger,
        observer: new WorkerMetrics(),
      },
      { intervalMs: INTERVAL, now: () => clock },
    );
  }

  /** A pass `atMs` after the images were written (the clock starts with the test), in an interval of its own. */
  async function passAt(s: Sweeper, atMs: number): Promise<number> {
    const keys = await redis.keys(`${env.queuePrefix}:sweeper:pass:*`);
    if (keys.length) await redis.del(...keys);
    clock = new Date(Date.now() + atMs);
    const removed = await s.pass();
    return removed!.orphan_images!;
  }

  const generations = () => db.collection<GenerationDocument>(COLLECTIONS.generations);
  const afterGrace = ORPHAN_GRACE_MS + 60_000;
  const put = (doc: Pick<GenerationDocument, '_id' | 'user_id'>) =>
    images.put(doc._id, { owner: doc.user_id, bytes: PNG, meta: META });

  /** A generation's record in `status`, its image stored. */
  async function withImage(status: GenerationStatus, extra: Partial<GenerationDocument> = {}) {
    const doc = { ...newGeneration(new ObjectId(), 'a prompt', SETTINGS), status, ...extra };
    await generations().insertOne(doc);
    await put(doc);
    return doc;
  }

  /** A run that wrote its image, then met a cancel or a failure before it could complete its record. */
  async function crashedRun(end: 'cancel' | 'fail'): Promise<GenerationDocument> {
    const doc = newGeneration(new ObjectId(), 'a prompt', SETTINGS);
    await generations().insertOne(doc);
    const running = await store.start(doc._id, doc.run, 1);
    await put(running!);
    const ended =
      end === 'cancel' ? await store.cancel(doc._id, 'user') : await store.fail(doc._id, doc.run, 'the worker stopped');
    return ended!;
  }

  test.each(['cancel', 'fail'] as const)(
    'when a run wrote its image and its record then ended otherwise (%s), then the image goes once older than the grace, the record stays',
    async (end) => {
      const ended = await crashedRun(end);
      const sweep = sweeper();

      expect(await passAt(sweep, 0)).toBe(0);
      expect(await images.has(ended._id)).toBe(true);

      expect(await passAt(sweep, afterGrace)).toBe(1);
      expect(await images.has(ended._id)).toBe(false);
      expect(await generations().findOne({ _id: ended._id })).toEqual(ended);
    },
  );

  test('when an image has no record at all, then it goes once older than the grace', async () => {
    const stray = { _id: new ObjectId(), user_id: new ObjectId() };
    await put(stray);
    const sweep = sweeper();
    expect(await passAt(sweep, 0)).toBe(0);
    expect(await passAt(sweep, afterGrace)).toBe(1);
    expect(await images.has(stray._id)).toBe(false);
  });

  test('when a record completed with its image, or is still in flight, then its image stays however old', async () => {
    const completed = await withImage('completed');
    const processing = await withImage('processing');
    const pending = await withImage('pending');
    expect(await passAt(sweeper(), 1000 * 86_400_000)).toBe(0);
    for (const doc of [completed, processing, pending]) expect(await images.has(doc._id)).toBe(true);
  });

  test('when a record says its image expired but bytes are still there, then they go', async () => {
    const expired = await withImage('completed', { image: META, image_expired: true });
    expect(await passAt(sweeper(), afterGrace)).toBe(1);
    expect(await images.has(expired._id)).toBe(false);
  });

  test('when the store holds more than a page, then each pass goes on from where the last stopped, and starts over at the end', async () => {
    const kept = [];
    for (let n = 0; n < 5; n++) kept.push(await withImage('completed'));
    const orphans = [];
    for (let n = 0; n < 4; n++) {
      const stray = { _id: new ObjectId(), user_id: new ObjectId() };
      await put(stray);
      orphans.push(stray);
    }
    const sweep = sweeper(3);

    // Pages of three: three kept; two kept and an orphan; three orphans; the end.
    const removed = [];
    for (let n = 0; n < 4; n++) removed.push(await passAt(sweep, afterGrace));
    expect(removed).toEqual([0, 1, 3, 0]);
    for (const doc of orphans) expect(await images.has(doc._id)).toBe(false);
    for (const doc of kept) expect(await images.has(doc._id)).toBe(true);

    // An orphan before every other image is only found once the walk starts over.
    const first = { _id: ObjectId.createFromTime(Math.floor(Date.now() / 1000) - 3600), user_id: new ObjectId() };
    await put(first);
    expect(await passAt(sweep, afterGrace)).toBe(1);
    expect(await images.has(first._id)).toBe(false);
  });
});
