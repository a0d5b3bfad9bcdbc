import { Registry } from 'prom-client';
import { HashQueue } from '../src/auth/hash-queue';
import { ServiceUnavailableError } from '../src/errors';

/** Work that ends when the test says so. */
function held(): { work: () => Promise<string>; started: () => boolean; finish: () => void } {
  let finish = () => undefined as void;
  let started = false;
  const work = () => {
    started = true;
    return new Promise<string>((resolve) => (finish = () => resolve('done')));
  };
  return { work, started: () => started, finish: () => finish() };
}

const metric = async (registry: Registry, name: string) =>
  (await registry.getSingleMetric(name)?.get())?.values[0]?.value;

describe('HashQueue', () => {
  test('when more work comes than may run, then it waits in turn up to the bound, past which it is refused at once with a 503, and the queue says it is saturated', async () => {
    const registry = new Registry();
    const queue = new HashQueue({ concurrency: 2, queue: 3 }, registry);
    const jobs = Array.from({ length: 5 }, () => held());
    const results = jobs.map((job) => queue.run(job.work));
    expect(jobs.map((job) => job.started())).toEqual([true, true, false, false, false]);
    expect(queue.saturated).toBe(true);

    await expect(queue.run(held().work)).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(await metric(registry, 'imagegen_password_hashes_refused_total')).toBe(1);

    jobs[0]!.finish();
    await results[0];
    expect(jobs.map((job) => job.started())).toEqual([true, true, true, false, false]);
    expect(queue.saturated).toBe(false);

    // Each end lets the next one in line start.
    for (const [i, job] of jobs.entries()) {
      expect(job.started()).toBe(true);
      job.finish();
      expect(await results[i]).toBe('done');
    }

    expect(await metric(registry, 'imagegen_password_hashes_running_max')).toBe(2);
    expect(await metric(registry, 'imagegen_password_hashes_waiting_max')).toBe(3);
    expect(await metric(registry, 'imagegen_password_hashes_running')).toBe(0);
    expect(await metric(registry, 'imagegen_password_hashes_waiting')).toBe(0);
  });

  test('when a piece of work fails, then its place is given to the next', async () => {
    const queue = new HashQueue({ concurrency: 1, queue: 1 }, new Registry());
    const next = held();
    const failing = queue.run(() => Promise.reject(new Error('boom')));
    const waiting = queue.run(next.work);
    await expect(failing).rejects.toThrow('boom');
    await Promise.resolve();
    expect(next.started()).toBe(true);
    next.finish();
    expect(await waiting).toBe('done');
    expect(queue.saturated).toBe(false);
  });
});
