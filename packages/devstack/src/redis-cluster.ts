import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './processes';
import {
  addressList,
  atLeast,
  DATA_NODE,
  fields,
  freePorts,
  HOST,
  nodeGroup,
  replicaInSync,
  withNode,
  writeConf,
  type RedisAddress,
  type RedisTopology,
} from './redis-nodes';

/**
 * A Redis Cluster of our own on free ports, for the tests of cluster mode and of its failovers.
 * `restart` resolves once the node has rejoined: as a replica if its slots went to another.
 */
export interface RedisCluster extends RedisTopology {
  /** Every node, primaries and replicas, in the order they were started. */
  nodes: RedisAddress[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, as REDIS_CLUSTER_NODES takes it. */
  seeds: string;
  /** `redis+cluster://127.0.0.1:p1,…`. */
  url: string;
  /** The node that owns `key`'s slot now, as the first live node sees it. */
  primaryFor(key: string): Promise<RedisAddress & { pid: number }>;
  /** Resolves once every live node says cluster_state:ok and they agree every slot has a live primary. */
  waitHealthy(timeoutMs?: number): Promise<void>;
}

export interface RedisClusterOptions {
  primaries?: number;
  replicasPerPrimary?: number;
  nodeTimeoutMs?: number;
}

const SLOTS = 16_384;
const FORM_TIMEOUT_MS = 30_000;

interface Shard {
  ranges: [number, number][];
  primary: number;
  /** Replicas not failed in the eyes of the node asked (still "loading" until their first ping). */
  replicas: number[];
}

interface NodeView {
  port: number;
  info: Record<string, string>;
  shards: Shard[];
}

export async function startRedisCluster(workDir: string, options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const primaries = atLeast('startRedisCluster', 'primaries', options.primaries ?? 3, 3);
  const replicasPerPrimary = atLeast('startRedisCluster', 'replicasPerPrimary', options.replicasPerPrimary ?? 1, 0);
  const nodeTimeoutMs = atLeast('startRedisCluster', 'nodeTimeoutMs', options.nodeTimeoutMs ?? 1_000, 100);
  const count = primaries * (1 + replicasPerPrimary);

  const dir = mkdtempSync(join(workDir, 'redis-cluster-'));
  // Each node's bus port is chosen too: the default, port + 10000, may be taken or beyond 65535.
  const allPorts = await freePorts(2 * count);
  const ports = allPorts.slice(0, count);
  const group = nodeGroup(
    dir,
    new Map(
      ports.map((port, i) => {
        const conf = nodeConf(join(dir, `node-${port}`), port, allPorts[count + i]!, nodeTimeoutMs);
        return [port, { what: `the cluster node on port ${port}`, conf }];
      }),
    ),
  );

  try {
    await group.start(ports);
    await createCluster(ports, replicasPerPrimary);
    await waitFor(
      `the Redis Cluster on ports ${ports.join(',')} to form`,
      () => formed(group.live(), primaries, replicasPerPrimary),
      FORM_TIMEOUT_MS,
    );
  } catch (err) {
    await group.stop();
    throw err;
  }

  const nodes = ports.map((port) => ({ host: HOST, port }));
  return {
    nodes,
    seeds: addressList(nodes),
    url: `redis+cluster://${addressList(nodes)}`,
    description: `a Redis Cluster of ${primaries} primaries and ${count - primaries} replicas on ports ${ports.join(', ')}`,
    primaryFor: async (key) => {
      const port = await ownerOf(key, group.live());
      return { host: HOST, port, pid: group.pid(port) };
    },
    kill: (port, signal = 'SIGKILL') => group.kill(port, signal),
    restart: async (port) => {
      await group.restart(port);
      await waitFor(`the cluster node on port ${port} to rejoin`, () => rejoined(port, group.live()), FORM_TIMEOUT_MS);
    },
    waitHealthy: (timeoutMs = FORM_TIMEOUT_MS) =>
      waitFor(
        `the Redis Cluster on ports ${ports.join(',')} to be healthy`,
        () => healthyViews(group.live()),
        timeoutMs,
      ),
    stop: group.stop,
  };
}

function nodeConf(dir: string, port: number, busPort: number, nodeTimeoutMs: number): string {
  return writeConf(dir, port, [
    `cluster-port ${busPort}`,
    'cluster-enabled yes',
    'cluster-config-file nodes.conf',
    `cluster-node-timeout ${nodeTimeoutMs}`,
    // A replica then never holds back from a failover for having lost its primary too long ago.
    'cluster-replica-validity-factor 0',
    ...DATA_NODE,
  ]);
}

async function createCluster(ports: number[], replicasPerPrimary: number): Promise<void> {
  const args = ['--cluster', 'create', ...ports.map((port) => `${HOST}:${port}`)];
  args.push('--cluster-replicas', String(replicasPerPrimary), '--cluster-yes');
  try {
    await promisify(execFile)('redis-cli', args, { timeout: FORM_TIMEOUT_MS });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`redis-cli --cluster create failed: ${(err as Error).message}\n${stdout ?? ''}${stderr ?? ''}`, {
      cause: err,
    });
  }
}

async function viewFrom(port: number): Promise<NodeView> {
  return withNode(port, async (client) => {
    const info = Object.fromEntries(
      String(await client.call('CLUSTER', 'INFO'))
        .split(/\r?\n/)
        .filter((line) => line.includes(':'))
        .map((line) => line.split(':') as [string, string]),
    );
    const shards = ((await client.call('CLUSTER', 'SHARDS')) as unknown[]).flatMap((reply) => toShard(fields(reply)));
    return { port, info, shards };
  });
}

function toShard(shard: Record<string, unknown>): Shard[] {
  const bounds = (shard.slots as unknown[]).map(Number);
  if (bounds.length === 0) return [];
  const ranges: [number, number][] = [];
  for (let i = 0; i + 1 < bounds.length; i += 2) ranges.push([bounds[i]!, bounds[i + 1]!]);
  const nodes = (shard.nodes as unknown[]).map(fields);
  const primary = nodes.find((node) => node.role === 'master');
  const replicas = nodes.filter(
    (node) => node.role === 'replica' && ['online', 'loading'].includes(String(node.health)),
  );
  return [{ ranges, primary: Number(primary?.port), replicas: replicas.map((node) => Number(node.port)) }];
}

/** Who owns which slots, in one comparable line. */
const ownership = (view: NodeView): string =>
  view.shards
    .flatMap((shard) => shard.ranges.map(([from, to]) => `${from}-${to}@${shard.primary}`))
    .sort()
    .join(' ');

/** The views of the live nodes; throws, saying what is wrong, unless they show a healthy cluster. */
async function healthyViews(live: number[]): Promise<NodeView[]> {
  const views = await Promise.all(live.map(viewFrom));
  const [first] = views;
  if (!first) throw new Error('no node of the cluster is running');
  for (const view of views) {
    if (view.info.cluster_state !== 'ok')
      throw new Error(`node ${view.port} says cluster_state:${view.info.cluster_state}`);
    if (ownership(view) !== ownership(first)) {
      throw new Error(
        `nodes ${first.port} and ${view.port} disagree on the slots: ${ownership(first)} / ${ownership(view)}`,
      );
    }
  }
  const assigned = first.shards.flatMap((shard) => shard.ranges).reduce((sum, [from, to]) => sum + to - from + 1, 0);
  if (assigned !== SLOTS) throw new Error(`${assigned} of ${SLOTS} slots are assigned`);
  const orphaned = first.shards.find((shard) => !live.includes(shard.primary));
  if (orphaned)
    throw new Error(`slots ${JSON.stringify(orphaned.ranges)} belong to ${orphaned.primary}, which is down`);
  return views;
}

/** A new cluster is formed once healthy, every node has met every other, and every replica is in sync. */
async function formed(live: number[], primaries: number, replicasPerPrimary: number): Promise<void> {
  const views = await healthyViews(live);
  for (const view of views) {
    if (Number(view.info.cluster_known_nodes) !== live.length) {
      throw new Error(`node ${view.port} knows ${view.info.cluster_known_nodes} of ${live.length} nodes`);
    }
    if (view.shards.length !== primaries) throw new Error(`node ${view.port} sees ${view.shards.length} primaries`);
    const short = view.shards.find((shard) => shard.replicas.length !== replicasPerPrimary);
    if (short) throw new Error(`node ${view.port} sees ${short.replicas.length} replicas of ${short.primary}`);
  }
  const primaryPorts = views[0]!.shards.map((shard) => shard.primary);
  await Promise.all(live.filter((port) => !primaryPorts.includes(port)).map(replicaInSync));
}

/** A restarted node has rejoined once the cluster is healthy with it, and if a replica, it is in sync. */
async function rejoined(port: number, live: number[]): Promise<void> {
  const [view] = (await healthyViews(live)).filter((candidate) => candidate.port === port);
  if (view?.shards.some((shard) => shard.primary === port)) return;
  await replicaInSync(port);
}

async function ownerOf(key: string, live: number[]): Promise<number> {
  let last: unknown = new Error('no node of the cluster is running');
  for (const port of live) {
    try {
      const slot = Number(await withNode(port, (client) => client.call('CLUSTER', 'KEYSLOT', key)));
      const { shards } = await viewFrom(port);
      const owner = shards.find((shard) => shard.ranges.some(([from, to]) => from <= slot && slot <= to));
      if (owner) return owner.primary;
      last = new Error(`node ${port} knows no owner of slot ${slot}`);
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no live node of the cluster could say who owns ${JSON.stringify(key)}: ${String(last)}`, {
    cause: last,
  });
}
