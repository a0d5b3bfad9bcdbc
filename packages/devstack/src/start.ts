import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { startStack, withDatabase } from './stack';
import { stopChild } from './processes';

/**
 * `pnpm start`: the whole system on one machine. Finds or starts Redis and a MongoDB-wire server,
 * then runs the built API and worker with them until Ctrl-C or SIGTERM.
 */
async function main(): Promise<void> {
  const stack = await startStack();
  for (const line of stack.descriptions) console.log(`[start] ${line}`);

  const env = {
    // Someone at a terminal reads these lines; piped elsewhere, a collector does.
    LOG_FORMAT: process.stdout.isTTY ? 'pretty' : 'json',
    ...process.env,
    REDIS_URL: stack.redisUrl,
    MONGODB_URI: process.env.MONGODB_URI ?? withDatabase(stack.mongoUri, 'imagegen'),
  };
  const root = resolve(__dirname, '../../..');
  const run = (service: string): ChildProcess =>
    spawn(process.execPath, [resolve(root, 'services', service, 'dist/main.js')], { env, stdio: 'inherit' });
  const children = [run('api'), run('worker')];

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map((child) => stopChild(child, 30_000)));
    await stack.stop();
    process.exit(code);
  };
  for (const child of children) child.once('exit', (code) => void stop(code ?? 1));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  console.log(`[start] API on http://localhost:${process.env.PORT ?? 8000}; Ctrl-C stops everything`);
}

main().catch((err: unknown) => {
  console.error(`[start] ${(err as Error).message}`);
  process.exit(1);
});
