import {
  MappingUnavailable,
  ProviderMappings,
  createRedis,
  type RedisClient,
  planProviders,
  readMapping,
  redisMappingCache,
} from '@imagegen/core';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { ProviderEmulator } from '../../../test/support/provider-emulator';

describe('the Hub model → provider mapping', () => {
  describe('reading one answer', () => {
    test('when the Hub answers an array, then only live text-to-image entries of providers we speak are kept, in order', () => {
      const mapped = readMapping({
        inferenceProviderMapping: [
          { provider: 'together', providerId: 't/flux', status: 'live', task: 'text-to-image' },
          { provider: 'fal-ai', providerId: 'fal-ai/flux', status: 'error', task: 'text-to-image' },
          { provider: 'nscale', providerId: 'n/flux', status: 'live', task: 'text-generation' },
          { provider: 'black-forest-labs', providerId: 'bfl/flux', status: 'live', task: 'text-to-image' },
          { provider: 'replicate', providerId: 'r/flux', status: 'staging', task: 'text-to-image' },
          { provider: 'nscale', providerId: 'n/flux-2', status: 'live', task: 'text-to-image' },
        ],
      });
      expect(mapped).toEqual([
        { provider: 'together', providerId: 't/flux', status: 'live' },
        { provider: 'nscale', providerId: 'n/flux-2', status: 'live' },
      ]);
    });

    test('when the Hub answers an object keyed by provider, then it is read as the array is', () => {
      const mapped = readMapping({
        inferenceProviderMapping: {
          'fal-ai': { providerId: 'fal-ai/flux/schnell', status: 'live', task: 'text-to-image' },
          'hf-inference': { providerId: 'bfl/FLUX.1-schnell', status: 'live', task: 'text-to-image' },
        },
      });
      expect(mapped).toEqual([
        { provider: 'fal-ai', providerId: 'fal-ai/flux/schnell', status: 'live' },
        { provider: 'hf-inference', providerId: 'bfl/FLUX.1-schnell', status: 'live' },
      ]);
    });

    test('when no provider is live, then the staging ones are used', () => {
      const mapped = readMapping({
        inferenceProviderMapping: [
          { provider: 'wavespeed', providerId: 'w/flux', status: 'staging', task: 'text-to-image' },
          { provider: 'zai-org', providerId: 'z/cog', status: 'error', task: 'text-to-image' },
        ],
      });
      expect(mapped).toEqual([{ provider: 'wavespeed', providerId: 'w/flux', status: 'staging' }]);
    });

    test('when the answer has no mapping or is not an object, then no provider serves the model', () => {
      expect(readMapping({ id: 'a/b' })).toEqual([]);
      expect(readMapping(null)).toEqual([]);
      expect(readMapping({ inferenceProviderMapping: 'nonsense' })).toEqual([]);
    });
  });

  describe('choosing among the providers', () => {
    const mapped = readMapping({
      inferenceProviderMapping: ['together', 'fal-ai', 'nscale'].map((provider) => ({
        provider,
        providerId: `${provider}/m`,
        status: 'live',
        task: 'text-to-image',
      })),
    });
    const names = (list: { provider: string }[]) => list.map((entry) => entry.provider);

    test('when HF_PROVIDER is auto, then the Hub order is kept', () => {
      expect(names(planProviders(mapped, { kind: 'auto' }, null))).toEqual(['together', 'fal-ai', 'nscale']);
    });

    test('when HF_PROVIDER is a list, then only those are taken, in its order', () => {
      const plan = planProviders(mapped, { kind: 'list', providers: ['nscale', 'replicate', 'together'] }, null);
      expect(names(plan)).toEqual(['nscale', 'together']);
    });

    test('when the request names a provider, then only it is taken, and only if HF_PROVIDER allows it', () => {
      expect(names(planProviders(mapped, { kind: 'auto' }, 'fal-ai'))).toEqual(['fal-ai']);
      expect(planProviders(mapped, { kind: 'list', providers: ['nscale'] }, 'fal-ai')).toEqual([]);
      expect(planProviders(mapped, { kind: 'auto' }, 'replicate')).toEqual([]);
    });
  });

  describe('fetched from a real Hub server and cached in real Redis', () => {
    let emulator: ProviderEmulator;
    let env: Isolation;
    let redis: RedisClient;
    let models = 0;
    const newModel = () => `test-org/mapped-${++models}`;
    const mappings = (ttlMs = 60_000, token: string | undefined = 'hf_hub_token') =>
      new ProviderMappings(redisMappingCache(redis, env.queuePrefix), { hubUrl: emulator.hubUrl, token, ttlMs });

    beforeAll(async () => {
      emulator = await ProviderEmulator.start();
      env = isolation();
      redis = createRedis({ mode: 'standalone', url: env.redisUrl }, 'blocking');
    });

    afterAll(async () => {
      redis?.disconnect();
      await env?.cleanup();
      await emulator?.close();
    });

    const hubCalls = (model: string) => emulator.hubRequests.filter((r) => r.model === model);

    test('when a model is asked for, then the Hub is asked with the token and the live providers come back', async () => {
      const model = newModel();
      emulator.mapModel(model, [
        { provider: 'nscale', providerId: 'n/m', status: 'live' },
        { provider: 'fal-ai', providerId: 'f/m', status: 'error' },
      ]);
      expect(await mappings().of(model)).toEqual({
        known: true,
        providers: [{ provider: 'nscale', providerId: 'n/m', status: 'live' }],
      });
      expect(hubCalls(model)).toEqual([{ model, authorization: 'Bearer hf_hub_token' }]);
    });

    test('when the Hub answers the object shape, then the providers are the same', async () => {
      const model = newModel();
      emulator.mapModel(model, [{ provider: 'together', providerId: 't/m' }], 'object');
      expect(await mappings().of(model)).toEqual({
        known: true,
        providers: [{ provider: 'together', providerId: 't/m', status: 'live' }],
      });
    });

    test('when the mapping is asked for again within the TTL, by another instance too, then the Hub is asked once', async () => {
      const model = newModel();
      emulator.mapModel(model, [{ provider: 'together', providerId: 't/m' }]);
      await mappings().of(model);
      const again = await mappings().of(model);
      await mappings().of(model);
      expect(again).toMatchObject({ known: true });
      expect(hubCalls(model)).toHaveLength(1);
    });

    test('when the TTL has passed, then the Hub is asked again', async () => {
      const model = newModel();
      emulator.mapModel(model, [{ provider: 'together', providerId: 't/m' }]);
      const shortLived = mappings(50);
      await shortLived.of(model);
      // Waits on what it checks: the cache key's own expiry, in Redis.
      const key = `${env.queuePrefix}:hf-mapping:${model}`;
      while ((await redis.exists(key)) === 1) await new Promise((resolve) => setTimeout(resolve, 10));
      await shortLived.of(model);
      expect(hubCalls(model)).toHaveLength(2);
    });

    test('when an entry is forgotten (a provider said it does not serve the model), then the next read asks the Hub again and sees the change', async () => {
      const model = newModel();
      emulator.mapModel(model, [{ provider: 'together', providerId: 't/m' }]);
      const cached = mappings();
      await cached.of(model);
      emulator.mapModel(model, [{ provider: 'fal-ai', providerId: 'f/m' }]);
      expect(await cached.of(model)).toMatchObject({ providers: [{ provider: 'together' }] });
      await cached.forget(model);
      expect(await cached.of(model)).toMatchObject({ providers: [{ provider: 'fal-ai' }] });
      expect(hubCalls(model)).toHaveLength(2);
    });

    test('when the Hub does not know the model, then it is unknown, and that is cached too', async () => {
      const model = newModel();
      expect(await mappings().of(model)).toEqual({ known: false });
      expect(await mappings().of(model)).toEqual({ known: false });
      expect(hubCalls(model)).toHaveLength(1);
    });

    test('when the Hub is down, then MappingUnavailable is thrown and nothing is cached', async () => {
      const model = newModel();
      emulator.mapModel(model, [{ provider: 'together', providerId: 't/m' }]);
      emulator.hubDown(true);
      try {
        await expect(mappings().of(model)).rejects.toBeInstanceOf(MappingUnavailable);
      } finally {
        emulator.hubDown(false);
      }
      expect(await mappings().of(model)).toMatchObject({ known: true });
    });
  });
});
