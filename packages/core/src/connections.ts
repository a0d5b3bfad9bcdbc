import { Redis, type RedisOptions } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { ensureIndexes } from './indexes';

export interface Mongo {
  client: MongoClient;
  db: Db;
}

/** The database named in the URI's path, else `imagegen`. */
export function databaseName(uri: string): string {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(uri)?.[1];
  return path ? decodeURIComponent(path) : 'imagegen';
}

/** Connects (failing within a few seconds when MongoDB is unreachable) and ensures indexes. */
export async function connectMongo(uri: string): Promise<Mongo> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000, maxPoolSize: 50, appName: 'imagegen' });
  await client.connect();
  const db = client.db(databaseName(uri));
  await ensureIndexes(db);
  return { client, db };
}

/**
 * A Redis connection. `blocking` is for BullMQ workers, which need `maxRetriesPerRequest: null`;
 * other connections fail fast instead of queueing commands while Redis is away.
 */
export function createRedis(url: string, kind: 'blocking' | 'fail-fast'): Redis {
  const options: RedisOptions =
    kind === 'blocking'
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000 };
  return new Redis(url, { ...options, lazyConnect: false });
}

/**
 * Resolves once `redis` is ready, or after `timeoutMs` either way. A service waits for this before
 * it takes work: a fail-fast connection queues nothing while it connects, so requests in its first
 * moments would otherwise get a 503 from a Redis that is fine. One that stays away is the
 * readiness check's to report.
 */
export function redisReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}
