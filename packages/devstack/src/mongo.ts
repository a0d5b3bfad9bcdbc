import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { dockerEngineAvailable } from './docker';
import { freePort, goServerEnv, startDaemon, stopChild } from './processes';
import { providePostgresDatabase, type PostgresDatabase } from './postgres';
import { nothingToStop, redactUrl, type ProvidedService } from './service';

const BUILD_SCRIPT = resolve(__dirname, '../../../scripts/build-ferretdb.sh');

async function ping(uri: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1_000 });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

/**
 * A MongoDB-wire server, in this order: `MONGODB_URI`; a `mongo:7` container when a Docker engine
 * runs; FerretDB on PostgreSQL when one answers (`DEVSTACK_POSTGRES_URL`, else 127.0.0.1:5432);
 * else FerretDB on SQLite. FerretDB is built once from the Go module proxy and cached.
 */
export async function provideMongo(workDir: string): Promise<ProvidedService> {
  const configured = process.env.MONGODB_URI;
  if (configured)
    return { url: configured, description: `MONGODB_URI (${redactUrl(configured)})`, stop: nothingToStop };

  if (await dockerEngineAvailable()) {
    const { MongoDBContainer } = await import('@testcontainers/mongodb');
    const container = await new MongoDBContainer('mongo:7').start();
    const url = new URL(container.getConnectionString());
    url.searchParams.set('directConnection', 'true');
    return {
      url: url.toString(),
      description: 'a mongo:7 container (testcontainers)',
      stop: async () => void (await container.stop()),
    };
  }

  return startFerretDb(workDir, (await providePostgresDatabase()) ?? 'sqlite');
}

/**
 * FerretDB on a free port, keeping its data in `backend`: a PostgreSQL database, which it drops on
 * stop, or SQLite files in `workDir`. FerretDB on PostgreSQL pushes equality filters down to SQL,
 * where on SQLite every query but one by `_id` decodes the whole collection.
 */
export async function startFerretDb(workDir: string, backend: PostgresDatabase | 'sqlite'): Promise<ProvidedService> {
  let binary: string;
  try {
    binary = await buildFerretDb();
  } catch (err) {
    if (backend !== 'sqlite') await backend.drop();
    throw err;
  }
  const port = await freePort();
  const url = `mongodb://127.0.0.1:${port}/${backend === 'sqlite' ? '' : `?maxPoolSize=${clientPool(backend.pool)}`}`;
  const args = [
    `--listen-addr=127.0.0.1:${port}`,
    ...(backend === 'sqlite' ? sqliteArgs(workDir) : ['--handler=postgresql', `--postgresql-url=${backend.url}`]),
    '--state-dir=-',
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
  ];
  const version = binary.match(/ferretdb-(v[\d.]+)/)?.[1] ?? '';
  const where = backend === 'sqlite' ? 'SQLite' : backend.description;
  let child;
  try {
    child = await startDaemon(
      'FerretDB',
      binary,
      args,
      join(workDir, `ferretdb-${port}.log`),
      () => ping(url),
      30_000,
      goServerEnv(),
    );
  } catch (err) {
    if (backend !== 'sqlite') await backend.drop();
    throw err;
  }
  const running = child;
  const clients = backend === 'sqlite' ? '' : `, at most ${clientPool(backend.pool)} connections per client`;
  return {
    url,
    description: `FerretDB ${version} on ${where}, port ${port}${clients}`,
    stop: async () => {
      await stopChild(running);
      if (backend !== 'sqlite') await backend.drop();
    },
  };
}

/**
 * The connections each client (an API, a worker, and the test or bench that drives them) may keep
 * to FerretDB over PostgreSQL, so that all of them together stay below FerretDB's `pool`.
 *
 * FerretDB 1.24 runs an update (`update`, `findAndModify`) as a query whose rows hold one of its
 * PostgreSQL connections until the update is written, and writes it in a transaction on a second
 * one. Once as many updates run at once as it has connections, each holds one and waits for
 * another, forever: the bench's capacity part stopped that way at 60 generations a second, every
 * process idle, FerretDB's goroutines all waiting on its pool. A client runs one command at a time
 * per connection, so fewer connections than `pool` in all leaves one free for some update to finish.
 * Test files running side by side share one FerretDB, and so go past the three: the guarantee
 * then rests on their updates being few at any moment.
 */
function clientPool(pool: number): number {
  return Math.max(1, Math.floor((pool - 1) / 3));
}

async function buildFerretDb(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('bash', [BUILD_SCRIPT], { env: process.env, maxBuffer: 1 << 20 });
    return stdout.trim().split('\n').at(-1) ?? '';
  } catch (err) {
    throw new Error(
      `no MongoDB: MONGODB_URI is unset, no Docker engine answers, and FerretDB could not be built (${(err as Error).message.trim()}). Set MONGODB_URI to a MongoDB server.`,
      { cause: err },
    );
  }
}

function sqliteArgs(workDir: string): string[] {
  const dataDir = join(workDir, 'ferretdb') + '/';
  mkdirSync(dataDir, { recursive: true });
  return [
    '--handler=sqlite',
    // MongoDB acknowledges a write (w:1, its default) before the journal reaches the disk; SQLite's
    // own default syncs the disk on every commit, which made every insert wait on this machine's
    // disk and hid the CPU cost of what runs around it (bench/README.md).
    `--sqlite-url=file:${dataDir}?_pragma=synchronous(normal)`,
  ];
}
