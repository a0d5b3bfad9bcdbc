import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provideMongo } from '../src/mongo';
import { provideRedis } from '../src/redis';

describe('finding the services the system needs', () => {
  const saved = { ...process.env };
  let workDir: string;

  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'devstack-test-'));
  });

  afterEach(() => {
    process.env = { ...saved };
    rmSync(workDir, { recursive: true, force: true });
  });

  test('when REDIS_URL and MONGODB_URI are set, then they are used as they are and their passwords stay out of the description', async () => {
    process.env.REDIS_URL = 'redis://:hunter2@redis.example:6380';
    process.env.MONGODB_URI = 'mongodb://app:hunter2@mongo.example:27017/imagegen';
    const [redis, mongo] = await Promise.all([provideRedis(workDir), provideMongo(workDir)]);
    expect(redis.url).toBe('redis://:hunter2@redis.example:6380');
    expect(mongo.url).toBe('mongodb://app:hunter2@mongo.example:27017/imagegen');
    expect(`${redis.description} ${mongo.description}`).not.toContain('hunter2');
    expect(redis.description).toContain('REDIS_URL');
    expect(mongo.description).toContain('MONGODB_URI');
  });

  test('when no MongoDB is configured, there is no Docker engine and FerretDB cannot be built, then the error says so and what to do', async () => {
    delete process.env.MONGODB_URI;
    delete process.env.DOCKER_HOST;
    // An empty cache and a PATH without Go: the build script cannot produce a binary.
    process.env.IMAGEGEN_CACHE_DIR = workDir;
    process.env.PATH = '/usr/bin:/bin';
    const outcome = await provideMongo(workDir).then(
      async (service) => {
        await service.stop();
        return service.description;
      },
      (err: Error) => err,
    );
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(
      /no MongoDB: MONGODB_URI is unset.*Go is not installed.*Set MONGODB_URI/s,
    );
  });
});
