import { MongoClient, ObjectId, type Db } from 'mongodb';
import type { Generation } from '@imagegen/shared';
import { COLLECTIONS, MongoImageStore, type UsageDocument } from '@imagegen/core';
import { cancel, dataOf, retry, type ApiClient } from '../support/api-client';
import { markIn } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { ProviderEmulator, providerAnswers, type EmulatedProvider } from '../support/provider-emulator';
import { SseClient } from '../support/sse';
import { newUser, startRoutedSystem, type System } from '../support/system';
import { WebhookReceiver } from '../support/webhook-receiver';

const TOKEN = 'hf_e2e_multi';
const PUBLIC_BASE_URL = 'http://imagegen.test';

/**
 * Several images per generation, end to end on the spawned services: a provider that takes a count
 * gets one request, one that does not gets one per image with seeds seed..seed+3; the record lists
 * every image and keeps `image` and `image_url` the first's; a set keeps all its images or none,
 * through a failure and a cancel alike. Everything upstream is the provider emulator.
 */
describe('several images per generation, end to end', () => {
  let providers: ProviderEmulator;
  let system: System;
  let alice: ApiClient;
  let mongo: MongoClient;
  let db: Db;
  let images: MongoImageStore;

  beforeAll(async () => {
    providers = await ProviderEmulator.start();
    for (const provider of ['fal-ai', 'hf-inference'] as const) {
      providers.mapModel(`e2e/only-${provider}`, [{ provider, providerId: `${provider}-org/multi` }]);
    }
    system = await startRoutedSystem(providers, {
      HF_TOKEN: TOKEN,
      HF_MODEL: 'e2e/only-hf-inference',
      PUBLIC_BASE_URL,
      // The webhook receiver listens on 127.0.0.1.
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    alice = await newUser(system, 'alice');
    mongo = await MongoClient.connect(system.env.mongoUri);
    db = mongo.db();
    images = new MongoImageStore(db);
  });

  afterAll(async () => {
    await mongo?.close();
    await system?.stop();
    await providers?.close();
  });

  const create = (model: string, body: Record<string, unknown>) =>
    alice.create({ prompt: 'four boats in a harbour', model, width: 256, height: 256, num_images: 4, ...body });

  /** The submits `provider` received for generations of this file (not polls, results or cancels). */
  const submits = (provider: EmulatedProvider) =>
    providers.requestsFor(provider).filter((r) => r.method === 'POST' && !r.path.includes('/requests/'));

  const seedOf = (body: unknown) => {
    const { seed, parameters } = body as { seed?: number; parameters?: { seed?: number } };
    return seed ?? parameters?.seed ?? null;
  };

  /** The submits to `provider` seeded `first` to `first + 3`: one generation's, whatever else came in between. */
  const seededFrom = (provider: EmulatedProvider, first: number) =>
    submits(provider).filter((r) => {
      const seed = seedOf(r.body);
      return seed !== null && seed >= first && seed <= first + 3;
    });

  /** `GET /api/generations/:id/images/:index`: its status, type and bytes. */
  async function served(id: string, index: number) {
    const res = await fetch(`${system.api.url}/api/generations/${id}/images/${index}`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
  }

  const usageOf = (id: string) =>
    db
      .collection<UsageDocument>(COLLECTIONS.usage)
      .find({ generation_id: new ObjectId(id) })
      .toArray();

  /** A completed record of 4 images: its entries, its `image` and `image_url`, and the stored bytes. */
  async function expectFourImages(done: Generation): Promise<Buffer[]> {
    expect(done).toMatchObject({ status: 'completed', settings: { num_images: 4 } });
    const answers = await Promise.all([0, 1, 2, 3].map((index) => served(done.id, index)));
    expect(answers.map(({ status, type }) => [status, type])).toEqual(Array(4).fill([200, 'image/png']));
    const bytes = answers.map((answer) => answer.bytes);
    // The API serves what the worker stored, each image under its own index.
    for (const [index, image] of bytes.entries()) {
      expect(await images.read(new ObjectId(done.id), { index })).toEqual(image);
    }
    expect(done.images).toEqual(
      bytes.map((image, index) => ({
        index,
        mime_type: 'image/png',
        size_bytes: image.length,
        width: 256,
        height: 256,
        url: `${PUBLIC_BASE_URL}/api/generations/${done.id}/images/${index}`,
      })),
    );
    const { index: _index, url: _url, ...first } = done.images[0]!;
    expect(done.image).toEqual(first);
    expect(done.image_url).toBe(`data:image/png;base64,${bytes[0]!.toString('base64')}`);
    expect(new Set(bytes.map((image) => image.toString('base64'))).size).toBe(4);
    return bytes;
  }

  test('when 4 images are asked of fal-ai, which takes a count, then one request carries num_images and the record lists 4 distinct images', async () => {
    const done = await alice.waitFor((await create('e2e/only-fal-ai', { seed: 300 })).id);

    expect(done.provider).toBe('fal-ai');
    expect(seededFrom('fal-ai', 300).map((r) => r.body)).toEqual([
      expect.objectContaining({ num_images: 4, seed: 300 }),
    ]);
    const bytes = await expectFourImages(done);
    // The emulator marks image i of a request seeded 300 with 300 + i (modulo 256).
    expect(bytes.map(markIn)).toEqual([44, 45, 46, 47]);
    expect(await usageOf(done.id)).toEqual([
      expect.objectContaining({ outcome: 'completed', provider: 'fal-ai', images: 4, model: 'e2e/only-fal-ai' }),
    ]);
  });

  test('when 4 images are asked of hf-inference, which takes none, then it gets 4 requests with seeds s..s+3, drawn in that order', async () => {
    const done = await alice.waitFor((await create('e2e/only-hf-inference', { seed: 1000 })).id);

    expect(done.provider).toBe('hf-inference');
    const seeds = seededFrom('hf-inference', 1000).map((r) => seedOf(r.body));
    expect(seeds.sort()).toEqual([1000, 1001, 1002, 1003]);
    const bytes = await expectFourImages(done);
    expect(bytes.map(markIn)).toEqual([1000 % 256, 1001 % 256, 1002 % 256, 1003 % 256]);
    expect(await usageOf(done.id)).toEqual([
      expect.objectContaining({ outcome: 'completed', provider: 'hf-inference', images: 4 }),
    ]);
  });

  test('when a generation of 4 completes, then its webhook and the end event of its stream list the 4 images', async () => {
    const receiver = await WebhookReceiver.start();
    try {
      const created = await create('e2e/only-hf-inference', { seed: 5000, webhook_url: receiver.url('/four') });
      const stream = await SseClient.open(`${system.api.url}/api/generations/${created.id}/events`, {
        authorization: `Bearer ${alice.token}`,
      });
      await stream.ended();
      const done = await alice.waitFor(created.id);
      expect(done.images).toHaveLength(4);

      const ends = stream.data.filter(
        (data): data is { status: string; generation: Generation } =>
          (data as { status?: string }).status === 'completed',
      );
      expect(ends.map((end) => end.generation.images)).toEqual([done.images]);
      const [delivery] = await receiver.waitFor('/four', 1);
      const payload = JSON.parse(delivery!.body) as { type: string; data: Generation };
      expect(payload.type).toBe('generation.completed');
      expect(payload.data.images).toEqual(done.images);
      expect(payload.data.image).toEqual(done.image);
    } finally {
      await receiver.close();
    }
  });

  test('when one image of four fails for good, then the generation fails and keeps none of its images; a retry makes all four', async () => {
    providers.scriptSeed('hf-inference', 2002, providerAnswers.unprocessable());
    const done = await alice.waitFor((await create('e2e/only-hf-inference', { seed: 2000 })).id);

    expect(done).toMatchObject({ status: 'failed', image: null, images: [], image_url: null });
    expect(done.error).toMatch(/could not process the input \(422\)/);
    expect(seededFrom('hf-inference', 2000).map((r) => seedOf(r.body))).toContain(2002);
    for (const index of [0, 1, 2, 3]) expect(await images.has(new ObjectId(done.id), { index })).toBe(false);
    expect(await usageOf(done.id)).toEqual([
      expect.objectContaining({ outcome: 'failed', provider: 'hf-inference', images: 0 }),
    ]);

    // A retry runs the whole set again: four requests with the same seeds, and all four stored.
    const submitsBefore = seededFrom('hf-inference', 2000).length;
    expect(dataOf(await retry(alice, done.id)).status).toBe('pending');
    const retried = await alice.waitFor(done.id);
    expect(retried.history).toEqual([expect.objectContaining({ status: 'failed' })]);
    expect(
      seededFrom('hf-inference', 2000)
        .slice(submitsBefore)
        .map((r) => seedOf(r.body))
        .sort(),
    ).toEqual([2000, 2001, 2002, 2003]);
    expect((await expectFourImages(retried)).map(markIn)).toEqual([2000, 2001, 2002, 2003].map((seed) => seed % 256));
    expect((await usageOf(done.id)).map((run) => [run.run, run.outcome, run.images])).toEqual([
      [1, 'failed', 0],
      [2, 'completed', 4],
    ]);
  });

  test('when a generation is canceled while its 4 requests are held, then every request is aborted and nothing is stored', async () => {
    const held = new Promise(() => undefined);
    for (const seed of [3000, 3001, 3002, 3003]) {
      providers.scriptSeed('hf-inference', seed, { kind: 'ok', until: held });
    }
    const created = await create('e2e/only-hf-inference', { seed: 3000 });
    await providers.until(() => seededFrom('hf-inference', 3000).length === 4);

    expect(dataOf(await cancel(alice, created.id)).status).toBe('canceled');
    await providers.until(() => seededFrom('hf-inference', 3000).every((r) => r.aborted));

    const done = await alice.waitFor(created.id);
    expect(done).toMatchObject({ status: 'canceled', images: [], image: null });
    expect(
      seededFrom('hf-inference', 3000)
        .map((r) => seedOf(r.body))
        .sort(),
    ).toEqual([3000, 3001, 3002, 3003]);
    for (const index of [0, 1, 2, 3]) expect(await images.has(new ObjectId(created.id), { index })).toBe(false);
    // The worker counts the run once it has seen the cancel.
    const counted = await eventually('the canceled run counted', async () => {
      const found = await usageOf(created.id);
      return found.length > 0 ? found : undefined;
    });
    expect(counted).toEqual([expect.objectContaining({ outcome: 'canceled', provider: 'hf-inference', images: 0 })]);
  });

  test('when a fal-ai set is canceled while its one job is queued, then the job is withdrawn upstream and nothing is stored', async () => {
    providers.scriptSeed('fal-ai', 4000, { kind: 'ok', until: new Promise(() => undefined) });
    const cancelsBefore = providers.cancels.length;
    const created = await create('e2e/only-fal-ai', { seed: 4000 });
    // Its submit, and a poll that found it still running.
    await providers.until(
      () => seededFrom('fal-ai', 4000).length === 1 && providers.requestsFor('fal-ai').at(-1)?.method === 'GET',
    );

    expect(dataOf(await cancel(alice, created.id)).status).toBe('canceled');
    await providers.until(() => providers.cancels.length > cancelsBefore);

    expect(seededFrom('fal-ai', 4000).map((r) => r.body)).toEqual([expect.objectContaining({ num_images: 4 })]);
    expect(providers.cancels.slice(cancelsBefore)).toEqual([{ provider: 'fal-ai', id: expect.any(String) }]);
    for (const index of [0, 1, 2, 3]) expect(await images.has(new ObjectId(created.id), { index })).toBe(false);
  });
});
