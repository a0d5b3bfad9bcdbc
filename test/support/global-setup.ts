import { provideChromium, startStack } from '@imagegen/devstack';

/**
 * Starts (or finds) the real Redis and MongoDB-wire server once for the whole run. Test files get
 * their own database and queue prefix from `isolation()`, so they never see each other's data.
 */
export default async function globalSetup(): Promise<void> {
  const stack = await startStack();
  process.stdout.write(`\n${stack.descriptions.map((line) => `[test services] ${line}`).join('\n')}\n`);
  process.env.IMAGEGEN_TEST_REDIS_URL = stack.redisUrl;
  process.env.IMAGEGEN_TEST_MONGODB_URI = stack.mongoUri;
  (globalThis as { imagegenStack?: typeof stack }).imagegenStack = stack;
  // Only the browser tests need it: without it, they fail saying why, and the rest still run.
  try {
    process.env.IMAGEGEN_TEST_CHROMIUM = provideChromium((line) => process.stdout.write(`[test services] ${line}\n`));
    process.stdout.write(`[test services] Chromium: ${process.env.IMAGEGEN_TEST_CHROMIUM}\n`);
  } catch (err) {
    process.env.IMAGEGEN_TEST_CHROMIUM_ERROR = (err as Error).message;
  }
}
