import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { freePort, stopChild, waitFor } from '@imagegen/devstack';

export const ROOT = resolve(__dirname, '../..');

export interface Running {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Runs a built script as its own process and waits until `readyPath` on its port answers 200. */
export async function run(
  script: string,
  env: Record<string, string>,
  portVar: string,
  readyPath: string,
): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [...profiling(script), script], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, [portVar]: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    script,
    async () => {
      const res = await fetch(url + readyPath);
      if (!res.ok) throw new Error(`${readyPath} answered ${res.status}`);
    },
    30_000,
    child,
  );
  return { url, child, stop: () => stopChild(child, 30_000) };
}

/**
 * Two processes started at once, as the tests start the API and the worker. If either fails, the
 * other is stopped once started, then the failure is thrown: nothing the bench started outlives it.
 */
export async function bothStarted<A, B>(
  a: Promise<A>,
  b: Promise<B>,
  undo: { a: (started: A) => Promise<unknown>; b: (started: B) => Promise<unknown> },
): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'fulfilled' && second.status === 'fulfilled') return [first.value, second.value];
  await Promise.all([
    first.status === 'fulfilled' && undo.a(first.value),
    second.status === 'fulfilled' && undo.b(second.value),
  ]);
  throw first.status === 'rejected' ? first.reason : (second as PromiseRejectedResult).reason;
}

/**
 * With BENCH_CPU_PROF=<dir>, each process writes a CPU profile when it exits, under a folder of
 * its own (`api`, `worker`, `floor-api`, `floor-worker`); open them in Chrome DevTools.
 */
function profiling(script: string): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return [];
  const name = script.includes('baselines') ? `floor-${basename(script, '.js')}` : basename(resolve(script, '../..'));
  return ['--cpu-prof', `--cpu-prof-dir=${resolve(dir, name)}`];
}

export const service = (name: 'api' | 'worker') => resolve(ROOT, 'services', name, 'dist/main.js');
export const baseline = (name: string) => resolve(__dirname, 'baselines', `${name}.js`);

/** Resident memory of a process, from /proc (Linux), in MB. */
export function rssMb(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
}
