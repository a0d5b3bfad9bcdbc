import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { QUEUES } from '@imagegen/shared';
import { COLLECTIONS, createLogger } from '@imagegen/core';
import { ApiClient } from '../../../test/support/api-client';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { loadApiConfig } from '../src/config';
import { startApi, type RunningApi } from '../src/server';

export const JWT_SECRET = 'x'.repeat(32);

/** The user id a token was issued to. */
export function subjectOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;
}

/** Settings every API under test gets; a test file adds or overrides its own. */
export function apiEnv(iso: Isolation, extra: Record<string, string> = {}): Record<string, string> {
  return { ...iso.env, PORT: '0', HOST: '127.0.0.1', JWT_SECRET, ...extra };
}

/** An in-process API on port 0, with a client pointed at it. */
export async function startTestApi(
  iso: Isolation,
  extra: Record<string, string> = {},
): Promise<{ api: RunningApi; baseUrl: string }> {
  const api = await startApi(loadApiConfig(apiEnv(iso, extra)), createLogger('test', 'silent'));
  return { api, baseUrl: `http://127.0.0.1:${api.port}` };
}

/**
 * Everything a test file needs to drive the API and look behind it: its own database and queue
 * prefix, the running API, and direct MongoDB / BullMQ handles to check what was (not) written.
 */
export interface Harness {
  iso: Isolation;
  api: RunningApi;
  baseUrl: string;
  db: Db;
  queue: Queue;
  /** A client with no token; `client()` makes more. */
  anonymous: ApiClient;
  client(token?: string): ApiClient;
  /** A logged-in client for a fresh user of this email. */
  user(email: string, name?: string): Promise<ApiClient>;
  generationCount(): Promise<number>;
  /** Jobs of every state in this file's generations queue. */
  jobCount(): Promise<number>;
  stop(): Promise<void>;
}

export async function startHarness(extra: Record<string, string> = {}): Promise<Harness> {
  const iso = isolation();
  const { api, baseUrl } = await startTestApi(iso, extra);
  const mongo = await MongoClient.connect(iso.mongoUri);
  const redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUES.generations, { connection: redis, prefix: iso.queuePrefix });
  const db = mongo.db();
  const client = (token?: string) => new ApiClient(baseUrl, token);
  return {
    iso,
    api,
    baseUrl,
    db,
    queue,
    anonymous: client(),
    client,
    async user(email, name = 'Test User') {
      const c = client();
      await c.login(email, 'password123', name);
      return c;
    },
    generationCount: () => db.collection(COLLECTIONS.generations).countDocuments(),
    async jobCount() {
      const counts = await queue.getJobCounts();
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
    },
    async stop() {
      await api.stop();
      await queue.close();
      redis.disconnect();
      await mongo.close();
      await iso.cleanup();
    },
  };
}
