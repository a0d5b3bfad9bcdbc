import type { Job } from 'bullmq';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import type { GenerationSettings } from '@imagegen/shared';
import {
  COLLECTIONS,
  GenerationStore,
  MongoImageStore,
  UsageLog,
  newGeneration,
  type GenerationDocument,
  type GenerationLifecycle,
  type Logger,
  type RunTimes,
  type UsageDocument,
} from '@imagegen/core';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { ABORT_REASONS } from '../src/abort-reasons';
import { generateImageProcessor, type ProcessorDeps } from '../src/generate-image.processor';
import { GenerationRepository } from '../src/generations/generation.repository';
import { HfFailure } from '../src/hf/hf-answer';
import type { ImageSource, RenderOptions } from '../src/images/image-source';
import { LocalRenderer } from '../src/images/local-renderer';
import { SETTINGS } from './fixtures';

/**
 * The processor's end of a run, on a real MongoDB-wire server: every image stored and on the
 * record, and the run counted once in `usage` with its outcome, provider, images and time at the
 * provider, whatever the usage write does.
 */
describe('a run of several images, stored and counted in usage', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  let store: GenerationStore;
  let images: MongoImageStore;
  const warnings: string[] = [];

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    db = client.db();
    store = new GenerationStore(db);
    images = new MongoImageStore(db);
  });

  afterAll(async () => {
    await client?.close();
    await env?.cleanup();
  });

  beforeEach(() => warnings.splice(0));

  const logger = {
    child: () => logger,
    info: () => undefined,
    error: () => undefined,
    warn: (_fields: unknown, message: string) => warnings.push(message),
  } as unknown as Logger;

  const lifecycle = {
    started: async () => undefined,
    ended: async () => undefined,
    notice: async () => undefined,
    queued: async () => undefined,
  } as unknown as GenerationLifecycle;

  /** Runs the processor once on a new pending generation with `settings`, and returns its record. */
  async function runOnce(
    source: ImageSource,
    settings: Partial<GenerationSettings>,
    options: { usage?: ProcessorDeps['usage']; signal?: AbortSignal } = {},
  ): Promise<{ id: ObjectId; record: GenerationDocument; outcome: unknown }> {
    const doc = newGeneration(new ObjectId(), 'a harbour at night', { ...SETTINGS, ...settings });
    const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    await generations.insertOne(doc);
    const process = generateImageProcessor({
      store,
      generations: new GenerationRepository(db, store, images),
      source,
      lifecycle,
      runTimes: { record: async () => undefined } as unknown as RunTimes,
      logger,
      metrics: { jobEnded: () => undefined },
      usage: options.usage ?? new UsageLog(db),
      dbRetryMs: 1_000,
      outageDelayMs: 1_000,
    });
    const job = { id: 'job-1', data: { generationId: doc._id.toHexString(), run: 1 }, attemptsStarted: 1 } as Job;
    const outcome = await process(job, undefined, options.signal ?? new AbortController().signal).then(
      () => 'returned',
      (err: unknown) => err,
    );
    return { id: doc._id, record: (await generations.findOne({ _id: doc._id }))!, outcome };
  }

  const usageOf = (id: ObjectId) =>
    db.collection<UsageDocument>(COLLECTIONS.usage).find({ generation_id: id }).toArray();

  test('when a run draws 3 images, then all are stored, each its own, and the run is counted with 3 images', async () => {
    const { id, record } = await runOnce(new LocalRenderer(), { width: 64, height: 48, num_images: 3 });
    expect(record.status).toBe('completed');
    expect(record.images).toHaveLength(3);
    expect(record.image).toEqual(record.images![0]);
    for (const [index, meta] of record.images!.entries()) {
      const bytes = await images.read(id, { index });
      expect(bytes?.length).toBe(meta.size_bytes);
    }
    expect(
      new Set(await Promise.all([0, 1, 2].map(async (index) => (await images.read(id, { index }))!.toString('base64'))))
        .size,
    ).toBe(3);
    expect(await usageOf(id)).toEqual([
      expect.objectContaining({
        _id: `${id.toHexString()}:1`,
        user_id: record.user_id,
        run: 1,
        model: 'a/b',
        provider: 'local',
        images: 3,
        outcome: 'completed',
        provider_ms: expect.any(Number),
      }),
    ]);
  });

  test('when the usage write fails, then the generation completes all the same and the failure is logged', async () => {
    const usage = { record: async () => Promise.reject(new Error('usage collection unreachable')) };
    const { record } = await runOnce(new LocalRenderer(), { width: 32, height: 32, num_images: 2 }, { usage });
    expect(record.status).toBe('completed');
    expect(record.images).toHaveLength(2);
    expect(warnings).toContain('could not record the run in usage');
  });

  test('when the provider fails the set, then the run is counted failed, with its provider and no images', async () => {
    const failing: ImageSource = {
      description: 'a provider that fails',
      async render(_request, { onProvider }: RenderOptions) {
        onProvider?.('nscale');
        throw new HfFailure('Hugging Face could not process the input (422): no');
      },
      close: async () => undefined,
    };
    const { id, record } = await runOnce(failing, { num_images: 4 });
    expect(record.status).toBe('failed');
    expect(await images.has(id)).toBe(false);
    expect(await usageOf(id)).toEqual([expect.objectContaining({ outcome: 'failed', provider: 'nscale', images: 0 })]);
  });

  test('when the generation is canceled mid-render, then nothing is stored and the run is counted canceled', async () => {
    const abort = new AbortController();
    let rendering!: () => void;
    const started = new Promise<void>((resolve) => (rendering = resolve));
    const held: ImageSource = {
      description: 'a provider that never answers',
      render: (_request, { signal, onProvider }: RenderOptions) =>
        new Promise((_resolve, reject) => {
          onProvider?.('fal-ai');
          signal.addEventListener('abort', () => reject(signal.reason as Error));
          rendering();
        }),
      close: async () => undefined,
    };
    const running = runOnce(held, { num_images: 4 }, { signal: abort.signal });
    await started;
    const canceled = await db
      .collection<GenerationDocument>(COLLECTIONS.generations)
      .findOne({ status: 'processing' }, { sort: { _id: -1 } });
    await store.cancel(canceled!._id, 'user');
    abort.abort(ABORT_REASONS.canceled);
    const { id, record, outcome } = await running;
    expect(outcome).toBe('returned');
    expect(record.status).toBe('canceled');
    expect(await images.has(id)).toBe(false);
    expect(await usageOf(id)).toEqual([
      expect.objectContaining({ outcome: 'canceled', provider: 'fal-ai', images: 0 }),
    ]);
  });
});
