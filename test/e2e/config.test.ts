import { imageSize } from 'image-size';
import { ApiClient } from '../support/api-client';
import { isolation, type Isolation } from '../support/isolation';
import {
  exitOf,
  runService,
  spawnApi,
  spawnWorker,
  waitForOutput,
  type Exit,
  type RunningProcess,
  type SpawnedService,
} from '../support/services';
import { newUser } from '../support/system';

/** Runs a service that is expected to stop by itself; SIGKILL after `boundMs` only so a hang fails the test. */
async function runToExit(
  name: 'api' | 'worker',
  env: Record<string, string>,
  boundMs = 20_000,
): Promise<{ exit: Exit; proc: RunningProcess }> {
  const proc = runService(name, env);
  const killer = setTimeout(() => proc.child.kill('SIGKILL'), boundMs);
  try {
    const exit = await exitOf(proc.child);
    // Let the pipes deliver what the process wrote before it exited.
    await Promise.all(
      [proc.child.stdout, proc.child.stderr].map((s) =>
        s && !s.readableEnded ? new Promise((r) => s.once('close', r)) : undefined,
      ),
    );
    return { exit, proc };
  } finally {
    clearTimeout(killer);
  }
}

describe('configuration', () => {
  let env: Isolation;

  beforeAll(() => {
    env = isolation();
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  test('when the API is started with PORT=abc, then it exits with code 1 and stderr names PORT', async () => {
    const { exit, proc } = await runToExit('api', { ...env.env, PORT: 'abc' });

    expect(exit).toEqual({ code: 1, signal: null });
    expect(proc.stderr()).toMatch(/\bPORT\b/);
  });

  test('when the worker is started with NODE_ENV=production and no HF token, then it exits with code 1 and stderr names HF_TOKEN', async () => {
    const { exit, proc } = await runToExit('worker', { ...env.env, NODE_ENV: 'production', WORKER_HEALTH_PORT: '0' });

    expect(exit).toEqual({ code: 1, signal: null });
    expect(proc.stderr()).toMatch(/\bHF_TOKEN\b/);
  });

  test('when the API runs with LOG_FORMAT=pretty, then its lines are for people (level names, no JSON)', async () => {
    const api = await spawnApi({ ...env.env, LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' });
    try {
      const client = new ApiClient(api.url);
      await client.login(`pretty-${process.pid}@example.com`);
      await waitForOutput(api, (output) => output.includes('/api/auth/login'));
    } finally {
      await api.stop();
    }
    const lines = api
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '');

    expect(lines.some((line) => /\bINFO\b/.test(line))).toBe(true);
    expect(lines.some((line) => line.startsWith('{'))).toBe(false);
  });

  describe('the local renderer', () => {
    let api: SpawnedService;
    let worker: SpawnedService;

    beforeAll(async () => {
      [api, worker] = await Promise.all([spawnApi({ ...env.env }), spawnWorker({ ...env.env, LOG_LEVEL: 'info' })]);
    });

    afterAll(async () => {
      await Promise.all([api?.stop(), worker?.stop()]);
    });

    test('when the worker has no HF token outside production, then it says it uses the local renderer and a generation completes with a real PNG of the asked size', async () => {
      await waitForOutput(worker, (output) => /images come from the built-in local renderer/.test(output));

      const client = await newUser({ client: () => new ApiClient(api.url) });
      const created = await client.create({ prompt: 'a placeholder picture', width: 320, height: 256 });
      const done = await client.waitFor(created.id);

      expect(done).toMatchObject({
        status: 'completed',
        error: null,
        image: { mime_type: 'image/png', width: 320, height: 256 },
      });
      const image = await client.image(done.id);
      expect(image.status).toBe(200);
      expect(image.headers.get('content-type')).toBe('image/png');
      expect(imageSize(image.bytes)).toMatchObject({ type: 'png', width: 320, height: 256 });
    });
  });
});
