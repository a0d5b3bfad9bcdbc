import { memoryMappingCache } from '@imagegen/core';
import { HfEmulator, hf } from '../../../test/support/hf-emulator';
import { ProviderEmulator } from '../../../test/support/provider-emulator';
import { loadWorkerConfig } from '../src/config';
import type { ImageSource } from '../src/images/image-source';
import { imageSourceFor } from '../src/images/image-sources';
import { settingsFor } from './fixtures';

describe('where the worker gets images, by its settings', () => {
  let emulator: ProviderEmulator;
  const sources: ImageSource[] = [];

  beforeAll(async () => {
    emulator = await ProviderEmulator.start();
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.close()));
  });

  afterAll(async () => {
    await emulator?.close();
  });

  function sourceFor(env: Record<string, string>): ImageSource {
    const source = imageSourceFor(
      loadWorkerConfig({ HF_ROUTER_URL: emulator.routerUrl, HF_HUB_URL: emulator.hubUrl, ...env }),
      memoryMappingCache(),
    );
    sources.push(source);
    return source;
  }

  /** The one image `source` draws of `model`, with who drew it. */
  const draw = async (source: ImageSource, model: string, provider: 'openai' | null = null) => {
    const rendered = await source.render(
      { prompt: 'a lighthouse', settings: settingsFor(model, { width: 256, height: 256, provider }) },
      { signal: new AbortController().signal },
    );
    expect(rendered.images).toHaveLength(1);
    return { ...rendered.images[0]!, provider: rendered.provider };
  };

  test('when a worker runs more jobs at once than the old pool of 32 connections, then every one of them has its request at the provider at once', async () => {
    const endpoint = await HfEmulator.start();
    try {
      const model = 'sources/pool';
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      const concurrency = 40;
      endpoint.always(model, hf.pngWhen(released));
      const source = sourceFor({
        HF_TOKEN: 'hf_x',
        HF_BASE_URL: endpoint.baseUrl,
        WORKER_CONCURRENCY: String(concurrency),
      });
      const renders = Array.from({ length: concurrency }, () => draw(source, model));
      // With fewer connections than jobs, the requests past the pool's size wait for one, and this never resolves.
      await endpoint.waitForRequests(model, concurrency);
      release();
      expect(await Promise.all(renders)).toHaveLength(concurrency);
    } finally {
      await endpoint.close();
    }
  });

  test('when there is no token, then the local renderer draws a placeholder', async () => {
    const image = await draw(sourceFor({}), 'a/b');
    expect(image).toMatchObject({ provider: 'local', mime_type: 'image/png', width: 256, height: 256 });
  });

  test('when a token is set, then the model goes to the providers the Hub maps it to', async () => {
    emulator.mapModel('sources/routed', [{ provider: 'together', providerId: 'together-org/routed' }]);
    expect(await draw(sourceFor({ HF_TOKEN: 'hf_x' }), 'sources/routed')).toMatchObject({ provider: 'together' });
  });

  test('when HF_PROVIDER=openai, then every request goes to OpenAI Images with OPENAI_MODEL, even one naming an HF model', async () => {
    const before = emulator.requestsFor('openai').length;
    const source = sourceFor({ HF_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: emulator.openaiUrl });
    expect(source.description).toMatch(/^OpenAI Images at /);
    const image = await draw(source, 'black-forest-labs/FLUX.1-schnell');
    expect(image).toMatchObject({ provider: 'openai', width: 1024, height: 1024 });
    expect(emulator.requestsFor('openai').slice(before)).toHaveLength(1);
    expect(emulator.requestsFor('openai').at(-1)?.body).toMatchObject({ model: 'gpt-image-1' });
  });

  test('when OpenAI is configured beside the router, then only requests asking for openai go there', async () => {
    emulator.mapModel('sources/both', [{ provider: 'nscale', providerId: 'nscale-org/both' }]);
    const source = sourceFor({ HF_TOKEN: 'hf_x', OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: emulator.openaiUrl });
    expect(await draw(source, 'sources/both')).toMatchObject({ provider: 'nscale' });
    expect(await draw(source, 'dall-e-3', 'openai')).toMatchObject({ provider: 'openai' });
    expect(emulator.requestsFor('openai').at(-1)?.body).toMatchObject({
      model: 'dall-e-3',
      response_format: 'b64_json',
    });
  });
});
