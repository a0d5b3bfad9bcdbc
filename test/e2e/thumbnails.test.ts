import { ObjectId } from 'mongodb';
import { imageSize } from 'image-size';
import type { ApiFailure, Generation } from '@imagegen/shared';
import { MongoImageStore, connectMongo, type ImagePart, type Mongo } from '@imagegen/core';
import type { ApiClient, RawAnswer } from '../support/api-client';
import { hf, makeImage } from '../support/hf-emulator';
import { newUser, startSystem, type System } from '../support/system';

/**
 * Thumbnails and formats through the built API and worker, on images the HF emulator made: a
 * thumbnail is made once and then served from the image store, which the test opens on the same
 * database to see it there (and to swap it, proving the next answer comes from the store).
 */

/** Conditional, as a browser revalidates: fetch alone would add `Cache-Control: no-cache`, which forbids a 304. */
const revalidate = (etag: string) => ({ 'if-none-match': etag, 'cache-control': 'max-age=0' });
const failureOf = (answer: RawAnswer) => JSON.parse(answer.bytes.toString()) as ApiFailure;

describe('thumbnails and formats, through the built services', () => {
  let system: System;
  let alice: ApiClient;
  let mongo: Mongo;
  let images: MongoImageStore;
  let done: Generation;
  /** What the emulator answered for the generation: a 512×384 PNG. */
  const made = makeImage('png', 512, 384);
  const path = (tail: string) => `/api/generations/${done.id}${tail}`;

  beforeAll(async () => {
    system = await startSystem();
    alice = await newUser(system, 'alice');
    mongo = await connectMongo(system.env.mongoUri);
    images = new MongoImageStore(mongo.db);
    const created = await alice.create({ prompt: 'a lighthouse for a gallery card', width: 512, height: 384 });
    done = await alice.waitFor(created.id);
  });

  afterAll(async () => {
    await mongo?.client.close();
    await system?.stop();
  });

  test('when the image is fetched full size, then the bytes are exactly what the emulator sent, and /images/0 is /image', async () => {
    expect(done).toMatchObject({ status: 'completed', image: { mime_type: 'image/png', width: 512, height: 384 } });
    const first = await alice.raw(path('/image'));
    const zero = await alice.raw(path('/images/0'));
    expect(first.status).toBe(200);
    expect(first.bytes.equals(made)).toBe(true);
    expect({ status: zero.status, type: zero.headers.get('content-type'), etag: zero.headers.get('etag') }).toEqual({
      status: 200,
      type: first.headers.get('content-type'),
      etag: first.headers.get('etag'),
    });
    expect(zero.bytes.equals(first.bytes)).toBe(true);
  });

  test('when ?width=256 is fetched twice, then the first makes a 256-wide WebP and stores it, and the second is served from the store under its own ETag', async () => {
    const id = new ObjectId(done.id);
    const part: ImagePart = { index: 0, rendition: 'w256.webp' };
    expect(await images.has(id, part)).toBe(false);

    const first = await alice.raw(path('/image?width=256'));
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/webp');
    expect(imageSize(first.bytes)).toMatchObject({ type: 'webp', width: 256, height: 192 });
    expect(first.bytes.length).toBeLessThan(made.length);
    expect(await images.has(id, part)).toBe(true);
    expect(await images.read(id, part)).toEqual(first.bytes);
    const etag = first.headers.get('etag')!;
    const original = (await alice.raw(path('/image'))).headers.get('etag')!;
    expect(etag).not.toBe(original);
    expect(etag).toMatch(/^"[^"]+"$/);

    // Other valid WebP bytes (the 128-wide thumbnail) in the stored one's place: the second answer is
    // them, so it came from the store.
    const swapped = (await alice.raw(path('/image?width=128'))).bytes;
    expect(imageSize(swapped)).toMatchObject({ type: 'webp', width: 128 });
    const meta = { mime_type: 'image/webp' as const, size_bytes: swapped.length, width: 128, height: 96 };
    await images.put(id, { owner: new ObjectId(done.user_id), bytes: swapped, meta }, part);
    const second = await alice.raw(path('/images/0?width=256'));
    expect(second.status).toBe(200);
    expect(second.bytes.equals(swapped)).toBe(true);
    expect(second.headers.get('etag')).toBe(etag);

    expect((await alice.raw(path('/image?width=256'), revalidate(etag))).status).toBe(304);
    expect((await alice.raw(path('/image?width=256'), revalidate(original))).status).toBe(200);
  });

  test.each([
    ['?width=300', 'query.width', /128, 256, 512/],
    ['?width=abc', 'query.width', /128, 256, 512/],
    ['?format=gif', 'query.format', /png, jpeg, webp/],
    ['?width=256&format=bmp', 'query.format', /png, jpeg, webp/],
  ])('when %s is asked, then it answers 400 naming %s with the allowed values', async (query, field, allowed) => {
    const answer = await alice.raw(path(`/image${query}`));
    expect(answer.status).toBe(400);
    expect(failureOf(answer).errors).toEqual([{ field, message: expect.stringMatching(allowed) }]);
  });

  test('when ?format=jpeg is asked, then it answers a JPEG of the full size; ?format=png answers the bytes as sent', async () => {
    const converted = await alice.raw(path('/image?format=jpeg'));
    expect(converted.status).toBe(200);
    expect(converted.headers.get('content-type')).toBe('image/jpeg');
    expect(imageSize(converted.bytes)).toMatchObject({ type: 'jpg', width: 512, height: 384 });
    const same = await alice.raw(path('/image?format=png'));
    expect(same.bytes.equals(made)).toBe(true);
  });

  test('when an image past the last is asked, then it answers 404 saying how many there are', async () => {
    const answer = await alice.raw(path('/images/7'));
    expect(answer.status).toBe(404);
    expect(failureOf(answer).message).toBe('No image 7: the generation has 1 image (index 0)');
  });

  test('when a generation of four images completes, then /images/3 serves the fourth, and its thumbnail is its own', async () => {
    // Four sizes, so each image tells which it is whatever order the requests reach the emulator in.
    const sizes = [
      [256, 256],
      [320, 256],
      [384, 256],
      [448, 256],
    ] as const;
    const answers = sizes.map(([width, height]) => makeImage('png', width, height));
    system.emulator.script('test/four', ...answers.map((bytes) => hf.bytes('image/png', bytes)));
    const created = await alice.create({ prompt: 'four lighthouses', model: 'test/four', num_images: 4 });
    const four = await alice.waitFor(created.id);
    expect(four.status).toBe('completed');
    expect(four.images.map((image) => image.index)).toEqual([0, 1, 2, 3]);

    const fourth = await alice.raw(`/api/generations/${four.id}/images/3`);
    expect(fourth.status).toBe(200);
    const { width, height } = four.images[3]!;
    expect(imageSize(fourth.bytes)).toMatchObject({ width, height });
    expect(fourth.bytes.length).toBe(four.images[3]!.size_bytes);
    expect(answers.some((bytes) => bytes.equals(fourth.bytes))).toBe(true);
    const thumbnail = await alice.raw(`/api/generations/${four.id}/images/3?width=128`);
    expect(imageSize(thumbnail.bytes)).toMatchObject({
      type: 'webp',
      width: 128,
      height: Math.round((128 * height) / width),
    });
    expect(await images.has(new ObjectId(four.id), { index: 3, rendition: 'w128.webp' })).toBe(true);
  });
});
