import type { GenerationSettings } from '@imagegen/shared';
import { HfEmulator, hf } from '../../../test/support/hf-emulator';
import { HfFailure } from '../src/hf/hf-answer';
import { HfClient, type HfClientOptions } from '../src/hf/hf-client';
import type { RetryNotice } from '../src/images/image-source';
import { settingsFor } from './fixtures';

const TOKEN = 'hf_test_token';

describe('HfClient against the Hugging Face emulator', () => {
  let emulator: HfEmulator;
  const clients: HfClient[] = [];
  let modelCount = 0;

  beforeAll(async () => {
    emulator = await HfEmulator.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  afterAll(async () => {
    await emulator?.close();
  });

  /** A model of the test's own, so scripts and request counts never mix between tests. */
  function newModel(): string {
    modelCount += 1;
    return `test-org/model-${modelCount}`;
  }

  function client(overrides: Partial<HfClientOptions> = {}): HfClient {
    const created = new HfClient({
      baseUrl: emulator.baseUrl,
      token: TOKEN,
      // Generous, so a loaded machine never turns a slow answer into a retry; the stall test sets its own.
      timeoutMs: 5_000,
      maxWaitMs: 30_000,
      maxImageBytes: 1024 * 1024,
      backoff: { baseMs: 20, maxDelayMs: 200 },
      ...overrides,
    });
    clients.push(created);
    return created;
  }

  const settings = (model: string, overrides: Partial<GenerationSettings> = {}) =>
    settingsFor(model, { width: 32, height: 24, ...overrides });

  /** Renders `model` with a fresh signal, collecting the retry notices. */
  async function render(source: HfClient, model: string, signal = new AbortController().signal) {
    const notices: RetryNotice[] = [];
    const { provider, images } = await source.render(
      { prompt: 'a red fox in the snow', settings: settings(model) },
      { signal, onRetry: (notice) => notices.push(notice) },
    );
    expect(images).toHaveLength(1);
    return { image: { ...images[0]!, provider }, notices };
  }

  /** Expects `render` to reject with an HfFailure, and returns it with the notices seen. */
  async function renderFailure(source: HfClient, model: string, overrides: Partial<GenerationSettings> = {}) {
    const notices: RetryNotice[] = [];
    const error = await source
      .render(
        { prompt: 'a red fox in the snow', settings: settings(model, overrides) },
        { signal: new AbortController().signal, onRetry: (notice) => notices.push(notice) },
      )
      .then(
        () => new Error('expected render to reject'),
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(HfFailure);
    return { failure: error as HfFailure, notices };
  }

  test('when the model answers at once, then it returns the PNG of the asked size after one request', async () => {
    const model = newModel();
    const { image, notices } = await render(client(), model);
    expect(image).toMatchObject({ mime_type: 'image/png', width: 32, height: 24 });
    expect(image.bytes.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(emulator.requestsFor(model)).toHaveLength(1);
    expect(notices).toEqual([]);
  });

  test('when the model is cold twice, then it waits about estimated_time each time and returns the image on the third request', async () => {
    const model = newModel();
    emulator.script(model, hf.coldStart(model, 0.05), hf.coldStart(model, 0.05), hf.png());
    const { image, notices } = await render(client(), model);
    expect(image).toMatchObject({ mime_type: 'image/png', width: 32, height: 24 });
    expect(emulator.requestsFor(model)).toHaveLength(3);
    expect(notices).toHaveLength(2);
    notices.forEach((notice, i) => {
      expect(notice.retry).toBe(i + 1);
      expect(notice.detail).toBe(`model ${model} is loading (about 0.1 s)`);
      // 50 ms ±10 %: the estimate, not the 20 ms exponential base.
      expect(notice.delayMs).toBeGreaterThanOrEqual(45);
      expect(notice.delayMs).toBeLessThanOrEqual(55);
    });
  });

  test('when rate limited with Retry-After: 1, then the wait it announces is at least 1 s and the retry succeeds', async () => {
    const model = newModel();
    emulator.script(model, hf.rateLimited(1), hf.png());
    const { image, notices } = await render(client({ backoff: { baseMs: 20, maxDelayMs: 2_000 } }), model);
    expect(image.mime_type).toBe('image/png');
    expect(emulator.requestsFor(model)).toHaveLength(2);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.detail).toMatch(/^rate limited \(429\): Rate limit reached/);
    expect(notices[0]!.delayMs).toBeGreaterThanOrEqual(1_000);
    expect(notices[0]!.delayMs).toBeLessThanOrEqual(1_100);
  });

  test('when rate limited without Retry-After, then it backs off exponentially and the retry succeeds', async () => {
    const model = newModel();
    emulator.script(model, hf.rateLimited(), hf.png());
    const { notices } = await render(client(), model);
    expect(emulator.requestsFor(model)).toHaveLength(2);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.delayMs).toBeGreaterThanOrEqual(10);
    expect(notices[0]!.delayMs).toBeLessThanOrEqual(20);
  });

  test('when the server errors with 500, then it retries and returns the PNG', async () => {
    const model = newModel();
    emulator.script(model, hf.serverError(500), hf.png());
    const { image, notices } = await render(client(), model);
    expect(image.mime_type).toBe('image/png');
    expect(emulator.requestsFor(model)).toHaveLength(2);
    expect(notices).toEqual([{ retry: 1, delayMs: expect.any(Number), detail: 'Hugging Face error 500: empty body' }]);
  });

  test('when 502 and 504 follow each other, then the exponential backoff grows and the image comes on the third request', async () => {
    const model = newModel();
    emulator.script(model, hf.serverError(502), hf.serverError(504), hf.png());
    const { notices } = await render(client(), model);
    expect(emulator.requestsFor(model)).toHaveLength(3);
    expect(notices.map((n) => n.detail)).toEqual([
      'Hugging Face error 502: empty body',
      'Hugging Face error 504: empty body',
    ]);
    // base 20 ms: retry 1 waits 10–20 ms, retry 2 waits 20–40 ms.
    expect(notices[0]!.delayMs).toBeLessThanOrEqual(20);
    expect(notices[1]!.delayMs).toBeGreaterThanOrEqual(20);
  });

  test('when the connection is reset, then it retries as a network error and returns the PNG', async () => {
    const model = newModel();
    emulator.script(model, hf.reset(), hf.png());
    const { image, notices } = await render(client(), model);
    expect(image.mime_type).toBe('image/png');
    expect(emulator.requestsFor(model)).toHaveLength(2);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.detail).toMatch(/^connection error \(/);
  });

  test('when the body stalls, then the attempt times out and is retried', async () => {
    const model = newModel();
    emulator.script(model, hf.stall(), hf.png());
    const { image, notices } = await render(client({ timeoutMs: 1_000 }), model);
    expect(image.mime_type).toBe('image/png');
    expect(emulator.requestsFor(model)).toHaveLength(2);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.detail).toBe('no complete answer within 1 s');
  });

  test('when the answer is a JPEG, then the image is image/jpeg of the asked size', async () => {
    const model = newModel();
    emulator.script(model, hf.jpeg());
    const { image } = await render(client(), model);
    expect(image).toMatchObject({ mime_type: 'image/jpeg', width: 32, height: 24 });
  });

  test('when a 200 carries an HTML page, then it rejects with an HfFailure after one request', async () => {
    const model = newModel();
    emulator.script(model, hf.htmlPage());
    const { failure, notices } = await renderFailure(client(), model);
    expect(failure.message).toMatch(/answered 200 but not with an image \(text\/html; charset=utf-8\)/);
    expect(emulator.requestsFor(model)).toHaveLength(1);
    expect(notices).toEqual([]);
  });

  test.each([
    ['402 out of credits', () => hf.outOfCredits(), 402, /out of credits/],
    ['404 unknown model', (model: string) => hf.notFound(model), 404, /was not found on Hugging Face/],
    ['410 retired endpoint', () => hf.gone(), 410, /HF_BASE_URL/],
    ['401 bad token', () => hf.badToken(), 401, /HF_TOKEN/],
    ['422 bad input', () => hf.unprocessable(), 422, /could not process the input \(422\)/],
  ])(
    'when the answer is %s, then it rejects with an HfFailure after exactly one request',
    async (_name, step, status, message) => {
      const model = newModel();
      emulator.script(model, step(model));
      const { failure, notices } = await renderFailure(client(), model);
      expect(failure.status).toBe(status);
      expect(failure.message).toMatch(message);
      expect(emulator.requestsFor(model)).toHaveLength(1);
      expect(notices).toEqual([]);
    },
  );

  test('when the model never warms up, then it gives up with "did not produce an image within" after a bounded number of requests', async () => {
    const model = newModel();
    const scripted = 100;
    emulator.script(model, ...Array.from({ length: scripted }, () => hf.coldStart(model, 0.2)));
    const { failure, notices } = await renderFailure(client({ maxWaitMs: 1_500 }), model);
    const requests = emulator.requestsFor(model).length;
    expect(failure.message).toMatch(/^Hugging Face did not produce an image within 1.5 s /);
    expect(failure.message).toContain(`(${requests} attempts); last answer: model ${model} is loading`);
    // Waits of ≥180 ms within 1.5 s, the last leaving as long again for its attempt: at most 8
    // requests, far from the scripted 100.
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(requests).toBeLessThanOrEqual(8);
    expect(notices).toHaveLength(requests - 1);
    expect(notices.reduce((sum, n) => sum + n.delayMs, 0)).toBeLessThanOrEqual(1_500);
  });

  test('when the wait Hugging Face asks for leaves no time for the attempt after it, then it gives up at once instead of waiting', async () => {
    const model = newModel();
    emulator.script(model, hf.coldStart(model, 0.6), hf.coldStart(model, 0.6));
    const patient = client({ maxWaitMs: 1_000, backoff: { baseMs: 20, maxDelayMs: 2_000 } });
    const { failure, notices } = await renderFailure(patient, model);
    expect(emulator.requestsFor(model)).toHaveLength(1);
    expect(notices).toEqual([]);
    expect(failure.message).toBe(
      `Hugging Face did not produce an image within 1 s (1 attempt); last answer: model ${model} is loading (about 0.6 s)`,
    );
  });

  test('when the budget runs out during an attempt, then the failure reports the last answer Hugging Face gave', async () => {
    const model = newModel();
    emulator.script(model, hf.coldStart(model, 0.1), hf.stall());
    // A budget well beyond the first answer and its wait, so that only the stall can use it up.
    const { failure, notices } = await renderFailure(client({ maxWaitMs: 2_000 }), model);
    expect(emulator.requestsFor(model)).toHaveLength(2);
    expect(notices).toHaveLength(1);
    expect(failure.message).toBe(
      `Hugging Face did not produce an image within 2 s (2 attempts); last answer: model ${model} is loading (about 0.1 s)`,
    );
  });

  test('when the answer is larger than maxImageBytes, then it rejects with an HfFailure after one request', async () => {
    const model = newModel();
    const { failure } = await renderFailure(client({ maxImageBytes: 100 }), model);
    expect(failure.message).toBe('Hugging Face answered more than 100 bytes');
    expect(emulator.requestsFor(model)).toHaveLength(1);
  });

  test(
    'when the signal is aborted while waiting for a cold model, then it rejects at once with the abort reason and sends nothing more',
    async () => {
      const model = newModel();
      emulator.script(model, hf.coldStart(model, 300), hf.png());
      const controller = new AbortController();
      const reason = new Error('job cancelled');
      let waiting!: () => void;
      const retryAnnounced = new Promise<void>((resolve) => (waiting = resolve));
      const notices: RetryNotice[] = [];
      const rendering = client({ backoff: { baseMs: 20, maxDelayMs: 600_000 }, maxWaitMs: 3_600_000 }).render(
        { prompt: 'a red fox in the snow', settings: settings(model) },
        {
          signal: controller.signal,
          onRetry: (notice) => {
            notices.push(notice);
            waiting();
          },
        },
      );
      await retryAnnounced;
      controller.abort(reason);
      await expect(rendering).rejects.toBe(reason);
      expect(notices).toHaveLength(1);
      expect(notices[0]!.delayMs).toBeGreaterThanOrEqual(270_000);
      expect(emulator.requestsFor(model)).toHaveLength(1);
    },
    // The announced wait is ~300 s: finishing inside this bound shows the abort cut it short.
    15_000,
  );

  test('when the signal is aborted during a request, then it rejects with the abort reason and does not retry', async () => {
    const model = newModel();
    emulator.script(model, hf.stall(), hf.png());
    const controller = new AbortController();
    const reason = new Error('worker shutting down');
    const notices: RetryNotice[] = [];
    const rendering = client({ timeoutMs: 30_000 }).render(
      { prompt: 'a red fox in the snow', settings: settings(model) },
      { signal: controller.signal, onRetry: (notice) => notices.push(notice) },
    );
    await emulator.waitForRequests(model, 1);
    controller.abort(reason);
    await expect(rendering).rejects.toBe(reason);
    expect(notices).toEqual([]);
    expect(emulator.requestsFor(model)).toHaveLength(1);
  });

  test('when the signal is already aborted, then it rejects with the reason before sending anything', async () => {
    const model = newModel();
    const reason = new Error('already cancelled');
    await expect(
      client().render({ prompt: 'a red fox', settings: settings(model) }, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(emulator.requestsFor(model)).toHaveLength(0);
  });

  test('when every setting is given, then the request carries inputs, all parameters and the Bearer token', async () => {
    const model = newModel();
    await client().render(
      {
        prompt: 'a lighthouse at dusk, watercolor',
        settings: settings(model, {
          width: 48,
          height: 40,
          negative_prompt: 'blurry, text',
          num_inference_steps: 25,
          guidance_scale: 7.5,
          seed: 42,
        }),
      },
      { signal: new AbortController().signal },
    );
    const sent = emulator.requestsFor(model);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.authorization).toBe(`Bearer ${TOKEN}`);
    expect(sent[0]!.body).toEqual({
      inputs: 'a lighthouse at dusk, watercolor',
      parameters: {
        width: 48,
        height: 40,
        negative_prompt: 'blurry, text',
        num_inference_steps: 25,
        guidance_scale: 7.5,
        seed: 42,
      },
    });
  });

  test('when optional settings are null, then the parameters carry only width and height', async () => {
    const model = newModel();
    await render(client(), model);
    expect(emulator.requestsFor(model)[0]!.body).toEqual({
      inputs: 'a red fox in the snow',
      parameters: { width: 32, height: 24 },
    });
  });

  test('when seed is 0, then it is still sent', async () => {
    const model = newModel();
    await client().render(
      { prompt: 'a red fox', settings: settings(model, { seed: 0 }) },
      { signal: new AbortController().signal },
    );
    expect(emulator.requestsFor(model)[0]!.body.parameters).toEqual({ width: 32, height: 24, seed: 0 });
  });

  test('when HF_SCALE_UP_TIMEOUT_S is set, then the endpoint is asked to hold the request while it starts', async () => {
    const model = newModel();
    const { image } = await render(client({ scaleUpTimeoutS: 600 }), model);
    expect(image.provider).toBe('hf-endpoint');
    expect(emulator.requestsFor(model)[0]!.headers['x-scale-up-timeout']).toBe('600');
  });

  test('when no scale-up timeout is set, then no such header is sent', async () => {
    const model = newModel();
    await render(client(), model);
    expect(emulator.requestsFor(model)[0]!.headers['x-scale-up-timeout']).toBeUndefined();
  });

  test.each(['../..', 'a/..', './b'])(
    'when a record names the model id %s, then it fails at once and no request leaves',
    async (model) => {
      const before = emulator.requests.length;
      const { failure } = await renderFailure(client(), model);
      expect(failure.message).toMatch(/is not a Hugging Face model id/);
      expect(emulator.requests).toHaveLength(before);
    },
  );
});
