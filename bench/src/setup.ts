import { withDatabase, type Stack } from '@imagegen/devstack';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { run, service } from './processes';

/** The bench's sizes and durations; BENCH_* variables change them (bench/README.md). */
const env = process.env;
export const SECONDS = Number(env.BENCH_SECONDS ?? 5);
/** The unmeasured load each side of `api_create` and `api_get` takes first (bench/src/api.parts.ts). */
export const WARM_UP_SECONDS = 3;
export const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 10);
export const WORKER_JOBS = Number(env.BENCH_WORKER_JOBS ?? 500);
export const WORKER_CONCURRENCY = 16;
export const E2E_JOBS = Number(env.BENCH_E2E_JOBS ?? 200);
export const E2E_IN_FLIGHT = 20;
export const HF_LATENCY_MS = Number(env.BENCH_HF_LATENCY_MS ?? 1_000);
/** 1 MB images, kept on S3 (bench/README.md). */
export const MEMORY_JOBS = Number(env.BENCH_MEMORY_JOBS ?? 5_000);
export const MEMORY_WARM_UP_JOBS = 50;
export const MEMORY_IN_FLIGHT = 20;
export const MEMORY_SAMPLE_EVERY = 500;
/**
 * The memory part's generations are answered without their bytes, and one in this many has its
 * image read through the API: every one read so took the part from 31 to 45 s per 1,000 on a
 * 2-core machine, and its data URL to 49 s, which puts 5,000 past the bench's five minutes. One
 * in ten still passes 500 images through the API's reading path for a leak to show in its RSS.
 */
export const MEMORY_IMAGE_READ_EVERY = 10;
export const ROUNDS = 2;
/** Offered rates of the capacity part, generations per second, rising: the ones its search chooses from. */
export const CAPACITY_RATES = (env.BENCH_CAPACITY_RATES ?? '10,15,20,25,30,35,40,50,60,70,80,90,100')
  .split(',')
  .map(Number);
if (!CAPACITY_RATES.every((rate, i) => rate > 0 && (i === 0 || rate > CAPACITY_RATES[i - 1]!)))
  throw new Error(`BENCH_CAPACITY_RATES must be positive and rising: ${env.BENCH_CAPACITY_RATES}`);
export const CAPACITY_STEP_SECONDS = Number(env.BENCH_CAPACITY_STEP_SECONDS ?? 6);
export const CAPACITY_CREATE_P99_MS = 100;
/** The most the worker's settings allow: at HF's 1 s, no more than 100 generations a second. */
export const CAPACITY_WORKER_CONCURRENCY = 100;

let scenarios = 0;
const placed: string[] = [];
/** A database and queue prefix of one scenario's own. */
export function place(stack: Stack, name: string) {
  const id = `bench_${Date.now().toString(36)}_${++scenarios}_${name}`;
  placed.push(id);
  return { MONGODB_URI: withDatabase(stack.mongoUri, id), REDIS_URL: stack.redisUrl, QUEUE_PREFIX: id };
}

/**
 * Deletes the Redis keys of every scenario of this run. The databases go with the stack's
 * MongoDB-wire server, but the Redis may be the machine's own, which keeps them: a run's jobs and
 * events came to gigabytes.
 */
export async function clearPlaces(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    for (const id of placed.splice(0)) {
      for await (const keys of redis.scanStream({ match: `${id}:*`, count: 1000 }) as AsyncIterable<string[]>) {
        if (keys.length) await redis.unlink(...keys);
      }
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * What our services need to keep images on the stack's S3 server (versitygw), under a key prefix
 * of their own; the SDK reads the credentials from the environment, as in production.
 */
export function s3Store(stack: Stack, keyPrefix: string): Record<string, string> {
  const s3 = stack.s3;
  if (!s3) throw new Error('this part needs the stack started with S3');
  return {
    IMAGE_STORE: 's3',
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    S3_KEY_PREFIX: `${keyPrefix}/`,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** Our API as the bench runs it: limits out of the way, logs quiet, and quick to stop. */
const apiEnv = {
  HOST: '127.0.0.1',
  JWT_SECRET: 'b'.repeat(32),
  CREATE_RATE_LIMIT: '100000',
  MAX_IN_FLIGHT_PER_USER: '10000',
  LOG_LEVEL: 'warn',
  // The drain gives a load balancer time to stop sending requests; the bench has none, and its
  // parts stop our API once their own loads have ended (the stop then waits for the requests a
  // load abandoned). A stop took 1,036–1,042 ms at the default 1 s and 32–39 ms at 1 ms; the
  // bench stops our API seven times.
  SHUTDOWN_DRAIN_MS: '1',
  // The least scrypt cost the setting takes: each run of the API makes its accounts anew, and a
  // sign-in is not what the bench measures. At the default, the API part's ten sign-ins took 3.3 s.
  PASSWORD_HASH_COST: '10',
};

/** A token of the account `email` (made on first sign-in). */
export async function signIn(apiUrl: string, email: string): Promise<string> {
  const res = await fetch(`${apiUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'password123', name: 'Bench' }),
  });
  return ((await res.json()) as { data: { token: string } }).data.token;
}

/** Our API on `where` (built script `script`, this checkout's by default), with a signed-in user: its token and id. */
export async function startOurApi(where: Record<string, string>, script = service('api')) {
  const api = await run(script, { ...apiEnv, ...where }, 'PORT', '/readyz');
  const token = await signIn(api.url, 'bench@example.com');
  const userId = new ObjectId(
    (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub,
  );
  return { api, token, userId };
}

export const ratio = (ours: number, floor: number) => Math.round((ours / floor) * 100) / 100;
export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
