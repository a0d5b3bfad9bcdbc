import {
  DEFAULT_HF_MODEL,
  ModelList,
  type ApiFailure,
  type ApiSuccess,
  type ModelProvider,
  type ServingProvider,
} from '@imagegen/shared';
import type { ApiClient } from '../../../test/support/api-client';
import { ProviderEmulator } from '../../../test/support/provider-emulator';
import { startHarness, type Harness } from './api-harness';

/**
 * `GET /api/models` in each backend: the API in process on real Redis and MongoDB-wire, the Hub's
 * mapping served by the provider emulator on 127.0.0.1.
 */

let emulator: ProviderEmulator;

beforeAll(async () => {
  emulator = await ProviderEmulator.start();
  emulator.mapModel(DEFAULT_HF_MODEL, [
    { provider: 'nscale', providerId: 'black-forest-labs/FLUX.1-schnell' },
    { provider: 'together', providerId: 'black-forest-labs/FLUX.1-schnell-Free' },
    { provider: 'fal-ai', providerId: 'fal-ai/flux/schnell', status: 'error' },
  ]);
  emulator.mapModel('acme/fal-model', [{ provider: 'fal-ai', providerId: 'fal-ai/acme' }], 'object');
  emulator.mapModel('acme/staging-model', [
    { provider: 'wavespeed', providerId: 'wavespeed-ai/acme', status: 'staging' },
    { provider: 'together', providerId: 'acme/chat', task: 'text-generation' },
  ]);
});

afterAll(async () => {
  await emulator?.close();
});

const hubAsked = (model: string) => emulator.hubRequests.filter((request) => request.model === model).length;

/** The list, after checking the answer is a 200 envelope whose data is a ModelList. */
async function listOf(client: ApiClient): Promise<ModelList> {
  const reply = await client.request<ApiSuccess<ModelList>>('GET', '/api/models');
  expect({ status: reply.status, success: reply.body.success }).toEqual({ status: 200, success: true });
  return ModelList.parse(reply.body.data);
}

const live = (provider: ServingProvider, providerId: string): ModelProvider => ({
  provider,
  provider_id: providerId,
  status: 'live',
});

describe('Inference Providers, HF_PROVIDER=auto, with HF_ALLOWED_MODELS and OpenAI configured', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness({
      HF_TOKEN: 'hf_test',
      HF_HUB_URL: emulator.hubUrl,
      HF_ALLOWED_MODELS: `acme/fal-model,${DEFAULT_HF_MODEL},nobody/not-on-the-hub,acme/staging-model`,
      OPENAI_API_KEY: 'sk-test',
    });
    client = await h.user('models@example.com');
  });

  afterAll(async () => {
    emulator.hubDown(false);
    await h?.stop();
  });

  test('when the Hub is down and a mapping is not cached, then the list answers 503 with Retry-After', async () => {
    emulator.hubDown(true);
    try {
      const reply = await client.request<ApiFailure>('GET', '/api/models');
      expect(reply.status).toBe(503);
      expect(reply.body).toMatchObject({ success: false, message: expect.stringMatching(/Hugging Face Hub/) });
      expect(reply.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      emulator.hubDown(false);
    }
  });

  test('when the list is asked for, then the default comes first, then the allowed models once each, then the OpenAI models, each with its usable providers in the Hub’s order', async () => {
    expect((await listOf(client)).items).toEqual([
      {
        id: DEFAULT_HF_MODEL,
        default: true,
        providers: [
          live('nscale', 'black-forest-labs/FLUX.1-schnell'),
          live('together', 'black-forest-labs/FLUX.1-schnell-Free'),
        ],
      },
      { id: 'acme/fal-model', default: false, providers: [live('fal-ai', 'fal-ai/acme')] },
      // Unknown to the Hub: listed (the operator allowed it) with no provider, as a create would be refused.
      { id: 'nobody/not-on-the-hub', default: false, providers: [] },
      {
        id: 'acme/staging-model',
        default: false,
        providers: [{ provider: 'wavespeed', provider_id: 'wavespeed-ai/acme', status: 'staging' }],
      },
      { id: 'gpt-image-1', default: false, providers: [live('openai', 'gpt-image-1')] },
      { id: 'dall-e-3', default: false, providers: [live('openai', 'dall-e-3')] },
    ]);
  });

  test('when the list is read again, then the Hub is not asked again', async () => {
    const asked = hubAsked('acme/fal-model');
    await listOf(client);
    expect(hubAsked('acme/fal-model')).toBe(asked);
  });

  test('when the request has no bearer token, then 401', async () => {
    expect((await h.anonymous.request('GET', '/api/models')).status).toBe(401);
  });
});

describe('Inference Providers, HF_PROVIDER=together,nscale', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness({
      HF_TOKEN: 'hf_test',
      HF_HUB_URL: emulator.hubUrl,
      HF_PROVIDER: 'together,nscale',
      HF_ALLOWED_MODELS: 'acme/fal-model',
    });
    client = await h.user('models-list@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when the list is asked for, then providers come in HF_PROVIDER’s order, and those it leaves out are not listed', async () => {
    expect((await listOf(client)).items).toEqual([
      {
        id: DEFAULT_HF_MODEL,
        default: true,
        providers: [
          live('together', 'black-forest-labs/FLUX.1-schnell-Free'),
          live('nscale', 'black-forest-labs/FLUX.1-schnell'),
        ],
      },
      { id: 'acme/fal-model', default: false, providers: [] },
    ]);
  });
});

describe.each<[string, Record<string, string>, ModelList['items']]>([
  [
    'one dedicated endpoint (HF_BASE_URL)',
    { HF_TOKEN: 'hf_test', HF_BASE_URL: 'http://127.0.0.1:9/models', HF_ALLOWED_MODELS: 'acme/two' },
    [
      { id: DEFAULT_HF_MODEL, default: true, providers: [live('hf-endpoint', DEFAULT_HF_MODEL)] },
      { id: 'acme/two', default: false, providers: [live('hf-endpoint', 'acme/two')] },
    ],
  ],
  [
    'no token (the local renderer)',
    { HF_MODEL: 'acme/local-default' },
    [{ id: 'acme/local-default', default: true, providers: [live('local', 'acme/local-default')] }],
  ],
  [
    'OpenAI Images only (HF_PROVIDER=openai)',
    { HF_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test', OPENAI_MODEL: 'dall-e-3', HF_ALLOWED_MODELS: 'acme/two' },
    [
      { id: 'dall-e-3', default: true, providers: [live('openai', 'dall-e-3')] },
      { id: 'gpt-image-1', default: false, providers: [live('openai', 'gpt-image-1')] },
    ],
  ],
])('%s', (_backend, env, expected) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ HF_HUB_URL: emulator.hubUrl, ...env });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when the list is asked for, then every model is served by this deployment’s one backend, and the Hub is not asked', async () => {
    const asked = emulator.hubRequests.length;
    expect((await listOf(await h.user('backend@example.com'))).items).toEqual(expected);
    expect(emulator.hubRequests.length).toBe(asked);
  });
});
