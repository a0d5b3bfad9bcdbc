import { ConfigError, DEFAULT_HF_HUB_URL, DEFAULT_HF_ROUTER_URL } from '@imagegen/shared';
import { loadWorkerConfig } from '../src/config';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadWorkerConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadWorkerConfig to throw');
}

describe('loadWorkerConfig', () => {
  test('when the environment is empty, then every setting has its default and there is no token', () => {
    const config = loadWorkerConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      HF_ROUTER_URL: DEFAULT_HF_ROUTER_URL,
      HF_HUB_URL: DEFAULT_HF_HUB_URL,
      HF_PROVIDER: { kind: 'auto' },
      backend: 'local',
      HF_TIMEOUT_MS: 120_000,
      HF_BACKOFF_BASE_MS: 1_000,
      HF_BACKOFF_MAX_MS: 60_000,
      HF_MAX_WAIT_MS: 600_000,
      HF_MAX_IMAGE_BYTES: 20 * 1024 * 1024,
      WORKER_CONCURRENCY: 4,
      WORKER_LOCK_MS: 30_000,
      WORKER_STALLED_INTERVAL_MS: 30_000,
      WORKER_HEALTH_PORT: 8001,
    });
    expect(config.HF_TOKEN).toBeUndefined();
    // The model comes from each record (the API's HF_MODEL), so the worker has no setting for it.
    expect(config).not.toHaveProperty('HF_MODEL');
    // Inference Providers through the router, unless a dedicated endpoint is named.
    expect(config.HF_BASE_URL).toBeUndefined();
    expect(config.HF_ROUTER_URL).toBe('https://router.huggingface.co');
  });

  test('when numbers are given as strings, then they are read as numbers', () => {
    const config = loadWorkerConfig({ WORKER_CONCURRENCY: '12', HF_TIMEOUT_MS: '5000', WORKER_HEALTH_PORT: '0' });
    expect(config).toMatchObject({ WORKER_CONCURRENCY: 12, HF_TIMEOUT_MS: 5_000, WORKER_HEALTH_PORT: 0 });
  });

  test('when only HUGGIN_API_KEY (the seed’s name) is set, then it is the token', () => {
    const config = loadWorkerConfig({ HUGGIN_API_KEY: 'hf_seed' });
    expect(config.HF_TOKEN).toBe('hf_seed');
    expect(config).not.toHaveProperty('HUGGIN_API_KEY');
  });

  test('when both HF_TOKEN and HUGGIN_API_KEY are set, then HF_TOKEN wins', () => {
    expect(loadWorkerConfig({ HF_TOKEN: 'hf_new', HUGGIN_API_KEY: 'hf_seed' }).HF_TOKEN).toBe('hf_new');
  });

  test('when HF_TOKEN is empty (as compose files pass it), then HUGGIN_API_KEY is used', () => {
    expect(loadWorkerConfig({ HF_TOKEN: '', HUGGIN_API_KEY: 'hf_seed' }).HF_TOKEN).toBe('hf_seed');
  });

  test('when production has no token, then it throws a ConfigError naming HF_TOKEN', () => {
    const error = configError({ NODE_ENV: 'production' });
    expect(error.message).toMatch(/HF_TOKEN/);
    expect(error.problems).toEqual([expect.stringMatching(/^HF_TOKEN: /)]);
  });

  test('when production has only HUGGIN_API_KEY, then it is accepted', () => {
    expect(loadWorkerConfig({ NODE_ENV: 'production', HUGGIN_API_KEY: 'hf_seed' }).HF_TOKEN).toBe('hf_seed');
  });

  test('when WORKER_CONCURRENCY is not a number, then it throws a ConfigError naming it', () => {
    const error = configError({ WORKER_CONCURRENCY: 'abc' });
    expect(error.problems).toEqual([expect.stringMatching(/^WORKER_CONCURRENCY: /)]);
    expect(error.message).toContain('WORKER_CONCURRENCY');
  });

  test('when several settings are bad, then the ConfigError names every one', () => {
    const error = configError({ HF_TIMEOUT_MS: '-1', HF_BASE_URL: 'ftp://example.com', WORKER_CONCURRENCY: '0' });
    expect(error.message).toContain('HF_TIMEOUT_MS');
    expect(error.message).toContain('HF_BASE_URL');
    expect(error.message).toContain('WORKER_CONCURRENCY');
  });

  test('when a timing is zero, then it throws naming it instead of spinning or timing out at once', () => {
    const zeros = [
      'WORKER_LOCK_MS',
      'WORKER_STALLED_INTERVAL_MS',
      'HF_TIMEOUT_MS',
      'HF_BACKOFF_MAX_MS',
      'HF_BACKOFF_BASE_MS',
    ];
    const error = configError(Object.fromEntries(zeros.map((name) => [name, '0'])));
    expect(error.problems.map((problem) => problem.split(':')[0]).sort()).toEqual([...zeros].sort());
  });

  describe('where images come from', () => {
    test('when a token is set and no HF_BASE_URL, then the backend is the router with the Hub mapping', () => {
      expect(loadWorkerConfig({ HF_TOKEN: 'hf_x' }).backend).toBe('router');
    });

    test('when HF_BASE_URL is set with a token, then the backend is that one endpoint', () => {
      const config = loadWorkerConfig({ HF_TOKEN: 'hf_x', HF_BASE_URL: 'https://x.endpoints.huggingface.cloud/' });
      expect(config).toMatchObject({ backend: 'endpoint', HF_BASE_URL: 'https://x.endpoints.huggingface.cloud' });
    });

    test('when only the seed name HUGGIN_API_KEY is set, then it is the token', () => {
      expect(loadWorkerConfig({ HUGGIN_API_KEY: 'hf_seed' })).toMatchObject({ HF_TOKEN: 'hf_seed', backend: 'router' });
    });

    test('when HF_PROVIDER is an ordered list, then it is kept in that order without repeats', () => {
      expect(loadWorkerConfig({ HF_PROVIDER: 'nscale, together,fal-ai,nscale' }).HF_PROVIDER).toEqual({
        kind: 'list',
        providers: ['nscale', 'together', 'fal-ai'],
      });
    });

    test('when HF_PROVIDER names an unknown provider, then a ConfigError names HF_PROVIDER and the provider', () => {
      const error = configError({ HF_PROVIDER: 'nscale,black-forest-labs' });
      expect(error.problems).toEqual([expect.stringMatching(/^HF_PROVIDER: .*unknown: black-forest-labs/)]);
    });

    test('when HF_PROVIDER is openai without OPENAI_API_KEY, then a ConfigError names OPENAI_API_KEY', () => {
      expect(configError({ HF_PROVIDER: 'openai' }).problems).toEqual([expect.stringMatching(/^OPENAI_API_KEY: /)]);
    });

    test('when HF_PROVIDER is openai with a key, then the backend is OpenAI and needs no HF token in production', () => {
      const config = loadWorkerConfig({ HF_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-x', NODE_ENV: 'production' });
      expect(config).toMatchObject({ backend: 'openai', OPENAI_MODEL: 'gpt-image-1' });
    });
  });
});
