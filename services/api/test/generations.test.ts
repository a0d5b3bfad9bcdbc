import { Binary, ObjectId } from 'mongodb';
import {
  DEFAULT_HF_MODEL,
  JOBS,
  type ApiFailure,
  type ApiSuccess,
  type Generation,
  type GenerationPage,
  type ImageMeta,
} from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument, type ImageDocument } from '@imagegen/core';
import type { ApiClient } from '../../../test/support/api-client';
import { makeImage } from '../../../test/support/hf-emulator';
import { startHarness, type Harness } from './api-harness';

const ALLOWED_MODEL = 'acme/allowed-model';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ HF_ALLOWED_MODELS: ALLOWED_MODEL });
});

afterAll(async () => {
  await h?.stop();
});

const generations = () => h.db.collection<GenerationDocument>(COLLECTIONS.generations);
const images = () => h.db.collection<ImageDocument>(COLLECTIONS.images);

/** Moves a record to `completed` with real image bytes, as the worker's repository does. */
async function completeAsWorker(id: string, format: 'png' | 'jpeg', width = 64, height = 48): Promise<Buffer> {
  const _id = new ObjectId(id);
  const started = await generations().findOneAndUpdate(
    { _id, status: { $in: ['pending', 'processing'] } },
    { $set: { status: 'processing', started_at: new Date(), updated_at: new Date() }, $inc: { attempts: 1 } },
    { returnDocument: 'after' },
  );
  if (!started) throw new Error(`generation ${id} is not pending`);
  const bytes = makeImage(format, width, height);
  const meta: ImageMeta = {
    mime_type: format === 'png' ? 'image/png' : 'image/jpeg',
    size_bytes: bytes.length,
    width,
    height,
  };
  const now = new Date();
  await images().replaceOne(
    { _id },
    { ...meta, user_id: started.user_id, data: new Binary(bytes), created_at: now },
    { upsert: true },
  );
  const done = await generations().updateOne(
    { _id, status: 'processing' },
    { $set: { status: 'completed', image: meta, error: null, completed_at: now, updated_at: now } },
  );
  if (done.modifiedCount !== 1) throw new Error(`generation ${id} did not complete`);
  return bytes;
}

async function failAsWorker(id: string): Promise<void> {
  const now = new Date();
  await generations().updateOne(
    { _id: new ObjectId(id), status: { $in: ['pending', 'processing'] } },
    { $set: { status: 'failed', error: 'the model refused', completed_at: now, updated_at: now } },
  );
}

function dataUrlOf(generation: Generation): { mime: string; bytes: Buffer } {
  const match = /^data:([\w/+.-]+);base64,([A-Za-z0-9+/=]+)$/.exec(generation.image_url ?? '');
  if (!match) throw new Error(`not a base64 data URL: ${generation.image_url?.slice(0, 60)}`);
  return { mime: match[1]!, bytes: Buffer.from(match[2]!, 'base64') };
}

describe('POST /api/generations', () => {
  let client: ApiClient;
  let userId: string;

  beforeAll(async () => {
    client = await h.user('creator@example.com');
    const reply = await client.request<ApiSuccess<{ user: { id: string } }>>('POST', '/api/auth/login', {
      email: 'creator@example.com',
      password: 'password123',
    });
    userId = reply.body.data.user.id;
  });

  test('when a prompt is posted, then it answers 202 with a Location and a pending record with the default settings', async () => {
    const reply = await client.request<ApiSuccess<Generation>>('POST', '/api/generations', {
      prompt: 'A cat sitting on a windowsill',
    });
    expect(reply.status).toBe(202);
    const generation = reply.body.data;
    expect(reply.headers.get('location')).toBe(`/api/generations/${generation.id}`);
    expect(generation).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      user_id: userId,
      prompt: 'A cat sitting on a windowsill',
      status: 'pending',
      image_url: null,
      image: null,
      error: null,
      attempts: 0,
      provider: null,
      settings: {
        width: 512,
        height: 512,
        model: DEFAULT_HF_MODEL,
        provider: null,
        style: null,
        negative_prompt: null,
        num_inference_steps: null,
        guidance_scale: null,
        seed: null,
      },
    });

    const doc = await generations().findOne({ _id: new ObjectId(generation.id) });
    expect(doc).toMatchObject({
      status: 'pending',
      prompt: 'A cat sitting on a windowsill',
      settings: generation.settings,
      image: null,
    });
    expect(doc?.user_id.toHexString()).toBe(userId);
  });

  test('when a prompt is posted, then a generation.create job whose id is the generation id is in the queue', async () => {
    const jobsBefore = await h.jobCount();
    const generation = await client.create({ prompt: 'A futuristic city' });
    const job = await h.queue.getJob(generation.id);
    expect(job).toBeDefined();
    expect(job?.id).toBe(generation.id);
    expect(job?.name).toBe(JOBS.generationCreate);
    expect(job?.data).toEqual({ generationId: generation.id, run: 1, rev: 0 });
    expect(job?.opts.attempts).toBeGreaterThan(1);
    expect(await h.jobCount()).toBe(jobsBefore + 1);
  });

  test('when a prompt is posted behind jobs waiting, then the answer tells the place its job took, as a read of it does', async () => {
    await client.create({ prompt: 'one ahead' });
    const waiting = await h.queue.getWaitingCount();
    const reply = await client.request<ApiSuccess<Generation>>('POST', '/api/generations', { prompt: 'behind' });
    expect(reply.body.data.queue_position).toBe(waiting + 1);
    expect((await client.get(reply.body.data.id)).body).toMatchObject({
      data: { queue_position: waiting + 1 },
    });
  });

  test('when the seed posts to the trailing-slash path, then it is the same route (202, record and job)', async () => {
    const reply = await client.request<ApiSuccess<Generation>>('POST', '/api/generations/', {
      prompt: 'A sunset over the ocean',
    });
    expect(reply.status).toBe(202);
    expect(reply.headers.get('location')).toBe(`/api/generations/${reply.body.data.id}`);
    expect(await generations().countDocuments({ _id: new ObjectId(reply.body.data.id) })).toBe(1);
    expect(await h.queue.getJob(reply.body.data.id)).toBeDefined();
  });

  test('when a style preset and padded prompt are posted, then the preset is stored and the prompt trimmed', async () => {
    const generation = await client.create({
      prompt: '   A cozy coffee shop interior \n',
      style: 'watercolor',
      width: 768,
      height: 256,
      negative_prompt: '  blurry ',
      seed: 42,
      num_inference_steps: 30,
      guidance_scale: 7.5,
    });
    expect(generation.prompt).toBe('A cozy coffee shop interior');
    const doc = await generations().findOne({ _id: new ObjectId(generation.id) });
    expect(doc?.prompt).toBe('A cozy coffee shop interior');
    expect(doc?.settings).toEqual({
      width: 768,
      height: 256,
      model: DEFAULT_HF_MODEL,
      provider: null,
      style: 'watercolor',
      negative_prompt: 'blurry',
      num_inference_steps: 30,
      guidance_scale: 7.5,
      seed: 42,
      num_images: 1,
    });
  });

  test('when HF_ALLOWED_MODELS is set, then a listed model and the default model are both accepted', async () => {
    const listed = await client.create({ prompt: 'A red sports car', model: ALLOWED_MODEL });
    const byDefault = await client.create({ prompt: 'A red sports car', model: DEFAULT_HF_MODEL });
    expect(listed.settings.model).toBe(ALLOWED_MODEL);
    expect(byDefault.settings.model).toBe(DEFAULT_HF_MODEL);
  });
});

describe('GET /api/generations/:id and /:id/image', () => {
  let owner: ApiClient;
  let stranger: ApiClient;

  beforeAll(async () => {
    owner = await h.user('owner@example.com');
    stranger = await h.user('stranger@example.com');
  });

  test('when the owner reads a pending record, then it answers 200 with the record and no image', async () => {
    const created = await owner.create({ prompt: 'A fantasy forest' });
    const reply = await owner.get(created.id);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ success: true, data: { ...created, image_url: null } });
  });

  test("when another user reads someone's record or image, then it answers 404 as for an unknown id", async () => {
    const created = await owner.create({ prompt: 'A private drawing' });
    await completeAsWorker(created.id, 'png');
    const unknown = await stranger.get(new ObjectId().toHexString());
    const foreign = await stranger.get(created.id);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(unknown.body);
    expect(JSON.stringify(foreign.body)).not.toContain('A private drawing');
    expect((await stranger.request('GET', `/api/generations/${created.id}/image`)).status).toBe(404);
    // The owner still sees it, so the 404 is about ownership.
    expect((await owner.get(created.id)).status).toBe(200);
  });

  test('when an unknown but well-formed id is read, then it answers 404', async () => {
    const reply = await owner.get(new ObjectId().toHexString());
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ success: false });
  });

  test('when the id is malformed, then it answers 400 naming id', async () => {
    for (const path of [
      '/api/generations/not-an-id',
      '/api/generations/123',
      '/api/generations/zzzzzzzzzzzzzzzzzzzzzzzz/image',
    ]) {
      const reply = await owner.request<ApiFailure>('GET', path);
      expect(reply.status).toBe(400);
      expect(reply.body.errors?.map((e) => e.field)).toEqual([expect.stringMatching(/(^|\.)id$/)]);
    }
  });

  test('when a PNG generation is completed, then image_url is a PNG data URL of exactly the stored bytes', async () => {
    const created = await owner.create({ prompt: 'A cute robot character' });
    const bytes = await completeAsWorker(created.id, 'png', 80, 40);
    const reply = await owner.get(created.id);
    expect(reply.status).toBe(200);
    const generation = (reply.body as ApiSuccess<Generation>).data;
    expect(generation).toMatchObject({
      status: 'completed',
      image: { mime_type: 'image/png', width: 80, height: 40, size_bytes: bytes.length },
    });
    const url = dataUrlOf(generation);
    expect(url.mime).toBe('image/png');
    expect(url.bytes.equals(bytes)).toBe(true);
  });

  test('when a JPEG generation is completed, then image_url is a data:image/jpeg URL of the JPEG bytes', async () => {
    const created = await owner.create({ prompt: 'Portrait of a woman, golden hour lighting' });
    const bytes = await completeAsWorker(created.id, 'jpeg', 64, 64);
    expect(bytes.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
    const generation = ((await owner.get(created.id)).body as ApiSuccess<Generation>).data;
    expect(generation.image_url?.startsWith('data:image/jpeg;base64,')).toBe(true);
    expect(dataUrlOf(generation).bytes.equals(bytes)).toBe(true);
  });

  test('when the image of a completed generation is fetched, then it answers the bytes with their type, an ETag and immutable caching, and 304 on If-None-Match', async () => {
    const created = await owner.create({ prompt: 'A cyberpunk city street at night' });
    const bytes = await completeAsWorker(created.id, 'jpeg', 72, 56);
    const url = `${h.baseUrl}/api/generations/${created.id}/image`;
    const auth = { authorization: `Bearer ${owner.token}` };

    const res = await fetch(url, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('cache-control')).toMatch(/\bimmutable\b/);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^(W\/)?".+"$/);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);

    // fetch adds `Cache-Control: no-cache` (which forbids a 304) to a request with If-None-Match
    // unless one is given; a browser revalidating its cache sends max-age=0.
    const revalidate = { ...auth, 'cache-control': 'max-age=0' };
    const cached = await fetch(url, { headers: { ...revalidate, 'if-none-match': etag! } });
    expect(cached.status).toBe(304);
    expect((await cached.arrayBuffer()).byteLength).toBe(0);

    const stale = await fetch(url, { headers: { ...revalidate, 'if-none-match': '"something-else"' } });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer()).equals(bytes)).toBe(true);
  });

  test('when the image of a PNG generation is fetched, then its Content-Type is image/png', async () => {
    const created = await owner.create({ prompt: 'A sunset' });
    const bytes = await completeAsWorker(created.id, 'png');
    const res = await fetch(`${h.baseUrl}/api/generations/${created.id}/image`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  test('when the image of a pending generation is fetched, then it answers 404', async () => {
    const created = await owner.create({ prompt: 'Not drawn yet' });
    expect((await owner.request('GET', `/api/generations/${created.id}/image`)).status).toBe(404);
  });

  test('when a late redelivery stored bytes for a generation that had failed, then its image is still 404', async () => {
    const created = await owner.create({ prompt: 'Failed, then drawn by a stale delivery' });
    await failAsWorker(created.id);
    const user = (await generations().findOne({ _id: new ObjectId(created.id) }))!.user_id;
    const bytes = makeImage('png', 64, 48);
    await images().insertOne({
      _id: new ObjectId(created.id),
      user_id: user,
      mime_type: 'image/png',
      size_bytes: bytes.length,
      width: 64,
      height: 48,
      data: new Binary(bytes),
      created_at: new Date(),
    });
    const reply = await owner.request('GET', `/api/generations/${created.id}/image`);
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ success: false, message: 'No image: the generation is failed' });
  });

  test('when the path holds a malformed escape, then it answers 400, not 500', async () => {
    const reply = await owner.request('GET', '/api/generations/%E0%A4%A');
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ success: false });
  });
});

describe('GET /api/generations (list)', () => {
  let lister: ApiClient;
  let other: ApiClient;
  /** The lister's ids, in creation order. */
  const created: string[] = [];
  let completedId: string;
  let failedId: string;

  beforeAll(async () => {
    lister = await h.user('lister@example.com');
    other = await h.user('other-lister@example.com');
    for (let i = 0; i < 7; i++) {
      created.push((await lister.create({ prompt: `lister prompt ${i}` })).id);
      if (i % 3 === 0) await other.create({ prompt: `other prompt ${i}` });
    }
    completedId = created[2]!;
    failedId = created[4]!;
    await completeAsWorker(completedId, 'png', 256, 256);
    await failAsWorker(failedId);
  });

  const page = (client: ApiClient, query: string) =>
    client.request<ApiSuccess<GenerationPage>>('GET', `/api/generations${query}`);

  test('when the list is asked without options, then it answers the own items, newest first', async () => {
    const reply = await page(lister, '');
    expect(reply.status).toBe(200);
    expect(reply.body.data.items.map((item) => item.id)).toEqual([...created].reverse());
    expect(reply.body.data.next_cursor).toBeNull();
  });

  test('when the list is walked with limit and cursor, then every item comes once, newest first, and the walk ends', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const reply: Awaited<ReturnType<typeof page>> = await page(
        lister,
        `?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(reply.status).toBe(200);
      expect(reply.body.data.items.length).toBeLessThanOrEqual(2);
      seen.push(...reply.body.data.items.map((item) => item.id));
      cursor = reply.body.data.next_cursor;
      pages++;
      if (pages > created.length) throw new Error('the cursor walk does not end');
    } while (cursor);
    expect(pages).toBe(Math.ceil(created.length / 2));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...created].reverse());
  });

  test('when the list is filtered by status, then only items of that status come back', async () => {
    const completed = await page(lister, '?status=completed');
    expect(completed.status).toBe(200);
    expect(completed.body.data.items.map((item) => item.id)).toEqual([completedId]);
    expect(completed.body.data.items[0]).toMatchObject({
      status: 'completed',
      image: { mime_type: 'image/png', width: 256, height: 256 },
    });

    const failed = await page(lister, '?status=failed');
    expect(failed.body.data.items.map((item) => [item.id, item.status, item.error])).toEqual([
      [failedId, 'failed', 'the model refused'],
    ]);

    const pending = await page(lister, '?status=pending&limit=100');
    const pendingIds = created.filter((id) => id !== completedId && id !== failedId).reverse();
    expect(pending.body.data.items.map((item) => item.id)).toEqual(pendingIds);
    expect(pending.body.data.items.every((item) => item.status === 'pending')).toBe(true);
  });

  test('when the filtered list is walked with a cursor, then it stays filtered and complete', async () => {
    const first = await page(lister, '?status=pending&limit=3');
    expect(first.body.data.items).toHaveLength(3);
    expect(first.body.data.next_cursor).not.toBeNull();
    const second = await page(lister, `?status=pending&limit=3&cursor=${first.body.data.next_cursor}`);
    const ids = [...first.body.data.items, ...second.body.data.items].map((item) => item.id);
    expect(ids).toEqual(created.filter((id) => id !== completedId && id !== failedId).reverse());
    expect(second.body.data.next_cursor).toBeNull();
  });

  test('when the list holds a completed item, then no item carries image_url or image bytes', async () => {
    const reply = await page(lister, '?limit=100');
    for (const item of reply.body.data.items) {
      expect(item).not.toHaveProperty('image_url');
      expect(item).not.toHaveProperty('data');
    }
    const completed = reply.body.data.items.find((item) => item.id === completedId);
    expect(completed?.image).toEqual({
      mime_type: 'image/png',
      width: 256,
      height: 256,
      size_bytes: expect.any(Number),
    });
    // A 256x256 PNG is kilobytes of base64; the whole page must stay far below that.
    const bytes = (await images().findOne({ _id: new ObjectId(completedId) }))!.data.buffer;
    expect(JSON.stringify(reply.body)).not.toContain(Buffer.from(bytes).toString('base64').slice(0, 64));
  });

  test("when users list, then other users' items never appear", async () => {
    const mine = await page(lister, '?limit=100');
    expect(mine.body.data.items.every((item) => item.prompt.startsWith('lister'))).toBe(true);
    const listerUserId = mine.body.data.items[0]!.user_id;
    expect(mine.body.data.items.every((item) => item.user_id === listerUserId)).toBe(true);

    const theirs = await page(other, '?limit=100');
    expect(theirs.body.data.items.map((item) => item.prompt)).toEqual([
      'other prompt 6',
      'other prompt 3',
      'other prompt 0',
    ]);
    // Even with a cursor taken from the lister's own list.
    const withCursor = await page(other, `?cursor=${created.at(-1)}`);
    expect(withCursor.body.data.items.every((item) => item.prompt.startsWith('other'))).toBe(true);
  });

  test('when a user without generations lists, then the page is empty with no cursor', async () => {
    const empty = await h.user('empty-lister@example.com');
    const reply = await page(empty, '');
    expect(reply.status).toBe(200);
    expect(reply.body.data).toEqual({ items: [], next_cursor: null });
  });

  test('when limit is not an integer from 1 to 100, then it answers 400 naming limit', async () => {
    for (const limit of ['0', '101', '-1', 'abc', '2.5']) {
      const reply = await lister.request<ApiFailure>('GET', `/api/generations?limit=${limit}`);
      expect(reply.status).toBe(400);
      expect(reply.body.errors?.map((e) => e.field)).toEqual([expect.stringMatching(/(^|\.)limit$/)]);
    }
  });

  test('when cursor or status is malformed or an unknown option is sent, then it answers 400 naming it', async () => {
    for (const [query, field] of [
      ['?cursor=not-a-cursor', 'cursor'],
      ['?status=done', 'status'],
      ['?sort=asc', 'sort'],
    ]) {
      const reply = await lister.request<ApiFailure>('GET', `/api/generations${query}`);
      expect(reply.status).toBe(400);
      expect(reply.body.errors?.map((e) => e.field)).toEqual([expect.stringMatching(new RegExp(`(^|\\.)${field}$`))]);
    }
  });
});
