import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PNG } from 'pngjs';
import type { Generation } from '@imagegen/shared';
import type { ApiClient } from '../support/api-client';
import { hf, makeImage, type Step } from '../support/hf-emulator';
import { logRecords, waitForOutput } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';

/** The worker's bounds for this file: a job retries HF for at most 2.5 s, and one request lasts at most 1 s. */
const MAX_WAIT_MS = 2_500;
const TIMEOUT_MS = 1_000;
/** Slack on top of HF_MAX_WAIT_MS for what is not HF's: queueing, database writes, a busy machine. */
const MARGIN_MS = 2_000;
const SIZE = 256;

/**
 * Hugging Face misbehaving in every way a network peer can: endless cold starts, garbage under a
 * 200, connections cut half-way, bodies that never end, and many of them at once. Whatever HF does,
 * the worker stays up and healthy, ends each bad job within its configured bounds with a message
 * that says why, and keeps serving the well-behaved generations submitted alongside.
 */
describe('HF misbehaving: the worker stays healthy and keeps serving other jobs', () => {
  let system: System;
  let client: ApiClient;
  let health: HealthWatch;

  beforeAll(async () => {
    system = await startSystem({
      workerEnv: {
        // Info level, to read the retry notices.
        LOG_LEVEL: 'info',
        WORKER_CONCURRENCY: '2',
        HF_MAX_WAIT_MS: String(MAX_WAIT_MS),
        HF_TIMEOUT_MS: String(TIMEOUT_MS),
        HF_BACKOFF_BASE_MS: '20',
        HF_BACKOFF_MAX_MS: '300',
      },
    });
  });

  beforeEach(async () => {
    client = await newUser(system, 'faults-hf');
    health = watchHealth(system.worker.url);
  });

  afterEach(async () => {
    await health.stop();
  });

  afterAll(async () => {
    await system?.stop();
  });

  let models = 0;
  /** A model name of its own for each use, so that scripts never leak from one case into another. */
  const modelFor = (what: string) => `test/${what}-${++models}`;

  /** Creates a generation of `model` (after scripting it); resolves with the created record. */
  async function submit(model: string, ...steps: Step[]): Promise<Generation> {
    if (steps.length) system.emulator.script(model, ...steps);
    return client.create({ prompt: `faults: ${model}`, model, width: SIZE, height: SIZE });
  }

  /** A well-behaved generation: its model answers a PNG at once. */
  const submitGood = () => submit(modelFor('good'));

  /** Completed with a PNG of the asked size that the API serves and that decodes whole. */
  async function expectValidImage(done: Generation): Promise<void> {
    expect(done).toMatchObject({
      status: 'completed',
      error: null,
      image: { mime_type: 'image/png', width: SIZE, height: SIZE },
    });
    const image = await client.image(done.id);
    expect(image.status).toBe(200);
    const decoded = PNG.sync.read(image.bytes);
    expect([decoded.width, decoded.height]).toEqual([SIZE, SIZE]);
  }

  /** Failed with a message matching each of `patterns`, without an image. */
  async function expectFailed(done: Generation, ...patterns: RegExp[]): Promise<void> {
    expect(done.status).toBe('failed');
    expect(done.image).toBeNull();
    expect(done.image_url).toBeNull();
    for (const pattern of patterns) expect(done.error).toMatch(pattern);
    expect((await client.image(done.id)).status).toBe(404);
  }

  /** From the record's own timestamps: created (API) to ended (worker) within HF_MAX_WAIT_MS and the margin. */
  function expectEndedWithinBound(done: Generation): void {
    expect(done.completed_at).not.toBeNull();
    const tookMs = Date.parse(done.completed_at!) - Date.parse(done.created_at);
    expect(tookMs).toBeLessThanOrEqual(MAX_WAIT_MS + MARGIN_MS);
  }

  /** The worker's "waiting before retrying Hugging Face" notices for one generation, once `count` arrived. */
  async function retryNotices(
    generationId: string,
    count: number,
  ): Promise<Array<{ retry: number; delayMs: number; detail: string }>> {
    const notices = () =>
      logRecords(system.worker.output()).filter(
        (r) => r.generationId === generationId && r.msg === 'waiting before retrying Hugging Face',
      );
    // The log reaches us through a pipe, possibly after the record's end that the API showed.
    await waitForOutput(system.worker, () => notices().length >= count);
    return notices() as never;
  }

  /** Still running, health answered 200 at every check, and nothing crashed or was logged as an error. */
  async function expectWorkerSound(): Promise<void> {
    const { checks, failures } = await health.stop();
    expect(failures).toEqual([]);
    expect(checks).toBeGreaterThan(0);
    const { child } = system.worker;
    expect({ code: child.exitCode, signal: child.signalCode }).toEqual({ code: null, signal: null });
    const output = system.worker.output();
    expect(output).not.toMatch(/uncaught|unhandled/i);
    const errors = logRecords(output).filter((r) => Number(r.level) >= 50);
    expect(errors).toEqual([]);
  }

  test('when the model answers 503 loading with estimated_time forever, then the generation fails saying so within HF_MAX_WAIT_MS, and a generation beside it completes', async () => {
    const model = modelFor('never-warm');
    system.emulator.always(model, hf.coldStart(model, 0.3));
    const [bad, good] = await Promise.all([submit(model), submitGood()]);

    const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

    await expectFailed(badDone, /did not produce an image within 2\.5 s/, new RegExp(`model ${model} is loading`));
    expectEndedWithinBound(badDone);
    // It did retry, waiting about estimated_time between requests.
    expect(system.emulator.requestsFor(model).length).toBeGreaterThan(1);
    const requests = system.emulator.requestsFor(model).length;
    expect(await retryNotices(bad.id, requests - 1)).toHaveLength(requests - 1);
    await expectValidImage(goodDone);
    await expectWorkerSound();
  });

  /** The first 40 % of a valid PNG, with a Content-Length that matches: only its end shows it was cut. */
  const truncatedPng = () => {
    const whole = makeImage('png', SIZE, SIZE);
    return hf.bytes('image/png', whole.subarray(0, Math.floor(whole.length * 0.4)));
  };

  test('when the model answers 200 with a truncated PNG once, then it is asked again and the generation completes with a whole image', async () => {
    const model = modelFor('truncated-once');
    const [bad, good] = await Promise.all([submit(model, truncatedPng()), submitGood()]);

    const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

    expect(system.emulator.requestsFor(model)).toHaveLength(2);
    await expectValidImage(badDone);
    await expectValidImage(goodDone);
    await expectWorkerSound();
  });

  test('when the model answers 200 with truncated PNGs only, then the generation fails saying so within HF_MAX_WAIT_MS, never completing with a broken image', async () => {
    const model = modelFor('truncated-always');
    system.emulator.always(model, truncatedPng());
    const [bad, good] = await Promise.all([submit(model), submitGood()]);

    const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

    await expectFailed(badDone, /did not produce an image within 2\.5 s/, /cut short/);
    expectEndedWithinBound(badDone);
    await expectValidImage(goodDone);
    await expectWorkerSound();
  });

  test.each<[string, () => Step, RegExp[]]>([
    ['an HTML page', () => hf.htmlPage(), [/not (with )?an image/i, /text\/html/, /Something went wrong/]],
    [
      'random bytes labelled image/png',
      () => hf.bytes('image/png', randomBytes(4096)),
      [/not (with )?an image/i, /image\/png/],
    ],
    [
      'a JSON error body',
      () => hf.bytes('application/json', Buffer.from(JSON.stringify({ error: 'CUDA out of memory' }))),
      [/not (with )?an image/i, /application\/json/, /CUDA out of memory/],
    ],
  ])(
    'when the model answers 200 with %s, then the generation fails with a clear message and no image, and a generation beside it completes',
    async (_what, step, patterns) => {
      const model = modelFor('garbage');
      const [bad, good] = await Promise.all([submit(model, step()), submitGood()]);

      const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

      await expectFailed(badDone, ...patterns);
      // An answer that is complete but wrong is not retried: asking again would get the same.
      expect(system.emulator.requestsFor(model)).toHaveLength(1);
      await expectValidImage(goodDone);
      await expectWorkerSound();
    },
  );

  test('when HF cuts the connection mid-headers and then mid-body and then answers, then the generation is retried and completes, and a generation beside it completes', async () => {
    const model = modelFor('flaky-connection');
    const [bad, good] = await Promise.all([submit(model, hf.cutMidHeaders(), hf.cutMidBody()), submitGood()]);

    const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

    await expectValidImage(badDone);
    expect(badDone.attempts).toBe(1);
    expect(system.emulator.requestsFor(model)).toHaveLength(3);
    const notices = await retryNotices(bad.id, 2);
    expect(notices).toHaveLength(2);
    for (const notice of notices) expect(notice.detail).toMatch(/connection error/);
    await expectValidImage(goodDone);
    await expectWorkerSound();
  });

  test('when HF cuts every connection mid-body, then the generation fails saying so within HF_MAX_WAIT_MS, and a generation beside it completes', async () => {
    const model = modelFor('always-cut');
    system.emulator.always(model, hf.cutMidBody());
    const [bad, good] = await Promise.all([submit(model), submitGood()]);

    const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

    await expectFailed(badDone, /did not produce an image within 2\.5 s/, /connection error/);
    expectEndedWithinBound(badDone);
    expect(system.emulator.requestsFor(model).length).toBeGreaterThan(1);
    await expectValidImage(goodDone);
    await expectWorkerSound();
  });

  test('when HF sends headers and then stalls the body once, then the request is cut at HF_TIMEOUT_MS and retried, and the generation completes', async () => {
    const model = modelFor('stall-once');
    const bad = await submit(model, hf.stall());

    const badDone = await client.waitFor(bad.id);

    await expectValidImage(badDone);
    expect(system.emulator.requestsFor(model)).toHaveLength(2);
    const notices = await retryNotices(bad.id, 1);
    expect(notices).toHaveLength(1);
    expect(notices[0]?.detail).toMatch(/no complete answer within 1 s/);
    await expectWorkerSound();
  });

  test('when HF stalls the body of every answer, then the generation fails within HF_MAX_WAIT_MS, and a generation submitted while it is stalled completes before it ends', async () => {
    const model = modelFor('stall-forever');
    system.emulator.always(model, hf.stall());
    const bad = await submit(model);
    await system.emulator.waitForRequests(model, 1);
    const good = await submitGood();

    const [badDone, goodDone] = await Promise.all([client.waitFor(bad.id), client.waitFor(good.id)]);

    await expectFailed(badDone, /did not produce an image within 2\.5 s/, /no complete answer within/);
    expectEndedWithinBound(badDone);
    await expectValidImage(goodDone);
    // The worker was not stuck on the stalled request: the other job ended first (server timestamps).
    expect(Date.parse(goodDone.completed_at!)).toBeLessThan(Date.parse(badDone.completed_at!));
    await expectWorkerSound();
  });

  test('when six jobs stall at once (more than the worker concurrency), then each fails within its bound, and good jobs queued behind them complete once they end', async () => {
    const model = modelFor('stall-crowd');
    system.emulator.always(model, hf.stall());
    const bad: Generation[] = [];
    for (let i = 0; i < 6; i++) bad.push(await submit(model));
    const good = [await submitGood(), await submitGood()];

    const badDone = await Promise.all(bad.map((g) => client.waitFor(g.id, undefined, 60_000)));
    const goodDone = await Promise.all(good.map((g) => client.waitFor(g.id, undefined, 60_000)));

    for (const done of badDone) {
      await expectFailed(done, /did not produce an image within 2\.5 s/, /no complete answer within/);
      expect(done.started_at).not.toBeNull();
      // Each job's own budget, from when the worker took it (they queue behind each other).
      expect(Date.parse(done.completed_at!) - Date.parse(done.started_at!)).toBeLessThanOrEqual(
        MAX_WAIT_MS + MARGIN_MS,
      );
    }
    for (const done of goodDone) await expectValidImage(done);
    await expectWorkerSound();
  }, 90_000);
});

interface HealthWatch {
  /** Stops watching (idempotent) and says how many checks ran and which failed. */
  stop(): Promise<{ checks: number; failures: string[] }>;
}

/** GETs the worker's health endpoint every 100 ms until stopped, recording every answer other than 200. */
function watchHealth(url: string): HealthWatch {
  const failures: string[] = [];
  let checks = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        const body = await res.text();
        if (res.status !== 200) failures.push(`${new Date().toISOString()}: ${res.status} ${body}`);
      } catch (err) {
        failures.push(`${new Date().toISOString()}: ${(err as Error).message}`);
      }
      checks++;
      await sleep(100);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { checks, failures };
    },
  };
}
