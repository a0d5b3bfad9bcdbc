import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { MongoClient } from 'mongodb';
import { provideMongo } from '../src/mongo';
import { provideRedis } from '../src/redis';
import type { ProvidedService } from '../src/service';

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
    const outcome = await outcomeOf(provideMongo(workDir));
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(
      /no MongoDB: MONGODB_URI is unset.*Go is not installed.*Set MONGODB_URI/s,
    );
  });

  test('when DEVSTACK_POSTGRES_URL names a server that cannot be used, then the error names it, keeping its password out', async () => {
    delete process.env.MONGODB_URI;
    delete process.env.DOCKER_HOST;
    process.env.DEVSTACK_POSTGRES_URL = 'postgres://app:hunter2@127.0.0.1:1/postgres';
    const outcome = await outcomeOf(provideMongo(workDir));
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(
      /^DEVSTACK_POSTGRES_URL \(postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/postgres\) could not be used/,
    );
    expect((outcome as Error).message).not.toContain('hunter2');
  });

  test('when DEVSTACK_POSTGRES_URL is none, then FerretDB keeps its data in SQLite though PostgreSQL answers', async () => {
    delete process.env.MONGODB_URI;
    delete process.env.DOCKER_HOST;
    process.env.DEVSTACK_POSTGRES_URL = 'none';
    const mongo = await provideMongo(workDir);
    try {
      expect(mongo.description).toMatch(/^FerretDB v[\d.]+ on SQLite, port \d+$/);
    } finally {
      await mongo.stop();
    }
  });

  test('when PostgreSQL answers, then FerretDB keeps its data in a database of the run, which stop drops', async () => {
    delete process.env.MONGODB_URI;
    delete process.env.DOCKER_HOST;
    process.env.DEVSTACK_POSTGRES_URL = SERVER;
    const mongo = await provideMongo(workDir);
    const database = mongo.description.match(/database (imagegen_devstack_\w+)/)?.[1];
    try {
      expect(mongo.description).toMatch(
        /^FerretDB v[\d.]+ on PostgreSQL at 127\.0\.0\.1:5432, database imagegen_devstack_\w+, at most \d+ connections, port \d+, at most \d+ connections per client$/,
      );
      const client = new MongoClient(mongo.url);
      try {
        await client
          .db('probe')
          .collection('things')
          .insertOne({ _id: 'one' } as never);
        expect(await client.db('probe').collection('things').countDocuments()).toBe(1);
      } finally {
        await client.close();
      }
      expect(databases()).toContain(database);
    } finally {
      await mongo.stop();
    }
    expect(databases()).not.toContain(database);
  });
});

/** The tests' own PostgreSQL, which every machine of ours runs (and CI's too). */
const SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

function databases(): string[] {
  return execFileSync('psql', [SERVER, '--tuples-only', '--no-align', '--command', 'SELECT datname FROM pg_database'])
    .toString()
    .split('\n');
}

/** What providing came to: the error, or the description of a service it then stops. */
async function outcomeOf(provided: Promise<ProvidedService>): Promise<string | Error> {
  return provided.then(
    async (service) => {
      await service.stop();
      return service.description;
    },
    (err: Error) => err,
  );
}
