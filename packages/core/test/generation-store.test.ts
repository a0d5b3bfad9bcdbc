import { MongoClient, ObjectId, type Db } from 'mongodb';
import type { GenerationStatus } from '@imagegen/shared';
import { isolation, type Isolation } from '../../../test/support/isolation';
import {
  COLLECTIONS,
  GenerationStore,
  isMongoOutage,
  newGeneration,
  WriteContendedError,
  type ClaimDocument,
  type GenerationDocument,
} from '../src';
import { SETTINGS } from '../../../test/support/generation-settings';
import { bsonString, throughProxy } from '../../../test/support/mongo-cut';
import { TcpProxy } from '../../../test/support/tcp-proxy';

const IMAGE = { mime_type: 'image/png' as const, size_bytes: 3, width: 256, height: 256 };
const RESULT = { images: [IMAGE] as [typeof IMAGE], provider: 'hf-endpoint' as const };

/*
 * One writer at a time: each transition takes the record only from the revision, run and status it
 * expects. Racing writers, on both FerretDB backends, are in test/races/exactly-once.test.ts.
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

  test('when a job names the revision it was queued at, then its start moves the record in two commands, without reading it', async () => {
    const watched = await new MongoClient(env.mongoUri, { monitorCommands: true }).connect();
    try {
      const commands: string[] = [];
      watched.on('commandStarted', (event) => commands.push(event.commandName));
      const doc = await record('pending');
      const started = await new GenerationStore(watched.db()).start(doc._id, 1, 1, doc.rev);
      expect(started).toMatchObject({ status: 'processing', delivery: 1, attempts: 1, rev: 1, prompt: 'a cat' });
      expect(commands).toEqual(['insert', 'findAndModify']);
      expect(await read(doc._id)).toMatchObject({ status: 'processing', attempts: 1, rev: 1 });
    } finally {
      await watched.close();
    }
  });

  test('when the revision a job names is no longer the record’s, then its start reads the record and decides as without it', async () => {
    // Handed back by a stopping worker: pending again at a later revision, the job's data unchanged.
    const released = await record('pending');
    const first = (await store.start(released._id, 1, 1, 0))!;
    await store.release(first);
    expect(await store.start(released._id, 1, 2, 0)).toMatchObject({ status: 'processing', attempts: 2, rev: 3 });

    const canceled = await record('pending');
    await store.cancel(canceled._id, 'user');
    expect(await store.start(canceled._id, 1, 1, 0)).toBeNull();
    expect(await read(canceled._id)).toMatchObject({ status: 'canceled', attempts: 0, rev: 1 });

    const deleted = await record('pending');
    await store.deletePending(deleted._id);
    expect(await store.start(deleted._id, 1, 1, 0)).toBeNull();

    // The retention sweep removed the claim of the job's revision, long since left: a later
    // delivery takes that claim again, misses the record, and still takes the run over.
    const swept = await record('pending');
    await store.start(swept._id, 1, 1, 0);
    await db
      .collection<ClaimDocument>(COLLECTIONS.claims)
      .deleteOne({ _id: `generation:${swept._id.toHexString()}:0` });
    expect(await store.start(swept._id, 1, 2, 0)).toMatchObject({
      status: 'processing',
      delivery: 2,
      attempts: 2,
      rev: 2,
    });
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
      image: IMAGE,
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

  describe('a writer cut off between its claim and its write', () => {
    let proxy: TcpProxy;
    let cutClient: MongoClient;
    /** A store whose connection a proxy cuts just after the server answered one chosen write. */
    let cutStore: GenerationStore;

    beforeAll(async () => {
      const direct = new URL(env.mongoUri);
      proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 27017) });
      cutClient = await new MongoClient(throughProxy(env.mongoUri, proxy), {
        serverSelectionTimeoutMS: 1_000,
      }).connect();
      cutStore = new GenerationStore(cutClient.db());
    });

    afterAll(async () => {
      await cutClient?.close();
      await proxy?.close();
    });

    /** Runs `write` through the cut store, cut just after the server took its claim on `seen`'s revision. */
    async function cutAfterClaim(seen: GenerationDocument, write: () => Promise<unknown>): Promise<void> {
      const cut = proxy.cutAfterAnswerTo([bsonString('_id', `generation:${seen._id.toHexString()}:${seen.rev ?? 0}`)]);
      const err = await write().then(
        () => new Error('the write went through'),
        (thrown: unknown) => thrown,
      );
      expect(isMongoOutage(err)).toBe(true);
      await cut;
      await proxy.restore();
    }

    test('when its claim reached the server and its write did not, then its next try makes the claimed change at once, and no other writer does', async () => {
      const started = (await store.start((await record('pending'))._id, 1, 1))!;
      const claimedAt = new Date(Date.now() - 1_000);
      await cutAfterClaim(started, () => cutStore.complete(started, RESULT, claimedAt, 'run-a'));
      expect(await read(started._id)).toMatchObject({ status: 'processing', rev: 1 });

      expect(await store.complete(started, RESULT, new Date(), 'run-b')).toBeNull();
      const retried = await cutStore.complete(started, RESULT, new Date(), 'run-a');
      expect(retried).toMatchObject({ status: 'completed', completed_at: claimedAt, rev: 2 });
      expect(await read(started._id)).toMatchObject({ status: 'completed', completed_at: claimedAt, rev: 2 });
      // Once made, the claim is still its writer's: a try whose answer was lost learns it is done.
      expect(await cutStore.complete(started, RESULT, new Date(), 'run-a')).toMatchObject({ rev: 2 });
    });

    test('when its record is gone by the time it tries again, then its own claim counts for nothing', async () => {
      const started = (await store.start((await record('pending'))._id, 1, 1))!;
      await cutAfterClaim(started, () => cutStore.complete(started, RESULT, new Date(), 'run-a'));
      await generations().deleteOne({ _id: started._id });
      expect(await cutStore.complete(started, RESULT, new Date(), 'run-a')).toBeNull();
    });

    test('when a start that named its revision was cut off after its claim, then a later delivery waits, and once the claim is abandoned makes its write (attempt counted) and takes the run over', async () => {
      const doc = await record('pending');
      await cutAfterClaim(doc, () => cutStore.start(doc._id, 1, 1, 0));

      await expect(store.start(doc._id, 1, 2, 0)).rejects.toBeInstanceOf(WriteContendedError);
      expect(await read(doc._id)).toMatchObject({ status: 'pending', rev: 0, attempts: 0 });

      const claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
      await claims.updateOne(
        { _id: `generation:${doc._id.toHexString()}:0` },
        { $set: { at: new Date(Date.now() - 31_000) } },
      );
      expect(await store.start(doc._id, 1, 2, 0)).toMatchObject({
        status: 'processing',
        delivery: 2,
        attempts: 2,
        rev: 2,
      });
    });

    test('when a start meets a claim whose write has not landed, then it waits and says so rather than take the run for ended; once abandoned, a later delivery makes the write and takes the run over', async () => {
      const doc = await record('pending');
      await cutAfterClaim(doc, () => cutStore.start(doc._id, 1, 1));

      await expect(store.start(doc._id, 1, 2)).rejects.toBeInstanceOf(WriteContendedError);
      expect(await read(doc._id)).toMatchObject({ status: 'pending', rev: 0 });

      const claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
      await claims.updateOne(
        { _id: `generation:${doc._id.toHexString()}:0` },
        { $set: { at: new Date(Date.now() - 31_000) } },
      );
      expect(await store.start(doc._id, 1, 2)).toMatchObject({
        status: 'processing',
        delivery: 2,
        attempts: 2,
        rev: 2,
      });
    });
  });
});
