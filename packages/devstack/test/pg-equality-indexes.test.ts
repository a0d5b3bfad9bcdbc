import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startFerretDb } from '../src/mongo';
import { providePostgresDatabase, sql, type PostgresDatabase } from '../src/postgres';

/*
 * FerretDB 1.24 pushes an equality filter down as `_jsonb -> 'field' @> value`, which only a GIN
 * index serves, and reads no btree over a field: the devstack's event trigger gives each indexed
 * first field a GIN index, and leaves of a btree that is not unique an empty stand-in
 * (src/pg-equality-indexes.ts).
 */
describe('what the devstack makes of FerretDB’s indexes on PostgreSQL', () => {
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

  test('when an index is not unique, then its btree is an empty stand-in no write touches, which FerretDB can still drop; a unique one stays and refuses a duplicate', async () => {
    const people = client.db('probe').collection('people');
    await people.createIndex({ email: 1 }, { name: 'email_unique', unique: true });
    await people.createIndex({ team: 1, joined: -1 }, { name: 'team_newest' });
    await people.insertMany(
      Array.from({ length: 20 }, (_, i) => ({ email: `p${i}@example.com`, team: i % 2, joined: i })),
    );

    const btrees = await sql(
      server,
      `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'probe' AND tablename LIKE 'people%' AND indexdef LIKE '% USING btree %' ORDER BY indexname`,
    );
    const kinds = btrees.map(([name, def]) => [
      name!.replace(/^people_[0-9a-f]+_/, ''),
      def!.replace(/.* USING btree /, ''),
    ]);
    expect(kinds).toEqual([
      ['_id__67399184_idx', "(((_jsonb -> '_id'::text)))"],
      [expect.stringMatching(/^email_unique_\w+_idx$/), "(((_jsonb -> 'email'::text)))"],
      [expect.stringMatching(/^team_newest_\w+_idx$/), '((NULL::boolean)) WHERE false'],
    ]);
    const [[size]] = (await sql(
      server,
      `SELECT pg_relation_size(format('probe.%I', '${btrees[2]![0]}')::regclass)`,
    )) as [[string]];
    // Only the metapage: not one entry was written.
    expect(Number(size)).toBeLessThanOrEqual(8192);

    expect((await people.find({ team: 1 }).toArray()).map((p) => p.joined as number).sort((x, y) => x - y)).toEqual([
      1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
    ]);
    await expect(people.insertOne({ email: 'p3@example.com', team: 0, joined: 99 })).rejects.toMatchObject({
      code: 11000,
    });
    await people.dropIndex('team_newest');
    expect((await people.indexes()).map((index) => index.name).sort()).toEqual(['_id_', 'email_unique']);
  });
});
