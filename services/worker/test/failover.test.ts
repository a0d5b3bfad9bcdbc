import type { GenerationSettings } from '@imagegen/shared';
import { ProviderMappings, memoryMappingCache } from '@imagegen/core';
import { ProviderEmulator, providerAnswers } from '../../../test/support/provider-emulator';
import { HfFailure } from '../src/hf/hf-answer';
import type { RetryNotice } from '../src/images/image-source';
import { settingsFor } from './fixtures';
import { ProviderClient } from '../src/providers/provider-client';
import { routerAdapters } from '../src/providers/registry';
import { RoutedSource } from '../src/providers/routed-source';

const TOKEN = 'hf_router_token';

describe('Inference Providers through the router: choosing, failing over, polling, cancelling', () => {
  let emulator: ProviderEmulator;
  const sources: RoutedSource[] = [];
  let models = 0;

  beforeAll(async () => {
    emulator = await ProviderEmulator.start();
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.close()));
  });

  afterAll(async () => {
    await emulator?.close();
  });

  /** A model of the test's own, mapped to `providers` (each `provider/m`) in that order. */
  function model(...providers: string[]): string {
    const name = `failover-${++models}`;
    emulator.mapModel(
      `test-org/${name}`,
      providers.map((provider) => ({ provider, providerId: `${provider}-org/${name}` })),
    );
    return `test-org/${name}`;
  }

  /**
   * A source on the shared emulator, or on `on`: a test that scripts more answers than it uses gets
   * an emulator of its own, so the rest never meet them.
   */
  function source(
    options: { maxWaitMs?: number; maxImageBytes?: number; preference?: string[]; on?: ProviderEmulator } = {},
  ) {
    const server = options.on ?? emulator;
    const mappings = new ProviderMappings(memoryMappingCache(), { hubUrl: server.hubUrl, token: TOKEN, ttlMs: 60_000 });
    const created = new RoutedSource(
      new ProviderClient({
        timeoutMs: 5_000,
        maxImageBytes: options.maxImageBytes ?? 1024 * 1024,
        backoff: { baseMs: 20, maxDelayMs: 200 },
        pollIntervalMs: 10,
      }),
      routerAdapters(server.routerUrl, {}),
      mappings,
      {
        token: TOKEN,
        preference: options.preference ? { kind: 'list', providers: options.preference as never } : { kind: 'auto' },
        maxWaitMs: options.maxWaitMs ?? 10_000,
      },
    );
    sources.push(created);
    return { source: created, mappings };
  }

  const settings = (modelId: string, overrides: Partial<GenerationSettings> = {}) =>
    settingsFor(modelId, { width: 64, height: 48, ...overrides });

  async function render(
    from: RoutedSource,
    modelId: string,
    overrides: Partial<GenerationSettings> = {},
    signal = new AbortController().signal,
  ) {
    const notices: RetryNotice[] = [];
    const { provider, images } = await from.render(
      { prompt: 'a lighthouse at dawn', settings: settings(modelId, overrides) },
      { signal, onRetry: (notice) => notices.push(notice) },
    );
    expect(images).toHaveLength(1);
    return { image: { ...images[0]!, provider }, notices };
  }

  async function failure(from: RoutedSource, modelId: string, overrides: Partial<GenerationSettings> = {}) {
    const outcome = await render(from, modelId, overrides).then(
      () => new Error('expected the render to fail'),
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(HfFailure);
    return outcome as HfFailure;
  }

  const submits = (provider: 'nscale' | 'together', modelId: string, on = emulator) =>
    on
      .requestsFor(provider)
      .filter((r) => r.method === 'POST' && JSON.stringify(r.body).includes(`${modelId.split('/')[1]}"`));

  /** An emulator of the test's own, closed after it. */
  async function ownEmulator<T>(use: (own: ProviderEmulator) => Promise<T>): Promise<T> {
    const own = await ProviderEmulator.start();
    try {
      return await use(own);
    } finally {
      await own.close();
    }
  }

  test('when the first provider answers 500, then the second serves the image within the same budget', async () => {
    const id = model('nscale', 'together');
    emulator.script('nscale', providerAnswers.serverError(500));
    const { image } = await render(source().source, id);
    expect(image).toMatchObject({ provider: 'together', mime_type: 'image/png', width: 64, height: 48 });
    expect(submits('nscale', id)).toHaveLength(1);
    expect(submits('together', id)).toHaveLength(1);
  });

  test('when the first provider cannot be reached, then the second serves the image', async () => {
    const id = model('together', 'nscale');
    emulator.script('together', { kind: 'reset' });
    const { image } = await render(source().source, id);
    expect(image.provider).toBe('nscale');
  });

  test('when the only provider answers 500 once, then it is retried with backoff and serves the image', async () => {
    const id = model('nscale');
    emulator.script('nscale', providerAnswers.serverError(503));
    const { image, notices } = await render(source().source, id);
    expect(image.provider).toBe('nscale');
    expect(notices).toHaveLength(1);
    expect(submits('nscale', id)).toHaveLength(2);
  });

  test('when the first provider keeps answering 429, then it is retried only within its share of the budget, then the next serves', async () => {
    await ownEmulator(async (own) => {
      own.mapModel('test-org/busy', [
        { provider: 'nscale', providerId: 'nscale-org/busy' },
        { provider: 'together', providerId: 'together-org/busy' },
      ]);
      own.script('nscale', ...Array.from({ length: 200 }, () => providerAnswers.rateLimited()));
      const { image, notices } = await render(source({ maxWaitMs: 1_500, on: own }).source, 'test-org/busy');
      expect(image.provider).toBe('together');
      // More than one try at nscale (a 429 is no reason to leave at once), but it left with budget to spare.
      expect(submits('nscale', 'test-org/busy', own).length).toBeGreaterThan(1);
      expect(notices.length).toBeGreaterThan(0);
      expect(notices.every((notice) => notice.detail.includes('429'))).toBe(true);
    });
  });

  test.each([
    ['402 (credits)', providerAnswers.noCredits(), /out of credits for Inference Providers \(402/],
    ['401 (the token)', providerAnswers.badToken(), /refused the token \(401.*HF_TOKEN/],
    ['403 (the permission)', providerAnswers.forbidden(), /Make calls to Inference Providers/],
    ['422 (the prompt)', providerAnswers.unprocessable(), /could not process the input \(422\)/],
  ])(
    'when the first provider answers %s, then the generation fails at once and no other provider is tried',
    async (_label, step, message) => {
      const id = model('together', 'nscale');
      emulator.script('together', step);
      const error = await failure(source().source, id);
      expect(error.message).toMatch(message);
      expect(submits('nscale', id)).toHaveLength(0);
    },
  );

  test('when a provider says it does not serve the model, then the next serves it and the cached mapping is dropped', async () => {
    const id = model('together', 'nscale');
    emulator.script('together', providerAnswers.notSupported('together'));
    const { source: routed } = source();
    const hubCalls = () => emulator.hubRequests.filter((r) => r.model === id).length;
    const { image } = await render(routed, id);
    expect(image.provider).toBe('nscale');
    expect(hubCalls()).toBe(1);
    await render(routed, id);
    expect(hubCalls()).toBe(2);
  });

  test('when every provider fails, then one message names each provider and what it said', async () => {
    const id = model('nscale', 'together', 'fal-ai');
    emulator.script('nscale', providerAnswers.serverError(502));
    emulator.script('together', providerAnswers.notSupported('together'));
    emulator.script('fal-ai', { kind: 'job-fails', polls: 1, error: 'GPU worker crashed' });
    const error = await failure(source().source, id);
    expect(error.message).toMatch(new RegExp(`^No Inference Provider produced an image of ${id} within 10 s: `));
    expect(error.message).toMatch(/nscale: Hugging Face error 502/);
    expect(error.message).toMatch(/together: does not serve .*Model not supported by provider together/);
    expect(error.message).toMatch(/fal-ai: .*GPU worker crashed/);
  });

  test('when the last provider keeps failing until the budget ends, then the message still names the earlier ones', async () => {
    await ownEmulator(async (own) => {
      own.mapModel('test-org/down', [
        { provider: 'nscale', providerId: 'nscale-org/down' },
        { provider: 'together', providerId: 'together-org/down' },
      ]);
      own.script('nscale', providerAnswers.serverError(500));
      own.script('together', ...Array.from({ length: 100 }, () => providerAnswers.serverError(503)));
      const error = await failure(source({ maxWaitMs: 600, on: own }).source, 'test-org/down');
      expect(error.message).toMatch(
        /^No Inference Provider produced an image of test-org\/down within 0.6 s: nscale: .*; together: did not produce/,
      );
    });
  });

  test('when the request names a provider, then only that provider is asked', async () => {
    const id = model('nscale', 'together');
    const { image } = await render(source().source, id, { provider: 'together' });
    expect(image.provider).toBe('together');
    expect(submits('nscale', id)).toHaveLength(0);
  });

  test('when HF_PROVIDER lists providers, then they are tried in its order, not the Hub order', async () => {
    const id = model('nscale', 'together');
    const { image } = await render(source({ preference: ['together', 'nscale'] }).source, id);
    expect(image.provider).toBe('together');
  });

  test('when the Hub does not know the model, then the generation fails saying so', async () => {
    const error = await failure(source().source, 'test-org/never-mapped');
    expect(error.message).toMatch(/is not on the Hugging Face Hub/);
  });

  test('when the mapping no longer lists the provider the request named, then the generation fails saying so', async () => {
    const id = model('nscale');
    const error = await failure(source().source, id, { provider: 'fal-ai' });
    expect(error.message).toMatch(/No Inference Provider \(fal-ai\) serves .* now/);
  });

  describe('queued jobs', () => {
    test('when fal-ai queues the job, then it is polled until completed and the image is downloaded without our token', async () => {
      const id = model('fal-ai');
      emulator.script('fal-ai', { kind: 'ok', polls: 3 });
      const before = emulator.downloads.length;
      const { image } = await render(source().source, id);
      expect(image).toMatchObject({ provider: 'fal-ai', width: 64, height: 48 });
      const fal = emulator.requestsFor('fal-ai').filter((r) => r.path.includes(`${id.split('/')[1]}/`));
      expect(fal.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
      expect(fal.filter((r) => r.path.includes('/status')).length).toBeGreaterThanOrEqual(3);
      const downloads = emulator.downloads.slice(before);
      expect(downloads).toHaveLength(1);
      expect(downloads[0]!.headers.authorization).toBeUndefined();
    });

    test('when the generation is canceled while fal-ai runs the job, then polling stops at once and the job is canceled upstream', async () => {
      const id = model('fal-ai');
      emulator.script('fal-ai', { kind: 'ok', until: new Promise(() => undefined) });
      const abort = new AbortController();
      const reason = new Error('canceled by its owner');
      const rendering = render(source().source, id, {}, abort.signal);
      const seen = emulator.requestsFor('fal-ai').length;
      await emulator.waitForRequests('fal-ai', seen + 3);
      const cancels = emulator.cancels.length;
      abort.abort(reason);
      await expect(rendering).rejects.toBe(reason);
      await eventually(() => emulator.cancels.length > cancels);
      expect(emulator.cancels.at(-1)?.provider).toBe('fal-ai');
      const requests = emulator.requestsFor('fal-ai').length;
      // Polls came every 10 ms: ten intervals with none shows that polling stopped.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(emulator.requestsFor('fal-ai')).toHaveLength(requests);
    });

    test('when replicate has not finished within Prefer: wait and the generation is canceled, then the prediction is canceled upstream', async () => {
      const id = model('replicate');
      emulator.script('replicate', { kind: 'ok', until: new Promise(() => undefined) });
      const abort = new AbortController();
      const rendering = render(source().source, id, {}, abort.signal);
      const seen = emulator.requestsFor('replicate').length;
      await emulator.waitForRequests('replicate', seen + 2);
      abort.abort(new Error('canceled'));
      await expect(rendering).rejects.toThrow('canceled');
      await eventually(() => emulator.cancels.some((c) => c.provider === 'replicate'));
    });

    test('when a queued job never finishes, then polling ends with the budget and the job is canceled upstream', async () => {
      const id = model('fal-ai');
      emulator.script('fal-ai', { kind: 'ok', until: new Promise(() => undefined) });
      const cancels = emulator.cancels.length;
      const error = await failure(source({ maxWaitMs: 400 }).source, id);
      expect(error.message).toMatch(/did not produce an image within 0.4 s/);
      await eventually(() => emulator.cancels.length > cancels);
    });

    test.each(['wavespeed', 'zai-org', 'replicate'] as const)(
      'when %s ends the queued job failed, then the generation fails with its reason',
      async (provider) => {
        const id = model(provider);
        emulator.script(provider, { kind: 'job-fails', polls: 1, error: 'NSFW content detected' });
        const error = await failure(source().source, id);
        expect(error.message).toMatch(new RegExp(`${provider}: .*NSFW content detected`));
      },
    );

    test('when the result image is larger than HF_MAX_IMAGE_BYTES, then the download is cut and the generation fails', async () => {
      const id = model('fal-ai');
      emulator.script('fal-ai', { kind: 'huge-image', bytes: 200_000 });
      const error = await failure(source({ maxImageBytes: 100_000 }).source, id);
      expect(error.message).toMatch(/Hugging Face \(fal-ai\) its image was more than 100000 bytes/);
    });
  });
});

/** Resolves once `check` holds, polling briefly; fails the test after 5 s. */
async function eventually(check: () => boolean): Promise<void> {
  const until = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
