import type { GenerationSettings, HfProvider, OpenAiModel } from '@imagegen/shared';
import { ProviderMappings, memoryMappingCache } from '@imagegen/core';
import {
  ProviderEmulator,
  providerAnswers,
  type EmulatedProvider,
  type ProviderStep,
  type RecordedProviderRequest,
} from '../../../test/support/provider-emulator';
import { HfFailure } from '../src/hf/hf-answer';
import type { ImageSource, RenderedImages, RetryNotice } from '../src/images/image-source';
import type { SniffedImage } from '../src/images/sniff';
import { OpenAiSource } from '../src/providers/openai-source';
import { ProviderClient } from '../src/providers/provider-client';
import { routerAdapters } from '../src/providers/registry';
import { RoutedSource } from '../src/providers/routed-source';
import { loadFixture, type Fixture } from './provider-fixtures';

/**
 * Every provider adapter against the recorded exchange of its fixture (test/fixtures/providers), and
 * each provider's failures, polling, cancels and size limit, on a fresh emulator per test so that
 * job ids are the fixtures' and no test meets another's script.
 */

const HF_TOKEN = 'hf_adapter_test_token';
const OPENAI_KEY = 'sk-adapter-test-key';
/**
 * Long enough for the emulator to draw OpenAI's 1536x1024 PNG the first time (near 2 s here); no
 * test waits it out, so it costs nothing.
 */
const MAX_WAIT_MS = 10_000;

const ROUTED: HfProvider[] = ['fal-ai', 'hf-inference', 'nscale', 'replicate', 'together', 'wavespeed', 'zai-org'];
const ALL: EmulatedProvider[] = [...ROUTED, 'openai'];
type AsyncProvider = 'fal-ai' | 'replicate' | 'wavespeed' | 'zai-org';
const ASYNC: AsyncProvider[] = ['fal-ai', 'replicate', 'wavespeed', 'zai-org'];

/** The polls of a queued job (not its submit, result or cancel). */
const POLL: Record<AsyncProvider, RegExp> = {
  'fal-ai': /^\/fal-ai\/.+\/requests\/[^/]+\/status\?_subdomain=queue$/,
  replicate: /^\/replicate\/v1\/predictions\/[^/]+$/,
  wavespeed: /^\/wavespeed\/api\/v3\/predictions\/[^/]+\/result$/,
  'zai-org': /^\/zai-org\/api\/paas\/v4\/async-result\/[^/]+$/,
};

const MIME = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

const fixtures = new Map<string, Fixture>();
function fixtureOf(provider: EmulatedProvider): Fixture {
  let fixture = fixtures.get(provider);
  if (!fixture) {
    fixture = loadFixture(provider);
    fixtures.set(provider, fixture);
  }
  return fixture;
}

/** A provider to fail over to: a synchronous one other than `provider`. */
const secondTo = (provider: HfProvider): HfProvider => (provider === 'nscale' ? 'together' : 'nscale');

describe('provider adapters against their recorded exchanges and failures', () => {
  let emulator: ProviderEmulator;
  const sources: ImageSource[] = [];

  beforeEach(async () => {
    emulator = await ProviderEmulator.start();
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.close()));
    await emulator.close();
  });

  /** What the emulator's paths add before a fixture's path (OpenAI's is relative to OPENAI_BASE_URL). */
  const prefixOf = (provider: EmulatedProvider) => (provider === 'openai' ? new URL(emulator.openaiUrl).pathname : '');

  function client(maxImageBytes: number) {
    return new ProviderClient({
      timeoutMs: MAX_WAIT_MS,
      maxImageBytes,
      backoff: { baseMs: 10, maxDelayMs: 100 },
      pollIntervalMs: 5,
    });
  }

  /**
   * A source for `provider` on this test's emulator: OpenAI's own, or the router with the fixture's
   * model mapped to `provider` (then `then`, if given), each under its fixture's providerId.
   */
  function sourceFor(
    provider: EmulatedProvider,
    options: { then?: HfProvider; maxImageBytes?: number } = {},
  ): ImageSource {
    const fixture = fixtureOf(provider);
    const maxImageBytes = options.maxImageBytes ?? 16 * 1024 * 1024;
    let source: ImageSource;
    if (provider === 'openai') {
      source = new OpenAiSource(client(maxImageBytes), {
        baseUrl: emulator.openaiUrl,
        apiKey: OPENAI_KEY,
        defaultModel: fixture.settings.providerId as OpenAiModel,
        maxWaitMs: MAX_WAIT_MS,
      });
    } else {
      const chain = [provider, ...(options.then ? [options.then] : [])];
      emulator.mapModel(
        fixture.settings.model,
        chain.map((name) => ({ provider: name, providerId: fixtureOf(name).settings.providerId })),
      );
      const mappings = new ProviderMappings(memoryMappingCache(), {
        hubUrl: emulator.hubUrl,
        token: HF_TOKEN,
        ttlMs: 60_000,
      });
      source = new RoutedSource(client(maxImageBytes), routerAdapters(emulator.routerUrl, {}), mappings, {
        token: HF_TOKEN,
        preference: { kind: 'auto' },
        maxWaitMs: MAX_WAIT_MS,
      });
    }
    sources.push(source);
    return source;
  }

  function settingsOf(fixture: Fixture): GenerationSettings {
    const { width, height, model, negative_prompt, num_inference_steps, guidance_scale, seed } = fixture.settings;
    return {
      width,
      height,
      model,
      provider: null,
      style: null,
      negative_prompt,
      num_inference_steps,
      guidance_scale,
      seed,
      num_images: 1,
    };
  }

  /** Renders `provider`'s fixture settings through `source`. */
  async function render(
    source: ImageSource,
    provider: EmulatedProvider,
    signal = new AbortController().signal,
  ): Promise<{ image: SniffedImage & Pick<RenderedImages, 'provider'>; notices: RetryNotice[] }> {
    const fixture = fixtureOf(provider);
    const notices: RetryNotice[] = [];
    const { provider: servedBy, images } = await source.render(
      { prompt: fixture.settings.prompt, settings: settingsOf(fixture) },
      { signal, onRetry: (notice) => notices.push(notice) },
    );
    expect(images).toHaveLength(1);
    return { image: { ...images[0]!, provider: servedBy }, notices };
  }

  async function failure(source: ImageSource, provider: EmulatedProvider): Promise<HfFailure> {
    const outcome = await render(source, provider).then(
      () => new Error('expected the generation to fail'),
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(HfFailure);
    return outcome as HfFailure;
  }

  /** The submits `provider` received: requests like its fixture's first. */
  function submitsTo(provider: EmulatedProvider): RecordedProviderRequest[] {
    const { method, path } = fixtureOf(provider).exchanges[0]!.request;
    return emulator
      .requestsFor(provider)
      .filter((r) => r.method === method && r.path === `${prefixOf(provider)}${path}`);
  }

  /** Resolves once a request to `provider` that `matches` has arrived. */
  async function arrival(provider: EmulatedProvider, matches: (request: RecordedProviderRequest) => boolean) {
    for (;;) {
      const seen = emulator.requestsFor(provider);
      if (seen.some(matches)) return;
      await emulator.waitForRequests(provider, seen.length + 1);
    }
  }

  describe('the recorded exchanges', () => {
    test.each(ALL)(
      'when %s serves a generation, then the requests that reach it are exactly the recorded ones and the image comes back',
      async (provider) => {
        const fixture = fixtureOf(provider);
        const token = provider === 'openai' ? OPENAI_KEY : HF_TOKEN;
        const { image } = await render(sourceFor(provider), provider);

        const shown = fixture.exchanges.at(-1)!.response.image!;
        expect({ mime_type: image.mime_type, width: image.width, height: image.height }).toEqual({
          mime_type: MIME[shown.format],
          width: shown.width,
          height: shown.height,
        });
        expect(image.provider).toBe(fixture.provider);

        const cdn = fixture.exchanges.filter((e) => e.request.base === 'cdn');
        expect(emulator.downloads.map((d) => ({ path: d.path, authorized: 'authorization' in d.headers }))).toEqual(
          cdn.map((e) => ({ path: e.request.path, authorized: false })),
        );

        // The headers compared are those the fixture lists; the request line and body, whole.
        const upstream = fixture.exchanges.filter((e) => e.request.base !== 'cdn').map((e) => e.request);
        const recorded = emulator.requestsFor(provider).map((r, i) => ({
          method: r.method,
          path: r.path,
          headers: Object.fromEntries(Object.keys(upstream[i]?.headers ?? {}).map((name) => [name, r.headers[name]])),
          body: r.body,
        }));
        expect(recorded).toEqual(
          upstream.map((r) => ({
            method: r.method,
            path: `${prefixOf(provider)}${r.path}`,
            headers: Object.fromEntries(
              Object.entries(r.headers).map(([name, value]) => [name, value.replace('<token>', token)]),
            ),
            body: r.body,
          })),
        );
      },
    );
  });

  describe('failures answered to the submit, through the router', () => {
    test.each(ROUTED)(
      'when %s says it does not serve the model and a second provider is mapped after it, then the second serves',
      async (provider) => {
        const second = secondTo(provider);
        emulator.script(provider, providerAnswers.notSupported(provider));
        const { image } = await render(sourceFor(provider, { then: second }), provider);
        expect(image.provider).toBe(second);
        expect(submitsTo(provider)).toHaveLength(1);
        expect(submitsTo(second)).toHaveLength(1);
      },
    );

    test.each(ROUTED)(
      'when %s alone says it does not serve the model, then the generation fails naming it',
      async (provider) => {
        emulator.script(provider, providerAnswers.notSupported(provider));
        const error = await failure(sourceFor(provider), provider);
        expect(error.message).toMatch(
          new RegExp(`^No Inference Provider produced an image of .*: ${provider}: does not serve .*\\(400: `),
        );
        expect(submitsTo(provider)).toHaveLength(1);
      },
    );

    const FATAL: [string, () => ProviderStep, number, RegExp][] = [
      ['401 (the token)', providerAnswers.badToken, 401, /refused the token \(401: .*\): HF_TOKEN/],
      ['402 (the credits)', providerAnswers.noCredits, 402, /out of credits for Inference Providers \(402: /],
      ['403 (the permission)', providerAnswers.forbidden, 403, /refused the token \(403: .*Make calls to Inference/],
      ['422 (the input)', providerAnswers.unprocessable, 422, /could not process the input \(422\)/],
    ];
    test.each(ROUTED.flatMap((provider) => FATAL.map((fatal) => [provider, ...fatal] as const)))(
      'when %s answers %s, then the generation fails at once with a clear message and no second provider is tried',
      async (provider, _label, step, status, message) => {
        const second = secondTo(provider);
        emulator.script(provider, step());
        const error = await failure(sourceFor(provider, { then: second }), provider);
        expect(error.message).toMatch(message);
        expect(error.status).toBe(status);
        expect(submitsTo(provider)).toHaveLength(1);
        expect(emulator.requestsFor(second)).toHaveLength(0);
      },
    );

    test.each(ROUTED)('when %s alone answers 429 once, then it is retried and serves the image', async (provider) => {
      emulator.script(provider, providerAnswers.rateLimited());
      const { image, notices } = await render(sourceFor(provider), provider);
      expect(image.provider).toBe(provider);
      expect(notices).toEqual([expect.objectContaining({ retry: 1, detail: expect.stringContaining('429') })]);
      expect(submitsTo(provider)).toHaveLength(2);
    });

    test.each(ROUTED)('when %s alone answers 500 once, then it is retried and serves the image', async (provider) => {
      emulator.script(provider, providerAnswers.serverError(500));
      const { image, notices } = await render(sourceFor(provider), provider);
      expect(image.provider).toBe(provider);
      expect(notices).toEqual([expect.objectContaining({ retry: 1, detail: expect.stringContaining('500') })]);
      expect(submitsTo(provider)).toHaveLength(2);
    });

    test.each(ROUTED)(
      'when %s answers 500 and a second provider is mapped after it, then the second serves without a retry',
      async (provider) => {
        const second = secondTo(provider);
        emulator.script(provider, providerAnswers.serverError(500));
        const { image, notices } = await render(sourceFor(provider, { then: second }), provider);
        expect(image.provider).toBe(second);
        expect(notices).toHaveLength(0);
        expect(submitsTo(provider)).toHaveLength(1);
        expect(submitsTo(second)).toHaveLength(1);
      },
    );
  });

  describe('failures answered by OpenAI, which has no failover', () => {
    const badKey: ProviderStep = {
      kind: 'error',
      status: 401,
      body: {
        error: {
          message:
            'Incorrect API key provided: sk-adapt***-key. You can find your API key at https://platform.openai.com/account/api-keys.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      },
      headers: { 'x-request-id': 'req_emulated' },
    };

    test('when OpenAI answers 429 insufficient_quota, then the generation fails at once saying the account is out of quota', async () => {
      emulator.script('openai', providerAnswers.openaiQuota());
      const error = await failure(sourceFor('openai'), 'openai');
      expect(error.message).toMatch(/^The OpenAI account is out of quota \(429 insufficient_quota\)/);
      expect(submitsTo('openai')).toHaveLength(1);
    });

    test('when OpenAI answers 429 with retry-after-ms, then it is retried no sooner and serves the image', async () => {
      emulator.script('openai', providerAnswers.openaiRateLimited(50));
      const { image, notices } = await render(sourceFor('openai'), 'openai');
      expect(image.provider).toBe('openai');
      expect(notices).toHaveLength(1);
      expect(notices[0]!.delayMs).toBeGreaterThanOrEqual(50);
      expect(submitsTo('openai')).toHaveLength(2);
    });

    test('when OpenAI refuses the key (401), then the generation fails at once naming OPENAI_API_KEY', async () => {
      emulator.script('openai', badKey);
      const error = await failure(sourceFor('openai'), 'openai');
      expect(error.message).toMatch(/^OpenAI refused the key \(401: Incorrect API key provided.*OPENAI_API_KEY/);
      expect(error.status).toBe(401);
      expect(submitsTo('openai')).toHaveLength(1);
    });

    test('when OpenAI answers 500 once, then it is retried and serves the image', async () => {
      emulator.script('openai', providerAnswers.serverError(500));
      const { image, notices } = await render(sourceFor('openai'), 'openai');
      expect(image.provider).toBe('openai');
      expect(notices).toEqual([expect.objectContaining({ retry: 1, detail: expect.stringContaining('500') })]);
      expect(submitsTo('openai')).toHaveLength(2);
    });
  });

  describe('queued jobs', () => {
    test.each(ASYNC)(
      'when %s reports the job in progress three times, then it is polled until done and the image is downloaded without our token',
      async (provider) => {
        const fixture = fixtureOf(provider);
        emulator.script(provider, { kind: 'ok', polls: 3 });
        const { image } = await render(sourceFor(provider), provider);
        expect(image).toMatchObject({ provider, width: fixture.settings.width, height: fixture.settings.height });
        const requests = emulator.requestsFor(provider);
        // Three in-progress answers, then the one that says done.
        expect(requests.filter((r) => r.method === 'GET' && POLL[provider].test(r.path))).toHaveLength(4);
        expect(requests.map((r) => r.headers.authorization)).toEqual(requests.map(() => `Bearer ${HF_TOKEN}`));
        expect(emulator.downloads).toHaveLength(1);
        expect(emulator.downloads[0]!.headers.authorization).toBeUndefined();
      },
    );

    test.each(ASYNC)('when %s ends the job failed, then the generation fails with its reason', async (provider) => {
      emulator.script(provider, { kind: 'job-fails', polls: 1, error: 'NSFW content detected' });
      const error = await failure(sourceFor(provider), provider);
      expect(error.message).toMatch(
        new RegExp(`^No Inference Provider produced an image of .*: ${provider}: .*NSFW content detected`),
      );
      expect(emulator.downloads).toHaveLength(0);
    });

    test.each(ASYNC)(
      'when %s ends the job failed and a second provider is mapped after it, then the second serves',
      async (provider) => {
        const second = secondTo(provider);
        emulator.script(provider, { kind: 'job-fails', polls: 1, error: 'GPU worker crashed' });
        const { image } = await render(sourceFor(provider, { then: second }), provider);
        expect(image.provider).toBe(second);
      },
    );

    /** The request that withdraws the job, and the id it withdraws: the fixture's. */
    const WITHDRAWN: Record<'fal-ai' | 'replicate', { method: string; path: RegExp; id: string }> = {
      'fal-ai': {
        method: 'PUT',
        path: /^\/fal-ai\/.+\/requests\/[^/]+\/cancel\?_subdomain=queue$/,
        id: '00000000-0000-4000-8000-000000000001',
      },
      replicate: {
        method: 'POST',
        path: /^\/replicate\/v1\/predictions\/[^/]+\/cancel$/,
        id: 'emu00000000000000000000001',
      },
    };

    test.each(['fal-ai', 'replicate'] as const)(
      'when the generation is canceled while %s runs the job, then the render rejects with the reason and the job is canceled upstream',
      async (provider) => {
        emulator.script(provider, { kind: 'ok', until: new Promise(() => undefined) });
        const abort = new AbortController();
        const reason = new Error('canceled by its owner');
        const rendering = render(sourceFor(provider), provider, abort.signal);
        await emulator.waitForRequests(provider, 3); // the submit and two polls
        abort.abort(reason);
        await expect(rendering).rejects.toBe(reason);
        const { method, path, id } = WITHDRAWN[provider];
        await arrival(provider, (r) => r.method === method && path.test(r.path));
        expect(emulator.cancels).toEqual([{ provider, id }]);
        expect(emulator.downloads).toHaveLength(0);
      },
    );

    test.each(['wavespeed', 'zai-org'] as const)(
      'when the generation is canceled while %s runs the job, then the render rejects with the reason',
      async (provider) => {
        emulator.script(provider, { kind: 'ok', until: new Promise(() => undefined) });
        const abort = new AbortController();
        const reason = new Error('canceled by its owner');
        const rendering = render(sourceFor(provider), provider, abort.signal);
        await emulator.waitForRequests(provider, 3); // the submit and two polls
        abort.abort(reason);
        await expect(rendering).rejects.toBe(reason);
        expect(emulator.downloads).toHaveLength(0);
      },
    );
  });

  describe('image size limit', () => {
    test.each([
      ['fal-ai', 'its image was more than'],
      ['nscale', 'answered more than'],
    ] as const)(
      'when %s sends an image larger than HF_MAX_IMAGE_BYTES, then the generation fails saying so',
      async (provider, said) => {
        emulator.script(provider, { kind: 'huge-image', bytes: 200_000 });
        const error = await failure(sourceFor(provider, { maxImageBytes: 100_000 }), provider);
        expect(error.message).toBe(`Hugging Face (${provider}) ${said} 100000 bytes`);
      },
    );
  });
});
