import type { ObjectId } from 'mongodb';
import { COLLECTIONS, type GenerationDocument, type UsageDocument } from '@imagegen/core';
import { ABORT_REASONS } from '../src/abort-reasons';
import { HfFailure } from '../src/hf/hf-answer';
import type { ImageSource, RenderOptions } from '../src/images/image-source';
import { LocalRenderer } from '../src/images/local-renderer';
import { processorHarness } from './processor-harness';

/**
 * The processor's end of a run, on a real MongoDB-wire server: every image stored and on the
 * record, and the run counted once in `usage` with its outcome, provider, images and time at the
 * provider, whatever the usage write does.
 */
describe('a run of several images, stored and counted in usage', () => {
  const harness = processorHarness();
  const { runOnce, warnings } = harness;

  const usageOf = (id: ObjectId) =>
    harness.db.collection<UsageDocument>(COLLECTIONS.usage).find({ generation_id: id }).toArray();

  test('when a run draws 3 images, then all are stored, each its own, and the run is counted with 3 images', async () => {
    const { id, record } = await runOnce(new LocalRenderer(), { width: 64, height: 48, num_images: 3 });
    expect(record.status).toBe('completed');
    expect(record.images).toHaveLength(3);
    expect(record.image).toEqual(record.images![0]);
    for (const [index, meta] of record.images!.entries()) {
      const bytes = await harness.images.read(id, { index });
      expect(bytes?.length).toBe(meta.size_bytes);
    }
    expect(
      new Set(
        await Promise.all(
          [0, 1, 2].map(async (index) => (await harness.images.read(id, { index }))!.toString('base64')),
        ),
      ).size,
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
    expect(await harness.images.has(id)).toBe(false);
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
    const canceled = await harness.db
      .collection<GenerationDocument>(COLLECTIONS.generations)
      .findOne({ status: 'processing' }, { sort: { _id: -1 } });
    await harness.store.cancel(canceled!._id, 'user');
    abort.abort(ABORT_REASONS.canceled);
    const { id, record, outcome } = await running;
    expect(outcome).toBe('returned');
    expect(record.status).toBe('canceled');
    expect(await harness.images.has(id)).toBe(false);
    expect(await usageOf(id)).toEqual([
      expect.objectContaining({ outcome: 'canceled', provider: 'fal-ai', images: 0 }),
    ]);
  });
});
