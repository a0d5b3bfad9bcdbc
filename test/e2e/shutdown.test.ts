import { ApiClient } from '../support/api-client';
import { HfEmulator, hf } from '../support/hf-emulator';
import { isolation, type Isolation } from '../support/isolation';
import { exitOf, spawnApi, spawnWorker, type Exit, type SpawnedService } from '../support/services';
import { FAST_HF, newUser } from '../support/system';

/**
 * SIGTERM while a job is running. The worker's stop lets running jobs finish until
 * SHUTDOWN_TIMEOUT_MS − 5 s, then hands them back to the queue; past SHUTDOWN_TIMEOUT_MS the
 * process force-exits with code 1. So exit code 0 means it stopped by itself within its bound.
 */
describe('graceful shutdown of the worker', () => {
  let env: Isolation;
  let emulator: HfEmulator;
  let api: SpawnedService;
  let client: ApiClient;
  const workers: SpawnedService[] = [];

  beforeAll(async () => {
    env = isolation();
    emulator = await HfEmulator.start();
    api = await spawnApi({ ...env.env });
    client = await newUser({ client: () => new ApiClient(api.url) });
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
    await emulator?.close();
    await env?.cleanup();
  });

  async function worker(extra: Record<string, string> = {}): Promise<SpawnedService> {
    // Long HF_TIMEOUT_MS and HF_MAX_WAIT_MS, so that a slow answer is waited for, never timed out and retried.
    const started = await spawnWorker({
      ...env.env,
      ...FAST_HF,
      HF_TIMEOUT_MS: '60000',
      HF_MAX_WAIT_MS: '60000',
      HF_BASE_URL: emulator.baseUrl,
      ...extra,
    });
    workers.push(started);
    return started;
  }

  /** SIGTERM, then the exit; a hard bound (SIGKILL) only so that a hung worker fails the test rather than the run. */
  async function terminate(service: SpawnedService, boundMs: number): Promise<Exit> {
    const exit = exitOf(service.child);
    service.child.kill('SIGTERM');
    const killer = setTimeout(() => service.child.kill('SIGKILL'), boundMs);
    try {
      return await exit;
    } finally {
      clearTimeout(killer);
    }
  }

  test('when the worker gets SIGTERM while HF is still answering, then it finishes the job, exits 0 by itself, and the generation is completed', async () => {
    const model = 'test/slow-drain';
    emulator.script(model, hf.png(1500));
    const running = await worker({ SHUTDOWN_TIMEOUT_MS: '15000' });
    const created = await client.create({ prompt: 'a slow picture', model, width: 256, height: 256 });
    await emulator.waitForRequests(model, 1);

    const exit = await terminate(running, 30_000);

    expect(running.output()).not.toContain('shutdown took too long');
    expect(exit).toEqual({ code: 0, signal: null });
    // Read once, not polled: the record was completed before the process exited.
    const after = await client.get(created.id);
    expect(after.body).toMatchObject({
      data: { status: 'completed', error: null, attempts: 1, image: { width: 256, height: 256 } },
    });
    expect(emulator.requestsFor(model)).toHaveLength(1);
  });

  test('when the worker gets SIGTERM with a shutdown bound too short to finish, then it hands the job back, exits 0, and a second worker completes it', async () => {
    const model = 'test/slow-release';
    emulator.script(model, hf.png(20_000));
    // SHUTDOWN_TIMEOUT_MS of 5 s leaves no grace: running jobs are cancelled at once and released.
    const first = await worker({ SHUTDOWN_TIMEOUT_MS: '5000' });
    const created = await client.create({ prompt: 'a picture handed over', model, width: 256, height: 256 });
    await emulator.waitForRequests(model, 1);

    const exit = await terminate(first, 30_000);

    expect(first.output()).not.toContain('shutdown took too long');
    expect(exit).toEqual({ code: 0, signal: null });
    const released = await client.get(created.id);
    expect(released.body).toMatchObject({ data: { status: 'pending', error: null, attempts: 1, image: null } });

    await worker();
    const done = await client.waitFor(created.id);
    expect(done).toMatchObject({ status: 'completed', error: null, attempts: 2, image: { width: 256, height: 256 } });
    expect(emulator.requestsFor(model)).toHaveLength(2);
  });
});
