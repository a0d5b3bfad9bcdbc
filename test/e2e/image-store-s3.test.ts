import { Binary, ObjectId } from 'mongodb';
import type { Generation, GenerationEvent, ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, newGeneration, type GenerationDocument, type ImageDocument } from '@imagegen/core';
import { dataOf, type ApiClient, type GenerationAnswer } from '../support/api-client';
import { makeImage } from '../support/hf-emulator';
import { startImageSystem, type ImageSystem } from '../support/image-system';
import { SseClients } from '../support/sse';
import { newUser } from '../support/system';

/** The bytes a data URL carries, with its MIME type. */
function decodeDataUrl(url: string | null): { type: string; bytes: Buffer } {
  const match = /^data:([^;]+);base64,(.*)$/.exec(url ?? '');
  if (!match) throw new Error(`not a data URL: ${url?.slice(0, 40)}`);
  return { type: match[1]!, bytes: Buffer.from(match[2]!, 'base64') };
}

/** `/image` with extra request headers (Range, If-None-Match). */
async function image(client: ApiClient, id: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${client.baseUrl}/api/generations/${id}/image`, {
    headers: { authorization: `Bearer ${client.token}`, ...headers },
  });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

const sleepUntil = (time: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));

describe('images on S3, with presigned URLs: the whole flow through the built services', () => {
  let system: ImageSystem;
  let alice: ApiClient;
  let done: Generation;
  /** What the HF emulator made for it: the bytes every answer must give back. */
  let made: Buffer;
  const streams = new SseClients();

  beforeAll(async () => {
    system = await startImageSystem((iso) => ({ ...iso.s3Env, IMAGE_URLS: 'presigned', IMAGE_URL_TTL: '3s' }));
    alice = await newUser(system, 'alice');
    const created = await alice.create({ prompt: 'a lighthouse kept in a bucket', width: 320, height: 256 });
    done = await alice.waitFor(created.id);
    made = makeImage('png', 320, 256);
  });

  afterAll(async () => {
    streams.closeAll();
    await system?.stop();
  });

  test('when a generation completes, then its data URL and /image give the bytes the model made', async () => {
    expect(done).toMatchObject({ status: 'completed', error: null, image_expired: false });
    expect(done.image).toEqual({ mime_type: 'image/png', size_bytes: made.length, width: 320, height: 256 });
    const dataUrl = decodeDataUrl(done.image_url);
    expect(dataUrl.type).toBe('image/png');
    expect(dataUrl.bytes.equals(made)).toBe(true);

    const whole = await image(alice, done.id);
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(made)).toBe(true);
  });

  test('when the image is stored, then it is an object in the bucket under the key prefix, and not in MongoDB', async () => {
    expect(await system.bucketImageIds()).toEqual([done.id]);
    const stored = await system.bucket.read(new ObjectId(done.id));
    expect(stored?.equals(made)).toBe(true);
    expect(await system.mongoImageIds()).toEqual([]);
  });

  test('when /image is fetched, then it carries its ETag, immutable caching, Accept-Ranges and its length', async () => {
    const whole = await image(alice, done.id);
    expect(whole.status).toBe(200);
    expect(Object.fromEntries(whole.headers)).toMatchObject({
      etag: `"${done.id}"`,
      'cache-control': 'private, max-age=31536000, immutable',
      'accept-ranges': 'bytes',
      'content-type': 'image/png',
      'content-length': String(made.length),
    });
    expect(whole.headers.get('content-range')).toBeNull();
  });

  test('when If-None-Match names the ETag, then the answer is 304 with no body; another ETag gets the image', async () => {
    // fetch adds `Cache-Control: no-cache` (which forbids a 304) to a request with If-None-Match
    // unless one is given; a browser revalidating its cache sends max-age=0.
    const same = await image(alice, done.id, { 'if-none-match': `"${done.id}"`, 'cache-control': 'max-age=0' });
    expect(same.status).toBe(304);
    expect(same.bytes.length).toBe(0);
    expect(same.headers.get('etag')).toBe(`"${done.id}"`);

    const other = await image(alice, done.id, {
      'if-none-match': '"0123456789abcdef01234567"',
      'cache-control': 'max-age=0',
    });
    expect(other.status).toBe(200);
    expect(other.bytes.equals(made)).toBe(true);
  });

  test('when a Range asks for the first 10 bytes, then the answer is 206 with those bytes and their Content-Range', async () => {
    const part = await image(alice, done.id, { range: 'bytes=0-9' });
    expect(part.status).toBe(206);
    expect(part.bytes.equals(made.subarray(0, 10))).toBe(true);
    expect(part.headers.get('content-range')).toBe(`bytes 0-9/${made.length}`);
    expect(part.headers.get('content-length')).toBe('10');
    expect(part.headers.get('content-type')).toBe('image/png');
  });

  test('when a Range asks for the last 5 bytes, then the answer is 206 with the end of the image', async () => {
    const size = made.length;
    const part = await image(alice, done.id, { range: 'bytes=-5' });
    expect(part.status).toBe(206);
    expect(part.bytes.equals(made.subarray(size - 5))).toBe(true);
    expect(part.headers.get('content-range')).toBe(`bytes ${size - 5}-${size - 1}/${size}`);
  });

  test('when a Range asks for a middle part, then the answer is exactly that part', async () => {
    const part = await image(alice, done.id, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.bytes.equals(made.subarray(100, 200))).toBe(true);
  });

  test('when several ranges are asked, then the whole image comes back as a 200', async () => {
    const whole = await image(alice, done.id, { range: 'bytes=0-4,100-104' });
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(made)).toBe(true);
  });

  test('when a Range starts past the end, then the answer is 416 in the error envelope with Content-Range bytes */size', async () => {
    const size = made.length;
    const refused = await image(alice, done.id, { range: `bytes=${size}-` });
    expect(refused.status).toBe(416);
    expect(refused.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    // An error envelope is not the image: nothing may cache it as one.
    expect(refused.headers.get('cache-control') ?? '').not.toMatch(/immutable/);
    expect(refused.headers.get('etag')).not.toBe(`"${done.id}"`);
    expect(JSON.parse(refused.bytes.toString())).toEqual({
      success: false,
      message: expect.stringContaining(String(size)),
    });
  });

  test('when another user asks for the image or the record, then the answer is 404, the same as for an id that does not exist', async () => {
    const bob = await newUser(system, 'bob');
    const unknown = '0123456789abcdef01234567';
    const asBob = await image(bob, done.id);
    const missing = await image(bob, unknown);
    expect(asBob.status).toBe(404);
    expect(asBob.bytes.toString()).toBe(missing.bytes.toString());

    const record = await bob.get(done.id);
    expect(record.status).toBe(404);
    expect(record.body).toEqual((await bob.get(unknown)).body);
    expect(JSON.stringify(record.body)).not.toContain('X-Amz-');
  });

  test('when IMAGE_URLS=presigned, then GET and the list give a presigned bucket URL that plain HTTP fetches until it expires, then S3 refuses it', async () => {
    const asked = Date.now();
    const generation = dataOf(await alice.get(done.id));
    const answered = Date.now();
    const { image: url, image_expires_at: expiresAtText } = generation.urls;
    const expected = new URL(
      `/${system.iso.s3Settings.S3_BUCKET}/${system.iso.s3Settings.S3_KEY_PREFIX}${done.id}`,
      system.storeEnv.S3_ENDPOINT,
    );
    expect(url.startsWith(`${expected.href}?`)).toBe(true);
    expect(url).toMatch(/X-Amz-Signature=/);
    expect(url).not.toContain('/api/generations/');
    expect(generation.image_url?.startsWith('data:image/png;base64,')).toBe(true);

    // Signed at the whole second, for IMAGE_URL_TTL (3 s): it ends between 2 and 3 s from the request.
    const expiresAt = Date.parse(expiresAtText ?? '');
    expect(expiresAt).toBeGreaterThan(asked + 2_000);
    expect(expiresAt).toBeLessThanOrEqual(answered + 3_000);

    const listed = (await alice.list()).items.find((item) => item.id === done.id);
    expect(listed?.urls.image).toMatch(new RegExp(`^${expected.href.replace(/[.?]/g, '\\$&')}\\?`));
    expect(listed?.urls.image_expires_at).not.toBeNull();

    const fetched = await fetch(url);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(made)).toBe(true);

    // Past the expiry, with a second's room for the clocks' whole seconds.
    await sleepUntil(expiresAt + 1_500);
    const expired = await fetch(url);
    await expired.arrayBuffer();
    expect(expired.status).toBe(403);

    // What was refused is the expiry, not the URL: a fresh one works.
    const fresh = dataOf(await alice.get(done.id)).urls.image;
    expect(fresh).not.toBe(url);
    expect((await fetch(fresh)).status).toBe(200);
  });

  test('when the generation is not completed, then urls.image is the API route, with no expiry', async () => {
    const pending = await alice.create({ prompt: 'just asked for' });
    expect(pending.status).toBe('pending');
    expect(pending.urls.image).toBe(`${system.api.url}/api/generations/${pending.id}/image`);
    expect(pending.urls.image_expires_at).toBeNull();
    await alice.waitFor(pending.id);
  });

  test('when a create is replayed with its Idempotency-Key after the generation completed, then the answer carries the presigned URL too', async () => {
    const create = () =>
      alice.request<GenerationAnswer['body']>(
        'POST',
        '/api/generations/',
        { prompt: 'asked twice' },
        { 'idempotency-key': `replay-${done.id}` },
      );
    const first = dataOf(await create());
    await alice.waitFor(first.id);

    const replayed = dataOf(await create());
    expect(replayed.id).toBe(first.id);
    expect(replayed.urls.image).toMatch(/X-Amz-Signature=/);
    expect(replayed.urls.image_expires_at).not.toBeNull();
  });

  test('when the event stream replays the completion, then it names the API route for the image, not a presigned URL', async () => {
    const stream = await streams.open(`${system.api.url}/api/generations/${done.id}/events`, {
      authorization: `Bearer ${alice.token}`,
    });
    expect(stream.status).toBe(200);
    await stream.waitFor('the completion', (c) =>
      (c.data as GenerationEvent[]).some((e) => e.type === 'status' && e.status === 'completed'),
    );
    const completed = (stream.data as GenerationEvent[]).find((e) => e.type === 'status' && e.status === 'completed');
    expect(completed).toMatchObject({
      generation: { urls: { image: `${system.api.url}/api/generations/${done.id}/image`, image_expires_at: null } },
    });
  });
});

describe('images in MongoDB, the default store', () => {
  let system: ImageSystem;
  let alice: ApiClient;

  beforeAll(async () => {
    system = await startImageSystem(() => ({}));
    alice = await newUser(system, 'alice');
  });

  afterAll(async () => {
    await system?.stop();
  });

  test('when IMAGE_STORE is not set, then a new image goes into the images collection', async () => {
    const created = await alice.create({ prompt: 'kept in the database', width: 384, height: 256 });
    const done = await alice.waitFor(created.id);
    expect(done.status).toBe('completed');

    const made = makeImage('png', 384, 256);
    const stored = await system.db
      .collection<ImageDocument>(COLLECTIONS.images)
      .findOne({ _id: new ObjectId(done.id) });
    expect(Buffer.from(stored!.data.buffer).equals(made)).toBe(true);
    expect(stored).toMatchObject({ mime_type: 'image/png', size_bytes: made.length, width: 384, height: 256 });
    expect(done.urls.image_expires_at).toBeNull();
    expect(done.urls.image).toBe(`${system.api.url}/api/generations/${done.id}/image`);
  });

  test('when an image was stored the old way, before stores existed, then /image and the data URL still serve it', async () => {
    // A record the services wrote, for the user id and the settings of its time.
    const template = await alice.waitFor((await alice.create({ prompt: 'a template' })).id);
    const { user_id, settings } = (await system.db
      .collection<GenerationDocument>(COLLECTIONS.generations)
      .findOne({ _id: new ObjectId(template.id) }))!;
    const bytes = makeImage('jpeg', 320, 256);
    const meta: ImageMeta = { mime_type: 'image/jpeg', size_bytes: bytes.length, width: 320, height: 256 };
    const _id = new ObjectId();
    const finished = new Date();
    const record: GenerationDocument = {
      ...newGeneration(user_id, 'a picture from last year', { ...settings, width: 320, height: 256 }, { id: _id }),
      status: 'completed',
      attempts: 1,
      image: meta,
      started_at: finished,
      completed_at: finished,
    };
    await system.db.collection<GenerationDocument>(COLLECTIONS.generations).insertOne(record);
    await system.db.collection<ImageDocument>(COLLECTIONS.images).insertOne({
      _id,
      user_id,
      data: new Binary(bytes),
      ...meta,
      created_at: finished,
    });
    const id = _id.toHexString();

    expect(decodeDataUrl(dataOf(await alice.get(id)).image_url)).toEqual({ type: 'image/jpeg', bytes });

    const whole = await image(alice, id);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('image/jpeg');
    expect(whole.bytes.equals(bytes)).toBe(true);
    const part = await image(alice, id, { range: 'bytes=2-5' });
    expect(part.status).toBe(206);
    expect(part.bytes.equals(bytes.subarray(2, 6))).toBe(true);
  });
});
