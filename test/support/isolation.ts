import { randomBytes } from 'node:crypto';
import { withDatabase } from '@imagegen/devstack';
// Through the shared package, whose own dependencies provide ioredis and mongodb (the root has neither).
import { connectMongo, createRedis, S3ImageStore } from '@imagegen/core';
import { ImageStoreSettings } from '@imagegen/shared';

export interface Isolation {
  /** MongoDB URI naming this test file's own database. */
  mongoUri: string;
  redisUrl: string;
  /** BullMQ prefix of this test file's own queues. */
  queuePrefix: string;
  /** Environment for a service under test, on this isolation's database and queues. */
  env: Record<string, string>;
  /**
   * Environment that keeps a service's images in the test S3 bucket under this isolation's own key
   * prefix. Not in `env`: a test opts in with `{ ...env, ...s3Env }`.
   */
  s3Env: Record<string, string>;
  /** The same settings, parsed, for an image store in the test process. */
  s3Settings: ImageStoreSettings;
  /** Drops the database, deletes the queue keys and the images under the S3 key prefix. */
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
  const s3Env = testS3Env(`${queuePrefix}/`);
  const s3Settings = ImageStoreSettings.parse(s3Env);
  // The S3 SDK takes credentials from its usual chain, which starts at process.env, in the test
  // process as in the services: these are the test server's, made up for this run.
  process.env.AWS_ACCESS_KEY_ID = s3Env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = s3Env.AWS_SECRET_ACCESS_KEY;
  return {
    mongoUri,
    redisUrl,
    queuePrefix,
    env: {
      MONGODB_URI: mongoUri,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: queuePrefix,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      // The suite makes hundreds of accounts: at the production cost (2^17) their hashes took about
      // 525 s of the run's 1,750 s of test files. Tests of hashing itself set it back to 17.
      PASSWORD_HASH_COST: '10',
    },
    s3Env,
    s3Settings,
    async cleanup() {
      const mongo = await connectMongo(mongoUri);
      const redis = createRedis({ mode: 'standalone', url: redisUrl }, 'blocking');
      try {
        await mongo.db.dropDatabase();
        const keys = await redis.keys(`${queuePrefix}:*`);
        if (keys.length) await redis.del(...keys);
      } finally {
        await mongo.client.close();
        redis.disconnect();
      }
      await deleteImages(s3Settings);
    },
  };
}

/** A service's S3 settings on the bucket globalSetup made, with keys under `keyPrefix`. */
function testS3Env(keyPrefix: string): Record<string, string> {
  const variables = {
    S3_ENDPOINT: 'IMAGEGEN_TEST_S3_ENDPOINT',
    S3_BUCKET: 'IMAGEGEN_TEST_S3_BUCKET',
    S3_REGION: 'IMAGEGEN_TEST_S3_REGION',
    AWS_ACCESS_KEY_ID: 'IMAGEGEN_TEST_S3_ACCESS_KEY_ID',
    AWS_SECRET_ACCESS_KEY: 'IMAGEGEN_TEST_S3_SECRET_ACCESS_KEY',
  };
  const env: Record<string, string> = { IMAGE_STORE: 's3', S3_FORCE_PATH_STYLE: 'true', S3_KEY_PREFIX: keyPrefix };
  for (const [name, testName] of Object.entries(variables)) {
    const value = process.env[testName];
    if (!value) throw new Error(`${testName} is not set: run the tests through jest (globalSetup)`);
    env[name] = value;
  }
  return env;
}

/** The images under the prefix; other objects a test writes there are that test's to delete. */
async function deleteImages(settings: ImageStoreSettings): Promise<void> {
  const store = new S3ImageStore(settings);
  try {
    for (let page = await store.list(null, 500); page.length > 0; page = await store.list(page.at(-1)!.id, 500)) {
      await Promise.all(page.map((image) => store.delete(image.id)));
    }
  } finally {
    await store.close();
  }
}
