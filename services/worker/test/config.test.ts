import { ConfigError, DEFAULT_HF_BASE_URL } from '@imagegen/shared';
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
      HF_BASE_URL: DEFAULT_HF_BASE_URL,
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
    expect(config.HF_BASE_URL).toBe('https://router.huggingface.co/hf-inference/models');
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
});
