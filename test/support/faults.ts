import { withTimeout } from '@imagegen/core';
import type { HfEmulator } from './hf-emulator';
import { spawnApi, spawnWorker, type SpawnedService } from './services';
import { FAST_HF } from './system';

/**
 * Resolves as `request` does, or rejects once `hangMs` passes: for requests made during an outage,
 * which must be answered (503) rather than held open. The bound is far above our own time-outs,
 * so reaching it means a hang, not slowness.
 */
export function answered<T>(what: string, request: Promise<T>, hangMs = 15_000): Promise<T> {
  return withTimeout(request, hangMs, () => new Error(`${what} hung for ${hangMs} ms`));
}

/**
 * The API and a worker for fault tests, on `services` (where they reach Redis and MongoDB): the
 * worker runs one job at a time, waits for HF (never times it out), with `worker` settings on top.
 */
export async function spawnFaultServices(
  services: Record<string, string>,
  emulator: HfEmulator,
  worker: Record<string, string>,
): Promise<[SpawnedService, SpawnedService]> {
  return Promise.all([
    spawnApi(services),
    spawnWorker({
      ...services,
      ...FAST_HF,
      HF_BASE_URL: emulator.baseUrl,
      HF_TIMEOUT_MS: '30000',
      HF_MAX_WAIT_MS: '30000',
      WORKER_CONCURRENCY: '1',
      ...worker,
    }),
  ]);
}
