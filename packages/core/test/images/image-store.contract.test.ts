import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { MongoClient, ObjectId } from 'mongodb';
import { isolation, type Isolation } from '../../../../test/support/isolation';
import { MigratingImageStore, MongoImageStore, S3ImageStore, type ImageStore, type ImageToStore } from '../../src';

/** One image store under test, on this test file's own database and key prefix. */
interface Subject {
  store: ImageStore;
  mongo: MongoImageStore;
  s3: S3ImageStore;
  /** Writes an object under the key prefix that is not an image of ours, as another tool might. */
  putForeign(name: string): Promise<void>;
  /** Every key in the bucket under the key prefix, as S3 lists them. */
  s3Keys(): Promise<string[]>;
  close(): Promise<void>;
}

type Make = (mongo: MongoImageStore, s3: S3ImageStore) => ImageStore;

const STORES: [string, Make][] = [
  ['MongoDB', (mongo) => mongo],
  ['S3 (versitygw)', (_, s3) => s3],
  ['S3 reading through to MongoDB', (mongo, s3) => new MigratingImageStore(s3, mongo)],
  ['MongoDB reading through to S3', (mongo, s3) => new MigratingImageStore(mongo, s3)],
];

async function subject(make: Make): Promise<Subject & { env: Isolation }> {
  const env = isolation();
  const client = await new MongoClient(env.mongoUri).connect();
  const mongo = new MongoImageStore(client.db());
  const s3 = new S3ImageStore(env.s3Settings);
  const raw = new S3Client({
    endpoint: env.s3Settings.S3_ENDPOINT,
    region: env.s3Settings.S3_REGION,
    forcePathStyle: true,
  });
  const foreign: string[] = [];
  const bucket = env.s3Settings.S3_BUCKET;
  return {
    env,
    store: make(mongo, s3),
    mongo,
    s3,
    async putForeign(name) {
      const key = `${env.s3Settings.S3_KEY_PREFIX}${name}`;
      await raw.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'not an image', ContentType: 'text/plain' }),
      );
      foreign.push(key);
    },
    async s3Keys() {
      const prefix = env.s3Settings.S3_KEY_PREFIX;
      const answer = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (answer.Contents ?? []).map(({ Key }) => Key!.slice(prefix.length));
    },
    async close() {
      await Promise.all(foreign.map((key) => raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))));
      raw.destroy();
      await s3.close();
      await client.close();
      await env.cleanup();
    },
  };
}

function image(size = 4096): ImageToStore {
  return {
    owner: new ObjectId(),
    bytes: randomBytes(size),
    meta: { mime_type: 'image/png', size_bytes: size, width: 64, height: 64 },
  };
}

async function drain(stream: Readable): Promise<Buffer> {
  return Buffer.concat(await stream.toArray());
}

describe.each(STORES)('the %s image store', (_, make) => {
  let sut: Subject;

  beforeAll(async () => {
    sut = await subject(make);
  });

  afterAll(async () => {
    await sut?.close();
  });

  test('when an image is written, then it reads back whole and is there', async () => {
    const id = new ObjectId();
    const written = image();
    await sut.store.put(id, written);
    expect(await sut.store.read(id)).toEqual(Buffer.from(written.bytes));
    expect(await sut.store.has(id)).toBe(true);
  });

  test('when an image is opened, then the stream gives every byte and its length says how many', async () => {
    const id = new ObjectId();
    const written = image(70_000);
    await sut.store.put(id, written);
    const body = await sut.store.open(id);
    expect(body?.length).toBe(70_000);
    expect(await drain(body!.stream)).toEqual(Buffer.from(written.bytes));
  });

  test.each([
    ['the first byte', 0, 0],
    ['a middle range', 100, 1_099],
    ['the last byte', 4_095, 4_095],
  ])('when %s is opened, then exactly those bytes come', async (__, start, end) => {
    const id = new ObjectId();
    const written = image(4_096);
    await sut.store.put(id, written);
    const body = await sut.store.open(id, { start, end });
    expect(body?.length).toBe(end - start + 1);
    expect(await drain(body!.stream)).toEqual(Buffer.from(written.bytes.subarray(start, end + 1)));
  });

  test.each([
    ['a first image', { index: 0 }],
    ['another part', { index: 2, rendition: 'w256.webp' }],
  ])('when %s is written again, then the new bytes replace the old', async (__, part) => {
    const id = new ObjectId();
    await sut.store.put(id, image(5_000), part);
    const second = image(3_000);
    await sut.store.put(id, second, part);
    expect(await sut.store.read(id, part)).toEqual(Buffer.from(second.bytes));
    const body = await sut.store.open(id, undefined, part);
    expect(body?.length).toBe(3_000);
    await drain(body!.stream);
  });

  test('when an image is added, then it is written where none was, and nothing is written over one', async () => {
    const { add } = sut.store;
    // MongoDB's store makes the write conditional by its unique `_id`, S3's by `If-None-Match: *`,
    // which versitygw honours. A store in migration cannot: it would add to its current store while
    // the previous one may hold the image.
    const conditional = sut.store === sut.mongo || sut.store === sut.s3;
    expect(typeof add).toBe(conditional ? 'function' : 'undefined');
    if (!add) return;
    const keysBefore = await sut.s3Keys();
    const id = new ObjectId();
    const first = image(2_000);
    expect(await add.call(sut.store, id, first, { index: 1 })).toBe(true);
    expect(await add.call(sut.store, id, image(3_000), { index: 1 })).toBe(false);
    expect(await sut.store.read(id, { index: 1 })).toEqual(Buffer.from(first.bytes));
    expect(await sut.store.has(id)).toBe(false);
    // S3's store asked the server first, with a key of its own: in the bucket, the image alone is new.
    const added = (await sut.s3Keys()).filter((key) => !keysBefore.includes(key));
    expect(added).toEqual(sut.store === sut.s3 ? [`${id.toHexString()}.1`] : []);
  });

  test('when 8 writers write one image at once, then each succeeds and one whole image of theirs remains', async () => {
    const id = new ObjectId();
    const written = Array.from({ length: 8 }, (_, i) => image(1_000 + i));
    await Promise.all(written.map((each) => sut.store.put(id, each)));
    const read = await sut.store.read(id);
    expect(written.map((each) => Buffer.from(each.bytes))).toContainEqual(read);
  });

  test('when an image is deleted, then it reads as missing everywhere', async () => {
    const id = new ObjectId();
    await sut.store.put(id, image());
    await sut.store.delete(id);
    expect(await sut.store.read(id)).toBeNull();
    expect(await sut.store.open(id)).toBeNull();
    expect(await sut.store.open(id, { start: 0, end: 0 })).toBeNull();
    expect(await sut.store.has(id)).toBe(false);
  });

  test('when a missing image is deleted, once or twice, then nothing happens', async () => {
    const id = new ObjectId();
    await expect(sut.store.delete(id)).resolves.toBeUndefined();
    await sut.store.put(id, image());
    await sut.store.delete(id);
    await expect(sut.store.delete(id)).resolves.toBeUndefined();
    expect(await sut.store.has(id)).toBe(false);
  });

  test('when a generation has several parts, then each reads back on its own, the walk lists the generation once, and a delete takes them all', async () => {
    const start = new ObjectId();
    const id = new ObjectId();
    const parts = [{ index: 0 }, { index: 1 }, { index: 3 }, { index: 1, rendition: 'w256.webp' }];
    const written = parts.map(() => image(512));
    for (const [i, part] of parts.entries()) await sut.store.put(id, written[i]!, part);

    for (const [i, part] of parts.entries()) {
      expect(await sut.store.read(id, part)).toEqual(Buffer.from(written[i]!.bytes));
      expect(await sut.store.has(id, part)).toBe(true);
      const body = await sut.store.open(id, { start: 10, end: 19 }, part);
      expect(await drain(body!.stream)).toEqual(Buffer.from(written[i]!.bytes.subarray(10, 20)));
    }
    expect(await sut.store.read(id)).toEqual(Buffer.from(written[0]!.bytes));
    expect(await sut.store.has(id, { index: 2 })).toBe(false);
    expect(await sut.store.read(id, { index: 0, rendition: 'w256.webp' })).toBeNull();
    // Ids made from here on are greater than `start`: the walk from it sees this generation only, once.
    expect((await sut.store.list(start, 10)).map((stored) => String(stored.id))).toEqual([String(id)]);

    await sut.store.delete(id);
    for (const part of parts) expect(await sut.store.has(id, part)).toBe(false);
  });

  test('when a part is named with something other than letters, digits and dots, then nothing is written', async () => {
    const id = new ObjectId();
    await expect(sut.store.put(id, image(16), { index: 1, rendition: '../x' })).rejects.toThrow(/not a name/);
    await expect(sut.store.put(id, image(16), { index: -1 })).rejects.toThrow(/whole number/);
    expect(await sut.store.has(id, { index: 1 })).toBe(false);
  });

  test('when an image was never written, then read and open give null and has gives false', async () => {
    const id = new ObjectId();
    expect(await sut.store.read(id)).toBeNull();
    expect(await sut.store.open(id)).toBeNull();
    expect(await sut.store.has(id)).toBe(false);
  });

  test('when the store is walked a page at a time, then every image comes once, in id order, in full pages', async () => {
    // Ids made from here on are greater than `start`, so the walk from it sees this test's images only.
    const start = new ObjectId();
    const writtenFrom = Math.floor(Date.now() / 1000) * 1000;
    const ids = Array.from({ length: 7 }, () => new ObjectId());
    for (const id of [...ids].reverse()) await sut.store.put(id, image(64));
    // Other objects under the prefix, sorting among and after the images: a page of them alone must
    // not end the walk early.
    const first = ids[0]!.toHexString();
    for (const name of [`${first}-a`, `${first}-b`, `${first}-c`, `${first}.json`, 'zz-notes.txt']) {
      await sut.putForeign(name);
    }

    const pages: ObjectId[][] = [];
    let after = start;
    for (let page = await sut.store.list(after, 2); page.length > 0; page = await sut.store.list(after, 2)) {
      for (const { storedAt } of page) {
        expect(storedAt.getTime()).toBeGreaterThanOrEqual(writtenFrom);
        expect(storedAt.getTime()).toBeLessThanOrEqual(Date.now());
      }
      pages.push(page.map((stored) => stored.id));
      after = page.at(-1)!.id;
    }

    expect(pages.flat().map(String)).toEqual(ids.map(String));
    expect(pages.map((page) => page.length)).toEqual([2, 2, 2, 1]);
    const fromFirst = (await sut.store.list(null, 1_000)).map((stored) => String(stored.id));
    expect(fromFirst).toEqual([...fromFirst].sort());
    expect(fromFirst).toEqual(expect.arrayContaining(ids.map(String)));
  });
});

describe.each([
  ['S3', (_: MongoImageStore, s3: S3ImageStore) => s3],
  ['S3 reading through to MongoDB', (mongo: MongoImageStore, s3: S3ImageStore) => new MigratingImageStore(s3, mongo)],
])('presigned URLs of the %s image store', (_, make) => {
  let sut: Subject;

  beforeAll(async () => {
    sut = await subject(make);
  });

  afterAll(async () => {
    await sut?.close();
  });

  test('when a URL is signed, then a plain GET on it gives the bytes and their type until the time it names', async () => {
    const id = new ObjectId();
    const written = image();
    await sut.store.put(id, written);
    const { url, expiresAt } = (await sut.store.presign!(id, 60_000))!;
    const answer = await fetch(url);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await answer.arrayBuffer())).toEqual(Buffer.from(written.bytes));
    const query = new URL(url).searchParams;
    const signedAt = query
      .get('X-Amz-Date')!
      .replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
    expect(expiresAt.getTime()).toBe(Date.parse(signedAt) + Number(query.get('X-Amz-Expires')) * 1000);
  });

  test('when a URL has expired, then it is refused', async () => {
    const id = new ObjectId();
    await sut.store.put(id, image());
    const { url, expiresAt } = (await sut.store.presign!(id, 1_000))!;
    // Past the expiry, with a second to spare for the server's clock reading whole seconds.
    await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() + 1_500 - Date.now()));
    const answer = await fetch(url);
    expect(answer.status).toBe(403);
    await answer.arrayBuffer();
  });

  test('when the image is deleted, then a URL handed out before gives no bytes', async () => {
    const id = new ObjectId();
    await sut.store.put(id, image());
    const { url } = (await sut.store.presign!(id, 60_000))!;
    await sut.store.delete(id);
    const answer = await fetch(url);
    expect([403, 404]).toContain(answer.status);
    expect(answer.headers.get('content-type')).not.toBe('image/png');
    await answer.arrayBuffer();
  });
});

describe.each([
  ['MongoDB', (mongo: MongoImageStore) => mongo],
  ['MongoDB reading through to S3', (mongo: MongoImageStore, s3: S3ImageStore) => new MigratingImageStore(mongo, s3)],
])('the %s image store', (_, make) => {
  test('cannot sign URLs, so the API serves its images', async () => {
    const sut = await subject(make);
    try {
      expect(sut.store.presign).toBeUndefined();
    } finally {
      await sut.close();
    }
  });
});

describe.each([
  ['S3', 'MongoDB', (mongo: MongoImageStore, s3: S3ImageStore) => new MigratingImageStore(s3, mongo), 's3', 'mongo'],
  ['MongoDB', 'S3', (mongo: MongoImageStore, s3: S3ImageStore) => new MigratingImageStore(mongo, s3), 'mongo', 's3'],
] as const)('while images move to %s from %s', (_, __, make, currentKey, previousKey) => {
  let sut: Subject;
  let current: ImageStore;
  let previous: ImageStore;

  beforeAll(async () => {
    sut = await subject(make);
    current = sut[currentKey];
    previous = sut[previousKey];
  });

  afterAll(async () => {
    await sut?.close();
  });

  test('when an image is still in the previous store, then it reads, opens and ranges from there', async () => {
    const id = new ObjectId();
    const written = image();
    await previous.put(id, written);
    expect(await sut.store.read(id)).toEqual(Buffer.from(written.bytes));
    expect(await sut.store.has(id)).toBe(true);
    const body = await sut.store.open(id, { start: 10, end: 19 });
    expect(body?.length).toBe(10);
    expect(await drain(body!.stream)).toEqual(Buffer.from(written.bytes.subarray(10, 20)));
  });

  test('when an image is written, then it goes to the current store only', async () => {
    const id = new ObjectId();
    await sut.store.put(id, image());
    expect(await current.has(id)).toBe(true);
    expect(await previous.has(id)).toBe(false);
  });

  test('when an image is in both stores, then the current one is read and a delete removes both', async () => {
    const id = new ObjectId();
    const moved = image();
    await previous.put(id, image());
    await current.put(id, moved);
    expect(await sut.store.read(id)).toEqual(Buffer.from(moved.bytes));
    await sut.store.delete(id);
    expect(await current.has(id)).toBe(false);
    expect(await previous.has(id)).toBe(false);
    expect(await sut.store.read(id)).toBeNull();
  });

  test('when the store is walked, then it lists the current store’s images only', async () => {
    const start = new ObjectId();
    const inCurrent = new ObjectId();
    const inPrevious = new ObjectId();
    await current.put(inCurrent, image(64));
    await previous.put(inPrevious, image(64));
    expect((await sut.store.list(start, 10)).map((stored) => String(stored.id))).toEqual([String(inCurrent)]);
  });
});

describe('while images move to S3 from MongoDB', () => {
  test('when an image is still in MongoDB, then it gets no presigned URL, so the API serves it', async () => {
    const sut = await subject((mongo, s3) => new MigratingImageStore(s3, mongo));
    try {
      const id = new ObjectId();
      await sut.mongo.put(id, image());
      expect(await sut.store.presign!(id, 60_000)).toBeNull();
      await sut.s3.put(id, image());
      expect(await sut.store.presign!(id, 60_000)).not.toBeNull();
    } finally {
      await sut.close();
    }
  });
});
