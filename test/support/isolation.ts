import { randomBytes } from 'node:crypto';
import { withDatabase } from '@imagegen/devstack';
// Through the shared package, whose own dependencies provide ioredis and mongodb (the root has neither).
import { connectMongo, createRedis } from '@imagegen/core';

export interface Isolation {
  /** MongoDB URI naming this test file's own database. */
  mongoUri: string;
  redisUrl: string;
  /** BullMQ prefix of this test file's own queues. */
  queuePrefix: string;
  /** Environment for a service under test, on this isolation's database and queues. */
  env: Record<string, string>;
  /** Drops the database and deletes the queue keys. */
  cleanup(): Promise<void>;
}

/** A database and queue prefix of this test file's own on the shared test services. */
export function isolation(): Isolation {
  const mongoBase = process.env.IMAGEGEN_TEST_MONGODB_URI;
  const redisUrl = process.env.IMAGEGEN_TEST_REDIS_URL;
  if (!mongoBase || !redisUrl)
    throw new Error('test services are not set up: run the tests through jest (globalSetup)');
  const id = randomBytes(4).toString('hex');
  const mongoUri = withDatabase(mongoBase, `imagegen_test_${id}`);
  const queuePrefix = `imagegen-test-${id}`;
  return {
    mongoUri,
    redisUrl,
    queuePrefix,
    env: { MONGODB_URI: mongoUri, REDIS_URL: redisUrl, QUEUE_PREFIX: queuePrefix, NODE_ENV: 'test', LOG_LEVEL: 'warn' },
    async cleanup() {
      const mongo = await connectMongo(mongoUri);
      const redis = createRedis(redisUrl, 'blocking');
      try {
        await mongo.db.dropDatabase();
        const keys = await redis.keys(`${queuePrefix}:*`);
        if (keys.length) await redis.del(...keys);
      } finally {
        await mongo.client.close();
        redis.disconnect();
      }
    },
  };
}
