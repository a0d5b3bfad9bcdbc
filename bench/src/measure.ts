import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Binary, ObjectId, type Db } from 'mongodb';
import { JOBS, QUEUES, jobOptions } from '@imagegen/shared';
import {
  COLLECTIONS,
  generationJobData,
  newGeneration,
  type GenerationDocument,
  type ImageDocument,
} from '@imagegen/core';
import { DEFAULT_SETTINGS } from './baselines/settings';

export interface HttpFigures {
  rps: number;
  p99_ms: number;
  non2xx: number;
  errors: number;
}

/** A fixed-concurrency HTTP load for `seconds`; every request built by `build`, numbered from 0. */
export async function httpLoad(
  url: string,
  connections: number,
  seconds: number,
  build: (n: number) => { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string },
): Promise<HttpFigures> {
  let n = 0;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        setupRequest: (req) => {
          const built = build(n++);
          return { ...req, ...built, headers: { ...req.headers, ...built.headers } };
        },
      },
    ],
  });
  return {
    rps: Math.round(result.requests.average * 10) / 10,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/**
 * Pending generations with their jobs queued, as the API would have made them, on a paused queue:
 * the clock starts when `resume` is called, once they are all there, so neither side's figure
 * depends on how many jobs it took while the others were still being added.
 */
export async function queueJobs(db: Db, redisUrl: string, prefix: string, userId: ObjectId, count: number) {
  const docs = Array.from({ length: count }, (_, i) => newGeneration(userId, `bench prompt ${i}`, DEFAULT_SETTINGS));
  await db.collection<GenerationDocument>(COLLECTIONS.generations).insertMany(docs);
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUES.generations, { connection, prefix });
  await queue.pause();
  await queue.addBulk(
    docs.map((doc) => {
      const data = generationJobData(doc);
      return { name: JOBS.generationCreate, data, opts: jobOptions(JOBS.generationCreate, data) };
    }),
  );
  return {
    /** Lets the workers take the jobs; the time it did so, in ms since the epoch. */
    async resume(): Promise<number> {
      const at = Date.now();
      await queue.resume();
      await queue.close();
      connection.disconnect();
      return at;
    },
  };
}

/** A completed generation of `userId` with `image`, as the worker leaves one. */
export async function completedGeneration(db: Db, userId: ObjectId, image: Buffer): Promise<string> {
  const doc = newGeneration(userId, 'a completed bench picture', DEFAULT_SETTINGS);
  const meta = { mime_type: 'image/png' as const, size_bytes: image.length, width: 512, height: 512 };
  const now = new Date();
  await db
    .collection<GenerationDocument>(COLLECTIONS.generations)
    .insertOne({ ...doc, status: 'completed', image: meta, started_at: now, completed_at: now });
  await db
    .collection<ImageDocument>(COLLECTIONS.images)
    .insertOne({ _id: doc._id, ...meta, user_id: userId, data: new Binary(image), created_at: now });
  return doc._id.toHexString();
}

/**
 * Waits until `count` generations are completed, and answers when the last of them was: its
 * `completed_at`, stamped by the worker that completed it. Polling only says when to look; the
 * records' own clock is the figure, not the poll's 100 ms step.
 */
export async function lastCompleted(db: Db, count: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  while ((await generations.countDocuments({ status: 'completed' })) < count) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`fewer than ${count} generations completed in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [last] = await generations
    .find({ status: 'completed' }, { projection: { completed_at: 1 } })
    .sort({ completed_at: -1 })
    .limit(1)
    .toArray();
  return last!.completed_at!.getTime();
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
