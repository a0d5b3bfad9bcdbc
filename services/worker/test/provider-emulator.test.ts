import { readdirSync } from 'node:fs';
import { imageSize } from 'image-size';
import {
  ProviderEmulator,
  providerAnswers,
  type EmulatedProvider,
  type ProviderStep,
} from '../../../test/support/provider-emulator';
import { markIn } from '../../../test/support/hf-emulator';
import { FIXTURES, loadFixture, type Exchange } from './provider-fixtures';

const TOKEN = 'hf_test_token';
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** The fixture's response body with its placeholders turned into values or matchers. */
function expected(value: unknown, cdnUrl: string): unknown {
  if (value === '<iso-time>') return expect.stringMatching(ISO_TIME);
  if (value === '<unix-seconds>') return expect.any(Number);
  if (value === '<image-base64>') return expect.any(String);
  if (typeof value === 'string') return value.replaceAll('{cdnUrl}', cdnUrl);
  if (Array.isArray(value)) return value.map((v) => expected(v, cdnUrl));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expected(v, cdnUrl)]));
  }
  return value;
}

/** Every base64 image in `value` where the fixture says `<image-base64>`. */
function base64Images(fixture: unknown, value: unknown): Buffer[] {
  if (fixture === '<image-base64>') return [Buffer.from(String(value), 'base64')];
  if (fixture && typeof fixture === 'object' && value && typeof value === 'object') {
    return Object.entries(fixture).flatMap(([k, v]) => base64Images(v, (value as Record<string, unknown>)[k]));
  }
  return [];
}

function expectImage(bytes: Buffer, image: { format: string; width: number; height: number }): void {
  const size = imageSize(bytes);
  expect({ type: size.type, width: size.width, height: size.height }).toEqual({
    type: image.format === 'jpeg' ? 'jpg' : image.format,
    width: image.width,
    height: image.height,
  });
}

function baseUrl(emulator: ProviderEmulator, base: Exchange['request']['base']): string {
  return { router: emulator.routerUrl, openai: emulator.openaiUrl, cdn: emulator.cdnUrl }[base];
}

async function play(emulator: ProviderEmulator, exchange: Exchange): Promise<void> {
  const { request, response } = exchange;
  const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, v.replace('<token>', TOKEN)]));
  const res = await fetch(`${baseUrl(emulator, request.base)}${request.path}`, {
    method: request.method,
    headers,
    ...(request.body !== null && { body: JSON.stringify(request.body) }),
  });
  expect(res.status).toBe(response.status);
  for (const [name, value] of Object.entries(response.headers)) expect(res.headers.get(name)).toBe(value);
  if (response.body === '<image>') {
    expectImage(Buffer.from(await res.arrayBuffer()), response.image!);
    return;
  }
  const body = (await res.json()) as unknown;
  expect(body).toEqual(expected(response.body, emulator.cdnUrl));
  const images = base64Images(response.body, body);
  if (response.image) expect(images).toHaveLength(1);
  for (const bytes of images) expectImage(bytes, response.image!);
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const get = (url: string, method = 'GET') => fetch(url, { method, headers: { authorization: `Bearer ${TOKEN}` } });

describe('ProviderEmulator', () => {
  describe.each(readdirSync(FIXTURES).map((file) => file.replace(/\.json$/, '')))('fixture %s', (name) => {
    const fixture = loadFixture(name);
    let emulator: ProviderEmulator;

    beforeEach(async () => {
      emulator = await ProviderEmulator.start();
    });
    afterEach(async () => {
      await emulator.close();
    });

    it('when a client plays its exchanges, then the emulator answers exactly what it records', async () => {
      expect(fixture.source.length).toBeGreaterThan(20);
      for (const exchange of fixture.exchanges) await play(emulator, exchange);

      const upstream = fixture.exchanges.filter((e) => e.request.base !== 'cdn');
      const prefix = fixture.provider === 'openai' ? '/openai/v1' : '';
      expect(emulator.requestsFor(fixture.provider).map((r) => [r.method, r.path, r.body])).toEqual(
        upstream.map((e) => [e.request.method, `${prefix}${e.request.path}`, e.request.body]),
      );
      expect(emulator.downloads).toHaveLength(fixture.exchanges.length - upstream.length);
      for (const download of emulator.downloads) expect(download.headers.authorization).toBeUndefined();
    });
  });

  describe('on a shared emulator', () => {
    let emulator: ProviderEmulator;

    beforeAll(async () => {
      emulator = await ProviderEmulator.start();
    });
    afterAll(async () => {
      await emulator?.close();
    });

    const hub = (model: string, auth?: string) =>
      fetch(`${emulator.hubUrl}/api/models/${model}?expand[]=inferenceProviderMapping`, {
        headers: auth ? { authorization: auth } : {},
      });

    it('when a model is mapped as an array, then the Hub answers the entries with defaults and records the call', async () => {
      emulator.mapModel('hub-test/array', [
        { provider: 'nscale', providerId: 'hub-test/array-n' },
        { provider: 'fal-ai', providerId: 'fal-ai/x', status: 'staging', task: 'text-to-video' },
      ]);
      const res = await hub('hub-test/array', 'Bearer hf_x');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        _id: expect.any(String),
        id: 'hub-test/array',
        inferenceProviderMapping: [
          {
            provider: 'nscale',
            hfModelId: 'hub-test/array',
            providerId: 'hub-test/array-n',
            status: 'live',
            task: 'text-to-image',
          },
          {
            provider: 'fal-ai',
            hfModelId: 'hub-test/array',
            providerId: 'fal-ai/x',
            status: 'staging',
            task: 'text-to-video',
          },
        ],
      });
      expect(emulator.hubRequests).toContainEqual({ model: 'hub-test/array', authorization: 'Bearer hf_x' });
    });

    it('when a model is mapped as an object, then the Hub answers the legacy shape keyed by provider', async () => {
      emulator.mapModel('hub-test/object', [{ provider: 'together', providerId: 't/x', status: 'error' }], 'object');
      const res = await hub('hub-test/object');
      expect(await res.json()).toEqual({
        _id: expect.any(String),
        id: 'hub-test/object',
        inferenceProviderMapping: { together: { status: 'error', providerId: 't/x', task: 'text-to-image' } },
      });
      expect(emulator.hubRequests).toContainEqual({ model: 'hub-test/object', authorization: undefined });
    });

    it('when a model is not mapped, then the Hub answers 404 RepoNotFound', async () => {
      const res = await hub('hub-test/missing');
      expect(res.status).toBe(404);
      expect(res.headers.get('x-error-code')).toBe('RepoNotFound');
      expect(await res.json()).toEqual({ error: 'Repository not found' });
    });

    it('when the Hub is down, then it answers 503 until it is back', async () => {
      emulator.mapModel('hub-test/down', [{ provider: 'nscale', providerId: 'n' }]);
      emulator.hubDown(true);
      expect((await hub('hub-test/down')).status).toBe(503);
      emulator.hubDown(false);
      expect((await hub('hub-test/down')).status).toBe(200);
    });

    it('when a router request has no bearer token, then it answers 401 and still records it', async () => {
      const before = emulator.requestsFor('nscale').length;
      const res = await fetch(`${emulator.routerUrl}/nscale/v1/images/generations`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'Invalid credentials in Authorization header' });
      expect(emulator.requestsFor('nscale')).toHaveLength(before + 1);

      const openai = await fetch(`${emulator.openaiUrl}/images/generations`, { method: 'POST', body: '{}' });
      expect(openai.status).toBe(401);
      expect(await openai.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    });

    it('when a path is unknown, then the emulator answers 404 JSON', async () => {
      for (const path of ['/nowhere', '/nscale/v2/images', '/fal-ai/fal-ai/flux/requests/nope/status']) {
        const res = await get(`${emulator.routerUrl}${path}`);
        expect(res.status).toBe(404);
        expect(res.headers.get('content-type')).toBe('application/json');
      }
    });

    it('when a submit is scripted to fail, then it answers the scripted status, body and headers', async () => {
      const cases: [EmulatedProvider, ProviderStep, number, unknown, Record<string, string>][] = [
        ['nscale', providerAnswers.noCredits(), 402, { error: expect.stringMatching(/monthly included credits/) }, {}],
        ['nscale', providerAnswers.rateLimited(7), 429, expect.anything(), { 'retry-after': '7' }],
        [
          'together',
          providerAnswers.notSupported('together'),
          400,
          { error: 'Model not supported by provider together' },
          {},
        ],
        [
          'hf-inference',
          providerAnswers.coldStart('m/x', 20),
          503,
          { error: 'Model m/x is currently loading', estimated_time: 20 },
          {},
        ],
        ['fal-ai', providerAnswers.forbidden(), 403, { error: expect.stringMatching(/sufficient permissions/) }, {}],
        ['replicate', providerAnswers.badToken(), 401, { error: 'Invalid credentials in Authorization header' }, {}],
        [
          'openai',
          providerAnswers.openaiQuota(),
          429,
          { error: expect.objectContaining({ code: 'insufficient_quota' }) },
          {},
        ],
        [
          'openai',
          providerAnswers.openaiRateLimited(1500),
          429,
          { error: expect.objectContaining({ code: 'rate_limit_exceeded' }) },
          { 'retry-after-ms': '1500' },
        ],
      ];
      const submits: Record<EmulatedProvider, string> = {
        'hf-inference': `${emulator.routerUrl}/hf-inference/models/m/x`,
        nscale: `${emulator.routerUrl}/nscale/v1/images/generations`,
        together: `${emulator.routerUrl}/together/v1/images/generations`,
        'fal-ai': `${emulator.routerUrl}/fal-ai/fal-ai/flux/schnell?_subdomain=queue`,
        replicate: `${emulator.routerUrl}/replicate/v1/models/o/m/predictions`,
        wavespeed: `${emulator.routerUrl}/wavespeed/api/v3/w/m`,
        'zai-org': `${emulator.routerUrl}/zai-org/api/paas/v4/async/images/generations`,
        openai: `${emulator.openaiUrl}/images/generations`,
      };
      for (const [provider, step, status, body, headers] of cases) {
        emulator.script(provider, step);
        const res = await post(submits[provider], { prompt: 'p', inputs: 'p', model: 'gpt-image-1' });
        expect(res.status).toBe(status);
        expect(await res.json()).toEqual(body);
        for (const [k, v] of Object.entries(headers)) expect(res.headers.get(k)).toBe(v);
      }
      emulator.script('nscale', providerAnswers.serverError(502));
      const empty = await post(submits.nscale, { prompt: 'p' });
      expect([empty.status, await empty.text()]).toEqual([502, '']);
      emulator.script('wavespeed', { kind: 'reset' });
      await expect(post(submits.wavespeed, { prompt: 'p' })).rejects.toThrow();
    });

    it('when a fal job is cancelled while running, then the cancel is recorded and the result says cancelled', async () => {
      emulator.script('fal-ai', { kind: 'ok', until: new Promise(() => {}) });
      const submit = (await (
        await post(`${emulator.routerUrl}/fal-ai/fal-ai/flux/dev?_subdomain=queue`, { prompt: 'p' })
      ).json()) as { request_id: string; cancel_url: string; response_url: string };
      const path = (u: string) => `${emulator.routerUrl}/fal-ai${new URL(u).pathname}?_subdomain=queue`;
      expect(submit.cancel_url).toBe(`https://queue.fal.run/fal-ai/flux/requests/${submit.request_id}/cancel`);
      for (let i = 0; i < 3; i++) expect((await get(path(`${submit.response_url}/status`))).status).toBe(202);

      const cancel = await get(path(submit.cancel_url), 'PUT');
      expect([cancel.status, await cancel.json()]).toEqual([202, { status: 'CANCELLATION_REQUESTED' }]);
      expect(emulator.cancels).toContainEqual({ provider: 'fal-ai', id: submit.request_id });
      expect(await (await get(path(`${submit.response_url}/status`))).json()).toMatchObject({ status: 'COMPLETED' });
      const result = await get(path(submit.response_url));
      expect(result.status).toBe(499);
      expect(result.headers.get('x-fal-error-type')).toBe('client_cancelled');
      const again = await get(path(submit.cancel_url), 'PUT');
      expect([again.status, await again.json()]).toEqual([400, { status: 'ALREADY_COMPLETED' }]);
    });

    it('when async jobs are scripted to fail, then each provider reports the reason its own way', async () => {
      for (const provider of ['fal-ai', 'replicate', 'wavespeed', 'zai-org'] as const) {
        emulator.script(provider, { kind: 'job-fails', polls: 0, error: 'NSFW content detected' });
      }
      const fal = (await (
        await post(`${emulator.routerUrl}/fal-ai/fal-ai/flux/schnell?_subdomain=queue`, { prompt: 'p' })
      ).json()) as { response_url: string };
      const falPath = `${emulator.routerUrl}/fal-ai${new URL(fal.response_url).pathname}?_subdomain=queue`;
      expect(await (await get(falPath.replace('?', '/status?'))).json()).toMatchObject({
        status: 'COMPLETED',
        error: 'NSFW content detected',
      });
      const falResult = await get(falPath);
      expect([falResult.status, falResult.headers.get('x-fal-error-type'), await falResult.json()]).toEqual([
        500,
        'runner_server_error',
        { detail: 'NSFW content detected', error_type: 'runner_server_error' },
      ]);

      const rep = await post(
        `${emulator.routerUrl}/replicate/v1/models/o/m/predictions`,
        { input: {} },
        { prefer: 'wait' },
      );
      expect(await rep.json()).toMatchObject({ status: 'failed', error: 'NSFW content detected', output: null });

      const ws = (await (await post(`${emulator.routerUrl}/wavespeed/api/v3/w/m`, { prompt: 'p' })).json()) as {
        data: { urls: { get: string } };
      };
      const wsPoll = await get(`${emulator.routerUrl}/wavespeed${new URL(ws.data.urls.get).pathname}`);
      expect(await wsPoll.json()).toMatchObject({ data: { status: 'failed', error: 'NSFW content detected' } });

      const zai = (await (
        await post(`${emulator.routerUrl}/zai-org/api/paas/v4/async/images/generations`, { model: 'glm-image' })
      ).json()) as { id: string };
      const zaiPoll = await get(`${emulator.routerUrl}/zai-org/api/paas/v4/async-result/${zai.id}`);
      expect(await zaiPoll.json()).toMatchObject({ task_status: 'FAIL', error: { message: 'NSFW content detected' } });
    });

    it('when replicate is scripted with polls, then it answers starting, processing, then succeeded; a cancel is recorded', async () => {
      emulator.script('replicate', { kind: 'ok', polls: 2, replicateOutput: 'string' }, { kind: 'ok', polls: 5 });
      const url = `${emulator.routerUrl}/replicate/v1/models/o/m/predictions`;
      const first = (await (await post(url, { input: { aspect_ratio: '1:1' } }, { prefer: 'wait' })).json()) as {
        id: string;
        status: string;
        output: unknown;
        urls: { get: string; cancel: string };
      };
      expect([first.status, first.output]).toEqual(['starting', null]);
      const poll = () =>
        get(`${emulator.routerUrl}/replicate${new URL(first.urls.get).pathname}`).then((r) => r.json());
      expect(await poll()).toMatchObject({ status: 'processing', output: null });
      expect(await poll()).toMatchObject({ status: 'processing' });
      const done = (await poll()) as { status: string; output: string };
      expect(done.status).toBe('succeeded');
      const image = await fetch(done.output);
      expectImage(Buffer.from(await image.arrayBuffer()), { format: 'png', width: 1024, height: 1024 });

      const second = (await (await post(url, { input: {} })).json()) as { id: string; urls: { cancel: string } };
      const cancel = await post(`${emulator.routerUrl}/replicate${new URL(second.urls.cancel).pathname}`, {});
      expect(await cancel.json()).toMatchObject({ id: second.id, status: 'canceled' });
      expect(emulator.cancels).toContainEqual({ provider: 'replicate', id: second.id });
    });

    it('when a sync answer waits on `until`, then it comes only once that settles', async () => {
      let release!: () => void;
      emulator.script('hf-inference', { kind: 'ok', format: 'jpeg', until: new Promise<void>((r) => (release = r)) });
      const before = emulator.requestsFor('hf-inference').length;
      let answered = false;
      const pending = post(`${emulator.routerUrl}/hf-inference/models/o/m`, {
        inputs: 'p',
        parameters: { width: 64, height: 48 },
      }).then((res) => {
        answered = true;
        return res;
      });
      await emulator.waitForRequests('hf-inference', before + 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(answered).toBe(false);
      release();
      const res = await pending;
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      expectImage(Buffer.from(await res.arrayBuffer()), { format: 'jpeg', width: 64, height: 48 });
    });

    it('when webp or a huge image is scripted, then the image bytes are a webp of the size or exactly that long', async () => {
      emulator.script('nscale', { kind: 'ok', format: 'webp' }, { kind: 'huge-image', bytes: 3_000_000 });
      const url = `${emulator.routerUrl}/nscale/v1/images/generations`;
      const webp = (await (await post(url, { prompt: 'p', size: '300x200' })).json()) as {
        data: { b64_json: string }[];
      };
      expectImage(Buffer.from(webp.data[0]!.b64_json, 'base64'), { format: 'webp', width: 300, height: 200 });
      const huge = (await (await post(url, { prompt: 'p', size: '300x200' })).json()) as {
        data: { b64_json: string }[];
      };
      const bytes = Buffer.from(huge.data[0]!.b64_json, 'base64');
      expect(bytes).toHaveLength(3_000_000);
      expectImage(bytes, { format: 'png', width: 300, height: 200 });

      emulator.script('wavespeed', { kind: 'huge-image', bytes: 2_000_000 });
      const ws = (await (await post(`${emulator.routerUrl}/wavespeed/api/v3/w/m`, { size: '64*64' })).json()) as {
        data: { urls: { get: string } };
      };
      const poll = () =>
        get(`${emulator.routerUrl}/wavespeed${new URL(ws.data.urls.get).pathname}`).then(
          (r) => r.json() as Promise<{ data: { outputs: string[] } }>,
        );
      await poll();
      const done = await poll();
      expect(Buffer.from(await (await fetch(done.data.outputs[0]!)).arrayBuffer())).toHaveLength(2_000_000);
    });

    it('when dall-e-3 or together are asked for a URL, then the image is on the CDN, fetched without authorization', async () => {
      const dalle = (await (
        await post(`${emulator.openaiUrl}/images/generations`, { model: 'dall-e-3', prompt: 'p', size: '1024x1792' })
      ).json()) as { data: { url: string; revised_prompt: string }[] };
      expect(dalle.data[0]!.url.startsWith(emulator.cdnUrl)).toBe(true);
      expect(dalle.data[0]!.revised_prompt).toBe('p');
      const together = (await (
        await post(`${emulator.routerUrl}/together/v1/images/generations`, {
          model: 't',
          prompt: 'p',
          width: 32,
          height: 32,
          response_format: 'url',
        })
      ).json()) as { data: { url: string }[] };
      const downloaded = emulator.downloads.length;
      const image = await fetch(together.data[0]!.url);
      expectImage(Buffer.from(await image.arrayBuffer()), { format: 'png', width: 32, height: 32 });
      expect(emulator.downloads[downloaded]).toMatchObject({ path: new URL(together.data[0]!.url).pathname });
      expect(emulator.downloads[downloaded]!.headers.authorization).toBeUndefined();
    });
  });

  describe('several images per request', () => {
    let emulator: ProviderEmulator;

    beforeAll(async () => {
      emulator = await ProviderEmulator.start();
    });
    afterAll(async () => {
      await emulator?.close();
    });

    const json = async <T>(answer: Promise<Response>) => (await (await answer).json()) as T;
    const bytesAt = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());

    it('when fal-ai is asked for num_images 3, then its result lists 3 distinct images, marked by the seed', async () => {
      const submit = await json<{ response_url: string }>(
        post(`${emulator.routerUrl}/fal-ai/fal-ai/flux/schnell?_subdomain=queue`, {
          prompt: 'p',
          image_size: { width: 32, height: 32 },
          num_images: 3,
          seed: 10,
        }),
      );
      const path = new URL(submit.response_url).pathname;
      // One poll in progress, then the one that says done.
      for (let poll = 0; poll < 2; poll++) await get(`${emulator.routerUrl}/fal-ai${path}/status?_subdomain=queue`);
      const result = await json<{ images: { url: string }[]; has_nsfw_concepts: boolean[] }>(
        get(`${emulator.routerUrl}/fal-ai${path}?_subdomain=queue`),
      );
      expect(result.has_nsfw_concepts).toEqual([false, false, false]);
      const images = await Promise.all(result.images.map((image) => bytesAt(image.url)));
      expect(images.map(markIn)).toEqual([10, 11, 12]);
    });

    it('when together and OpenAI are asked for n 2, then data has 2 images; nscale, which takes no count, answers one', async () => {
      const together = await json<{ data: { b64_json: string }[] }>(
        post(`${emulator.routerUrl}/together/v1/images/generations`, { prompt: 'p', width: 32, height: 32, n: 2 }),
      );
      expect(together.data.map((d) => markIn(Buffer.from(d.b64_json, 'base64')))).toEqual([undefined, 1]);
      const openai = await json<{ data: unknown[] }>(
        post(`${emulator.openaiUrl}/images/generations`, { model: 'dall-e-3', prompt: 'p', n: 2 }),
      );
      expect(openai.data).toHaveLength(2);
      const nscale = await json<{ data: unknown[] }>(
        post(`${emulator.routerUrl}/nscale/v1/images/generations`, { prompt: 'p', size: '32x32', n: 2 }),
      );
      expect(nscale.data).toHaveLength(1);
    });

    it('when a step is scripted for a seed, then only the submit with that seed gets it, whatever the order', async () => {
      emulator.scriptSeed('hf-inference', 7, providerAnswers.unprocessable());
      const send = (seed: number) =>
        post(`${emulator.routerUrl}/hf-inference/models/o/m`, {
          inputs: 'p',
          parameters: { width: 16, height: 16, seed },
        });
      const statuses = await Promise.all([6, 7, 8].map(async (seed) => (await send(seed)).status));
      expect(statuses).toEqual([200, 422, 200]);
      const again = await send(7);
      expect(markIn(Buffer.from(await again.arrayBuffer()))).toBe(7);
    });

    it('when a client gives up on a held answer, then its request is recorded as aborted', async () => {
      emulator.scriptSeed('nscale', 99, { kind: 'ok', until: new Promise(() => undefined) });
      const before = emulator.requestsFor('nscale').length;
      const abort = new AbortController();
      const sent = fetch(`${emulator.routerUrl}/nscale/v1/images/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'p', seed: 99 }),
        signal: abort.signal,
      }).catch(() => 'aborted');
      await emulator.waitForRequests('nscale', before + 1);
      abort.abort();
      expect(await sent).toBe('aborted');
      await emulator.waitForAborts('nscale', 1);
      expect(
        emulator
          .requestsFor('nscale')
          .filter((r) => r.aborted)
          .map((r) => r.body),
      ).toEqual([{ prompt: 'p', seed: 99 }]);
    });
  });

  it('when the emulator closes with answers held, then the waiting clients fail at once', async () => {
    const emulator = await ProviderEmulator.start();
    emulator.script('together', { kind: 'ok', until: new Promise(() => {}) }, { kind: 'ok', delayMs: 60_000 });
    const outcome = (answer: Promise<Response>) =>
      answer.then(
        () => 'answered',
        () => 'failed',
      );
    const held = outcome(post(`${emulator.routerUrl}/together/v1/images/generations`, { prompt: 'p' }));
    const delayed = outcome(post(`${emulator.routerUrl}/together/v1/images/generations`, { prompt: 'p' }));
    await emulator.waitForRequests('together', 2);
    const started = Date.now();
    await emulator.close();
    expect([await held, await delayed]).toEqual(['failed', 'failed']);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
