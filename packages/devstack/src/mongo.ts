import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { dockerEngineAvailable } from './docker';
import { freePort, startDaemon, stopChild } from './processes';
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
 * runs; else FerretDB on SQLite (built once from the Go module proxy and cached) on a free port.
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

  return startFerretDb(workDir);
}

async function startFerretDb(workDir: string): Promise<ProvidedService> {
  let binary: string;
  try {
    const { stdout } = await promisify(execFile)('bash', [BUILD_SCRIPT], { env: process.env, maxBuffer: 1 << 20 });
    binary = stdout.trim().split('\n').at(-1) ?? '';
  } catch (err) {
    throw new Error(
      `no MongoDB: MONGODB_URI is unset, no Docker engine answers, and FerretDB could not be built (${(err as Error).message.trim()}). Set MONGODB_URI to a MongoDB server.`,
      { cause: err },
    );
  }
  const port = await freePort();
  const dataDir = join(workDir, 'ferretdb') + '/';
  mkdirSync(dataDir, { recursive: true });
  const url = `mongodb://127.0.0.1:${port}/`;
  const args = [
    `--listen-addr=127.0.0.1:${port}`,
    '--handler=sqlite',
    // MongoDB acknowledges a write (w:1, its default) before the journal reaches the disk; SQLite's
    // own default syncs the disk on every commit, which made every insert wait on this machine's
    // disk and hid the CPU cost of what runs around it (bench/README.md).
    `--sqlite-url=file:${dataDir}?_pragma=synchronous(normal)`,
    '--state-dir=-',
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
  ];
  const child = await startDaemon('FerretDB', binary, args, join(workDir, 'ferretdb.log'), () => ping(url), 30_000);
  return {
    url,
    description: `FerretDB ${binary.match(/ferretdb-(v[\d.]+)/)?.[1] ?? ''} on SQLite, port ${port}`,
    stop: () => stopChild(child),
  };
}
