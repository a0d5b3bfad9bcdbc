import { MongoClient, ObjectId, type Db } from 'mongodb';
import sharp from 'sharp';
import type { ApiFailure, ApiSuccess, Generation, ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, MongoImageStore, S3ImageStore, type GenerationDocument, type ImageStore } from '@imagegen/core';
import { ApiClient, type RawAnswer } from '../../../test/support/api-client';
import { makeImage } from '../../../test/support/hf-emulator';
import { isolation, type Isolation } from '../../../test/support/isolation';
import type { RunningApi } from '../src/server';
import { startHarness, startTestApi, type Harness } from './api-harness';

/**
 * The image routes in process on real Redis, a MongoDB-wire server and the test S3 bucket: several
 * images per generation, thumbnails and conversions with real sharp, and their validators.
 */

interface Made {
  bytes: Buffer;
  meta: ImageMeta;
}

const png = (width: number, height: number): Made => {
  const bytes = makeImage('png', width, height);
  return { bytes, meta: { mime_type: 'image/png', size_bytes: bytes.length, width, height } };
};
const jpeg = (width: number, height: number): Made => {
  const bytes = makeImage('jpeg', width, height);
  return { bytes, meta: { mime_type: 'image/jpeg', size_bytes: bytes.length, width, height } };
};

/** What one image route answered: status, headers, and the body's raw bytes. */
const failureOf = (answer: RawAnswer) => JSON.parse(answer.bytes.toString()) as ApiFailure;

/** Conditional, as a browser revalidates: fetch alone would add `Cache-Control: no-cache`, which forbids a 304. */
const revalidate = (etag: string) => ({ 'if-none-match': etag, 'cache-control': 'max-age=0' });

/** Completes a new generation of `client`'s with `images`, stored as the worker stores them. */
async function completedWith(db: Db, client: ApiClient, store: ImageStore, images: Made[]): Promise<string> {
  const { id } = await client.create({ prompt: `${images.length} pictures` });
  const _id = new ObjectId(id);
  const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  const owner = (await generations.findOne({ _id }))!.user_id;
  for (const [index, { bytes, meta }] of images.entries()) await store.put(_id, { owner, bytes, meta }, { index });
  const now = new Date();
  const metas = images.map((image) => image.meta);
  await generations.updateOne(
    { _id },
    {
      $set: {
        status: 'completed',
        image: metas[0]!,
        images: metas,
        started_at: now,
        completed_at: now,
        updated_at: now,
      },
    },
  );
  return id;
}

describe('the image routes, with images in MongoDB', () => {
  let h: Harness;
  let owner: ApiClient;
  let store: MongoImageStore;
  /** A PNG 512×384, a JPEG 320×240 and a PNG 64×48. */
  const images = [png(512, 384), jpeg(320, 240), png(64, 48)];
  let id: string;

  beforeAll(async () => {
    h = await startHarness();
    owner = await h.user('images@example.com');
    store = new MongoImageStore(h.db);
    id = await completedWith(h.db, owner, store, images);
  });

  afterAll(async () => {
    await h?.stop();
  });

  const path = (tail: string) => `/api/generations/${id}${tail}`;

  test('when /images/i is fetched, then it answers image i byte for byte with its own ETag; /image and /images/0 are the same answer', async () => {
    const first = await owner.raw(path('/image'));
    const zero = await owner.raw(path('/images/0'));
    for (const answer of [first, zero]) {
      expect(answer.status).toBe(200);
      expect(answer.bytes.equals(images[0]!.bytes)).toBe(true);
      expect(answer.headers.get('etag')).toBe(`"${id}"`);
      expect(answer.headers.get('accept-ranges')).toBe('bytes');
      expect(answer.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    }
    const second = await owner.raw(path('/images/1'));
    expect(second.headers.get('content-type')).toBe('image/jpeg');
    expect(second.bytes.equals(images[1]!.bytes)).toBe(true);
    expect(second.headers.get('etag')).toBe(`"${id}.1"`);
    const etag = second.headers.get('etag')!;
    expect((await owner.raw(path('/images/1'), revalidate(etag))).status).toBe(304);
  });

  test('when a Range of another image is asked, then it answers 206 with those bytes', async () => {
    const answer = await owner.raw(path('/images/2'), { range: 'bytes=0-9' });
    expect(answer.status).toBe(206);
    expect(answer.headers.get('content-range')).toBe(`bytes 0-9/${images[2]!.bytes.length}`);
    expect(answer.bytes.equals(images[2]!.bytes.subarray(0, 10))).toBe(true);
  });

  test('when an index past the images is asked, then it answers 404 saying how many there are; a bad index 400 naming index', async () => {
    const past = await owner.raw(path('/images/3'));
    expect(past.status).toBe(404);
    expect(failureOf(past)).toEqual({ success: false, message: 'No image 3: the generation has 3 images (0 to 2)' });
    const bad = await owner.raw(path('/images/two'));
    expect(bad.status).toBe(400);
    expect(failureOf(bad).errors).toEqual([
      { field: 'params.index', message: 'must be a whole number ≥ 0 (0 is the first image)' },
    ]);
  });

  test('when ?width=256 is asked of the JPEG, then it answers a WebP 256×192 with its own ETag, whole even to a Range, and 304 on that ETag', async () => {
    const thumbnail = await owner.raw(path('/images/1?width=256'), { range: 'bytes=0-9' });
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get('content-type')).toBe('image/webp');
    expect(thumbnail.headers.get('accept-ranges')).toBe('none');
    expect(thumbnail.headers.get('etag')).toBe(`"${id}.1.w256.webp"`);
    expect(Number(thumbnail.headers.get('content-length'))).toBe(thumbnail.bytes.length);
    expect(await sharp(thumbnail.bytes).metadata()).toMatchObject({ format: 'webp', width: 256, height: 192 });
    expect(await store.read(new ObjectId(id), { index: 1, rendition: 'w256.webp' })).toEqual(thumbnail.bytes);
    const again = await owner.raw(path('/images/1?width=256'), revalidate(`"${id}.1.w256.webp"`));
    expect(again.status).toBe(304);
    // The original's validator does not stand for the thumbnail.
    expect((await owner.raw(path('/images/1?width=256'), revalidate(`"${id}.1"`))).status).toBe(200);
  });

  test('when a thumbnail wider than the image is asked, then it keeps the image width', async () => {
    const thumbnail = await owner.raw(path('/images/2?width=512'));
    expect(await sharp(thumbnail.bytes).metadata()).toMatchObject({ format: 'webp', width: 64, height: 48 });
  });

  test('when ?format= names the image’s own format, then the original bytes are sent under the original ETag', async () => {
    const same = await owner.raw(path('/image?format=png'));
    expect(same.bytes.equals(images[0]!.bytes)).toBe(true);
    expect(same.headers.get('etag')).toBe(`"${id}"`);
    expect(same.headers.get('accept-ranges')).toBe('bytes');
  });

  test('when ?format= names another format, then the full-size image is converted, under a weak ETag that answers 304', async () => {
    const converted = await owner.raw(path('/images/1?format=png'));
    expect(converted.headers.get('content-type')).toBe('image/png');
    expect(await sharp(converted.bytes).metadata()).toMatchObject({ format: 'png', width: 320, height: 240 });
    expect(converted.headers.get('etag')).toBe(`W/"${id}.1.png"`);
    expect((await owner.raw(path('/images/1?format=png'), revalidate(`W/"${id}.1.png"`))).status).toBe(304);
    const thumbnailAsJpeg = await owner.raw(path('/image?width=128&format=jpeg'));
    expect(await sharp(thumbnailAsJpeg.bytes).metadata()).toMatchObject({ format: 'jpeg', width: 128, height: 96 });
  });

  test.each([
    ['?width=300', 'query.width', 'must be one of 128, 256, 512'],
    ['?width=abc', 'query.width', 'must be one of 128, 256, 512'],
    ['?format=gif', 'query.format', 'must be one of png, jpeg, webp'],
    ['?size=256', 'query.size', 'is not a known field'],
  ])(
    "when %s is asked, then it answers 400 naming %s, without the image's validator",
    async (query, field, message) => {
      for (const route of ['/image', '/images/1']) {
        const answer = await owner.raw(path(route + query));
        expect(answer.status).toBe(400);
        expect(failureOf(answer)).toEqual({ success: false, message: 'Invalid request', errors: [{ field, message }] });
        // Not an image's validator or caching: a cache must not keep this for the image.
        expect(answer.headers.get('etag')).not.toContain(id);
        expect(answer.headers.get('cache-control')).toBe('no-store');
      }
    },
  );

  test('when the images expired, then a thumbnail answers 410 too', async () => {
    const expiring = await completedWith(h.db, owner, store, [png(300, 200)]);
    await h.db
      .collection<GenerationDocument>(COLLECTIONS.generations)
      .updateOne({ _id: new ObjectId(expiring) }, { $set: { image_expired: true } });
    expect((await owner.raw(`/api/generations/${expiring}/image?width=128`)).status).toBe(410);
    expect((await owner.raw(`/api/generations/${expiring}/images/0?format=jpeg`)).status).toBe(410);
  });

  test('when another user asks for a thumbnail, then it answers 404 as for an unknown id, and nothing is made', async () => {
    const stranger = await h.user('stranger@example.com');
    const theirs = await stranger.raw(path('/images/2?width=128'));
    const unknown = await stranger.raw(`/api/generations/${new ObjectId().toHexString()}/images/2?width=128`);
    expect(theirs.status).toBe(404);
    expect(theirs.bytes.toString()).toBe(unknown.bytes.toString());
    expect(await store.has(new ObjectId(id), { index: 2, rendition: 'w128.webp' })).toBe(false);
  });

  test('when the generation is deleted, then its thumbnails are deleted with it', async () => {
    const doomed = await completedWith(h.db, owner, store, [png(300, 200), png(300, 200)]);
    expect((await owner.raw(`/api/generations/${doomed}/images/1?width=128`)).status).toBe(200);
    const parts = () => h.db.collection(COLLECTIONS.imageParts).countDocuments({ generation_id: new ObjectId(doomed) });
    expect(await parts()).toBe(2);
    expect((await owner.request('DELETE', `/api/generations/${doomed}`)).status).toBe(204);
    expect(await parts()).toBe(0);
  });
});

describe('the image routes, with images on S3 and IMAGE_URLS=presigned', () => {
  let iso: Isolation;
  let api: RunningApi;
  let mongo: MongoClient;
  let bucket: S3ImageStore;
  let owner: ApiClient;
  const images = [png(256, 256), jpeg(320, 240)];

  beforeAll(async () => {
    iso = isolation();
    const started = await startTestApi(iso, { ...iso.s3Env, IMAGE_URLS: 'presigned' });
    api = started.api;
    mongo = await MongoClient.connect(iso.mongoUri);
    bucket = new S3ImageStore(iso.s3Settings);
    owner = new ApiClient(started.baseUrl);
    await owner.login('presigned@example.com');
  });

  afterAll(async () => {
    await api?.stop();
    await bucket?.close();
    await mongo?.close();
    await iso?.cleanup();
  });

  test('when a completed generation is read, then urls.image and each images[i].url are presigned bucket URLs that plain HTTP fetches image i from; thumbnails come from the API and are kept in the bucket', async () => {
    const id = await completedWith(mongo.db(), owner, bucket, images);
    const { data } = (await owner.request<ApiSuccess<Generation>>('GET', `/api/generations/${id}`)).body;
    const urls = [data.urls.image, ...data.images.map((image) => image.url)];
    for (const url of urls) expect(url.startsWith(owner.baseUrl)).toBe(false);
    expect(data.images[0]!.url).toBe(data.urls.image);
    expect(data.urls.image_expires_at).not.toBeNull();
    for (const [index, image] of data.images.entries()) {
      const fetched = await fetch(image.url);
      expect(fetched.status).toBe(200);
      expect(Buffer.from(await fetched.arrayBuffer()).equals(images[index]!.bytes)).toBe(true);
    }
    const listed = (await owner.list()).items.find((item) => item.id === id)!;
    expect(listed.images.map((image) => image.url.startsWith(owner.baseUrl))).toEqual([false, false]);

    const thumbnail = await owner.raw(`/api/generations/${id}/images/1?width=128`);
    expect(await sharp(thumbnail.bytes).metadata()).toMatchObject({ format: 'webp', width: 128, height: 96 });
    expect(await bucket.read(new ObjectId(id), { index: 1, rendition: 'w128.webp' })).toEqual(thumbnail.bytes);
  });
});
