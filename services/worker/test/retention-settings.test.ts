import { ConfigError } from '@imagegen/shared';
import { loadWorkerConfig } from '../src/config';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadWorkerConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected loadWorkerConfig to throw');
}

describe('the retention settings of the worker', () => {
  test('when none is set, then everything is kept forever and a pass of 500 runs every 10 minutes', () => {
    const config = loadWorkerConfig({});
    expect(config.RETENTION_IMAGES_DAYS).toBeUndefined();
    expect(config.RETENTION_GENERATIONS_DAYS).toBeUndefined();
    expect(config.RETENTION_WEBHOOK_LOG_DAYS).toBeUndefined();
    expect(config).toMatchObject({ SWEEP_INTERVAL_MS: 600_000, SWEEP_BATCH: 500 });
  });

  test('when they are given as strings, then they are read as numbers, fractions of a day included', () => {
    const config = loadWorkerConfig({
      RETENTION_IMAGES_DAYS: '30',
      RETENTION_GENERATIONS_DAYS: '365',
      RETENTION_WEBHOOK_LOG_DAYS: '0.5',
      SWEEP_INTERVAL_MS: '60000',
      SWEEP_BATCH: '100',
    });
    expect(config).toMatchObject({
      RETENTION_IMAGES_DAYS: 30,
      RETENTION_GENERATIONS_DAYS: 365,
      RETENTION_WEBHOOK_LOG_DAYS: 0.5,
      SWEEP_INTERVAL_MS: 60_000,
      SWEEP_BATCH: 100,
    });
  });

  test('when a limit is empty (as compose files pass it), then it is off', () => {
    expect(loadWorkerConfig({ RETENTION_IMAGES_DAYS: '' }).RETENTION_IMAGES_DAYS).toBeUndefined();
  });

  test.each([
    ['RETENTION_IMAGES_DAYS', '0', /more than 0 days/],
    ['RETENTION_GENERATIONS_DAYS', '-3', /more than 0 days/],
    ['RETENTION_WEBHOOK_LOG_DAYS', 'thirty', /a number of days/],
    ['RETENTION_IMAGES_DAYS', '100000', /at most 36500 days/],
    ['SWEEP_INTERVAL_MS', '0', /.+/],
    ['SWEEP_BATCH', '2.5', /.+/],
    ['SWEEP_BATCH', '0', /.+/],
  ])('when %s is %p, then the config error names it', (name, value, message) => {
    expect(problems({ [name]: value })).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
    expect(problems({ [name]: value })[0]).toMatch(message);
  });
});
