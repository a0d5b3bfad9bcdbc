import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { mongoWriteConcern, uriOptions, type MongoWriteConcern, type RedisTarget } from '@imagegen/shared';
import { ensureIndexes } from './indexes';
import { oneWritePerTurn } from './redis-writes';

export interface Mongo {
  client: MongoClient;
  db: Db;
}

/** The database named in the URI's path, else `imagegen`. */
export function databaseName(uri: string): string {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(uri)?.[1];
  return path ? decodeURIComponent(path) : 'imagegen';
}

/** How a connection writes: the service's MONGODB_WRITE_CONCERN. */
export interface MongoOptions {
  /** Unset: the URI's own `w=`, else `majority` on a replica set and `1` on one server (`mongoWriteConcern`). */
  writeConcern?: MongoWriteConcern;
}

/**
 * Connects (failing within a few seconds when MongoDB is unreachable) and ensures indexes.
 *
 * Retryable writes stay as the driver has them: on, unless the URI says `retryWrites=false`. A
 * write cut off by a failover is then sent once more to the new primary, which recognises it
 * and does not apply it twice.
 */
export async function connectMongo(uri: string, options: MongoOptions = {}): Promise<Mongo> {
  const w = mongoWriteConcern({ MONGODB_URI: uri, MONGODB_WRITE_CONCERN: options.writeConcern });
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: 5_000,
    // The URI's own `maxPoolSize` wins: on FerretDB over PostgreSQL, every process's pool together
    // must stay below FerretDB's connections to PostgreSQL (docs/operations.md).
    ...(!uriOptions(uri).has('maxpoolsize') && { maxPoolSize: 50 }),
    appName: 'imagegen',
    // The driver takes these before the URI's options, so MONGODB_WRITE_CONCERN wins over a `w=`
    // there. A tag set's name can only come from that `w=`, which the driver has read already.
    ...((w === 'majority' || typeof w === 'number') && { writeConcern: { w } }),
    // Every read but the list reads (GenerationRepository) goes to the primary: a status change
    // reads the record it is about to move, and a read after a write must see that write
    // (read-your-writes), which a secondary lagging behind does not have yet.
    readPreference: 'primary',
  });
  await client.connect();
  const db = client.db(databaseName(uri));
  await ensureIndexes(db);
  return { client, db };
}

/** A connection to Redis, whichever way the settings reach it: one server, a Sentinels' primary, or a cluster. */
export type RedisClient = Redis | Cluster;

/** What a connection does with a command while Redis is away. */
export type RedisConnectionKind = 'blocking' | 'fail-fast';

const KIND_OPTIONS: Record<RedisConnectionKind, Pick<RedisOptions, 'maxRetriesPerRequest' | 'enableOfflineQueue'>> = {
  // BullMQ's workers need commands that wait for Redis to come back rather than fail.
  blocking: { maxRetriesPerRequest: null, enableOfflineQueue: true },
  // A request is answered 503 at once rather than held while Redis is away.
  'fail-fast': { maxRetriesPerRequest: 1, enableOfflineQueue: false },
};

/**
 * A Redis connection. `blocking` is for BullMQ workers, which need `maxRetriesPerRequest: null`;
 * other connections fail fast instead of queueing commands while Redis is away.
 *
 * On a cluster, a command that meets a failover (CLUSTERDOWN, or its node gone) is retried on the
 * refreshed slot map for a moment before it fails; through Sentinels, a connection that loses the
 * primary asks them for the new one. ioredis's `failoverDetector` (reconnect as soon as the
 * Sentinels announce a switch) stays off: with it, 5 of 7 runs of a failover test
 * (test/e2e/redis-failover.test.ts, the webhook retry) ended with a connection of the API or the
 * worker that had not come back 30 to 60 s after the promotion; without it, none of 5.
 */
export function createRedis(target: RedisTarget, kind: RedisConnectionKind): RedisClient {
  const { enableOfflineQueue, maxRetriesPerRequest } = KIND_OPTIONS[kind];
  const connect = { connectTimeout: 5_000, lazyConnect: false };
  if (target.mode === 'cluster') {
    const { nodes, username, password } = target;
    return batched(
      new Cluster(nodes, {
        enableOfflineQueue,
        lazyConnect: false,
        redisOptions: { ...connect, maxRetriesPerRequest, username, password },
      }),
    );
  }
  if (target.mode === 'sentinel') {
    const { sentinels, master, username, password, sentinelPassword } = target;
    return batched(
      new Redis({
        ...connect,
        enableOfflineQueue,
        maxRetriesPerRequest,
        sentinels,
        name: master,
        username,
        password,
        sentinelPassword,
      }),
    );
  }
  const { url, username, password } = target;
  return batched(new Redis(url, { ...connect, enableOfflineQueue, maxRetriesPerRequest, username, password }));
}

/** `client` with each connection's commands of one turn sent in one write; a cluster's, per node as it joins. */
function batched<T extends RedisClient>(client: T): T {
  if (client instanceof Cluster) client.on('+node', oneWritePerTurn);
  else oneWritePerTurn(client);
  return client;
}

/** Another connection to the same Redis as `client`, of `kind` (subscribers and BullMQ's own need their own). */
export function duplicateRedis(client: RedisClient, kind: RedisConnectionKind): RedisClient {
  const options = KIND_OPTIONS[kind];
  if (client instanceof Cluster) {
    return batched(
      client.duplicate([], {
        enableOfflineQueue: options.enableOfflineQueue,
        redisOptions: { ...client.options.redisOptions, maxRetriesPerRequest: options.maxRetriesPerRequest },
      }),
    );
  }
  return batched(client.duplicate(options));
}

/**
 * Resolves once `redis` is ready, or after `timeoutMs` either way. A service waits for this before
 * it takes work: a fail-fast connection queues nothing while it connects, so requests in its first
 * moments would otherwise get a 503 from a Redis that is fine. One that stays away is the
 * readiness check's to report.
 */
export function redisReady(redis: RedisClient, timeoutMs: number): Promise<void> {
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
