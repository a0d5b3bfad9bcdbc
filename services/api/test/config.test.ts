import { DEFAULT_HF_MODEL } from '@imagegen/shared';
import { loadApiConfig } from '../src/config';
import { configErrorOf } from './config-error';

describe('loadApiConfig', () => {
  test('when the environment is empty, then the defaults apply', () => {
    const config = loadApiConfig({});
    expect(config).toMatchObject({
      PORT: 8000,
      NODE_ENV: 'development',
      HF_MODEL: DEFAULT_HF_MODEL,
      AUTH_AUTO_REGISTER: true,
    });
    expect(config.HF_ALLOWED_MODELS).toBeUndefined();
  });

  test('when PORT is not a number, then a ConfigError names PORT', () => {
    const error = configErrorOf({ PORT: 'abc' });
    expect(error.problems).toEqual([expect.stringMatching(/^PORT: /)]);
    expect(error.message).toContain('PORT');
  });

  test('when PORT is out of range, then a ConfigError names PORT', () => {
    expect(configErrorOf({ PORT: '70000' }).problems).toEqual([expect.stringMatching(/^PORT: /)]);
  });

  test('when NODE_ENV is production without JWT_SECRET, then a ConfigError names JWT_SECRET', () => {
    expect(configErrorOf({ NODE_ENV: 'production' }).problems).toEqual([expect.stringMatching(/^JWT_SECRET: /)]);
  });

  test('when NODE_ENV is production with a 31-byte JWT_SECRET, then a ConfigError names JWT_SECRET', () => {
    expect(configErrorOf({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(31) }).problems).toEqual([
      expect.stringMatching(/^JWT_SECRET: /),
    ]);
  });

  test('when NODE_ENV is production with a 32-byte JWT_SECRET, then the config loads', () => {
    const config = loadApiConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) });
    expect(config.NODE_ENV).toBe('production');
    expect(config.JWT_SECRET).toBe('s'.repeat(32));
  });

  test('when several variables are wrong, then the ConfigError names each of them', () => {
    const error = configErrorOf({ PORT: 'abc', NODE_ENV: 'production', BODY_LIMIT_BYTES: '10' });
    const named = error.problems.map((problem) => problem.split(':')[0]);
    expect(named).toEqual(expect.arrayContaining(['PORT', 'BODY_LIMIT_BYTES']));
  });

  test('when HF_ALLOWED_MODELS lists models, then it becomes a trimmed list, and a malformed id is refused', () => {
    expect(loadApiConfig({ HF_ALLOWED_MODELS: ' acme/one , acme/two,' }).HF_ALLOWED_MODELS).toEqual([
      'acme/one',
      'acme/two',
    ]);
    expect(configErrorOf({ HF_ALLOWED_MODELS: 'not-a-model-id' }).problems).toEqual([
      expect.stringMatching(/^HF_ALLOWED_MODELS/),
    ]);
  });

  test('when AUTH_AUTO_REGISTER is "false", then auto-registration is off', () => {
    expect(loadApiConfig({ AUTH_AUTO_REGISTER: 'false' }).AUTH_AUTO_REGISTER).toBe(false);
  });
});
