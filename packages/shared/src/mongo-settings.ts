import { z } from 'zod';

/** A replica set has at most 50 members: a `w` above that could never be met. */
const MOST_MEMBERS = 50;

/**
 * How many members acknowledge a write before it counts: `majority`, or a number of them.
 * 0 (unacknowledged writes) is refused: a claim, an idempotency key and a revision's move are
 * each one insert whose duplicate-key error says another writer came first, and an
 * unacknowledged insert reports no error at all, so every exactly-once step would go through twice.
 */
export const MongoWriteConcern = z
  .string()
  .trim()
  .refine((w) => w === 'majority' || (/^\d+$/.test(w) && Number(w) >= 1 && Number(w) <= MOST_MEMBERS), {
    message: `must be 'majority' or a whole number from 1 to ${MOST_MEMBERS}; 0 (unacknowledged writes) would break every exactly-once step`,
  })
  .transform((w) => (w === 'majority' ? ('majority' as const) : Number(w)));
export type MongoWriteConcern = z.infer<typeof MongoWriteConcern>;

/** The driver's read preference modes; MONGODB_READ_PREFERENCE takes one, for the list reads only. */
export const MongoReadPreference = z.enum([
  'primary',
  'primaryPreferred',
  'secondary',
  'secondaryPreferred',
  'nearest',
]);
export type MongoReadPreference = z.infer<typeof MongoReadPreference>;

const CONNECTION_STRING = /^mongodb(\+srv)?:\/\/(?:[^@/]*@)?([^/?]*)[^?]*(?:\?(.*))?$/;

/** A connection string's options by lower-cased name: the driver reads their names case-insensitively. */
export function uriOptions(uri: string): Map<string, string> {
  const query = CONNECTION_STRING.exec(uri)?.[3] ?? '';
  return new Map([...new URLSearchParams(query)].map(([name, value]) => [name.toLowerCase(), value]));
}

/**
 * Whether the URI names more than one server. `replicaSet=` says so outright, and so do several
 * hosts (replica set members, or a sharded cluster's mongos routers). A `mongodb+srv://` URI names
 * one DNS name, but the driver reads the replica set's name (and `authSource`) from that name's
 * TXT record at connect time, which is how hosted services, Atlas first, publish their replica
 * sets and sharded clusters (a single server behind one is rare: set MONGODB_WRITE_CONCERN=1 for
 * it). The record itself is the driver's to read: parsing a setting must not wait on DNS.
 */
export function mongoUriNamesCluster(uri: string): boolean {
  const [, srv, hosts = ''] = CONNECTION_STRING.exec(uri) ?? [];
  return !!srv || !!uriOptions(uri).get('replicaset') || hosts.includes(',');
}

/**
 * The `w` every write waits for: MONGODB_WRITE_CONCERN when set; else the URI's own `w=`, so a
 * URI handed over by a hosting service keeps what it says; else `majority` on a replica set
 * (a write acknowledged by the primary alone is rolled back if the primary fails before a
 * secondary has it, and with it the claim that made it exactly-once) and `1` on a single server,
 * which has no one else to wait for.
 */
export function mongoWriteConcern(env: {
  MONGODB_URI: string;
  MONGODB_WRITE_CONCERN?: MongoWriteConcern | undefined;
}): MongoWriteConcern | string {
  if (env.MONGODB_WRITE_CONCERN !== undefined) return env.MONGODB_WRITE_CONCERN;
  const fromUri = uriOptions(env.MONGODB_URI).get('w');
  if (fromUri) return /^\d+$/.test(fromUri) ? Number(fromUri) : fromUri;
  return mongoUriNamesCluster(env.MONGODB_URI) ? 'majority' : 1;
}

/**
 * What MONGODB_URI may not say, as issues on MONGODB_URI: `w=0` (see `MongoWriteConcern`), and a
 * read preference other than `primary`, which would send every read to the secondaries, those
 * that must see the write just made among them (MONGODB_READ_PREFERENCE moves the list reads only).
 */
export function checkMongoUri(uri: string, ctx: z.RefinementCtx): void {
  const options = uriOptions(uri);
  const w = options.get('w');
  if (w !== undefined && /^-?\d+$/.test(w) && Number(w) < 1) {
    ctx.addIssue({
      code: 'custom',
      message: `w=${w} leaves writes unacknowledged, which would break every exactly-once step: remove it, or set MONGODB_WRITE_CONCERN`,
    });
  }
  const readPreference = options.get('readpreference');
  if (readPreference !== undefined && readPreference !== 'primary') {
    ctx.addIssue({
      code: 'custom',
      message: `readPreference=${readPreference} would move every read, those that must see our own writes too: set MONGODB_READ_PREFERENCE, which moves the list reads only`,
    });
  }
}
