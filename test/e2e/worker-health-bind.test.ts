import { isolation, type Isolation } from '../support/isolation';
import { spawnWorker, type SpawnedService } from '../support/services';

/**
 * The worker's health and metrics port, reached at another address of this host. On Linux all of
 * 127.0.0.0/8 is this host: a listener on every interface answers at 127.0.0.2, one bound to
 * 127.0.0.1 alone does not, as it would not answer at the host's network addresses.
 */
async function fromAnotherAddress(worker: SpawnedService, path: string): Promise<number | string> {
  const url = new URL(path, worker.url);
  url.hostname = '127.0.0.2';
  try {
    const res = await fetch(url);
    await res.body?.cancel();
    return res.status;
  } catch (err) {
    return ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (err as Error).message;
  }
}

async function statusOf(url: string): Promise<number> {
  const res = await fetch(url);
  await res.body?.cancel();
  return res.status;
}

describe("the worker's health and metrics port", () => {
  let iso: Isolation;
  const workers: SpawnedService[] = [];

  beforeAll(() => {
    iso = isolation();
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await iso?.cleanup();
  });

  test('when WORKER_HEALTH_HOST is not set, then health and /metrics answer on 127.0.0.1 only', async () => {
    const worker = await spawnWorker(iso.env);
    workers.push(worker);

    expect(await statusOf(worker.url)).toBe(200);
    expect(await statusOf(`${worker.url}/metrics`)).toBe(200);
    expect(await fromAnotherAddress(worker, '/')).toBe('ECONNREFUSED');
    expect(await fromAnotherAddress(worker, '/metrics')).toBe('ECONNREFUSED');
  });

  test('when WORKER_HEALTH_HOST=0.0.0.0 (compose, Kubernetes probes), then they answer on every interface', async () => {
    const worker = await spawnWorker({ ...iso.env, WORKER_HEALTH_HOST: '0.0.0.0' });
    workers.push(worker);

    expect(await fromAnotherAddress(worker, '/')).toBe(200);
    expect(await fromAnotherAddress(worker, '/metrics')).toBe(200);
  });
});
