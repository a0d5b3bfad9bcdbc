import { z } from 'zod';

/** `host:port`, as Redis Cluster and Sentinel lists name their nodes. */
const HostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port');
const HostPortList = z
  .string()
  .transform((text) => text.split(',').map((entry) => entry.trim()))
  .pipe(z.array(HostPort).min(1));

/** A `redis+cluster://[user:password@]host:port,host:port…` URL: a cluster named by its seed nodes. */
const CLUSTER_URL = /^redis\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/;

/**
 * How the services reach Redis: one server (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES`,
 * or a `redis+cluster://` URL in `REDIS_URL`), or a primary that Sentinels name (`REDIS_SENTINELS`
 * with `REDIS_SENTINEL_MASTER`). Both services read these.
 */
export const RedisSettings = z.object({
  REDIS_URL: z
    .string()
    .refine(
      (url) => CLUSTER_URL.test(url) || /^rediss?:$/.test(safeProtocol(url)),
      'must be a redis://, rediss:// or redis+cluster:// URL',
    )
    .default('redis://127.0.0.1:6379'),
  /** Seed nodes of a Redis Cluster; the client learns the rest from them. */
  REDIS_CLUSTER_NODES: HostPortList.optional(),
  /** Sentinels watching the primary named by REDIS_SENTINEL_MASTER. */
  REDIS_SENTINELS: HostPortList.optional(),
  REDIS_SENTINEL_MASTER: z.string().min(1).optional(),
  /**
   * The Redis servers' credentials: the one server's (instead of in REDIS_URL), the cluster
   * nodes', or the Sentinels' primary's. Kept apart from the URL so that a Secret can hold them
   * alone, and KEDA's trigger read the same one.
   */
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** For the Sentinels themselves, when they ask for one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
});
export type RedisSettings = z.infer<typeof RedisSettings>;

function safeUserInfo(url: string): boolean {
  try {
    const { username, password } = new URL(url);
    return !!(username || password);
  } catch {
    return false;
  }
}

function safeProtocol(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return '';
  }
}

export interface RedisNode {
  host: string;
  port: number;
}

/** Which Redis the settings name, resolved once. */
export type RedisTarget =
  | { mode: 'standalone'; url: string; username?: string; password?: string }
  | { mode: 'cluster'; nodes: RedisNode[]; username?: string; password?: string }
  | {
      mode: 'sentinel';
      sentinels: RedisNode[];
      master: string;
      username?: string;
      password?: string;
      sentinelPassword?: string;
    };

function node(entry: string): RedisNode {
  const at = entry.lastIndexOf(':');
  return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
}

export function redisTarget(env: RedisSettings): RedisTarget {
  const credentials = {
    ...(env.REDIS_USERNAME && { username: env.REDIS_USERNAME }),
    ...(env.REDIS_PASSWORD && { password: env.REDIS_PASSWORD }),
  };
  if (env.REDIS_CLUSTER_NODES) return { mode: 'cluster', nodes: env.REDIS_CLUSTER_NODES.map(node), ...credentials };
  const url = CLUSTER_URL.exec(env.REDIS_URL);
  if (url) {
    const [, username, password, hosts = ''] = url;
    return {
      mode: 'cluster',
      nodes: hosts.split(',').map(node),
      ...credentials,
      ...(username && { username: decodeURIComponent(username) }),
      ...(password && { password: decodeURIComponent(password) }),
    };
  }
  if (env.REDIS_SENTINELS) {
    return {
      mode: 'sentinel',
      sentinels: env.REDIS_SENTINELS.map(node),
      master: env.REDIS_SENTINEL_MASTER ?? '',
      ...credentials,
      ...(env.REDIS_SENTINEL_PASSWORD && { sentinelPassword: env.REDIS_SENTINEL_PASSWORD }),
    };
  }
  return { mode: 'standalone', url: env.REDIS_URL, ...credentials };
}

/**
 * A hash tag: the part of a key in the first `{…}`, which alone decides its cluster slot.
 *
 * Every Redis key of a deployment is under QUEUE_PREFIX, so on a cluster its tag puts them all in
 * one slot. Why each family lives there:
 * - BullMQ's keys of each queue (`<prefix>:<queue>:…`): its scripts join them.
 * - `create-rate:<user>`, `in-flight:<user>`, the generations queue's `wait` and `active`,
 *   `generation-run-ms`, and the image quotas' `quota:<user>:<day>` and `quota:<user>:<month>`:
 *   one script admits a create against all seven (CreateLimits); a run's end gives its images
 *   back in whichever of the quotas' hashes around its start holds them, in one script (QuotaLedger).
 * - `sign-ins:account:…` and `sign-ins:address:…`: one script counts a sign-in against both.
 * - `generation-events:<id>`: written down the same connection as the run's job, just before it,
 *   so that no worker's `processing` can come before the `pending` (PendingRuns); on a cluster
 *   that holds only while both are on one node.
 * - The rest (`registrations:…`, `event-streams:<user>`, `admin-sessions-ended:…`,
 *   `hf-mapping:…`, `redeliveries-…`, `sweeper:…`) are each used alone and could live in any
 *   slot; they stay under the prefix so that it names every key of the deployment, for cleanup
 *   and for a Redis ACL (`~{imagegen}:*`). Pub/sub channels are not keys: a cluster carries them
 *   to every node.
 */
export const HASH_TAG = /\{[^{}]+\}/;

/**
 * The rules between Redis settings (and the queue prefix they constrain); call from the service's
 * superRefine.
 */
export function checkRedisSettings(env: RedisSettings & { QUEUE_PREFIX: string }, ctx: z.RefinementCtx): void {
  const cluster = !!env.REDIS_CLUSTER_NODES || CLUSTER_URL.test(env.REDIS_URL);
  if (env.REDIS_CLUSTER_NODES && CLUSTER_URL.test(env.REDIS_URL)) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_CLUSTER_NODES'],
      message: 'name the cluster once: REDIS_CLUSTER_NODES or a redis+cluster:// REDIS_URL',
    });
  }
  const inUrl = !cluster && safeUserInfo(env.REDIS_URL);
  if (inUrl && (env.REDIS_USERNAME || env.REDIS_PASSWORD)) {
    ctx.addIssue({
      code: 'custom',
      path: [env.REDIS_PASSWORD ? 'REDIS_PASSWORD' : 'REDIS_USERNAME'],
      message: 'REDIS_URL carries credentials already; give them once',
    });
  }
  if (cluster && env.REDIS_SENTINELS) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINELS'], message: 'a Redis Cluster has no Sentinels' });
  }
  if (!env.REDIS_SENTINELS !== !env.REDIS_SENTINEL_MASTER) {
    const missing = env.REDIS_SENTINELS ? 'REDIS_SENTINEL_MASTER' : 'REDIS_SENTINELS';
    ctx.addIssue({
      code: 'custom',
      path: [missing],
      message: 'REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together',
    });
  }
  // Every script of ours and of BullMQ's joins keys under the prefix, and a cluster runs a script
  // only when all its keys hash to one slot: the prefix's hash tag puts them there.
  if (cluster && !HASH_TAG.test(env.QUEUE_PREFIX)) {
    ctx.addIssue({
      code: 'custom',
      path: ['QUEUE_PREFIX'],
      message: `a Redis Cluster needs a hash tag in it, such as {${env.QUEUE_PREFIX}}`,
    });
  }
}
