import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { DEFAULT_HF_MODEL, type ApiFailure, type ApiSuccess, type FieldError, type Generation } from '@imagegen/shared';
import { InFlightGenerations } from '@imagegen/core';
import { ApiClient } from '../../../test/support/api-client';
import { ProviderEmulator } from '../../../test/support/provider-emulator';
import { startHarness, startTestApi, subjectOf, type Harness } from './api-harness';
import { WorldWatch } from './route-sweep';
import type { RunningApi } from '../src/server';

/**
 * Creates are checked against the providers that serve their model here, before anything is
 * written: the API in process on real Redis and MongoDB-wire, the Hub's mapping served by the
 * provider emulator on 127.0.0.1, one API per backend.
 */

const TOKEN = 'hf_test_token';
let emulator: ProviderEmulator;

beforeAll(async () => {
  emulator = await ProviderEmulator.start();
  emulator.mapModel(DEFAULT_HF_MODEL, [
    { provider: 'nscale', providerId: 'black-forest-labs/FLUX.1-schnell' },
    { provider: 'together', providerId: 'black-forest-labs/FLUX.1-schnell-Free' },
  ]);
});

afterAll(async () => {
  await emulator?.close();
});

/** How often the Hub was asked for `model`'s mapping. */
const hubAsked = (model: string) => emulator.hubRequests.filter((request) => request.model === model).length;

/** The API of a deployment on Inference Providers whose Hub is the emulator's. */
const routerEnv = (extra: Record<string, string> = {}) => ({
  HF_TOKEN: TOKEN,
  HF_HUB_URL: emulator.hubUrl,
  HF_ROUTER_URL: emulator.routerUrl,
  ...extra,
});

async function post(client: ApiClient, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return client.request<ApiSuccess<Generation> | ApiFailure>('POST', '/api/generations', body, headers);
}

/** The one field error of a 422, after checking it is one. */
async function refusal(client: ApiClient, body: Record<string, unknown>): Promise<FieldError> {
  const reply = await post(client, body);
  expect({ status: reply.status, body: reply.body }).toEqual({
    status: 422,
    body: expect.objectContaining({ success: false, errors: [expect.any(Object)] }),
  });
  return (reply.body as ApiFailure).errors![0]!;
}

async function accepted(client: ApiClient, body: Record<string, unknown>): Promise<Generation> {
  const reply = await post(client, body);
  expect({ status: reply.status, body: reply.body }).toEqual({ status: 202, body: expect.anything() });
  return (reply.body as ApiSuccess<Generation>).data;
}

describe('Inference Providers, HF_PROVIDER=auto (with OpenAI configured too)', () => {
  let h: Harness;
  let second: { api: RunningApi; baseUrl: string };
  let client: ApiClient;
  let redis: Redis;
  let watch: WorldWatch;

  beforeAll(async () => {
    const env = routerEnv({ OPENAI_API_KEY: 'sk-test', WEBHOOK_ALLOW_PRIVATE: 'true', MAX_IN_FLIGHT_PER_USER: '50' });
    h = await startHarness(env);
    // A second instance on the same Redis, database and prefix: the cached mapping is theirs to share.
    second = await startTestApi(h.iso, env);
    client = await h.user('providers@example.com');
    redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    watch = new WorldWatch(h);
  });

  afterAll(async () => {
    emulator.hubDown(false);
    await watch?.close();
    redis?.disconnect();
    await second?.api.stop();
    await h?.stop();
  });

  test('when no model is named, then the default is checked against its mapping, accepted, and provider left to the service (null)', async () => {
    const generation = await accepted(client, { prompt: 'A lighthouse' });
    expect(generation.settings).toMatchObject({ model: DEFAULT_HF_MODEL, provider: null });
    expect(generation.provider).toBeNull();
    expect(hubAsked(DEFAULT_HF_MODEL)).toBeGreaterThanOrEqual(1);
    expect(emulator.hubRequests.find((r) => r.model === DEFAULT_HF_MODEL)?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(await h.queue.getJob(generation.id)).toBeDefined();
  });

  test('when the Hub answers the array shape or the legacy object shape, then a model with a live provider is accepted either way', async () => {
    emulator.mapModel('acme/array-shape', [{ provider: 'fal-ai', providerId: 'fal-ai/array' }], 'array');
    emulator.mapModel('acme/object-shape', [{ provider: 'replicate', providerId: 'acme/object' }], 'object');
    expect((await accepted(client, { prompt: 'p', model: 'acme/array-shape' })).settings.model).toBe(
      'acme/array-shape',
    );
    const byObject = await accepted(client, { prompt: 'p', model: 'acme/object-shape', provider: 'replicate' });
    expect(byObject.settings).toMatchObject({ model: 'acme/object-shape', provider: 'replicate' });
  });

  test('when a second create names the same model, even on another API instance, then the Hub is not asked again', async () => {
    const model = 'acme/cached-model';
    emulator.mapModel(model, [{ provider: 'together', providerId: 'acme/cached' }]);
    await accepted(client, { prompt: 'first', model });
    await accepted(client, { prompt: 'second', model });
    await accepted(new ApiClient(second.baseUrl, client.token), { prompt: 'third, elsewhere', model });
    expect(hubAsked(model)).toBe(1);
  });

  test('when the request names a provider that serves the model, then it is kept in settings.provider', async () => {
    const generation = await accepted(client, { prompt: 'p', provider: 'together' });
    expect(generation.settings).toMatchObject({ model: DEFAULT_HF_MODEL, provider: 'together' });
  });

  test('when the request names a provider that does not serve the model, then 422 names provider and those that do', async () => {
    const error = await refusal(client, { prompt: 'p', provider: 'fal-ai' });
    expect(error).toEqual({
      field: 'provider',
      message: `fal-ai does not serve ${DEFAULT_HF_MODEL} for text-to-image; it is served by: nscale, together`,
    });
  });

  test('when the Hub does not know the model, then 422 names model and the default', async () => {
    const error = await refusal(client, { prompt: 'p', model: 'nobody/no-such-model' });
    expect(error.field).toBe('model');
    expect(error.message).toMatch(/^is not a model on Hugging Face/);
    expect(error.message).toContain(`the default is ${DEFAULT_HF_MODEL}`);
  });

  test("when the seed's Stable Diffusion 1.5 ids are asked for, then each is a 422 naming model and the default", async () => {
    // runwayml's repository is gone (the Hub answers 404); its mirror is known but mapped to no provider.
    emulator.mapModel('stable-diffusion-v1-5/stable-diffusion-v1-5', [
      { provider: 'hf-inference', providerId: 'stable-diffusion-v1-5/stable-diffusion-v1-5', status: 'error' },
    ]);
    for (const model of ['runwayml/stable-diffusion-v1-5', 'stable-diffusion-v1-5/stable-diffusion-v1-5']) {
      const error = await refusal(client, { prompt: 'A sunset over the ocean', model });
      expect({ model, field: error.field }).toEqual({ model, field: 'model' });
      expect(error.message).toContain(DEFAULT_HF_MODEL);
    }
    expect(await refusal(client, { prompt: 'p', model: 'stable-diffusion-v1-5/stable-diffusion-v1-5' })).toEqual({
      field: 'model',
      message: `is served by no Inference Provider for text-to-image; try ${DEFAULT_HF_MODEL} (the default)`,
    });
  });

  test('when the mapping has only error entries, other tasks and providers we do not speak, then the model is served by none (422 naming model)', async () => {
    emulator.mapModel('acme/unusable', [
      { provider: 'fal-ai', providerId: 'fal-ai/unusable', status: 'error' },
      { provider: 'together', providerId: 'acme/unusable-chat', task: 'text-generation' },
      { provider: 'nebius', providerId: 'acme/unusable' },
    ]);
    expect((await refusal(client, { prompt: 'p', model: 'acme/unusable' })).message).toMatch(
      /^is served by no Inference Provider for text-to-image; try /,
    );
    // The same entries beside one usable one: only that one counts.
    emulator.mapModel('acme/one-usable', [
      { provider: 'fal-ai', providerId: 'fal-ai/x', status: 'error' },
      { provider: 'together', providerId: 'acme/x-chat', task: 'text-generation' },
      { provider: 'wavespeed', providerId: 'wavespeed-ai/x' },
    ]);
    await accepted(client, { prompt: 'p', model: 'acme/one-usable' });
    expect(await refusal(client, { prompt: 'p', model: 'acme/one-usable', provider: 'together' })).toEqual({
      field: 'provider',
      message: 'together does not serve acme/one-usable for text-to-image; it is served by: wavespeed',
    });
  });

  test('when a provider is only staging, then it serves while no provider is live, and not beside a live one', async () => {
    emulator.mapModel('acme/staging-only', [{ provider: 'zai-org', providerId: 'z-image', status: 'staging' }]);
    const staged = await accepted(client, { prompt: 'p', model: 'acme/staging-only', provider: 'zai-org' });
    expect(staged.settings.provider).toBe('zai-org');
    emulator.mapModel('acme/staging-and-live', [
      { provider: 'zai-org', providerId: 'z-image', status: 'staging' },
      { provider: 'nscale', providerId: 'acme/live' },
    ]);
    expect(await refusal(client, { prompt: 'p', model: 'acme/staging-and-live', provider: 'zai-org' })).toEqual({
      field: 'provider',
      message: 'zai-org does not serve acme/staging-and-live for text-to-image; it is served by: nscale',
    });
  });

  test('when an OpenAI model is named without provider "openai", then 422 names model and says to ask for it', async () => {
    expect(await refusal(client, { prompt: 'p', model: 'dall-e-3' })).toEqual({
      field: 'model',
      message: 'is an OpenAI model; ask for provider "openai"',
    });
    expect(await refusal(client, { prompt: 'p', model: 'gpt-image-1', provider: 'nscale' })).toMatchObject({
      field: 'model',
    });
  });

  test('when provider "openai" is asked for, then its model is OPENAI_MODEL or the named OpenAI model, with no Hub lookup; another model is a 422 naming model', async () => {
    const asked = emulator.hubRequests.length;
    expect((await accepted(client, { prompt: 'p', provider: 'openai' })).settings).toMatchObject({
      model: 'gpt-image-1',
      provider: 'openai',
    });
    expect((await accepted(client, { prompt: 'p', provider: 'openai', model: 'dall-e-3' })).settings).toMatchObject({
      model: 'dall-e-3',
      provider: 'openai',
    });
    expect(await refusal(client, { prompt: 'p', provider: 'openai', model: DEFAULT_HF_MODEL })).toEqual({
      field: 'model',
      message: 'is not an OpenAI Images model; use one of: gpt-image-1, dall-e-3',
    });
    expect(emulator.hubRequests.length).toBe(asked);
  });

  test('when a create is refused with 422, then nothing is left behind: no record, job, webhook secret or idempotency key, and no place in flight', async () => {
    const owner = new ObjectId(subjectOf(client.token!));
    const inFlight = new InFlightGenerations(redis, h.iso.queuePrefix);
    const heldBefore = (await inFlight.members(owner)).length;
    const before = await watch.snapshot();
    const key = { 'idempotency-key': 'refused-then-fixed' };
    const body = {
      prompt: 'p',
      model: 'nobody/unknown-model',
      webhook_url: 'http://127.0.0.1:9/hook',
      cancel_after: '10m',
    };
    const refused = await post(client, body, key);
    expect(refused.status).toBe(422);
    expect(await watch.snapshot()).toEqual(before);
    expect((await inFlight.members(owner)).length).toBe(heldBefore);
    // The key is free again: the same key with the model fixed creates the generation.
    const fixed = await post(client, { ...body, model: DEFAULT_HF_MODEL }, key);
    expect(fixed.status).toBe(202);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
  });

  test('when the Hub is down and the mapping is not cached, then 503 with Retry-After and nothing is written or queued; once it is back, the same key creates', async () => {
    const model = 'acme/while-hub-down';
    emulator.mapModel(model, [{ provider: 'nscale', providerId: 'acme/down' }]);
    const owner = new ObjectId(subjectOf(client.token!));
    const inFlight = new InFlightGenerations(redis, h.iso.queuePrefix);
    const heldBefore = (await inFlight.members(owner)).length;
    const before = await watch.snapshot();
    const key = { 'idempotency-key': 'hub-down' };
    emulator.hubDown(true);
    try {
      const reply = await post(client, { prompt: 'p', model }, key);
      expect({ status: reply.status, body: reply.body }).toEqual({
        status: 503,
        body: expect.objectContaining({ success: false, message: expect.stringContaining(model) }),
      });
      expect(reply.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await watch.snapshot()).toEqual(before);
      expect((await inFlight.members(owner)).length).toBe(heldBefore);
      // A mapping read before the outage still serves.
      await accepted(client, { prompt: 'cached default', model: DEFAULT_HF_MODEL });
    } finally {
      emulator.hubDown(false);
    }
    const retried = await post(client, { prompt: 'p', model }, key);
    expect(retried.status).toBe(202);
  });
});

describe('Inference Providers, HF_PROVIDER=nscale,together', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness(routerEnv({ HF_PROVIDER: 'nscale,together' }));
    client = await h.user('list@example.com');
    emulator.mapModel('acme/fal-only', [{ provider: 'fal-ai', providerId: 'fal-ai/only' }]);
    emulator.mapModel('acme/fal-and-together', [
      { provider: 'fal-ai', providerId: 'fal-ai/both' },
      { provider: 'together', providerId: 'acme/both' },
    ]);
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when the model is served only by providers HF_PROVIDER leaves out, then 422 names model, says so, and names the default', async () => {
    expect(await refusal(client, { prompt: 'p', model: 'acme/fal-only' })).toEqual({
      field: 'model',
      message: `is served by no Inference Provider for text-to-image that HF_PROVIDER allows; try ${DEFAULT_HF_MODEL} (the default)`,
    });
  });

  test('when the request names a provider HF_PROVIDER leaves out, then 422 names provider and the allowed ones', async () => {
    expect(await refusal(client, { prompt: 'p', model: 'acme/fal-and-together', provider: 'fal-ai' })).toEqual({
      field: 'provider',
      message: 'fal-ai is not used here; HF_PROVIDER allows: nscale, together',
    });
  });

  test('when an allowed provider serves the model, then it is accepted, with or without naming it', async () => {
    await accepted(client, { prompt: 'p', model: 'acme/fal-and-together' });
    const named = await accepted(client, { prompt: 'p', model: 'acme/fal-and-together', provider: 'together' });
    expect(named.settings.provider).toBe('together');
  });
});

describe('OpenAI Images only (HF_PROVIDER=openai)', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness(routerEnv({ HF_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test', OPENAI_MODEL: 'dall-e-3' }));
    client = await h.user('openai@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when no model or provider is named, then the model is OPENAI_MODEL and provider stays null, with no Hub lookup', async () => {
    const asked = emulator.hubRequests.length;
    expect((await accepted(client, { prompt: 'p' })).settings).toMatchObject({ model: 'dall-e-3', provider: null });
    expect((await accepted(client, { prompt: 'p', model: 'gpt-image-1', provider: 'openai' })).settings).toMatchObject({
      model: 'gpt-image-1',
      provider: 'openai',
    });
    expect(emulator.hubRequests.length).toBe(asked);
  });

  test('when a Hugging Face model or provider is named, then 422 names that field', async () => {
    expect(await refusal(client, { prompt: 'p', model: DEFAULT_HF_MODEL })).toEqual({
      field: 'model',
      message: 'is not an OpenAI Images model; use one of: gpt-image-1, dall-e-3',
    });
    expect(await refusal(client, { prompt: 'p', provider: 'nscale' })).toMatchObject({
      field: 'provider',
      message: expect.stringContaining('OpenAI Images only'),
    });
  });
});

describe('one dedicated endpoint (HF_BASE_URL)', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness(routerEnv({ HF_BASE_URL: `${emulator.routerUrl}/hf-inference/models` }));
    client = await h.user('endpoint@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when any model is named without a provider, then it is accepted with no Hub lookup', async () => {
    const asked = emulator.hubRequests.length;
    const generation = await accepted(client, { prompt: 'p', model: 'acme/on-my-endpoint' });
    expect(generation.settings).toMatchObject({ model: 'acme/on-my-endpoint', provider: null });
    expect(emulator.hubRequests.length).toBe(asked);
  });

  test('when a Hugging Face provider is named, then 422 names provider and says to leave it out', async () => {
    expect(await refusal(client, { prompt: 'p', provider: 'together' })).toEqual({
      field: 'provider',
      message: 'this deployment serves one dedicated endpoint (HF_BASE_URL); leave provider out',
    });
  });

  test('when provider "openai" is named but OpenAI is not configured, then 422 names provider', async () => {
    expect(await refusal(client, { prompt: 'p', provider: 'openai' })).toEqual({
      field: 'provider',
      message: 'OpenAI Images is not configured here',
    });
  });
});

describe('no token (the local renderer)', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness({ HF_HUB_URL: emulator.hubUrl });
    client = await h.user('local@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when a model and a provider are named, then both are taken as given, with no Hub lookup', async () => {
    const asked = emulator.hubRequests.length;
    const generation = await accepted(client, { prompt: 'p', model: 'nobody/anything', provider: 'fal-ai' });
    expect(generation.settings).toMatchObject({ model: 'nobody/anything', provider: 'fal-ai' });
    expect(emulator.hubRequests.length).toBe(asked);
  });

  test('when an OpenAI model is named and OpenAI is not configured, then 422 names model and says so', async () => {
    expect(await refusal(client, { prompt: 'p', model: 'gpt-image-1' })).toEqual({
      field: 'model',
      message: 'is an OpenAI model, and OpenAI Images is not configured here',
    });
  });
});
