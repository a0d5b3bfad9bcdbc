import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { S3Access } from './s3';
import { startStack, withDatabase } from './stack';
import { stopChild } from './processes';

/**
 * `pnpm start`: the whole system on one machine. Finds or starts Redis and a MongoDB-wire server
 * (and versitygw when images go to a bucket of ours), then runs the built API and worker with them
 * until Ctrl-C or SIGTERM.
 */
async function main(): Promise<void> {
  const stack = await startStack({ s3: wantsLocalS3() });
  for (const line of stack.descriptions) console.log(`[start] ${line}`);

  const env = {
    // Someone at a terminal reads these lines; piped elsewhere, a collector does.
    LOG_FORMAT: process.stdout.isTTY ? 'pretty' : 'json',
    ...process.env,
    REDIS_URL: stack.redisUrl,
    MONGODB_URI: process.env.MONGODB_URI ?? withDatabase(stack.mongoUri, 'imagegen'),
    ...localS3Env(stack.s3),
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

/**
 * With IMAGE_STORE=s3 and neither S3_ENDPOINT nor S3_BUCKET, the services keep images in the stack's versitygw bucket;
 * otherwise they get nothing S3-related and use their own settings (the MongoDB store by default).
 */
function localS3Env(s3: S3Access | null): Record<string, string> {
  if (!s3) return {};
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_REGION: s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    // A session token left in the shell belongs to other keys, and the SDK would sign with it.
    AWS_SESSION_TOKEN: '',
  };
}

/** IMAGE_STORE=s3 with no server named: a bucket named without an endpoint is on AWS itself, not ours to replace. */
function wantsLocalS3(): boolean {
  return process.env.IMAGE_STORE === 's3' && !process.env.S3_ENDPOINT && !process.env.S3_BUCKET;
}

main().catch((err: unknown) => {
  console.error(`[start] ${(err as Error).message}`);
  process.exit(1);
});
