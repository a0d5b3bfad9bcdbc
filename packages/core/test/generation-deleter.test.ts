import type { ObjectId } from 'mongodb';
import { generationJobId, type GenerationStatus } from '@imagegen/shared';
import { MongoImageStore, type GenerationDocument } from '../src';
import { DeletionWorld, NOTHING } from './deletion-fixture';

const STATUSES: GenerationStatus[] = ['pending', 'processing', 'completed', 'failed', 'canceled'];

/** The MongoDB image store, whose first delete fails as if the database went away mid-way. */
class FailingOnceImageStore extends MongoImageStore {
  private failed = false;

  override async delete(id: ObjectId): Promise<void> {
    if (!this.failed) {
      this.failed = true;
      throw new Error('connection lost');
    }
    await super.delete(id);
  }
}

describe('deleting a generation, on real FerretDB, Redis and BullMQ queues', () => {
  let world: DeletionWorld;
  let owner: ObjectId;
  let stranger: ObjectId;

  beforeAll(async () => {
    world = await DeletionWorld.start();
    owner = await world.newUser();
    stranger = await world.newUser();
  });

  afterAll(async () => {
    await world?.close();
  });

  test('when a generation is seeded, then each thing it leaves is there (so an empty leftover means deleted)', async () => {
    const doc = await world.seed(owner, 'pending', 2);
    expect(await world.leftovers(doc)).toEqual({
      record: true,
      image: true,
      events: 1,
      messages: 1,
      attempts: 1,
      idempotencyKeys: 1,
      inFlight: true,
      jobs: DeletionWorld.jobIdsOf(doc),
    });
  });

  test.each(STATUSES)(
    'when a %s generation is deleted, then its record, image, events, webhook log, jobs, idempotency key and place in flight all go, and nothing of its neighbours',
    async (status) => {
      const doc = await world.seed(owner, status);
      const sameOwner = await world.seed(owner, status);
      const strangers = await world.seed(stranger, status);
      const neighbours = [await world.leftovers(sameOwner), await world.leftovers(strangers)];

      await world.deleter.delete(doc);

      expect(await world.leftovers(doc)).toEqual(NOTHING);
      expect([await world.leftovers(sameOwner), await world.leftovers(strangers)]).toEqual(neighbours);
    },
  );

  test('when a retried generation is deleted, then the jobs of every run go', async () => {
    const doc = await world.seed(owner, 'failed', 3);
    expect((await world.leftovers(doc)).jobs).toEqual(DeletionWorld.jobIdsOf(doc));
    await world.deleter.delete(doc);
    expect(await world.leftovers(doc)).toEqual(NOTHING);
  });

  test('when a generation in flight is deleted, then it is canceled first: its worker is told to abort, and its run can neither start nor complete', async () => {
    for (const status of ['pending', 'processing'] as const) {
      const doc = await world.seed(owner, status);
      await world.deleter.delete(doc);
      await world.cancelHeard(generationJobId(doc._id.toHexString(), doc.run));
      expect(await world.store.holds({ ...doc, status: 'processing' })).toBe(false);
      expect(await world.store.start(doc._id, doc.run, 1)).toBeNull();
      // The cancel's own webhook message (generation.canceled) and its delivery job went with the rest.
      expect(await world.leftovers(doc)).toEqual(NOTHING);
    }
  });

  test('when an ended generation is deleted, then no cancel is announced for it', async () => {
    const doc = await world.seed(owner, 'completed');
    await world.deleter.delete(doc);
    // One in flight deleted after it: its cancel, once heard, comes after any the first one made.
    const later = await world.seed(owner, 'pending');
    await world.deleter.delete(later);
    await world.cancelHeard(generationJobId(later._id.toHexString(), later.run));
    expect(world.cancelsHeard).not.toContain(generationJobId(doc._id.toHexString(), doc.run));
  });

  test('when a generation is deleted twice, then the second deletion does nothing and fails on nothing', async () => {
    const doc = await world.seed(owner, 'completed');
    await world.deleter.delete(doc);
    await expect(world.deleter.delete(doc)).resolves.toBeUndefined();
    expect(await world.leftovers(doc)).toEqual(NOTHING);
  });

  test('when a deletion is cut short, then the record is still there to be found, and deleting it again finishes it', async () => {
    const doc: GenerationDocument = await world.seed(owner, 'processing');
    const interrupted = world.deleterWith(new FailingOnceImageStore(world.db));
    await expect(interrupted.delete(doc)).rejects.toThrow('connection lost');
    expect((await world.leftovers(doc)).record).toBe(true);

    await interrupted.delete(doc);
    expect(await world.leftovers(doc)).toEqual(NOTHING);
  });

  test('when many generations are deleted at once, then each goes as it would alone', async () => {
    const docs = [];
    for (const status of STATUSES) docs.push(await world.seed(owner, status), await world.seed(stranger, status));
    await world.deleter.deleteMany(docs);
    for (const doc of docs) expect(await world.leftovers(doc)).toEqual(NOTHING);
  });
});
