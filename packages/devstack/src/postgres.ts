import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { running } from './processes';
import { equalityIndexSql } from './pg-equality-indexes';
import { redactUrl } from './service';

/** A database of this run's own on a PostgreSQL server, for FerretDB to keep its data in. */
export interface PostgresDatabase {
  /** Where FerretDB connects: the database, and a cap on FerretDB's pool of connections to it. */
  url: string;
  /** That cap. */
  pool: number;
  description: string;
  drop(): Promise<void>;
}

/**
 * Without TLS: on loopback it guards nothing, and FerretDB's driver asks for it whenever the server
 * offers it (Debian's does). In the bench's memory part, PostgreSQL's share of the machine's CPU in
 * libcrypto and libssl was 0.95 %.
 */
const LOCAL_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable';
const DATABASE_PREFIX = 'imagegen_devstack_';
/**
 * FerretDB opens up to 50 connections by default, half of PostgreSQL's default 100: two test runs
 * or a bench beside `./dev start` would not fit. Twenty serve our test files' concurrency; fewer
 * are taken when the server has fewer free.
 */
const POOL_CAP = 20;
const POOL_FLOOR = 4;

/**
 * A fresh database on the PostgreSQL named by `DEVSTACK_POSTGRES_URL`, or else on the one that
 * answers at 127.0.0.1:5432 as user postgres; null when neither is to be had (nor `psql`), or when
 * `DEVSTACK_POSTGRES_URL=none` says not to look. A server named explicitly that cannot be used is
 * an error, not a silent fallback.
 */
export async function providePostgresDatabase(): Promise<PostgresDatabase | null> {
  const configured = process.env.DEVSTACK_POSTGRES_URL;
  if (configured === 'none') return null;
  try {
    return await createDatabase(configured ?? LOCAL_SERVER);
  } catch (err) {
    if (!configured) return null;
    throw new Error(`DEVSTACK_POSTGRES_URL (${redactUrl(configured)}) could not be used: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Runs SQL on the server with `psql`, PostgreSQL's own client, which comes with every install of
 * it. (The npm client `pg` would do, but it is an optional peer of BullMQ: adding it splits BullMQ
 * into two copies whose types no longer match.) Rows come back one per line, fields split by `|`.
 * Exported for the devstack's tests, which read what FerretDB made of our indexes.
 */
export async function sql(serverUrl: string, statement: string): Promise<string[][]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(
      'psql',
      [serverUrl, '--no-psqlrc', '--tuples-only', '--no-align', '--set=ON_ERROR_STOP=1', '--command', statement],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '2' }, timeout: 30_000 },
    ));
  } catch (err) {
    // Not execFile's own message: it repeats the command line, and with it the URL's password.
    const { stderr, code } = err as { stderr?: string; code?: string | number };
    // Its cause too would carry the command line: only psql's own words go on.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`psql: ${stderr?.trim() || (code === 'ENOENT' ? 'not installed' : `exited with ${code}`)}`);
  }
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('|'));
}

async function createDatabase(serverUrl: string): Promise<PostgresDatabase> {
  await dropAbandoned(serverUrl);
  // The pid lets a later run tell a database whose run was killed from one still in use.
  const name = `${DATABASE_PREFIX}${process.pid}_${randomBytes(3).toString('hex')}`;
  // FerretDB requires UTF-8, which template1 of a server set up in another locale may not be.
  await sql(serverUrl, `CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  // A claim lost to another writer is a unique-key violation, which PostgreSQL logs as an ERROR
  // with its statement: by the thousand in a test run, burying the server's real messages. Every
  // error a statement meets also reaches FerretDB and from it our code, so on this run's
  // database the log keeps only what ends a session.
  await sql(serverUrl, `ALTER DATABASE ${name} SET log_min_messages TO fatal`);
  // As MongoDB acknowledges a write (w:1) before its journal reaches the disk, and as the SQLite
  // backend is run: a disk sync per commit would make the machine's disk the bench's subject.
  await sql(serverUrl, `ALTER DATABASE ${name} SET synchronous_commit TO off`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  // Event triggers are a superuser's to create; without them FerretDB still works, scanning.
  const indexed = await sql(url.toString(), equalityIndexSql(name)).then(
    () => '',
    (err: unknown) => `, no equality indexes (${(err as Error).message})`,
  );
  const pool = await freeConnections(serverUrl);
  url.searchParams.set('pool_max_conns', String(pool));
  return {
    url: url.toString(),
    pool,
    description: `PostgreSQL at ${url.host}, database ${name}, at most ${pool} connections${indexed}`,
    drop: () => sql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined),
  };
}

/** Half of what the server has left, within bounds: another run may want the other half. */
async function freeConnections(serverUrl: string): Promise<number> {
  const [[max, used] = []] = await sql(
    serverUrl,
    `SELECT current_setting('max_connections'), (SELECT count(*) FROM pg_stat_activity)`,
  );
  const free = Number(max) - Number(used);
  return Number.isFinite(free) ? Math.max(POOL_FLOOR, Math.min(POOL_CAP, Math.floor(free / 2))) : POOL_FLOOR;
}

/**
 * Databases of runs that were killed before they could drop theirs, told by a pid no longer
 * running here. Only on this machine's own server, where the pid means something.
 */
async function dropAbandoned(serverUrl: string): Promise<void> {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(serverUrl).hostname)) return;
  const rows = await sql(serverUrl, `SELECT datname FROM pg_database WHERE datname LIKE '${DATABASE_PREFIX}%'`);
  for (const [datname = ''] of rows) {
    const pid = Number(datname.slice(DATABASE_PREFIX.length).split('_')[0]);
    if (Number.isInteger(pid) && !running(pid))
      await sql(serverUrl, `DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
  }
}
