import type { ApiClient } from '../support/api-client';
import { hf, type Step } from '../support/hf-emulator';
import { logRecords, waitForOutput } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';

/**
 * What the worker makes of each kind of answer Hugging Face gives (see
 * shared/reference/huggingface-api.md): transient answers are retried within HF_MAX_WAIT_MS,
 * permanent ones fail the generation at once with a message that says why.
 */
describe('answers from Hugging Face', () => {
  let system: System;
  let client: ApiClient;

  beforeAll(async () => {
    system = await startSystem({
      // Info level, to read the worker's retry notices; a max delay above 1 s, so Retry-After: 1 is honoured whole.
      workerEnv: { LOG_LEVEL: 'info', HF_BACKOFF_MAX_MS: '1500', HF_MAX_WAIT_MS: '3000' },
    });
    client = await newUser(system);
  });

  afterAll(async () => {
    await system?.stop();
  });

  /** Creates a generation for `model` (after scripting it) and polls until it is finished. */
  async function generate(model: string, ...steps: Step[]) {
    system.emulator.script(model, ...steps);
    const created = await client.create({ prompt: `a test of ${model}`, model, width: 256, height: 256 });
    return client.waitFor(created.id);
  }

  /** The worker's "waiting before retrying Hugging Face" notices for one generation. */
  async function retryNotices(generationId: string, count: number) {
    const notices = () =>
      logRecords(system.worker.output()).filter(
        (r) => r.generationId === generationId && r.msg === 'waiting before retrying Hugging Face',
      );
    await waitForOutput({ child: system.worker.child, output: system.worker.output }, () => notices().length >= count);
    return notices() as Array<{ retry: number; delayMs: number; detail: string }>;
  }

  test('when the model answers 503 loading twice and then an image, then the generation completes after exactly 3 requests', async () => {
    const model = 'test/cold-start';
    const done = await generate(model, hf.coldStart(model, 0.05), hf.coldStart(model, 0.05));

    expect(done).toMatchObject({
      status: 'completed',
      error: null,
      image: { mime_type: 'image/png', width: 256, height: 256 },
    });
    expect(system.emulator.requestsFor(model)).toHaveLength(3);
    const notices = await retryNotices(done.id, 2);
    // It waits about `estimated_time` (50 ms, ±10 % jitter), not a fixed or exponential delay.
    for (const notice of notices) {
      expect(notice.detail).toContain(`model ${model} is loading`);
      expect(notice.delayMs).toBeGreaterThanOrEqual(45);
      expect(notice.delayMs).toBeLessThanOrEqual(55);
    }
  });

  test('when the model answers 429 with Retry-After and then an image, then the generation completes after waiting at least Retry-After', async () => {
    const model = 'test/rate-limited';
    const done = await generate(model, hf.rateLimited(1));

    expect(done.status).toBe('completed');
    expect(system.emulator.requestsFor(model)).toHaveLength(2);
    const [notice] = await retryNotices(done.id, 1);
    expect(notice?.detail).toContain('429');
    expect(notice?.delayMs).toBeGreaterThanOrEqual(1000);
  });

  test.each([
    [
      '404 (the model does not exist)',
      'test/no-such-model',
      hf.notFound('test/no-such-model'),
      [/test\/no-such-model/, /not found/i],
    ],
    ['402 (out of credits)', 'test/no-credits', hf.outOfCredits(), [/credits/i, /402/]],
    ['410 (the retired API)', 'test/gone', hf.gone(), [/HF_BASE_URL/, /configuration/i, /410/]],
    ['401 (a bad token)', 'test/bad-token', hf.badToken(), [/HF_TOKEN/, /configuration/i, /401/]],
  ] as const)(
    'when the model answers %s, then the generation fails at once with a message that says why, after ONE request',
    async (_what, model, step, patterns) => {
      const done = await generate(model, step);

      expect(done.status).toBe('failed');
      expect(done.image_url).toBeNull();
      for (const pattern of patterns) expect(done.error).toMatch(pattern);
      expect(system.emulator.requestsFor(model)).toHaveLength(1);
    },
  );

  test('when the model answers 200 with an HTML error page, then the generation fails saying the answer is not an image', async () => {
    const model = 'test/html-page';
    const done = await generate(model, hf.htmlPage());

    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/not (with )?an image/i);
    expect(done.image_url).toBeNull();
    expect(system.emulator.requestsFor(model)).toHaveLength(1);
  });

  test('when the model answers 503 loading forever, then the generation fails after HF_MAX_WAIT_MS with a message that says the model was loading', async () => {
    const model = 'test/never-warm';
    system.emulator.always(model, hf.coldStart(model, 0.5));
    const done = await generate(model);

    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/did not produce an image/i);
    expect(done.error).toMatch(new RegExp(`last answer: model ${model} is loading`));
    expect(system.emulator.requestsFor(model).length).toBeGreaterThan(1);
  });
});
