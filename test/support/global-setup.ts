import { provideChromium, startStack } from '@imagegen/devstack';

/**
 * Starts (or finds) the real Redis, MongoDB-wire server and S3 once for the whole run. Test files get
 * their own database, queue prefix and S3 key prefix from `isolation()`, so they never see each other's data.
 */
export default async function globalSetup(): Promise<void> {
  const stack = await startStack({ s3: true });
  process.stdout.write(`\n${stack.descriptions.map((line) => `[test services] ${line}`).join('\n')}\n`);
  process.env.IMAGEGEN_TEST_REDIS_URL = stack.redisUrl;
  process.env.IMAGEGEN_TEST_MONGODB_URI = stack.mongoUri;
  const s3 = stack.s3!;
  process.env.IMAGEGEN_TEST_S3_ENDPOINT = s3.endpoint;
  process.env.IMAGEGEN_TEST_S3_BUCKET = s3.bucket;
  process.env.IMAGEGEN_TEST_S3_REGION = s3.region;
  process.env.IMAGEGEN_TEST_S3_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.IMAGEGEN_TEST_S3_SECRET_ACCESS_KEY = s3.secretAccessKey;
  (globalThis as { imagegenStack?: typeof stack }).imagegenStack = stack;
  // Only the browser tests need it: without it, they fail saying why, and the rest still run.
  try {
    process.env.IMAGEGEN_TEST_CHROMIUM = provideChromium((line) => process.stdout.write(`[test services] ${line}\n`));
    process.stdout.write(`[test services] Chromium: ${process.env.IMAGEGEN_TEST_CHROMIUM}\n`);
  } catch (err) {
    process.env.IMAGEGEN_TEST_CHROMIUM_ERROR = (err as Error).message;
  }
}
