import type { GenerationSettings, HfProvider, ServingProvider } from '@imagegen/shared';
import { ProviderMappings, memoryMappingCache } from '@imagegen/core';
import { HfEmulator, makeImage, markIn } from '../../../test/support/hf-emulator';
import { ProviderEmulator, providerAnswers, type EmulatedProvider } from '../../../test/support/provider-emulator';
import { HfFailure } from '../src/hf/hf-answer';
import { HfClient } from '../src/hf/hf-client';
import type { ImageSource, RenderedImages } from '../src/images/image-source';
import { LocalRenderer } from '../src/images/local-renderer';
import type { ProviderAdapter } from '../src/providers/adapter';
import { falAi } from '../src/providers/fal-ai';
import { requestsFor } from '../src/providers/image-set';
import { openAi } from '../src/providers/openai';
import { OpenAiSource } from '../src/providers/openai-source';
import { meaningOf } from '../src/providers/provider-answer';
import { ProviderClient } from '../src/providers/provider-client';
import { routerAdapters } from '../src/providers/registry';
import { RoutedSource } from '../src/providers/routed-source';
import { settingsFor } from './fixtures';

/**
 * Several images per generation: which providers get one request carrying the count and which get
 * one request per image (seeded `seed + i`), how the set is read back in order, and that it
 * succeeds, fails, moves to another provider or is canceled whole.
 */

const TOKEN = 'hf_image_sets';
const ROUTER = 'http://router.test';
const ADAPTERS = routerAdapters(ROUTER, {});
const ONE_PER_REQUEST: HfProvider[] = ['hf-inference', 'nscale', 'replicate', 'wavespeed', 'zai-org'];

const settings = (overrides: Partial<GenerationSettings> = {}) =>
  settingsFor('sets/model', { width: 64, height: 48, num_images: 4, ...overrides });

const job = (adapter: ProviderAdapter, overrides: Partial<GenerationSettings> = {}) => ({
  prompt: 'four lighthouses',
  settings: settings(overrides),
  providerId: adapter.name === 'openai' ? 'gpt-image-1' : 'sets-org/model',
});

/** What a request asked for: how many images, from which seed. */
const asked = (requests: ReturnType<typeof requestsFor>) => requests.map((r) => [r.images, r.settings.seed]);

describe('the requests a set of images takes', () => {
  test.each([
    ['fal-ai', ADAPTERS['fal-ai']],
    ['together', ADAPTERS.together],
    ['openai (gpt-image-1)', openAi('http://openai.test/v1')],
  ])('when %s is asked for 4 images, then one request carries the count and the seed', (_name, adapter) => {
    expect(asked(requestsFor(adapter, job(adapter, { seed: 7 })))).toEqual([[4, 7]]);
  });

  test.each(ONE_PER_REQUEST)(
    'when %s is asked for 4 seeded images, then each is a request of its own with seeds seed..seed+3',
    (provider) => {
      const adapter = ADAPTERS[provider];
      expect(asked(requestsFor(adapter, job(adapter, { seed: 7 })))).toEqual([
        [1, 7],
        [1, 8],
        [1, 9],
        [1, 10],
      ]);
    },
  );

  test('when dall-e-3, which draws one image a request, is asked for 3, then it gets three requests', () => {
    const adapter = openAi('http://openai.test/v1');
    const requests = requestsFor(adapter, { ...job(adapter, { num_images: 3 }), providerId: 'dall-e-3' });
    expect(asked(requests)).toEqual([
      [1, null],
      [1, null],
      [1, null],
    ]);
    expect(requests.map((r) => (adapter.submit(r).body as { n: number }).n)).toEqual([1, 1, 1]);
  });

  test('when no seed is set, then every request of a set goes unseeded', () => {
    const adapter = ADAPTERS['hf-inference'];
    const requests = requestsFor(adapter, job(adapter));
    expect(requests.map((r) => adapter.submit(r).body)).toEqual(
      Array(4).fill({ inputs: 'four lighthouses', parameters: { width: 64, height: 48 } }),
    );
  });

  test('when the seed is the largest a request may carry, then the next images wrap around to 0', () => {
    const adapter = ADAPTERS.nscale;
    expect(asked(requestsFor(adapter, job(adapter, { seed: 4_294_967_294 })))).toEqual([
      [1, 4_294_967_294],
      [1, 4_294_967_295],
      [1, 0],
      [1, 1],
    ]);
  });

  test('when a request asks for one image, then its body is as it always was; for several, it names the count', () => {
    const fal = ADAPTERS['fal-ai'];
    const together = ADAPTERS.together;
    const one = { ...job(fal), images: 1 };
    expect(fal.submit(one).body).not.toHaveProperty('num_images');
    expect(together.submit(one).body).not.toHaveProperty('n');
    expect(fal.submit({ ...one, images: 4 }).body).toMatchObject({ num_images: 4 });
    expect(together.submit({ ...one, images: 4 }).body).toMatchObject({ n: 4 });
    expect(openAi('http://openai.test/v1').submit({ ...one, images: 4 }).body).toMatchObject({ n: 4 });
  });

  test('when fal-ai answers fewer images than the request asked for, then another provider may do better', () => {
    const fal = falAi(ROUTER);
    const meaning = meaningOf(
      fal,
      { method: 'GET', url: `${ROUTER}/fal-ai/x/requests/1?_subdomain=queue`, stage: 'result' },
      {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(
          JSON.stringify({ images: [{ url: 'http://cdn.test/1.png' }, { url: 'http://cdn.test/2.png' }] }),
        ),
      },
      { ...job(fal), images: 4 },
      { routed: 'fal-ai' },
    );
    expect(meaning).toEqual({ kind: 'move-on', detail: 'answered 2 of the 4 images asked for' });
  });
});

describe('sets of images from the providers, on the provider emulator', () => {
  let emulator: ProviderEmulator;
  const sources: ImageSource[] = [];
  let models = 0;

  beforeEach(async () => {
    emulator = await ProviderEmulator.start();
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.close()));
    await emulator.close();
  });

  const client = (maxImageBytes = 1024 * 1024, timeoutMs = 5_000) =>
    new ProviderClient({
      timeoutMs,
      maxImageBytes,
      backoff: { baseMs: 20, maxDelayMs: 200 },
      pollIntervalMs: 5,
    });

  /** A routed source for a model of the test's own, mapped to `providers` in that order. */
  function routed(...providers: HfProvider[]): { source: RoutedSource; model: string } {
    return routedWithin(1024 * 1024, ...providers);
  }

  /** The same, with HF_MAX_IMAGE_BYTES `maxImageBytes`. */
  function routedWithin(maxImageBytes: number, ...providers: HfProvider[]): { source: RoutedSource; model: string } {
    const model = `sets-org/model-${++models}`;
    emulator.mapModel(
      model,
      providers.map((provider) => ({ provider, providerId: `${provider}-org/model-${models}` })),
    );
    const mappings = new ProviderMappings(memoryMappingCache(), {
      hubUrl: emulator.hubUrl,
      token: TOKEN,
      ttlMs: 60_000,
    });
    const source = new RoutedSource(client(maxImageBytes), routerAdapters(emulator.routerUrl, {}), mappings, {
      token: TOKEN,
      preference: { kind: 'auto' },
      maxWaitMs: 10_000,
    });
    sources.push(source);
    return { source, model };
  }

  async function render(
    source: ImageSource,
    model: string,
    overrides: Partial<GenerationSettings> = {},
    signal = new AbortController().signal,
  ): Promise<RenderedImages & { asked: ServingProvider[] }> {
    const asked: ServingProvider[] = [];
    const rendered = await source.render(
      {
        prompt: 'four lighthouses',
        settings: settingsFor(model, { width: 64, height: 48, num_images: 4, ...overrides }),
      },
      { signal, onProvider: (provider) => asked.push(provider) },
    );
    return { ...rendered, asked };
  }

  async function failure(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
      () => new Error('expected the render to fail'),
      (err: unknown) => err,
    );
  }

  /** The submits `provider` received (not its polls, results or cancels). */
  const submits = (provider: EmulatedProvider) =>
    emulator.requestsFor(provider).filter((r) => r.method === 'POST' && !/\/(predictions\/[^/]+|cancel)$/.test(r.path));

  /** The seed each submit to `provider` carried, wherever its body takes it. */
  const seeds = (provider: EmulatedProvider) =>
    submits(provider).map((r) => {
      const body = r.body as { seed?: number; parameters?: { seed?: number }; input?: { seed?: number } };
      return body.seed ?? body.parameters?.seed ?? body.input?.seed ?? null;
    });

  const sorted = (values: (number | null)[]) => [...values].sort((a, b) => (a ?? -1) - (b ?? -1));

  const marks = (rendered: RenderedImages) => rendered.images.map((image) => markIn(image.bytes));

  test('when fal-ai is asked for 4 images, then one request carries num_images and the 4 distinct images are downloaded in order', async () => {
    const { source, model } = routed('fal-ai');
    const rendered = await render(source, model, { seed: 300 });
    expect(rendered.provider).toBe('fal-ai');
    expect(submits('fal-ai').map((r) => r.body)).toEqual([expect.objectContaining({ num_images: 4, seed: 300 })]);
    expect(emulator.downloads).toHaveLength(4);
    expect(rendered.images.map((image) => [image.mime_type, image.width, image.height])).toEqual(
      Array(4).fill(['image/png', 64, 48]),
    );
    // The emulator marks image i of a request seeded 300 with 300 + i (modulo 256).
    expect(marks(rendered)).toEqual([44, 45, 46, 47]);
  });

  test('when together is asked for 4 images, then one request carries n and its data gives all four', async () => {
    const { source, model } = routed('together');
    const rendered = await render(source, model);
    expect(submits('together').map((r) => r.body)).toEqual([expect.objectContaining({ n: 4 })]);
    expect(marks(rendered)).toEqual([undefined, 1, 2, 3]);
  });

  test('when together answers 4 images in one body, then the size cap counts for each image, as it does for one', async () => {
    // One image's answer (base64 in JSON) fits the cap; the four of them in one answer are well over it.
    const largest = Math.max(...[0, 1, 2, 3].map((mark) => makeImage('png', 64, 48, mark || undefined).length));
    const { source, model } = routedWithin(Math.ceil(largest * 1.5), 'together');
    const rendered = await render(source, model);
    expect(rendered.images).toHaveLength(4);
    expect(submits('together')).toHaveLength(1);
  });

  test.each(ONE_PER_REQUEST)(
    'when %s is asked for 4 seeded images, then it gets 4 requests with seeds s..s+3 and the images come in seed order',
    async (provider) => {
      const { source, model } = routed(provider);
      const rendered = await render(source, model, { seed: 1000 });
      expect(rendered.provider).toBe(provider);
      expect(sorted(seeds(provider))).toEqual([1000, 1001, 1002, 1003]);
      expect(marks(rendered)).toEqual([1000 % 256, 1001 % 256, 1002 % 256, 1003 % 256]);
    },
  );

  test('when one image of four fails for good, then the render fails with its reason and no other provider is tried', async () => {
    const { source, model } = routed('hf-inference', 'nscale');
    emulator.scriptSeed('hf-inference', 502, providerAnswers.unprocessable());
    const error = await failure(render(source, model, { seed: 500 }));
    expect(error).toBeInstanceOf(HfFailure);
    expect((error as HfFailure).message).toMatch(/could not process the input \(422\)/);
    // The others may have been stopped before they were sent.
    expect(seeds('hf-inference')).toContain(502);
    expect(seeds('hf-inference').every((seed) => seed !== null && seed >= 500 && seed <= 503)).toBe(true);
    expect(submits('nscale')).toHaveLength(0);
  });

  test('when one image fails for good while the others are still being drawn, then their requests are aborted', async () => {
    const { source, model } = routed('hf-inference');
    const never = new Promise(() => undefined);
    for (const seed of [10, 11, 13]) emulator.scriptSeed('hf-inference', seed, { kind: 'ok', until: never });
    emulator.scriptSeed('hf-inference', 12, providerAnswers.unprocessable());
    expect(await failure(render(source, model, { seed: 10 }))).toBeInstanceOf(HfFailure);
    await emulator.waitForAborts('hf-inference', 3);
    expect(emulator.requestsFor('hf-inference').filter((r) => r.aborted)).toHaveLength(3);
  });

  test('when one image of four meets a failure another provider may not have, then the whole set moves to it', async () => {
    const { source, model } = routed('hf-inference', 'nscale');
    emulator.scriptSeed('hf-inference', 22, providerAnswers.serverError(500));
    const rendered = await render(source, model, { seed: 20 });
    expect(rendered.provider).toBe('nscale');
    expect(rendered.asked).toEqual(['hf-inference', 'nscale']);
    expect(sorted(seeds('nscale'))).toEqual([20, 21, 22, 23]);
    expect(marks(rendered)).toEqual([20, 21, 22, 23]);
  });

  test('when the generation is canceled while its images are drawn, then every request is aborted and the render rejects with the reason', async () => {
    const { source, model } = routed('hf-inference');
    const never = new Promise(() => undefined);
    for (const seed of [40, 41, 42, 43]) emulator.scriptSeed('hf-inference', seed, { kind: 'ok', until: never });
    const abort = new AbortController();
    const reason = new Error('canceled by its owner');
    const rendering = failure(render(source, model, { seed: 40 }, abort.signal));
    await emulator.waitForRequests('hf-inference', 4);
    abort.abort(reason);
    expect(await rendering).toBe(reason);
    await emulator.waitForAborts('hf-inference', 4);
  });

  test('when a fal-ai set is canceled while queued, then its one job is withdrawn upstream', async () => {
    const { source, model } = routed('fal-ai');
    emulator.script('fal-ai', { kind: 'ok', until: new Promise(() => undefined) });
    const abort = new AbortController();
    const reason = new Error('canceled by its owner');
    const rendering = failure(render(source, model, {}, abort.signal));
    await emulator.waitForRequests('fal-ai', 3); // the submit and two polls
    abort.abort(reason);
    expect(await rendering).toBe(reason);
    for (;;) {
      if (emulator.cancels.length > 0) break;
      await emulator.waitForRequests('fal-ai', emulator.requestsFor('fal-ai').length + 1);
    }
    expect(emulator.cancels).toEqual([{ provider: 'fal-ai', id: expect.any(String) }]);
    expect(emulator.downloads).toHaveLength(0);
  });

  test.each([
    ['gpt-image-1', 1, 4],
    ['dall-e-3', 4, 1],
  ] as const)(
    'when OpenAI %s is asked for 4 images, then it gets %i request(s) with n = %i',
    async (openAiModel, requests, n) => {
      // The emulator draws four 1024-pixel images in this process before it answers: on a loaded
      // machine that once took past 5 s, and the retry after the timeout was a second request.
      const source = new OpenAiSource(client(undefined, 30_000), {
        baseUrl: emulator.openaiUrl,
        apiKey: 'sk-sets',
        defaultModel: 'gpt-image-1',
        maxWaitMs: 10_000,
      });
      sources.push(source);
      const rendered = await render(source, openAiModel, { width: 1024, height: 1024 });
      expect(rendered.provider).toBe('openai');
      expect(rendered.images).toHaveLength(4);
      expect(emulator.requestsFor('openai').map((r) => (r.body as { n: number }).n)).toEqual(Array(requests).fill(n));
    },
  );
});

describe('sets of images from a dedicated endpoint and the local renderer', () => {
  let emulator: HfEmulator;
  let endpoint: HfClient;

  beforeAll(async () => {
    emulator = await HfEmulator.start();
    endpoint = new HfClient({
      baseUrl: emulator.baseUrl,
      token: TOKEN,
      timeoutMs: 5_000,
      maxWaitMs: 10_000,
      maxImageBytes: 1024 * 1024,
      backoff: { baseMs: 20, maxDelayMs: 200 },
    });
  });

  afterAll(async () => {
    await endpoint?.close();
    await emulator?.close();
  });

  const draw = (source: ImageSource, model: string, overrides: Partial<GenerationSettings> = {}) =>
    source.render(
      {
        prompt: 'four lighthouses',
        settings: settingsFor(model, { width: 32, height: 24, num_images: 4, ...overrides }),
      },
      { signal: new AbortController().signal },
    );

  test('when an endpoint is asked for 4 seeded images, then it gets 4 requests with seeds s..s+3 and the images differ', async () => {
    const rendered = await draw(endpoint, 'sets-org/endpoint', { seed: 60 });
    expect(rendered.provider).toBe('hf-endpoint');
    const seeds = emulator.requestsFor('sets-org/endpoint').map((r) => r.body.parameters.seed);
    expect([...seeds].sort((a, b) => Number(a) - Number(b))).toEqual([60, 61, 62, 63]);
    expect(rendered.images.map((image) => markIn(image.bytes))).toEqual([60, 61, 62, 63]);
  });

  test('when the local renderer draws 4 images, then they differ from each other and the same request draws them again', async () => {
    const renderer = new LocalRenderer();
    const first = await draw(renderer, 'a/b');
    const again = await draw(renderer, 'a/b');
    expect(first.provider).toBe('local');
    const distinct = new Set(first.images.map((image) => image.bytes.toString('base64')));
    expect(distinct.size).toBe(4);
    expect(again.images.map((image) => image.bytes)).toEqual(first.images.map((image) => image.bytes));
  });
});
