import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, ObjectId, type CommandStartedEvent, type Db } from 'mongodb';
import { Redis } from 'ioredis';
import { providePostgresDatabase, startFerretDb, type ProvidedService } from '@imagegen/devstack';
import {
  Claims,
  COLLECTIONS,
  createLogger,
  ensureIndexes,
  GenerationStore,
  InsertBatches,
  JobQueues,
  MongoImageStore,
  newGeneration,
  S3ImageStore,
  WebhookNotifier,
  WriteContendedError,
  type ClaimDocument,
  type GenerationDocument,
  type ImageStore,
  type UserDocument,
} from '@imagegen/core';
import { QUEUES, type GenerationStatus } from '@imagegen/shared';
import { IdempotencyRepository } from '../../services/api/src/generations/idempotency.repository';
import { UserRepository } from '../../services/api/src/users/user.repository';
import { freshWebhookSecret } from '../../services/api/src/webhooks/webhook-secret';
import { WebhookSecretRepository } from '../../services/api/src/webhooks/webhook-secret.repository';
import { SETTINGS } from '../support/generation-settings';
import { isolation, type Isolation } from '../support/isolation';

/*
 * Every "only one may win" write, raced by eight writers at once, thirty rounds, on both backends
 * of FerretDB: a MongoDB-wire server whose conditional updates are not atomic (the control test
 * below shows it on each), so what holds here holds because of the claims, not the server.
 */
const ROUNDS = 30;
const WRITERS = 8;
const IMAGE = { mime_type: 'image/png' as const, size_bytes: 3, width: 256, height: 256 };
const RESULT = { images: [IMAGE] as [typeof IMAGE], provider: 'hf-endpoint' as const };

/**
 * One round of a new image's race: every writer adds a generation's first image at once, then its
 * second part. Exactly one must win each, and its bytes be the ones stored: the winners per add.
 */
async function raceToAdd(images: Required<Pick<ImageStore, 'add' | 'read'>>[]): Promise<number[]> {
  const owner = new ObjectId();
  const bytesOf = (i: number) => Buffer.from(`image of writer ${i}`);
  const id = new ObjectId();
  const wins: number[] = [];
  for (const part of [{ index: 0 }, { index: 1 }]) {
    const added = await Promise.all(
      images.map((store, i) => store.add(id, { owner, bytes: bytesOf(i), meta: IMAGE }, part)),
    );
    const winner = added.indexOf(true);
    expect(added.filter(Boolean)).toHaveLength(1);
    expect(await images[0]!.read(id, part)).toEqual(bytesOf(winner));
    wins.push(added.filter(Boolean).length);
  }
  return wins;
}

describe.each(['PostgreSQL', 'SQLite'] as const)(
  'exactly once on FerretDB over %s, eight writers at once',
  (backend) => {
    let workDir: string;
    let server: ProvidedService;
    let clients: MongoClient[];
    let db: Db;
    /** Each writer its own store, over two clients: the writers share no connection pool. */
    let stores: GenerationStore[];
    /** The inserts each client sent: what shows that writers sharing a batcher were one command. */
    let sent: { client: number; collection: string; documents: number }[] = [];
    /** How many documents each client's first insert into `collection` since `sent` was emptied held. */
    const firstInsertOfEach = (collection: string) =>
      [0, 1].map(
        (client) => sent.find((insert) => insert.client === client && insert.collection === collection)?.documents,
      );

    beforeAll(async () => {
      workDir = mkdtempSync(join(tmpdir(), 'imagegen-races-'));
      const storage = backend === 'SQLite' ? 'sqlite' : await providePostgresDatabase();
      if (!storage)
        throw new Error(
          'no PostgreSQL to race on: DEVSTACK_POSTGRES_URL is none, or none answers there or at 127.0.0.1:5432; these tests need one',
        );
      // Every writer's command at once, and no more than FerretDB over PostgreSQL can serve without
      // waiting forever on its own pool (packages/devstack/src/mongo.ts).
      if (storage !== 'sqlite' && storage.pool <= WRITERS) {
        await storage.drop();
        throw new Error(`FerretDB got ${storage.pool} connections to PostgreSQL; racing ${WRITERS} writers needs more`);
      }
      server = await startFerretDb(workDir, storage);
      clients = await Promise.all(
        [0, 1].map(() => new MongoClient(server.url, { maxPoolSize: WRITERS / 2, monitorCommands: true }).connect()),
      );
      clients.forEach((client, i) =>
        client.on('commandStarted', (event: CommandStartedEvent) => {
          if (event.commandName !== 'insert') return;
          sent.push({ client: i, collection: String(event.command.insert), documents: event.command.documents.length });
        }),
      );
      const dbs = clients.map((client) => client.db('races'));
      db = dbs[0]!;
      await ensureIndexes(db);
      stores = Array.from({ length: WRITERS }, (_, i) => new GenerationStore(dbs[i % 2]!));
    }, 180_000);

    afterAll(async () => {
      await Promise.all((clients ?? []).map((client) => client.close()));
      await server?.stop();
      rmSync(workDir, { recursive: true, force: true });
    });

    const generations = () => db.collection<GenerationDocument>(COLLECTIONS.generations);
    const read = async (id: ObjectId) => (await generations().findOne({ _id: id }))!;

    // Every test makes its own records. On SQLite each query scans the whole collection, so without
    // this the last tests paid for the hundreds of records the earlier ones left (8 s for the end of
    // a run against 1 s on PostgreSQL).
    beforeEach(async () => {
      await generations().deleteMany({});
    });

    async function record(
      status: GenerationStatus,
      extra: Partial<GenerationDocument> = {},
    ): Promise<GenerationDocument> {
      const doc = { ...newGeneration(new ObjectId(), 'a race', SETTINGS), status, ...extra };
      await generations().insertOne(doc);
      return doc;
    }

    /** How many writers won, round by round; `round` races them once and checks the record. */
    async function rounds(round: () => Promise<number>): Promise<number[]> {
      const wins: number[] = [];
      for (let i = 0; i < ROUNDS; i += 1) wins.push(await round());
      return wins;
    }

    const once = Array<number>(ROUNDS).fill(1);
    const winners = <T>(results: (T | null)[]) => results.filter((result): result is T => result !== null);

    test('the control: the server itself lets more than one of eight conditional updates of one record through', async () => {
      const wins = await rounds(async () => {
        const doc = await record('pending');
        const results = await Promise.all(
          stores.map((_, i) =>
            clients[i % 2]!.db('races')
              .collection<GenerationDocument>(COLLECTIONS.generations)
              .updateOne({ _id: doc._id, status: 'pending' }, { $set: { status: 'processing', error: `writer ${i}` } }),
          ),
        );
        return results.filter((result) => result.modifiedCount === 1).length;
      });
      expect(wins.some((won) => won > 1)).toBe(true);
    });

    test('start: of eight deliveries of one job, exactly one starts the run', async () => {
      const wins = await rounds(async () => {
        const doc = await record('pending');
        const won = winners(await Promise.all(stores.map((store) => store.start(doc._id, 1, 1))));
        expect(await read(doc._id)).toMatchObject({ status: 'processing', attempts: 1, rev: 1 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('start from the revision the job names: of eight deliveries of one job that skip reading the record, exactly one starts the run', async () => {
      const wins = await rounds(async () => {
        const doc = await record('pending');
        const won = winners(await Promise.all(stores.map((store) => store.start(doc._id, 1, 1, doc.rev))));
        expect(won[0]).toMatchObject({ status: 'processing', attempts: 1, rev: 1, prompt: 'a race' });
        expect(await read(doc._id)).toMatchObject({ status: 'processing', attempts: 1, rev: 1 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('start, both ways: of four deliveries naming the revision and four reading the record, exactly one starts the run', async () => {
      const wins = await rounds(async () => {
        const doc = await record('pending');
        const won = winners(
          await Promise.all(stores.map((store, i) => store.start(doc._id, 1, 1, i % 2 ? doc.rev : undefined))),
        );
        expect(await read(doc._id)).toMatchObject({ status: 'processing', attempts: 1, rev: 1 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('complete: of eight writers holding the run, exactly one completes it', async () => {
      const wins = await rounds(async () => {
        const started = (await stores[0]!.start((await record('pending'))._id, 1, 1))!;
        const won = winners(await Promise.all(stores.map((store) => store.complete(started, RESULT, new Date()))));
        expect(await read(started._id)).toMatchObject({ status: 'completed', rev: 2, image: IMAGE });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('fail: of eight writers failing one run, exactly one does, and its error is the one kept', async () => {
      const wins = await rounds(async () => {
        const doc = await record('processing');
        const results = await Promise.all(stores.map((store, i) => store.fail(doc._id, 1, `writer ${i}`)));
        const won = winners(results);
        expect(await read(doc._id)).toMatchObject({ status: 'failed', rev: 1, error: won[0]?.error });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('cancel: of eight cancels of one generation, exactly one cancels it', async () => {
      const wins = await rounds(async () => {
        const doc = await record('processing');
        const won = winners(await Promise.all(stores.map((store) => store.cancel(doc._id, 'user'))));
        expect(await read(doc._id)).toMatchObject({ status: 'canceled', cancel_reason: 'user', rev: 1 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('deadline: of eight deadline jobs for one run, exactly one cancels it', async () => {
      const wins = await rounds(async () => {
        const deadline_at = new Date(Date.now() - 1_000);
        const doc = await record('pending', { deadline_at, cancel_after_ms: 1_000 });
        const won = winners(
          await Promise.all(stores.map((store) => store.cancel(doc._id, 'deadline', { deadline_at }))),
        );
        expect(await read(doc._id)).toMatchObject({ status: 'canceled', cancel_reason: 'deadline', rev: 1 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('retry: of eight retries of one ended generation, exactly one reopens it for one new run', async () => {
      const wins = await rounds(async () => {
        const ended = await record('failed');
        const won = winners(await Promise.all(stores.map((store) => store.reopen(ended, new Date()))));
        const after = await read(ended._id);
        expect(after).toMatchObject({ status: 'pending', run: 2, rev: 1 });
        expect(after.history).toHaveLength(1);
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('requeue: of eight reconcilers that saw one lost run, exactly one requeues it', async () => {
      const wins = await rounds(async () => {
        const seen = await record('processing');
        const won = winners(await Promise.all(stores.map((store) => store.requeue(seen))));
        expect(await read(seen._id)).toMatchObject({ status: 'pending', rev: 1 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('release: of eight hand-backs of one run, exactly one puts it back to pending', async () => {
      const wins = await rounds(async () => {
        const started = (await stores[0]!.start((await record('pending'))._id, 1, 1))!;
        const won = winners(await Promise.all(stores.map((store) => store.release(started))));
        expect(await read(started._id)).toMatchObject({ status: 'pending', rev: 2 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('the end of a run: of eight writers completing, failing and canceling it at once, exactly one ends it, as it says', async () => {
      const wins = await rounds(async () => {
        const started = (await stores[0]!.start((await record('pending'))._id, 1, 1))!;
        const results = await Promise.all(
          stores.map((store, i) =>
            [
              () => store.complete(started, RESULT, new Date()),
              () => store.fail(started._id, 1, `writer ${i}`),
              () => store.cancel(started._id, 'user'),
            ][i % 3]!(),
          ),
        );
        const won = winners(results);
        expect(await read(started._id)).toMatchObject({ status: won[0]?.status, rev: 2 });
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('a claim cut off: of eight writers meeting a completion whose write was cut off after its claim, only its writer’s next try ends the run, with what it claimed', async () => {
      const claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
      const wins = await rounds(async () => {
        const started = (await stores[0]!.start((await record('pending'))._id, 1, 1))!;
        const claimedAt = new Date(Date.now() - 1_000);
        // The claim as a completion leaves it when MongoDB goes away between the claim and the write.
        await claims.insertOne({
          _id: `generation:${started._id.toHexString()}:${started.rev}`,
          at: new Date(),
          data: {
            write: {
              status: 'completed',
              image: IMAGE,
              images: RESULT.images,
              provider: RESULT.provider,
              error: null,
              completed_at: claimedAt,
              updated_at: claimedAt,
              rev: started.rev! + 1,
            },
          },
          by: 'run-a',
        });
        const results = await Promise.all(
          stores.map((store, i) =>
            i === 0
              ? store.complete(started, RESULT, new Date(), 'run-a')
              : // A writer that waited out its turns while the claim's write had not landed moved nothing.
                [
                  () => store.complete(started, RESULT, new Date(), `run-${i}`),
                  () => store.fail(started._id, 1, `writer ${i}`, `run-${i}`),
                  () => store.cancel(started._id, 'user'),
                ][i % 3]!().catch((err: unknown) => {
                  if (err instanceof WriteContendedError) return null;
                  throw err;
                }),
          ),
        );
        expect(results[0]).toMatchObject({ status: 'completed', completed_at: claimedAt });
        expect(await read(started._id)).toMatchObject({ status: 'completed', completed_at: claimedAt, rev: 2 });
        return winners(results).length;
      });
      expect(wins).toEqual(once);
    });

    test('a claim taken in a batch: of eight takes of one key, four through each of two processes’ claims (one command each), exactly one takes it', async () => {
      const claims = [0, 1].map((i) => new Claims(clients[i]!.db('races')));
      const wins = await rounds(async () => {
        const key = `race:${new ObjectId().toHexString()}`;
        sent = [];
        const taken = await Promise.all(stores.map((_, i) => claims[i % 2]!.take(key, { writer: i })));
        expect(firstInsertOfEach(COLLECTIONS.claims)).toEqual([WRITERS / 2, WRITERS / 2]);
        const winner = taken.indexOf(true);
        expect((await claims[0]!.find(key))?.data).toEqual({ writer: winner });
        return taken.filter(Boolean).length;
      });
      expect(wins).toEqual(once);
    });

    test('idempotent create: of eight requests with one Idempotency-Key, exactly one claims it, and the others are told its generation', async () => {
      const keys = stores.map((_, i) => new IdempotencyRepository(clients[i % 2]!.db('races')));
      const owner = new ObjectId();
      const wins = await rounds(async () => {
        const key = new ObjectId().toHexString();
        const ids = keys.map(() => new ObjectId());
        const claims = await Promise.all(keys.map((repo, i) => repo.claim(owner, key, 'same body', ids[i]!)));
        const won = claims.flatMap((claim, i) => (claim.claimed ? [ids[i]!] : []));
        const told = claims.flatMap((claim) => (claim.claimed ? [] : [claim.existing.generation_id.toHexString()]));
        expect(new Set(told)).toEqual(new Set(won.map((id) => id.toHexString())));
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('a batched insert: of eight inserts of one record, half in one batch and half in another, exactly one is stored, and the records beside them all are', async () => {
      const batches = [0, 1].map(
        (i) => new InsertBatches(clients[i]!.db('races').collection<GenerationDocument>(COLLECTIONS.generations)),
      );
      const wins = await rounds(async () => {
        const id = new ObjectId();
        const copies = stores.map((_, i) => ({ ...newGeneration(new ObjectId(), `writer ${i}`, SETTINGS), _id: id }));
        const beside = [0, 1].map(() => newGeneration(new ObjectId(), 'beside', SETTINGS));
        sent = [];
        const results = await Promise.allSettled([
          ...copies.map((doc, i) => batches[i % 2]!.insert(doc)),
          ...beside.map((doc, i) => batches[i]!.insert(doc)),
        ]);
        const won = results.slice(0, WRITERS).flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
        for (const result of results.slice(0, WRITERS))
          if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 11000 });
        expect(firstInsertOfEach(COLLECTIONS.generations)).toEqual([WRITERS / 2 + 1, WRITERS / 2 + 1]);
        expect(results.slice(WRITERS).map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
        expect(await generations().countDocuments({ _id: { $in: beside.map((doc) => doc._id) } })).toBe(2);
        if (won.length === 1) expect((await read(id)).prompt).toBe(`writer ${won[0]}`);
        return won.length;
      });
      expect(wins).toEqual(once);
    });

    test('a new image: of eight runs adding one generation’s image (and eight its second part), four through each of two stores, exactly one writes it, whole', async () => {
      const shared = [0, 1].map((i) => new MongoImageStore(clients[i]!.db('races')));
      const images = stores.map((_, i) => shared[i % 2]!);
      const wins = await rounds(async () => {
        sent = [];
        const won = await raceToAdd(images);
        expect(firstInsertOfEach(COLLECTIONS.images)).toEqual([WRITERS / 2, WRITERS / 2]);
        expect(firstInsertOfEach(COLLECTIONS.imageParts)).toEqual([WRITERS / 2, WRITERS / 2]);
        return Math.max(...won);
      });
      expect(wins).toEqual(once);
    });

    describe('a user’s webhook secret and admin credentials', () => {
      const users = () => db.collection<UserDocument>(COLLECTIONS.users);

      async function user(extra: Partial<UserDocument> = {}): Promise<UserDocument> {
        const doc: UserDocument = {
          _id: new ObjectId(),
          email: `${new ObjectId().toHexString()}@example.com`,
          name: 'Racer',
          password_hash: `hash-${new ObjectId().toHexString()}`,
          role: 'user',
          created_at: new Date(),
          ...extra,
        };
        await users().insertOne(doc);
        return doc;
      }

      const secretsOf = () => stores.map((_, i) => new WebhookSecretRepository(clients[i % 2]!.db('races')));

      test('first secret: of eight first requests of an account without one, one sets it and all eight answer that one', async () => {
        const repos = secretsOf();
        const wins = await rounds(async () => {
          const { _id } = await user();
          const answers = await Promise.all(
            repos.map((repo) => repo.createIfMissing(_id, freshWebhookSecret(new Date()))),
          );
          const stored = (await users().findOne({ _id }))!.webhook_secret!;
          expect(answers.map((answer) => answer?.current)).toEqual(Array(WRITERS).fill(stored.current));
          return new Set(answers.map((answer) => answer?.current)).size;
        });
        expect(wins).toEqual(once);
      });

      test('rotation: of eight rotations from one secret, exactly one is made', async () => {
        const repos = secretsOf();
        const wins = await rounds(async () => {
          const first = freshWebhookSecret(new Date());
          const { _id } = await user({ webhook_secret: first });
          const nexts = repos.map(() => freshWebhookSecret(new Date()));
          const made = await Promise.all(repos.map((repo, i) => repo.rotate(_id, first.current, nexts[i]!)));
          const winner = made.indexOf(true);
          expect((await users().findOne({ _id }))!.webhook_secret!.current).toBe(nexts[winner]?.current);
          return made.filter(Boolean).length;
        });
        expect(wins).toEqual(once);
      });

      test('a password hash: of eight changes from one hash (four sign-ins remaking it at another cost, four new admin credentials), exactly one is made', async () => {
        const repos = stores.map((_, i) => new UserRepository(clients[i % 2]!.db('races')));
        const wins = await rounds(async () => {
          const existing = await user();
          const made = await Promise.all(
            repos.map(async (repo, i) =>
              i % 2 === 0
                ? (await repo.rehash(existing._id, existing.password_hash, `rehash-${i}`))
                  ? `rehash-${i}`
                  : null
                : ((await repo.setAdminCredentials(existing._id, existing.password_hash, `admin-${i}`))
                    ?.password_hash ?? null),
            ),
          );
          const won = winners(made);
          expect((await users().findOne({ _id: existing._id }))!.password_hash).toBe(won[0]);
          return won.length;
        });
        expect(wins).toEqual(once);
      });

      test('admin credentials: of eight instances setting them from one password hash, exactly one does', async () => {
        const repos = stores.map((_, i) => new UserRepository(clients[i % 2]!.db('races')));
        const wins = await rounds(async () => {
          const existing = await user();
          const results = await Promise.all(
            repos.map((repo, i) => repo.setAdminCredentials(existing._id, existing.password_hash, `new-hash-${i}`)),
          );
          const won = winners(results);
          expect(await users().findOne({ _id: existing._id })).toMatchObject({
            role: 'admin',
            password_hash: won[0]?.password_hash,
          });
          return won.length;
        });
        expect(wins).toEqual(once);
      });
    });

    describe('webhook messages', () => {
      let env: Isolation;
      let redis: Redis;
      let queues: JobQueues;

      beforeAll(() => {
        env = isolation();
        redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
        queues = new JobQueues({ connection: redis, prefix: env.queuePrefix }, createLogger('test', 'silent'));
      });

      afterAll(async () => {
        await queues?.close();
        redis?.disconnect();
        await env?.cleanup();
      });

      test('of eight announcements of one generation’s end, exactly one writes its webhook message, which has one job', async () => {
        const notifiers = stores.map(
          (_, i) => new WebhookNotifier(clients[i % 2]!.db('races'), queues, 'http://api.test'),
        );
        const messages = db.collection(COLLECTIONS.webhookMessages);
        const wins = await rounds(async () => {
          const ended = await record('completed', {
            webhook: { url: 'http://receiver.test/hook', events: ['completed'] },
            completed_at: new Date(),
            image: IMAGE,
          });
          const before = await messages.countDocuments();
          await Promise.all(notifiers.map((notifier, i) => notifier.ended({ ...ended, error: `writer ${i}` })));
          const written = await messages.find({ generation_id: ended._id }).toArray();
          expect(written).toHaveLength(1);
          const jobs = await queues.queue(QUEUES.webhooks).getJobs(['waiting', 'delayed', 'prioritized']);
          expect(jobs.filter((job) => job.data.messageId === written[0]!._id)).toHaveLength(1);
          return (await messages.countDocuments()) - before;
        });
        expect(wins).toEqual(once);
      });
    });
  },
);

describe('exactly once on S3 (versitygw), eight writers at once', () => {
  let env: Isolation;
  /** Each writer its own store, with its own S3 client and connections. */
  let images: S3ImageStore[];

  beforeAll(() => {
    env = isolation();
    images = Array.from({ length: WRITERS }, () => new S3ImageStore(env.s3Settings));
  });

  afterAll(async () => {
    await Promise.all((images ?? []).map((store) => store.close()));
    await env?.cleanup();
  });

  test('a new image: of eight runs adding one generation’s image (and eight its second part), exactly one writes it, whole', async () => {
    const wins: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) wins.push(...(await raceToAdd(images)));
    expect(wins).toEqual(Array<number>(2 * ROUNDS).fill(1));
  });
});
