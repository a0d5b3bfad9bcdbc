import { Binary, ObjectId } from 'mongodb';
import type { ApiFailure, ApiSuccess, Generation, ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument, type ImageDocument } from '@imagegen/core';
import type { ApiClient } from '../../../test/support/api-client';
import { makeImage } from '../../../test/support/hf-emulator';
import { startHarness, type Harness } from './api-harness';

let h: Harness;
let owner: ApiClient;

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('expired-images@example.com');
});

afterAll(async () => {
  await h?.stop();
});

const generations = () => h.db.collection<GenerationDocument>(COLLECTIONS.generations);
const images = () => h.db.collection<ImageDocument>(COLLECTIONS.images);

/** A generation completed with a PNG in the `images` collection, as the worker leaves one. */
async function completedGeneration(): Promise<{ id: string; bytes: Buffer }> {
  const { id } = await owner.create({ prompt: 'a picture the retention period will take' });
  const _id = new ObjectId(id);
  const bytes = makeImage('png', 32, 24);
  const meta: ImageMeta = { mime_type: 'image/png', size_bytes: bytes.length, width: 32, height: 24 };
  const generation = await generations().findOne({ _id });
  await images().insertOne({
    _id,
    ...meta,
    user_id: generation!.user_id,
    data: new Binary(bytes),
    created_at: new Date(),
  });
  const now = new Date();
  await generations().updateOne(
    { _id },
    { $set: { status: 'completed', image: meta, started_at: now, completed_at: now, updated_at: now } },
  );
  return { id, bytes };
}

/** What the retention sweep leaves: the image gone, the record marked. */
async function expire(id: string): Promise<void> {
  const _id = new ObjectId(id);
  await images().deleteOne({ _id });
  await generations().updateOne({ _id }, { $set: { image_expired: true } });
}

describe('an image the retention period removed', () => {
  test('when the record says image_expired, then /image answers 410 Gone with the error envelope', async () => {
    const { id, bytes } = await completedGeneration();
    const before = await owner.image(id);
    expect(before.status).toBe(200);
    expect(before.bytes.equals(bytes)).toBe(true);

    await expire(id);

    const gone = await owner.request<ApiFailure>('GET', `/api/generations/${id}/image`);
    expect(gone.status).toBe(410);
    expect(gone.headers.get('content-type')).toMatch(/^application\/json/);
    expect(gone.body).toEqual({ success: false, message: expect.stringMatching(/retention/) });
    // Not the image's validator: a cache must not answer for the image with this.
    expect(gone.headers.get('etag')).not.toBe(`"${id}"`);
    expect(gone.headers.get('cache-control') ?? '').not.toMatch(/immutable/);
  });

  test('when the record says image_expired, then GET shows image_expired: true and image_url: null, and keeps the metadata', async () => {
    const { id, bytes } = await completedGeneration();
    const fresh = await owner.request<ApiSuccess<Generation>>('GET', `/api/generations/${id}`);
    expect(fresh.body.data).toMatchObject({
      image_expired: false,
      image_url: expect.stringMatching(/^data:image\/png;base64,/),
    });

    await expire(id);

    const answer = await owner.request<ApiSuccess<Generation>>('GET', `/api/generations/${id}`);
    expect(answer.status).toBe(200);
    expect(answer.body.data).toMatchObject({
      id,
      status: 'completed',
      image_expired: true,
      image_url: null,
      image: { mime_type: 'image/png', size_bytes: bytes.length, width: 32, height: 24 },
    });
    const listed = (await owner.list()).items.find((item) => item.id === id);
    expect(listed).toMatchObject({ image_expired: true });
  });

  test("when the record says image_expired but the image is still stored, then /image still answers 410 and GET's image_url is still null", async () => {
    const { id } = await completedGeneration();
    await generations().updateOne({ _id: new ObjectId(id) }, { $set: { image_expired: true } });

    expect((await owner.image(id)).status).toBe(410);
    const answer = await owner.request<ApiSuccess<Generation>>('GET', `/api/generations/${id}`);
    expect(answer.body.data).toMatchObject({ image_expired: true, image_url: null });
  });

  test('when another user asks for an expired image, then the answer is 404, not 410', async () => {
    const { id } = await completedGeneration();
    await expire(id);
    const stranger = await h.user('stranger-expired@example.com');

    const answer = await stranger.image(id);
    const unknown = await stranger.image('0123456789abcdef01234567');
    expect(answer.status).toBe(404);
    expect(answer.bytes.toString()).toBe(unknown.bytes.toString());
  });
});
