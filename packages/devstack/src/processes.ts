import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';

/** A port the OS says is free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Retries `check` until it resolves or `timeoutMs` passes; the last error explains a time-out. */
export async function waitFor(
  what: string,
  check: () => Promise<unknown>,
  timeoutMs: number,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} while starting`);
    try {
      await check();
      return;
    } catch (err) {
      last = err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms: ${String(last)}`);
}

/**
 * Starts a long-running helper with its output in `logPath` (not our terminal) and waits until
 * `ready` passes. If it never does, the helper is stopped before the error is thrown.
 */
export async function startDaemon(
  what: string,
  command: string,
  args: string[],
  logPath: string,
  ready: () => Promise<unknown>,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildProcess> {
  const log = openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log], env });
  // The child holds its own copy of the descriptor.
  closeSync(log);
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`${what} could not start: ${err.message}`))),
  );
  try {
    await Promise.race([waitFor(what, ready, timeoutMs, child), spawnFailed]);
    return child;
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/**
 * The environment of the Go servers devstack starts (FerretDB, versitygw). Go collects garbage
 * each time the heap grows by GOGC percent of what is live; at Go's default, 100, the servers
 * collected so often under the bench's memory part (1 MB images through versitygw, every record
 * through FerretDB) that GOGC=400 took 6.5 % off the whole machine's CPU for it (1,000 jobs,
 * three alternating runs each: 52.7 against 56.4 CPU-seconds). Their live heaps are tens of MB:
 * their RSS went from 37 and 47 MB to 48 and 64 MB. A GOGC set by the caller is kept.
 */
export function goServerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOGC: process.env.GOGC ?? '400' };
}

export function stopChild(child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  const running = child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  if (!running) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Whether a process `pid` runs on this machine (one of another user's included). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
