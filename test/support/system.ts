import { ApiClient } from './api-client';
import { HfEmulator } from './hf-emulator';
import { isolation, type Isolation } from './isolation';
import type { ProviderEmulator } from './provider-emulator';
import { spawnApi, spawnWorker, type SpawnedService } from './services';

/** One test file's running system: its own database and queues, an HF emulator, the API and a worker. */
export interface System {
  env: Isolation;
  emulator: HfEmulator;
  api: SpawnedService;
  worker: SpawnedService;
  /** Environment the worker was started with (isolation + HF emulator + overrides). */
  workerEnv: Record<string, string>;
  /** A client not logged in yet. */
  client(): ApiClient;
  stop(): Promise<void>;
}

/** Worker settings that keep retries and timeouts short enough for tests. */
export const FAST_HF = {
  HF_TOKEN: 'hf_test',
  HF_BACKOFF_BASE_MS: '20',
  HF_BACKOFF_MAX_MS: '300',
  HF_MAX_WAIT_MS: '3000',
  HF_TIMEOUT_MS: '2000',
};

/**
 * `startSystem` with Hugging Face's router and hub at `providers` and no dedicated endpoint, so that
 * the worker goes through the router, polling queued provider jobs often. `env` goes to both.
 */
export function startRoutedSystem(
  providers: Pick<ProviderEmulator, 'routerUrl' | 'hubUrl'>,
  env: Record<string, string>,
): Promise<System> {
  const hf = { HF_ROUTER_URL: providers.routerUrl, HF_HUB_URL: providers.hubUrl, HF_BASE_URL: '', ...env };
  return startSystem({ workerEnv: { ...hf, HF_POLL_INTERVAL_MS: '20', HF_MAX_WAIT_MS: '8000' }, apiEnv: hf });
}

/** Starts the system for a test file (call in beforeAll; `stop` in afterAll). */
export async function startSystem(
  options: { workerEnv?: Record<string, string>; apiEnv?: Record<string, string> } = {},
): Promise<System> {
  const env = isolation();
  const emulator = await HfEmulator.start();
  const workerEnv = { ...env.env, ...FAST_HF, HF_BASE_URL: emulator.baseUrl, ...options.workerEnv };
  // The API reads where images come from too (to check a create's model and provider), as compose
  // passes it to both.
  const apiEnv = { ...env.env, HF_TOKEN: FAST_HF.HF_TOKEN, HF_BASE_URL: emulator.baseUrl, ...options.apiEnv };
  const started = await Promise.allSettled([spawnApi(apiEnv), spawnWorker(workerEnv)]);
  const [api, worker] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  const stopAll = async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await emulator.close();
    await env.cleanup();
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed || !api || !worker) {
    await stopAll();
    throw failed?.reason ?? new Error('service did not start');
  }
  return { env, emulator, api, worker, workerEnv, client: () => new ApiClient(api.url), stop: stopAll };
}

let accounts = 0;
/** A logged-in client for a fresh account (the seed's login creates it). */
export async function newUser(system: Pick<System, 'client'>, label = 'user'): Promise<ApiClient> {
  const client = system.client();
  await client.login(`${label}-${process.pid}-${++accounts}@example.com`);
  return client;
}
