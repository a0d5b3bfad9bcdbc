import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort, stopChild, waitFor } from '@imagegen/devstack';

const ROOT = resolve(__dirname, '../..');

export interface SpawnedService {
  /** For the API, its base URL; for the worker, its health URL. */
  url: string;
  child: ChildProcess;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a built service (`services/<name>/dist/main.js`) as its own process, as production does. */
export function runService(name: 'api' | 'worker', env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [resolve(ROOT, 'services', name, 'dist/main.js')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

async function spawnAndWait(name: 'api' | 'worker', env: Record<string, string>, portVar: string, path: string): Promise<SpawnedService> {
  const port = await freePort();
  const { child, output } = runService(name, { ...env, [portVar]: String(port) });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      name,
      async () => {
        const res = await fetch(base + path);
        if (!res.ok) throw new Error(`${path} answered ${res.status}`);
      },
      20_000,
      child,
    );
  } catch (err) {
    await stopChild(child);
    throw new Error(`${(err as Error).message}\n--- ${name} output ---\n${output()}`);
  }
  return {
    url: base,
    child,
    output,
    stop: (signal = 'SIGTERM') => (signal === 'SIGTERM' ? stopChild(child, 30_000) : killWith(child, signal)),
  };
}

function killWith(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Starts the built API on a free port and waits until `/readyz` says MongoDB and Redis answer. */
export const spawnApi = (env: Record<string, string>) => spawnAndWait('api', env, 'PORT', '/readyz');

/** Starts the built worker and waits until its health endpoint says it consumes the queue. */
export const spawnWorker = (env: Record<string, string>) => spawnAndWait('worker', env, 'WORKER_HEALTH_PORT', '/');
