import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { QUEUES, WebhookPayload, type Generation, type GenerationEvent } from '@imagegen/shared';
import type { ApiClient } from '../support/api-client';
import { ProviderEmulator, providerAnswers, type EmulatedProvider } from '../support/provider-emulator';
import { runScript, waitForOutput } from '../support/services';
import { SseClients } from '../support/sse';
import { newUser, startRoutedSystem, type System } from '../support/system';
import { WebhookReceiver } from '../support/webhook-receiver';

const TOKEN = 'hf_e2e_router';
const OPENAI_KEY = 'sk-e2e';
const PUBLIC_BASE_URL = 'http://imagegen.test';
const HF_PROVIDERS = ['fal-ai', 'hf-inference', 'nscale', 'replicate', 'together', 'wavespeed', 'zai-org'] as const;

/**
 * The whole system against Hugging Face as it is today: the API checks creates against the Hub's
 * mapping, the worker calls each provider through the router, and OpenAI Images serves the
 * requests that ask for it. Everything outside us is the provider emulator on 127.0.0.1.
 */
describe('Inference Providers and OpenAI Images, end to end on the spawned services', () => {
  let providers: ProviderEmulator;
  let system: System;
  let receiver: WebhookReceiver;
  let alice: ApiClient;
  let redis: Redis;
  let queue: Queue;
  const streams = new SseClients();

  beforeAll(async () => {
    providers = await ProviderEmulator.start();
    receiver = await WebhookReceiver.start();
    for (const provider of HF_PROVIDERS) {
      providers.mapModel(`e2e/only-${provider}`, [{ provider, providerId: `${provider}-org/e2e-model` }]);
    }
    providers.mapModel('e2e/failover', [
      { provider: 'nscale', providerId: 'nscale-org/failover' },
      { provider: 'together', providerId: 'together-org/failover' },
    ]);
    providers.mapModel('e2e/no-text-to-image', [
      { provider: 'together', providerId: 'together-org/chat', task: 'text-generation' },
    ]);
    system = await startRoutedSystem(providers, {
      HF_TOKEN: TOKEN,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: providers.openaiUrl,
      HF_MODEL: 'e2e/only-nscale',
      PUBLIC_BASE_URL,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    alice = await newUser(system, 'alice');
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.generations, { connection: redis, prefix: system.env.queuePrefix });
  });

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    streams.closeAll();
    await system?.stop();
    await receiver?.close();
    await providers?.close();
  });

  const completed = async (body: Record<string, unknown>): Promise<Generation> => {
    const created = await alice.create({ prompt: 'a lighthouse on a cliff at dawn', width: 320, height: 256, ...body });
    expect(created.provider).toBeNull();
    return alice.waitFor(created.id);
  };

  test.each(HF_PROVIDERS)(
    'when a model is served only by %s, then the generation completes through it',
    async (provider) => {
      const done = await completed({ model: `e2e/only-${provider}` });
      expect(done).toMatchObject({ status: 'completed', provider, image: { width: 320, height: 256 } });
      expect(done.settings.provider).toBeNull();
      expect(done.image_url).toMatch(/^data:image\/(png|jpeg|webp);base64,/);
      const calls = providers.requestsFor(provider as EmulatedProvider);
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((call) => call.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    },
  );

  test('when the first provider of a model answers 500, then the second serves it and the record says so', async () => {
    providers.script('nscale', providerAnswers.serverError(500));
    const done = await completed({ model: 'e2e/failover' });
    expect(done).toMatchObject({ status: 'completed', provider: 'together' });
  });

  test('when a request names a provider, then it is kept in settings and that provider serves it', async () => {
    const done = await completed({ model: 'e2e/failover', provider: 'together' });
    expect(done).toMatchObject({ provider: 'together', settings: { provider: 'together' } });
  });

  test.each([
    ['a model the Hub does not know', { model: 'e2e/unknown' }, 'model'],
    ['a model served for another task only', { model: 'e2e/no-text-to-image' }, 'model'],
    ["the seed's deleted model", { model: 'runwayml/stable-diffusion-v1-5' }, 'model'],
    ['a provider that does not serve the model', { model: 'e2e/only-nscale', provider: 'fal-ai' }, 'provider'],
  ])(
    'when a create names %s, then it is a 422 naming the field, and nothing is queued',
    async (_label, body, field) => {
      const jobs = async () => Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);
      const before = { records: (await alice.list()).items.length, jobs: await jobs() };
      const reply = await alice.request('POST', '/api/generations/', { prompt: 'a cat', ...body });
      expect(reply.status).toBe(422);
      expect(JSON.stringify(reply.body)).toContain(`"field":"${field}"`);
      expect({ records: (await alice.list()).items.length, jobs: await jobs() }).toEqual(before);
    },
  );

  test("when a create names the seed's deleted model, then the 422 says no provider serves it and names the default", async () => {
    const reply = await alice.request('POST', '/api/generations/', {
      prompt: 'A beautiful sunset over mountains',
      model: 'runwayml/stable-diffusion-v1-5',
    });
    expect(reply.status).toBe(422);
    expect(JSON.stringify(reply.body)).toMatch(/e2e\/only-nscale/);
  });

  test('when a generation completes, then provider is on the record, the webhook payload and the SSE end event', async () => {
    const secret = (await alice.webhookSecret()).secret;
    const created = await alice.create({
      prompt: 'a red fox in the snow',
      model: 'e2e/only-fal-ai',
      webhook_url: `http://127.0.0.1:${receiver.port}/providers`,
    });
    const stream = await streams.open(`${system.api.url}/api/generations/${created.id}/events`, {
      authorization: `Bearer ${alice.token}`,
    });
    await stream.ended();
    const end = stream.events.map((event) => JSON.parse(event.data) as GenerationEvent).at(-1);
    expect(end).toMatchObject({ type: 'status', status: 'completed', generation: { provider: 'fal-ai' } });
    const [delivery] = await receiver.waitFor('/providers', 1);
    const payload = WebhookPayload.parse(
      new Webhook(secret).verify(delivery!.body, delivery!.headers as Record<string, string>),
    );
    expect(payload).toMatchObject({ type: 'generation.completed', data: { provider: 'fal-ai' } });
    expect((await alice.get(created.id)).body).toMatchObject({ data: { provider: 'fal-ai' } });
  });

  test('when a request asks for OpenAI, then OpenAI Images serves it at the nearest size it draws', async () => {
    const done = await completed({ provider: 'openai', model: 'gpt-image-1', width: 1024, height: 768 });
    expect(done).toMatchObject({ status: 'completed', provider: 'openai', settings: { provider: 'openai' } });
    const call = providers.requestsFor('openai').at(-1);
    expect(call?.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(call?.body).toMatchObject({ model: 'gpt-image-1', size: '1536x1024', n: 1 });
    expect(done.image).toMatchObject({ width: 1536, height: 1024 });
  });

  test('when OpenAI answers 429 insufficient_quota, then the generation fails at once saying the quota is spent', async () => {
    providers.script('openai', providerAnswers.openaiQuota());
    const before = providers.requestsFor('openai').length;
    const done = await completed({ provider: 'openai' });
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/out of quota \(429 insufficient_quota\)/);
    expect(providers.requestsFor('openai')).toHaveLength(before + 1);
  });

  test('when GET /api/models is asked, then it lists the default model with its providers, and the OpenAI models', async () => {
    const reply = await alice.request('GET', '/api/models');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      data: {
        items: expect.arrayContaining([
          {
            id: 'e2e/only-nscale',
            default: true,
            providers: [{ provider: 'nscale', provider_id: 'nscale-org/e2e-model', status: 'live' }],
          },
          expect.objectContaining({ id: 'gpt-image-1', providers: [expect.objectContaining({ provider: 'openai' })] }),
        ]),
      },
    });
  });

  test('when pnpm smoke:hf runs against the router, then it prints the provider, the time and the size', async () => {
    const smoke = runScript(require.resolve('../../services/worker/dist/smoke-hf.js'), {
      HF_TOKEN: TOKEN,
      HF_ROUTER_URL: providers.routerUrl,
      HF_HUB_URL: providers.hubUrl,
      HF_POLL_INTERVAL_MS: '20',
      SMOKE_MODEL: 'e2e/only-wavespeed',
    });
    await waitForOutput(smoke, (out) => /smoke:hf: (ok|failed)/.test(out));
    expect(smoke.output()).toMatch(/smoke:hf: ok: provider wavespeed, \d+\.\d s, image\/png 512×512, \d+ bytes/);
  });
});
