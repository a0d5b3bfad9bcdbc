import { MongoClient, ObjectId, type Db } from 'mongodb';
import type { GenerationStatus } from '@imagegen/shared';
import { isolation, type Isolation } from '../../../test/support/isolation';
import {
  COLLECTIONS,
  GenerationStore,
  newGeneration,
  WriteContendedError,
  type ClaimDocument,
  type GenerationDocument,
} from '../src';
import { SETTINGS } from '../../../test/support/generation-settings';

const RESULT = {
  image: { mime_type: 'image/png' as const, size_bytes: 3, width: 256, height: 256 },
  provider: 'hf-endpoint' as const,
};

/*
 * One writer at a time: each transition takes the record only from the revision, run and status it
 * expects. Racing writers, on both FerretDB backends, are in generation-store-races.test.ts.
 */
describe('the generation store’s transitions on a real MongoDB-wire server', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let store: GenerationStore;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    store = new GenerationStore(db);
  });

  afterAll(async () => {
    await client?.close();
    await env?.cleanup();
  });

  const generations = () => db.collection<GenerationDocument>(COLLECTIONS.generations);
  const read = (id: ObjectId) => generations().findOne({ _id: id });

  /** A record of run 1 in `status`, optionally with a cancel_after. */
  async function record(status: GenerationStatus, cancelAfterMs?: number): Promise<GenerationDocument> {
    const doc = {
      ...newGeneration(new ObjectId(), 'a cat', SETTINGS, { cancelAfterMs: cancelAfterMs ?? null }),
      status,
    };
    await generations().insertOne(doc);
    return doc;
  }

  test('when a pending run starts, then only that run of a generation in flight can start it', async () => {
    const doc = await record('pending');
    expect(await store.start(doc._id, 2, 1)).toBeNull();
    expect(await store.start(doc._id, 1, 1)).toMatchObject({ status: 'processing', attempts: 1 });
    const ended = await record('completed');
    expect(await store.start(ended._id, 1, 1)).toBeNull();
    expect(await read(ended._id)).toMatchObject({ status: 'completed', attempts: 0 });
  });

  test('when a run completes, then it must hold the record: processing, and of its run', async () => {
    const pending = await record('pending');
    expect(await store.holds(pending)).toBe(false);
    expect(await store.complete(pending, RESULT, new Date())).toBeNull();

    const overtaken = (await store.start(pending._id, 1, 1))!;
    // Its job stalled and was delivered again: the new delivery's start takes the run over.
    const started = (await store.start(pending._id, 1, 2))!;
    expect(started).toMatchObject({ status: 'processing', attempts: 2 });
    expect(await store.holds(overtaken)).toBe(false);
    expect(await store.complete(overtaken, RESULT, new Date())).toBeNull();
    expect(await store.holds(started)).toBe(true);
    const at = new Date();
    expect(await store.complete(started, RESULT, at)).toMatchObject({
      status: 'completed',
      image: RESULT.image,
      provider: 'hf-endpoint',
      completed_at: at,
    });
    expect(await store.complete(started, RESULT, new Date())).toBeNull();
  });

  test('when a run fails, then only a run still in flight is failed', async () => {
    const doc = await record('processing');
    expect(await store.fail(doc._id, 2, 'boom')).toBeNull();
    expect(await store.fail(doc._id, 1, 'boom')).toMatchObject({ status: 'failed', error: 'boom' });
    expect(await store.fail(doc._id, 1, 'again')).toBeNull();
    expect(await read(doc._id)).toMatchObject({ error: 'boom' });
  });

  test('when a stopping worker releases a run, then only the record its start left goes back to pending', async () => {
    const pending = await record('pending');
    expect(await store.release(pending)).toBeNull();
    const started = (await store.start(pending._id, 1, 1))!;
    const canceled = (await store.cancel(pending._id, 'user'))!;
    expect(await store.release(started)).toBeNull();
    expect(await read(pending._id)).toMatchObject({ status: 'canceled', rev: canceled.rev });
    const other = await record('pending');
    const running = (await store.start(other._id, 1, 1))!;
    expect(await store.release(running)).toMatchObject({ status: 'pending', rev: 2 });
  });

  test('when the reconciler requeues a record, then only the record as it saw it is requeued', async () => {
    const seen = await record('processing');
    expect(await store.requeue(seen)).toMatchObject({ status: 'pending', run: 1, rev: 1 });
    expect(await store.requeue(seen)).toBeNull();
  });

  test('when a generation is canceled, then only one in flight and matching `where` is, with its reason', async () => {
    const doc = await record('processing');
    expect(await store.cancel(doc._id, 'deadline', { run: 2 })).toBeNull();
    expect(await store.findCanceled(doc._id)).toBeNull();
    expect(await store.cancel(doc._id, 'user', { run: 1 })).toMatchObject({
      status: 'canceled',
      cancel_reason: 'user',
      error: 'Canceled by its owner',
    });
    expect(await store.cancel(doc._id, 'deadline')).toBeNull();
    expect(await store.findCanceled(doc._id, { run: 1 })).toMatchObject({ cancel_reason: 'user' });
    expect(await store.findCanceled(doc._id, { run: 2 })).toBeNull();
  });

  test('when an ended generation is reopened, then it is pending for a new run, once, with its past run kept', async () => {
    const ended = await record('failed', 60_000);
    const at = new Date();
    const reopened = await store.reopen(ended, at);
    expect(reopened).toMatchObject({ status: 'pending', run: 2, error: null, updated_at: at });
    expect(reopened?.deadline_at).toEqual(new Date(at.getTime() + 60_000));
    expect(reopened?.history).toEqual([
      { status: 'failed', error: null, started_at: null, ended_at: null, retried_at: at },
    ]);
    expect(await store.reopen(ended, new Date())).toBeNull();
  });

  test('when a reopened run could not be queued, then restore puts the ended record back with the new run counter', async () => {
    const ended = await record('canceled');
    const reopened = (await store.reopen(ended, new Date()))!;
    await store.restore(ended, reopened);
    expect(await read(ended._id)).toMatchObject({ status: 'canceled', run: 2, history: [], rev: 2 });
    // A restore that comes after the reopened run moved on leaves it alone.
    const again = (await store.reopen((await read(ended._id))!, new Date()))!;
    await store.start(ended._id, 3, 1);
    await store.restore(ended, again);
    expect(await read(ended._id)).toMatchObject({ status: 'processing', run: 3 });
  });

  test('when a create could not queue its job, then deletePending removes its record only while it is pending', async () => {
    const pending = await record('pending');
    const processing = await record('processing');
    await store.deletePending(pending._id);
    await store.deletePending(processing._id);
    expect(await read(pending._id)).toBeNull();
    expect(await read(processing._id)).toMatchObject({ status: 'processing' });
  });

  test('when a record written before revisions is moved, then it counts as revision 0', async () => {
    const { rev: _rev, ...old } = {
      ...newGeneration(new ObjectId(), 'a cat', SETTINGS),
      status: 'processing' as const,
    };
    await generations().insertOne(old);
    expect(await store.fail(old._id, 1, 'boom')).toMatchObject({ status: 'failed', rev: 1 });
    expect(await read(old._id)).toMatchObject({ status: 'failed', rev: 1 });
  });

  test('when the writer of a claim died before its write, then a writer meeting the claim later makes that write for it', async () => {
    const doc = await record('processing');
    const write = { status: 'failed', error: 'the dead writer’s', rev: 1 };
    const claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
    await claims.insertOne({
      _id: `generation:${doc._id.toHexString()}:0`,
      at: new Date(Date.now() - 31_000),
      data: { write },
    });
    // The cancel finds the claim abandoned, makes its write, reads the record again: it has ended.
    expect(await store.cancel(doc._id, 'user')).toBeNull();
    expect(await read(doc._id)).toMatchObject(write);
  });

  test('when a claim’s writer has not written yet, then a writer that must see the change waits, and gives up saying so', async () => {
    const doc = await record('processing');
    const claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
    await claims.insertOne({
      _id: `generation:${doc._id.toHexString()}:0`,
      at: new Date(),
      data: { write: { status: 'failed' } },
    });
    await expect(store.fail(doc._id, 1, 'boom')).rejects.toBeInstanceOf(WriteContendedError);
    expect(await read(doc._id)).toMatchObject({ status: 'processing' });
  });
});
