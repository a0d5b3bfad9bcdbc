import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startFerretDb } from '../src/mongo';
import { providePostgresDatabase, sql } from '../src/postgres';

describe('FerretDB on the local PostgreSQL', () => {
  let workDir: string;

  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'devstack-tls-'));
  });

  afterEach(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  test('connects without TLS, which on loopback would only cost CPU', async () => {
    const database = await providePostgresDatabase();
    if (!database) throw new Error('no PostgreSQL answers at 127.0.0.1:5432; this test needs one');
    const ferret = await startFerretDb(workDir, database);
    const client = await new MongoClient(ferret.url).connect();
    try {
      await client.db('probe').collection('things').insertOne({ n: 1 });
      const server = new URL(database.url);
      const name = server.pathname.slice(1);
      // FerretDB's own setting, which psql does not take.
      server.searchParams.delete('pool_max_conns');
      const connections = await sql(
        server.toString(),
        `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '${name}' AND a.pid <> pg_backend_pid()`,
      );
      expect(connections.length).toBeGreaterThan(0);
      expect(connections.map(([ssl]) => ssl)).toEqual(connections.map(() => 'f'));
    } finally {
      await client.close();
      await ferret.stop();
    }
  }, 60_000);
});
