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
export interface RunningProcess {
  child: ChildProcess;
  /** stdout and stderr together, in arrival order. */
  output: () => string;
  stderr: () => string;
}

export function runService(name: 'api' | 'worker', env: Record<string, string>): RunningProcess {
  return runScript(resolve(ROOT, 'services', name, 'dist/main.js'), env);
}

/** Runs a Node script as its own process with only `env` (and PATH), capturing its output. */
export function runScript(path: string, env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, [path], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  return { child, output: () => output, stderr: () => stderr };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the process has exited (at once if it already has), with its code or signal. */
export function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Resolves once `output()` satisfies `matches`, re-checking whenever the process writes; rejects if
 * the process exits first or `timeoutMs` passes (with the output so far, to explain the failure).
 */
export function waitForOutput(
  service: Pick<RunningProcess, 'child' | 'output'>,
  matches: (output: string) => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const { child, output } = service;
  if (matches(output())) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', exited);
      if (err) reject(err);
      else resolve();
    };
    // Listeners added after runService's own, so the output already holds this chunk.
    const check = () => {
      if (matches(output())) done();
    };
    const exited = () =>
      matches(output()) ? done() : done(new Error(`process exited before the expected output:\n${output()}`));
    const timer = setTimeout(
      () => done(new Error(`expected output did not appear within ${timeoutMs} ms:\n${output()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', exited);
  });
}

/** The JSON lines (pino records) a service wrote; other lines are skipped. */
export function logRecords(output: string): Record<string, unknown>[] {
  return output.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

async function spawnAndWait(
  name: 'api' | 'worker',
  env: Record<string, string>,
  portVar: string,
  path: string,
): Promise<SpawnedService> {
  // A port given by the test (one it had to know before the start) is kept; else any free one.
  const port = env[portVar] ? Number(env[portVar]) : await freePort();
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
    throw new Error(`${(err as Error).message}\n--- ${name} output ---\n${output()}`, { cause: err });
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

/**
 * `work`, whose failure message ends with the last `lines` lines each service wrote: what a test
 * needs to explain a wait that ran out in CI, where the services' logs are not kept.
 */
export async function explainedBy<T>(
  services: Record<string, SpawnedService>,
  work: Promise<T>,
  lines = 40,
): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const logs = Object.entries(services).map(
      ([name, service]) =>
        `--- ${name}, last ${lines} lines:\n${service.output().trimEnd().split('\n').slice(-lines).join('\n')}`,
    );
    (err as Error).message = [(err as Error).message, ...logs].join('\n');
    throw err;
  }
}
