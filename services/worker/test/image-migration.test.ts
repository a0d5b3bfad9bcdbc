import { MongoClient, ObjectId, type Db } from 'mongodb';
import type { ImageMeta } from '@imagegen/shared';
import {
  COLLECTIONS,
  MongoImageStore,
  S3ImageStore,
  newGeneration,
  type GenerationDocument,
  type ImageStore,
} from '@imagegen/core';
import { makeImage } from '../../../test/support/hf-emulator';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { ImageMigration } from '../src/images/image-migration';
import { SETTINGS } from './fixtures';

/** `pnpm images:migrate` on generations of several images, from MongoDB to the test bucket. */
describe('moving generations of several images from one store to another', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let from: ImageStore;
  let to: S3ImageStore;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    from = new MongoImageStore(db);
    to = new S3ImageStore(env.s3Settings);
  });

  afterAll(async () => {
    await to?.close();
    await client?.close();
    await env?.cleanup();
  });

  /** A completed generation of `count` images, all stored in the source but those `missing`. */
  async function completed(count: number, missing: number[] = []): Promise<{ id: ObjectId; bytes: Buffer[] }> {
    const bytes = Array.from({ length: count }, (_, i) => makeImage('png', 16, 16, i + 1));
    const metas: ImageMeta[] = bytes.map((b) => ({
      mime_type: 'image/png',
      size_bytes: b.length,
      width: 16,
      height: 16,
    }));
    const doc: GenerationDocument = {
      ...newGeneration(new ObjectId(), 'three ships', { ...SETTINGS, num_images: count }),
      status: 'completed',
      image: metas[0]!,
      images: metas,
    };
    await db.collection<GenerationDocument>(COLLECTIONS.generations).insertOne(doc);
    for (const [index, image] of bytes.entries()) {
      if (!missing.includes(index))
        await from.put(doc._id, { owner: doc.user_id, bytes: image, meta: metas[index]! }, { index });
    }
    return { id: doc._id, bytes };
  }

  const read = (store: ImageStore, id: ObjectId, count: number) =>
    Promise.all(Array.from({ length: count }, (_, index) => store.read(id, { index })));

  test('when a generation has 3 images, then all three move, keep their places, and leave the source', async () => {
    const { id, bytes } = await completed(3);
    const single = await completed(1);

    const progress = await new ImageMigration(db, from, to).run();

    expect(progress).toEqual({ moved: 2, skipped: 0 });
    expect(await read(to, id, 3)).toEqual(bytes);
    expect(await read(to, single.id, 1)).toEqual(single.bytes);
    expect(await read(from, id, 3)).toEqual([null, null, null]);
    expect(await from.has(single.id)).toBe(false);
  });

  test('when an image other than the first is missing from the source, then the others still move', async () => {
    const { id, bytes } = await completed(3, [2]);

    expect(await new ImageMigration(db, from, to).run()).toEqual({ moved: 1, skipped: 0 });

    expect(await read(to, id, 3)).toEqual([bytes[0], bytes[1], null]);
    expect(await read(from, id, 3)).toEqual([null, null, null]);
  });

  test('when the first image is missing from the source, then nothing of the generation is listed to move', async () => {
    const { id, bytes } = await completed(2, [0]);

    expect(await new ImageMigration(db, from, to).run()).toEqual({ moved: 0, skipped: 0 });

    expect(await read(from, id, 2)).toEqual([null, bytes[1]]);
    expect(await to.has(id, { index: 1 })).toBe(false);
  });
});
