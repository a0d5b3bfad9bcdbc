import { MongoClient, ObjectId, type Db } from 'mongodb';
import {
  COLLECTIONS,
  GenerationStore,
  MigratingImageStore,
  MongoImageStore,
  S3ImageStore,
  newGeneration,
  type GenerationDocument,
  type ImageStore,
} from '@imagegen/core';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { makeImage } from '../../../test/support/hf-emulator';
import { GenerationRepository } from '../src/generations/generation.repository';
import type { RenderedImages } from '../src/images/image-source';
import { sniffImage, type SniffedImage } from '../src/images/sniff';
import { SETTINGS } from './fixtures';

type StoreKind = 'MongoDB' | 'S3';

describe.each<StoreKind>(['MongoDB', 'S3'])('the worker’s status transitions, with images in %s', (kind) => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let store: GenerationStore;
  let repo: GenerationRepository;
  let images: ImageStore;
  const drawn = sniffImage(makeImage('png', 256, 256)) as SniffedImage;
  const image: RenderedImages = { provider: 'hf-endpoint', images: [drawn] };

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    store = new GenerationStore(db);
    images = kind === 'S3' ? new S3ImageStore(env.s3Settings) : new MongoImageStore(db);
    repo = new GenerationRepository(db, store, images);
  });

  afterAll(async () => {
    await images?.close();
    await client?.close();
    await env?.cleanup();
  });

  async function pending(): Promise<ObjectId> {
    const doc = newGeneration(new ObjectId(), 'a cat', SETTINGS);
    await db.collection<GenerationDocument>(COLLECTIONS.generations).insertOne(doc);
    return doc._id;
  }

  const read = (id: ObjectId) => db.collection<GenerationDocument>(COLLECTIONS.generations).findOne({ _id: id });

  /**
   * The store, except that the generation is canceled just before its completion is written: the
   * record moves on between the run's check that it holds it and its completion.
   */
  function cancelingBeforeCompletion(id: ObjectId): GenerationStore {
    const canceling = Object.create(store) as GenerationStore;
    canceling.complete = async (...args) => {
      await store.cancel(id, 'user');
      return store.complete(...args);
    };
    return canceling;
  }

  test('when a job is delivered twice, then the generation completes once and the second delivery finds nothing to do', async () => {
    const id = await pending();
    const first = await store.start(id, 1, 1);
    expect(first).toMatchObject({ status: 'processing', attempts: 1 });
    expect(await repo.complete(first!, image)).toMatchObject({ _id: id, status: 'completed' });

    expect(await store.start(id, 1, 1)).toBeNull();
    expect(await repo.complete(first!, image)).toBeNull();
    expect(await store.fail(id, 1, 'late failure')).toBeNull();

    const doc = await read(id);
    expect(doc).toMatchObject({ status: 'completed', error: null, attempts: 1, provider: 'hf-endpoint' });
    expect(doc?.image).toEqual({ mime_type: 'image/png', size_bytes: drawn.bytes.length, width: 256, height: 256 });
    expect(doc?.images).toEqual([doc?.image]);
    expect(await images.read(id)).toEqual(Buffer.from(drawn.bytes));
  });

  test('when a second delivery of a completed job renders other bytes, then they do not replace the stored image', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    await repo.complete(started!, image);
    const other: RenderedImages = { provider: 'nscale', images: [sniffImage(makeImage('png', 128, 64))!] };

    expect(await repo.complete(started!, other)).toBeNull();

    expect(await images.read(id)).toEqual(Buffer.from(drawn.bytes));
    expect(await read(id)).toMatchObject({
      status: 'completed',
      provider: 'hf-endpoint',
      image: { width: 256, height: 256 },
    });
  });

  test('when an earlier delivery stored bytes but died before completing, then the run that holds the record replaces them', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    const stale = sniffImage(makeImage('png', 128, 64)) as SniffedImage;
    await images.put(id, {
      owner: started!.user_id,
      bytes: stale.bytes,
      meta: { mime_type: stale.mime_type, size_bytes: stale.bytes.length, width: 128, height: 64 },
    });

    expect(await repo.complete(started!, image)).toMatchObject({ status: 'completed' });

    expect(await images.read(id)).toEqual(Buffer.from(drawn.bytes));
  });

  test.each([
    ['adds the image where none is, without reading the record first', 0],
    ['is in migration (no `add`, as the previous store may hold the image), it reads the record first', 1],
  ])('when a run stores a new image and its store %s', async (_, expectedReads) => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    const watched = await new MongoClient(env.mongoUri, { monitorCommands: true }).connect();
    const reads: unknown[] = [];
    watched.on('commandStarted', ({ commandName, command }) => {
      if (commandName === 'find' && command.find === COLLECTIONS.generations) reads.push(command.filter);
    });
    try {
      const watchedDb = watched.db();
      const into = kind === 'S3' ? images : new MongoImageStore(watchedDb);
      const migrating = expectedReads === 1;
      const completed = await new GenerationRepository(
        watchedDb,
        new GenerationStore(watchedDb),
        migrating ? new MigratingImageStore(into, new MongoImageStore(watchedDb)) : into,
      ).complete(started!, image);
      expect(completed).toMatchObject({ status: 'completed' });
    } finally {
      await watched.close();
    }
    expect(reads).toHaveLength(expectedReads);
    expect(await images.read(id)).toEqual(Buffer.from(drawn.bytes));
  });

  test('when a later delivery took the record over and writes its image while the earlier one fails to complete, then that image stays for its completion', async () => {
    const id = await pending();
    const earlier = await store.start(id, 1, 1);
    const later = await store.start(id, 1, 2);
    expect(later).toMatchObject({ status: 'processing', delivery: 2 });
    const stale: RenderedImages = { provider: 'nscale', images: [sniffImage(makeImage('png', 128, 64))!] };
    const meta = { mime_type: drawn.mime_type, size_bytes: drawn.bytes.length, width: 256, height: 256 };
    // As the earlier delivery has added its image and completes (or, where its store cannot add,
    // checks that it holds the record), the later one stores its own image and has not completed yet.
    let laterWrote = false;
    const laterWrites = async () => {
      if (laterWrote) return;
      laterWrote = true;
      await images.put(id, { owner: later!.user_id, bytes: drawn.bytes, meta });
    };
    const laterWritesFirst = Object.create(store) as GenerationStore;
    laterWritesFirst.holds = async (...args) => (await laterWrites(), store.holds(...args));
    laterWritesFirst.complete = async (...args) => (await laterWrites(), store.complete(...args));

    expect(await new GenerationRepository(db, laterWritesFirst, images).complete(earlier!, stale)).toBeNull();
    expect(await store.complete(later!, { images: [meta], provider: 'hf-endpoint' }, new Date())).toMatchObject({
      status: 'completed',
    });

    expect(await images.read(id)).toEqual(Buffer.from(drawn.bytes));
  });

  test('when a run completes with several images, then each is stored as its part and the record lists them, the first as `image`', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    const drawnSet = [makeImage('png', 64, 48, 1), makeImage('png', 64, 48, 2), makeImage('jpeg', 32, 24, 3)].map(
      (bytes) => sniffImage(bytes)!,
    );

    expect(await repo.complete(started!, { provider: 'fal-ai', images: drawnSet })).toMatchObject({
      status: 'completed',
    });

    const doc = await read(id);
    const metas = drawnSet.map((one) => ({
      mime_type: one.mime_type,
      size_bytes: one.bytes.length,
      width: one.width,
      height: one.height,
    }));
    expect(doc).toMatchObject({ status: 'completed', provider: 'fal-ai', image: metas[0], images: metas });
    for (const [index, one] of drawnSet.entries()) expect(await images.read(id, { index })).toEqual(one.bytes);
  });

  test('when a generation of several images is canceled while they are written, then every part is removed again', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    const drawnSet = [1, 2, 3, 4].map((mark) => sniffImage(makeImage('png', 32, 32, mark))!);

    expect(
      await new GenerationRepository(db, cancelingBeforeCompletion(id), images).complete(started!, {
        provider: 'nscale',
        images: drawnSet,
      }),
    ).toBeNull();

    expect(await read(id)).toMatchObject({ status: 'canceled', image: null });
    for (const index of [0, 1, 2, 3]) expect(await images.has(id, { index })).toBe(false);
  });

  test('when a stalled job is redelivered while processing, then the later delivery may start again and counts the attempt; a copy of the same delivery may not', async () => {
    const id = await pending();
    await store.start(id, 1, 1);
    expect(await store.start(id, 1, 1)).toBeNull();
    const again = await store.start(id, 1, 2);
    expect(again).toMatchObject({ status: 'processing', attempts: 2, delivery: 2 });
    expect(await store.start(id, 1, 1)).toBeNull();
  });

  test('when a generation failed, then a late completion cannot overwrite it, and stores no image', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    expect(await store.fail(id, 1, 'Model x/y was not found')).toMatchObject({ status: 'failed' });
    expect(await repo.complete(started!, image)).toBeNull();
    expect(await read(id)).toMatchObject({ status: 'failed', error: 'Model x/y was not found', image: null });
    expect(await images.has(id)).toBe(false);
  });

  test('when a generation is canceled while its image is being written, then the image is removed again', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    const racing = new GenerationRepository(db, cancelingBeforeCompletion(id), images);

    expect(await racing.complete(started!, image)).toBeNull();

    expect(await read(id)).toMatchObject({ status: 'canceled', image: null });
    expect(await images.has(id)).toBe(false);
  });

  test('when the image cannot be stored, then the record is not completed: no completed record is without its image', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    // A real store that refuses every write: a bucket that does not exist, or a database that went away.
    const gone = await new MongoClient(env.mongoUri).connect();
    await gone.close();
    const broken =
      kind === 'S3'
        ? new S3ImageStore({ ...env.s3Settings, S3_BUCKET: 'no-such-bucket-here' })
        : new MongoImageStore(gone.db());
    try {
      await expect(new GenerationRepository(db, store, broken).complete(started!, image)).rejects.toThrow();
    } finally {
      await broken.close();
    }
    expect(await read(id)).toMatchObject({ status: 'processing', image: null });
  });

  test('when a stopping worker releases a job, then the record is pending again', async () => {
    const id = await pending();
    const started = await store.start(id, 1, 1);
    await store.release(started!);
    expect(await read(id)).toMatchObject({ status: 'pending' });
  });
});
