import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startFerretDb } from '../src/mongo';
import { providePostgresDatabase, type PostgresDatabase } from '../src/postgres';

/** Connections FerretDB may open to PostgreSQL here: few, so that a handful of updates fill them. */
const POOL = 4;
const UPDATES = 20;

/*
 * FerretDB 1.24 over PostgreSQL holds one of its PostgreSQL connections for an update's query while
 * it takes a second to write: as many updates at once as it has connections, and it waits forever.
 * The devstack's URI keeps each client's connections below that (`clientPool` in src/mongo.ts).
 */
describe('FerretDB over PostgreSQL under more updates at once than it has connections', () => {
  let workDir: string;

  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'devstack-pool-'));
  });

  afterEach(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  async function smallPool(): Promise<PostgresDatabase> {
    const database = await providePostgresDatabase();
    if (!database) throw new Error('no PostgreSQL answers at 127.0.0.1:5432; these tests need one');
    const url = new URL(database.url);
    url.searchParams.set('pool_max_conns', String(POOL));
    return { ...database, url: url.toString(), pool: POOL };
  }

  /** Sends UPDATES updates of as many records at once; whether all were answered within `ms`. */
  async function updatesFinish(client: MongoClient, ms: number): Promise<boolean> {
    const things = client.db('probe').collection<{ _id: number; n: number }>('things');
    await things.insertMany(Array.from({ length: UPDATES }, (_, i) => ({ _id: i, n: 0 })));
    const all = Promise.all(
      Array.from({ length: UPDATES }, (_, i) =>
        i % 2
          ? things.updateOne({ _id: i, n: 0 }, { $set: { n: 1 } })
          : things.findOneAndUpdate({ _id: i }, { $inc: { n: 1 } }, { returnDocument: 'after' }),
      ),
    ).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  test('the control: a client with a connection per update stops them all, for good', async () => {
    const ferret = await startFerretDb(workDir, await smallPool());
    const uncapped = new URL(ferret.url);
    uncapped.searchParams.delete('maxPoolSize');
    const client = await new MongoClient(uncapped.toString(), { maxPoolSize: UPDATES }).connect();
    try {
      expect(await updatesFinish(client, 10_000)).toBe(false);
    } finally {
      await client.close(true);
      await ferret.stop();
    }
  }, 60_000);

  test('when clients connect with the devstack’s URI, then every update is answered', async () => {
    const ferret = await startFerretDb(workDir, await smallPool());
    expect(ferret.url).toMatch(/[?&]maxPoolSize=1$/);
    expect(ferret.description).toMatch(/, at most 1 connections per client$/);
    const client = await new MongoClient(ferret.url).connect();
    try {
      expect(await updatesFinish(client, 30_000)).toBe(true);
    } finally {
      await client.close();
      await ferret.stop();
    }
  }, 60_000);
});
