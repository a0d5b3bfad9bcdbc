import type { ObjectId } from 'mongodb';
import {
  AccountDeleter,
  COLLECTIONS,
  GenerationDeleter,
  newGeneration,
  UsageLog,
  type GenerationDeleterDeps,
  type GenerationDocument,
  type IdempotencyKeyDocument,
  type UserDocument,
} from '../src';
import { DeletionWorld, NOTHING, type Leftovers } from './deletion-fixture';
import { SETTINGS } from '../../../test/support/generation-settings';

const BARE = 245;
const TOTAL = BARE + 5;
const BATCH = 50;

/** A real deleter that aborts the account's deletion once it has deleted `after` batches. */
class AbortingDeleter extends GenerationDeleter {
  batches = 0;

  constructor(
    deps: GenerationDeleterDeps,
    private readonly abort: AbortController,
    private readonly after: number,
  ) {
    super(deps);
  }

  override async deleteMany(docs: GenerationDocument[]): Promise<void> {
    await super.deleteMany(docs);
    if (++this.batches === this.after) this.abort.abort(new Error('the process is stopping'));
  }
}

describe('deleting an account with many generations, interrupted and resumed', () => {
  let world: DeletionWorld;
  let alice: ObjectId;
  let bob: ObjectId;
  let aliceEmail: string;
  /** Alice's generations with everything they leave behind (the rest are bare records). */
  let alicesFull: GenerationDocument[];
  let bobsFull: GenerationDocument[];
  let bobsBefore: Leftovers[];

  const users = () => world.db.collection<UserDocument>(COLLECTIONS.users);
  const generations = () => world.db.collection<GenerationDocument>(COLLECTIONS.generations);
  const keys = () => world.db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys);
  const idsOf = async (owner: ObjectId) =>
    (await generations().find({ user_id: owner }).sort({ _id: 1 }).toArray()).map((doc) => doc._id.toHexString());

  beforeAll(async () => {
    world = await DeletionWorld.start();
    alice = await world.newUser();
    bob = await world.newUser();
    aliceEmail = (await users().findOne({ _id: alice }))!.email;
    // Seeded first, so the oldest: what an interrupted deletion leaves, for the resumed one to finish.
    alicesFull = [];
    bobsFull = [];
    for (const status of ['pending', 'processing', 'completed', 'failed', 'canceled'] as const) {
      alicesFull.push(await world.seed(alice, status));
      bobsFull.push(await world.seed(bob, status));
    }
    const bare = Array.from({ length: BARE }, (_, i) => ({
      ...newGeneration(alice, `bare ${i}`, SETTINGS),
      status: 'completed' as const,
    }));
    await generations().insertMany(bare);
    await keys().insertOne({
      _id: `${alice.toHexString()}:a key of no generation`,
      user_id: alice,
      request_hash: 'a hash',
      generation_id: alicesFull[0]!._id,
      created_at: new Date(),
    });
    bobsBefore = await Promise.all(bobsFull.map((doc) => world.leftovers(doc)));
  });

  afterAll(async () => {
    await world?.close();
  });

  test('when the deletion is aborted after two batches, then the account is closed (marked, its email freed, every token revoked) and its older generations are left', async () => {
    expect(await generations().countDocuments({ user_id: alice })).toBe(TOTAL);
    const before = await idsOf(alice);
    const abort = new AbortController();
    const deleter = new AbortingDeleter(
      {
        db: world.db,
        images: world.images,
        events: world.events,
        inFlight: world.inFlight,
        canceller: world.canceller,
        queues: world.queues,
      },
      abort,
      2,
    );
    const started = new Date();

    await expect(
      new AccountDeleter(world.db, deleter).delete(alice, { signal: abort.signal, batchSize: BATCH }),
    ).rejects.toThrow('the process is stopping');

    expect(deleter.batches).toBe(2);
    // Newest first: the oldest are what is left.
    expect(await idsOf(alice)).toEqual(before.slice(0, TOTAL - 2 * BATCH));
    expect(await world.leftovers(alicesFull[1]!)).toMatchObject({ record: true, image: true, inFlight: true });
    const marked = await users().findOne({ _id: alice });
    expect(marked?.deleted_at?.getTime()).toBeGreaterThanOrEqual(started.getTime());
    expect(marked?.tokens_valid_after).toEqual(marked?.deleted_at);
    // A sign-in looks the account up by its email: there is none of it any more.
    expect(marked?.email).not.toBe(aliceEmail);
    expect(await users().findOne({ email: aliceEmail })).toBeNull();
  });

  test('when resuming deletions marked before this one began, then it is left alone (its deletion may still be under way)', async () => {
    const marked = (await users().findOne({ _id: alice }))!.deleted_at!;
    const deleter = new AccountDeleter(world.db, world.deleter);
    expect(await deleter.resumeInterrupted(new Date(marked.getTime() - 1), 10)).toBe(0);
    expect(await generations().countDocuments({ user_id: alice })).toBe(TOTAL - 2 * BATCH);
  });

  test('when interrupted deletions are resumed, then this one is finished: every generation and what it left, the idempotency keys, and the user; the other user keeps everything', async () => {
    const deleter = new AccountDeleter(world.db, world.deleter);
    expect(await deleter.resumeInterrupted(new Date(), 10)).toBe(1);

    expect(await generations().countDocuments({ user_id: alice })).toBe(0);
    for (const doc of alicesFull) expect(await world.leftovers(doc)).toEqual(NOTHING);
    expect(await keys().countDocuments({ user_id: alice })).toBe(0);
    expect(await users().findOne({ _id: alice })).toBeNull();

    expect(await users().findOne({ _id: bob })).toMatchObject({ _id: bob });
    expect(await Promise.all(bobsFull.map((doc) => world.leftovers(doc)))).toEqual(bobsBefore);
    expect(await deleter.resumeInterrupted(new Date(), 10)).toBe(0);
  });

  test('when an account is deleted in one go, then nothing of it remains, its usage records included, and deleting it again is harmless', async () => {
    const carol = await world.newUser();
    const dave = await world.newUser();
    const docs = [await world.seed(carol, 'completed'), await world.seed(carol, 'processing')];
    const usage = new UsageLog(world.db);
    const run = { outcome: 'completed', provider: 'hf-inference', images: 1, providerMs: 900 } as const;
    await usage.record({ ...run, generation: docs[0]! });
    await usage.record({ ...run, generation: await world.seed(dave, 'completed') });
    const deleter = new AccountDeleter(world.db, world.deleter);
    await deleter.delete(carol, { batchSize: 1 });
    await deleter.delete(carol);
    for (const doc of docs) expect(await world.leftovers(doc)).toEqual(NOTHING);
    expect(await users().findOne({ _id: carol })).toBeNull();
    expect(await world.db.collection(COLLECTIONS.usage).countDocuments({ user_id: carol })).toBe(0);
    expect(await world.db.collection(COLLECTIONS.usage).countDocuments({ user_id: dave })).toBe(1);
  });
});
