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

  describe('providers', () => {
    test('when HF_PROVIDER is unset or "auto", then it is auto, and the backend follows the token and HF_BASE_URL', () => {
      expect(loadApiConfig({})).toMatchObject({ HF_PROVIDER: { kind: 'auto' }, backend: 'local' });
      expect(loadApiConfig({ HF_PROVIDER: ' auto ', HF_TOKEN: 'hf_x' })).toMatchObject({
        HF_PROVIDER: { kind: 'auto' },
        backend: 'router',
      });
      expect(loadApiConfig({ HF_TOKEN: 'hf_x', HF_BASE_URL: 'https://endpoint.example/' })).toMatchObject({
        backend: 'endpoint',
        HF_BASE_URL: 'https://endpoint.example',
      });
    });

    test("when only the seed's HUGGIN_API_KEY is set, then it is the token", () => {
      const config = loadApiConfig({ HUGGIN_API_KEY: 'hf_seed' });
      expect(config).toMatchObject({ HF_TOKEN: 'hf_seed', backend: 'router' });
      expect(config).not.toHaveProperty('HUGGIN_API_KEY');
    });

    test('when HF_PROVIDER lists providers, then they are kept in that order without repeats', () => {
      expect(loadApiConfig({ HF_PROVIDER: 'nscale, together,fal-ai,nscale' }).HF_PROVIDER).toEqual({
        kind: 'list',
        providers: ['nscale', 'together', 'fal-ai'],
      });
    });

    test('when HF_PROVIDER lists an unknown provider, then a ConfigError names HF_PROVIDER and the unknown name', () => {
      const error = configErrorOf({ HF_PROVIDER: 'nscale,nebius' });
      expect(error.problems).toEqual([expect.stringMatching(/^HF_PROVIDER: .*unknown: nebius/)]);
    });

    test('when HF_PROVIDER is "openai" without OPENAI_API_KEY, then a ConfigError names OPENAI_API_KEY', () => {
      expect(configErrorOf({ HF_PROVIDER: 'openai', HF_TOKEN: 'hf_x' }).problems).toEqual([
        expect.stringMatching(/^OPENAI_API_KEY: /),
      ]);
    });

    test('when HF_PROVIDER is "openai" with OPENAI_API_KEY, then the backend is openai whatever the token', () => {
      expect(loadApiConfig({ HF_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-x', HF_TOKEN: 'hf_x' })).toMatchObject({
        HF_PROVIDER: { kind: 'openai' },
        backend: 'openai',
        OPENAI_MODEL: 'gpt-image-1',
      });
    });

    test('when OPENAI_MODEL is not an OpenAI Images model, then a ConfigError names OPENAI_MODEL', () => {
      expect(configErrorOf({ OPENAI_MODEL: 'dall-e-2' }).problems).toEqual([expect.stringMatching(/^OPENAI_MODEL: /)]);
    });

    test('when HF_MODEL or HF_ALLOWED_MODELS names an OpenAI model, then a ConfigError names the variable', () => {
      expect(configErrorOf({ HF_MODEL: 'gpt-image-1' }).problems).toEqual([expect.stringMatching(/^HF_MODEL: /)]);
      expect(configErrorOf({ HF_ALLOWED_MODELS: 'acme/one,dall-e-3' }).problems).toEqual([
        expect.stringMatching(/^HF_ALLOWED_MODELS: /),
      ]);
    });

    test('when HF_MAPPING_TTL_MS and the Hub URL are set, then they are read (a trailing slash dropped)', () => {
      expect(loadApiConfig({ HF_MAPPING_TTL_MS: '5000', HF_HUB_URL: 'http://127.0.0.1:9/hub/' })).toMatchObject({
        HF_MAPPING_TTL_MS: 5000,
        HF_HUB_URL: 'http://127.0.0.1:9/hub',
      });
    });
  });

  test('when AUTH_AUTO_REGISTER is "false", then auto-registration is off', () => {
    expect(loadApiConfig({ AUTH_AUTO_REGISTER: 'false' }).AUTH_AUTO_REGISTER).toBe(false);
  });
});
