import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startFerretDb } from '../src/mongo';
import { providePostgresDatabase, sql, type PostgresDatabase } from '../src/postgres';

/*
 * FerretDB 1.24 pushes an equality filter down as `_jsonb -> 'field' @> value`, which only a GIN
 * index serves; the devstack's event trigger gives each indexed first field one (src/pg-equality-indexes.ts).
 */
describe('the GIN twins the devstack gives FerretDB’s indexes on PostgreSQL', () => {
  let workDir: string;
  let database: PostgresDatabase;
  let ferret: Awaited<ReturnType<typeof startFerretDb>>;
  let client: MongoClient;
  /** The run's database, as psql takes it: without FerretDB's pool setting. */
  let server: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'devstack-gin-'));
    const provided = await providePostgresDatabase();
    if (!provided) throw new Error('no PostgreSQL answers at 127.0.0.1:5432; these tests need one');
    database = provided;
    const url = new URL(database.url);
    url.search = '';
    server = url.toString();
    ferret = await startFerretDb(workDir, database);
    client = await new MongoClient(ferret.url).connect();
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await ferret?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  test('when several indexes start with the same field, then that field gets one GIN index, and an equality filter on it uses it', async () => {
    const things = client.db('probe').collection('things');
    const keys: Record<string, 1 | -1>[] = [
      { a: 1, _id: -1 },
      { a: 1, b: 1 },
      { b: 1, c: 1 },
      { c: 1 },
      { a: 1, c: -1 },
    ];
    for (const key of keys) await things.createIndex(key);
    await things.insertMany(Array.from({ length: 50 }, (_, i) => ({ a: i % 5, b: i, c: `c${i}` })));

    const gins = await sql(
      server,
      `SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'probe' AND tablename LIKE 'things%' AND indexdef LIKE '% USING gin %'`,
    );
    const fields = gins.map(([, def]) => /_jsonb -> '([^']+)'/.exec(def!)?.[1]).sort();
    expect(fields).toEqual(['_id', 'a', 'b', 'c']);

    const table = gins[0]![0]!;
    const plan = await sql(server, `EXPLAIN SELECT _jsonb FROM probe."${table}" WHERE _jsonb -> 'a' @> '3'`);
    expect(plan.flat().join('\n')).toMatch(/Bitmap Index Scan on \S+_gin/);
    expect(await things.countDocuments({ a: 3 })).toBe(10);
  });
});
